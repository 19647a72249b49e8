"""A third task for the tests, from one folder: per-pixel regression ("depth": each pixel's value in [0, 1]).

It answers the ``zoo.tasks.base.Task`` protocol with nothing outside this folder but its recipe file
(``tests/toy_task/depth_recipe.py``): tests/test_third_task.py puts this folder on ``zoo.tasks.__path__``,
so the registry finds it as ``zoo.tasks.depth``, and trains, exports and predicts it.
"""

from zoo.tasks.depth.task import TASK

__all__ = ["TASK"]

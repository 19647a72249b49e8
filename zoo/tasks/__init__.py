"""The tasks: everything that differs between segmentation and keypoints, one module each.

``TASKS`` maps a task's name (the ``task`` field of ``model.json``) to its ``Task``
object (``zoo.tasks.base``). Export, metadata, serving, the runtimes and predict ask
the registry instead of branching on the task; a new task is one module here (see
``docs/architecture.md``).
"""

from __future__ import annotations

from zoo.tasks.base import NetworkSpec, Task, build_network, palette
from zoo.tasks.keypoints import KEYPOINTS, keypoint_network
from zoo.tasks.segmentation import SEGMENTATION

TASKS: dict[str, Task] = {task.name: task for task in (SEGMENTATION, KEYPOINTS)}


def get_task(name: str) -> Task:
    """The registered task ``name``; ValueError naming the known ones otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}")
    return TASKS[name]


def task_of_run(settings: dict, resolved: dict) -> tuple[Task, dict]:
    """The task of a run (from its ``config.json``) and the task's ``model.json`` fields."""
    for task in TASKS.values():
        fields = task.info_from_run(settings, resolved)
        if fields is not None:
            return task, fields
    raise ValueError("config.json describes none of the tasks "
                     f"({', '.join(sorted(TASKS))}): not a run of recipes.segment or recipes.pose")


__all__ = ["NetworkSpec", "TASKS", "Task", "build_network", "get_task", "keypoint_network", "palette",
           "task_of_run"]

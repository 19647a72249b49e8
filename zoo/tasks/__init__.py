"""The tasks: everything that differs between segmentation, keypoints and any task to come, a package each.

A task is a package ``zoo/tasks/<name>/`` whose ``TASK`` answers the ``Task`` protocol of
``zoo.tasks.base``; ``TASKS`` finds every such package (no list to edit: adding a task is its folder and
its recipe file, docs/architecture.md). ``TASKS`` maps a task's name (the ``task`` field of
``model.json``) to its ``Task``. Export, metadata, the runtimes, predict and the command line ask the
registry (``zoo.tasks.registry``) instead of branching on the task; a task kept in another installed
package declares itself under the entry-point group ``zoo.tasks``. Importing this package loads neither
Keras nor TensorFlow.
"""

from __future__ import annotations

from zoo.tasks.base import NetworkSpec, PredictOptions, Task, build_network, palette
from zoo.tasks.info import ExportInfo
from zoo.tasks.registry import TASKS, get_task, write_sample_folder

__all__ = [
    "ExportInfo",
    "NetworkSpec",
    "PredictOptions",
    "TASKS",
    "Task",
    "build_network",
    "get_task",
    "palette",
    "write_sample_folder",
]

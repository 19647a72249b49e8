"""The task registry: every package ``zoo/tasks/<name>/`` whose ``TASK`` answers the ``Task`` protocol,
found without a list to edit, and the tasks other installed packages declare under the entry-point group
``zoo.tasks`` (``[project.entry-points."zoo.tasks"] NAME = "package.module:TASK"``). Nothing is cached: the
packages are listed on each lookup (Python keeps the imported modules). No Keras or TensorFlow: a task
package's ``__init__`` imports its light ``task`` module only."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from zoo.tasks.base import Task

ENTRY_POINTS = "zoo.tasks"


def _discover() -> dict[str, Task]:
    """Every ``zoo.tasks.<package>.TASK`` (the packages of ``zoo.tasks.__path__``), then the entry points'."""
    package = sys.modules[__package__]  # zoo.tasks, imported before this module
    found: dict[str, Task] = {}
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.ispkg:
            task = getattr(importlib.import_module(f"{__package__}.{module.name}"), "TASK", None)
            if task is not None:
                found.setdefault(task.name, task)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINTS):
        task = entry.load()
        found.setdefault(task.name, task)
    return found


class _Tasks(Mapping):
    """``name -> Task`` over the task packages and entry points."""

    def __getitem__(self, name: str) -> Task:
        return _discover()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_discover()))

    def __len__(self) -> int:
        return len(_discover())


TASKS: Mapping[str, Task] = _Tasks()


def get_task(name: str) -> Task:
    """The registered task ``name``; ValueError naming the known ones otherwise."""
    tasks = _discover()
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(tasks)}")
    return tasks[name]


def write_sample_folder(kind: str, folder: str | os.PathLike, **options) -> Path:
    """``python -m zoo sample-data KIND DIR``: the task whose ``sample_kinds`` has ``kind`` writes it."""
    tasks = _discover().values()
    for task in tasks:
        if kind in task.sample_kinds:
            return task.write_samples(kind, folder, **options)
    kinds = [k for task in tasks for k in task.sample_kinds]
    raise ValueError(f"unknown sample set {kind!r}; choose one of {tuple(kinds)}")

"""Segmentation: a class index per pixel. Everything that differs for this task lives in this package
(docs/architecture.md, "The task wing"); ``TASK`` is its ``zoo.tasks.base.Task``."""

from zoo.tasks.segmentation.task import TASK

__all__ = ["TASK"]

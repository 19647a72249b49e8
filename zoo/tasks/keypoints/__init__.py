"""Keypoints: one heatmap (or SimCC bins) per keypoint, decoded to pixel coordinates. Everything that differs
for this task lives in this package (docs/architecture.md, "The task wing"); ``TASK`` is its
``zoo.tasks.base.Task``."""

from zoo.tasks.keypoints.task import TASK

__all__ = ["TASK"]

"""Strategy selection for ``tf.distribute``: one place for both recipes.

``auto`` picks ``MirroredStrategy`` over all local GPUs when there are several,
else the default strategy (one device). ``multiworker`` reads the cluster from
``TF_CONFIG`` and must be created before any other TensorFlow work in the process.
The model, optimizer and metrics must be created inside ``strategy.scope()``;
Keras then splits each global batch across the replicas.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "onedevice", "mirrored", "multiworker")


def make_strategy(name: str = "auto", devices: list[str] | None = None) -> tf.distribute.Strategy:
    """Returns the strategy called ``name`` (see ``STRATEGIES``).

    Args:
        name: ``auto``, ``default``, ``onedevice``, ``mirrored`` or ``multiworker``.
        devices: for ``mirrored``, an explicit device list (e.g. two logical CPUs
            ``["/cpu:0", "/cpu:1"]``); default all local GPUs (or the CPU).
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs TF_CONFIG (the cluster and this worker's task) to be set")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "onedevice":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def worker_role() -> tuple[str, int]:
    """(task type, task index) from ``TF_CONFIG``, or ("chief", 0) on a single machine."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task") or {}
    return task.get("type", "chief"), int(task.get("index", 0))


def is_chief() -> bool:
    """True for the worker that writes checkpoints, logs, plots, metrics and exports.

    That is the ``chief`` task, or ``worker`` 0 when the cluster has no chief.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task_type, index = worker_role()
    if task_type == "chief":
        return True
    has_chief = "chief" in (config.get("cluster") or {})
    return task_type == "worker" and index == 0 and not has_chief

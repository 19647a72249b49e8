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

STRATEGIES = ("auto", "default", "onedevice", "mirrored", "multiworker", "tpu")


def split_cpu(count: int) -> None:
    """Splits the CPU into ``count`` logical devices (``/cpu:0`` .. ``/cpu:{count-1}``).

    For running ``MirroredStrategy`` (or several multi-worker replicas) on a machine
    without accelerators. Must run before TensorFlow initialises its devices.
    """
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as err:
        raise RuntimeError(f"cannot split the CPU into {count} devices after TensorFlow has started ({err})") from err


def make_strategy(
    name: str = "auto", devices: list[str] | None = None, cpu_devices: int = 1, tpu: str | None = None
) -> tf.distribute.Strategy:
    """Returns the strategy called ``name`` (see ``STRATEGIES``).

    Args:
        name: ``auto``, ``default``, ``onedevice``, ``mirrored``, ``multiworker`` or ``tpu``.
        devices: for ``mirrored``, an explicit device list (e.g. ``["/gpu:0", "/gpu:1"]``);
            default all local GPUs, else all logical CPUs.
        cpu_devices: split the CPU into this many logical devices first (testing, or
            a CPU-only machine); ``mirrored`` then uses them all.
        tpu: for ``tpu``, the TPU name or address given to ``TPUClusterResolver``
            ("" or "local" for a TPU VM).
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")
    split_cpu(cpu_devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs TF_CONFIG (the cluster and this worker's task) to be set")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        from zoo.utils.keras_internals import patch_multiworker_reduce

        patch_multiworker_reduce()
        return strategy
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu in (None, "local") else tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        if devices is None and not gpus:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "onedevice":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Tells multi-worker input distribution to shard ``dataset`` by example.

    Every worker then reads all sources but keeps every N-th batch, which works for
    in-memory, generated and file-based pipelines alike (file sharding would need
    at least one file per worker).
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def scale_learning_rate(rate: float, replicas: int, rule: str) -> float:
    """The learning rate for ``replicas`` replicas: ``none`` keeps it (the global batch is
    what the schedule was written for), ``linear`` multiplies it by the replica count
    (when the per-replica batch is held fixed and the global batch grows with replicas)."""
    if rule == "none":
        return rate
    if rule == "linear":
        return rate * replicas
    raise ValueError(f"unknown learning-rate scaling {rule!r}; use none or linear")


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


def build_from_spec_before_fit(model, element_spec) -> None:
    """Makes each ``fit`` and ``evaluate`` build the compiled loss, metrics and optimizer from the dataset's
    ``element_spec`` before the train step is traced (``zoo.utils.keras_internals.build_from_spec``), under
    any strategy. Keras 3.15 builds them that way only inside an explicit strategy, and there from a
    cross-worker reduce of the first batch, which fails under ``MultiWorkerMirroredStrategy``; without a
    strategy it defers them to the first trace, whose new optimizer slots and metric variables make
    ``tf.function`` trace the train step a second time (about 45% of a short run's fit on CPU)."""
    from zoo.utils.keras_internals import build_from_spec

    build_from_spec(model, element_spec)

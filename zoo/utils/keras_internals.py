"""Every place the project relies on a private part of Keras, in one module.

Each one works around something Keras 3.15 does not offer publicly (see the function's
docstring for what and why). At import this module checks that the private names it
uses exist in the installed Keras and raises ``ImportError`` naming the Keras version
and what is missing, instead of failing silently (an override that is no longer
called) or deep inside training. Checked against Keras 3.15.1 (the pinned version).
"""

from __future__ import annotations

import importlib.util
import inspect

import keras
import tensorflow as tf
from keras.src.backend.common import global_state as _global_state
from keras.src.backend.tensorflow import trainer as _tf_trainer
from keras.src.saving import saving_lib as _saving_lib

CHECKED_AGAINST = "3.15.1"


def _missing() -> list[str]:
    """The private names this module relies on that the installed Keras lacks."""
    missing = []
    if not callable(getattr(keras.callbacks.BackupAndRestore, "_save_model", None)):
        missing.append("keras.callbacks.BackupAndRestore._save_model")
    init = inspect.getsource(keras.callbacks.BackupAndRestore.__init__)
    for name in ("_weights_path", "_training_metadata_path"):
        if f"self.{name}" not in init:
            missing.append(f"keras.callbacks.BackupAndRestore.{name}")
    source = inspect.getsource(keras.callbacks.BackupAndRestore)
    for name in ("_current_epoch", "_last_batch_seen"):
        if f"self.{name}" not in source:
            missing.append(f"keras.callbacks.BackupAndRestore.{name}")
    if "objects_to_skip" not in inspect.signature(getattr(_saving_lib, "save_weights_only", lambda: None)).parameters:
        missing.append("keras.src.saving.saving_lib.save_weights_only(objects_to_skip=...)")
    if not callable(getattr(_tf_trainer, "reduce_per_replica", None)):
        missing.append("keras.src.backend.tensorflow.trainer.reduce_per_replica")
    for name in ("_symbolic_build", "_maybe_symbolic_build"):
        if not callable(getattr(keras.Model, name, None)):
            missing.append(f"keras.Model.{name}")
    if "_initial_epoch" not in inspect.getsource(keras.callbacks.BackupAndRestore):
        missing.append("keras.Model._initial_epoch (set by BackupAndRestore)")
    if not callable(getattr(keras.callbacks.SwapEMAWeights, "_swap_variables", None)):
        missing.append("keras.callbacks.SwapEMAWeights._swap_variables")
    if importlib.util.find_spec("keras.src.export.tf2onnx_lib") is None:
        missing.append("keras.src.export.tf2onnx_lib")
    if "_call_has_training_arg" not in inspect.getsource(keras.layers.Layer):
        missing.append("keras.layers.Layer._call_has_training_arg")
    if not hasattr(_global_state, "GLOBAL_STATE_TRACKER"):
        missing.append("keras.src.backend.common.global_state.GLOBAL_STATE_TRACKER")
    return missing


_MISSING = _missing()
if _MISSING:
    raise ImportError(
        f"Keras {keras.__version__} lacks private parts this project relies on ({', '.join(_MISSING)}); it was "
        f"checked against Keras {CHECKED_AGAINST}. Install that version (`make install` pins it) or adapt "
        "zoo/utils/keras_internals.py"
    )


def save_weights_without_optimizer(model: keras.Model, path: str) -> None:
    """``model.save_weights(path)`` without the optimizer's variables (``saving_lib.save_weights_only``
    with ``objects_to_skip``, what ``model.save_weights`` calls): Adam's two moments would triple the file."""
    if getattr(model, "optimizer", None) is None:
        model.save_weights(path)
    else:
        _saving_lib.save_weights_only(model, path, objects_to_skip=[model.optimizer])


def backup_state(callback: keras.callbacks.BackupAndRestore) -> tuple[str, str, dict]:
    """(weights file name, metadata file name, metadata) of a ``BackupAndRestore`` about to save:
    what its private ``_save_model`` writes, for an override that writes it elsewhere."""
    meta = {"epoch": callback._current_epoch, "batch": callback._last_batch_seen}
    return (callback._weights_path.rsplit("/", 1)[-1], callback._training_metadata_path.rsplit("/", 1)[-1], meta)


def clear_restored_epoch(model: keras.Model) -> None:
    """Keras keeps the epoch ``BackupAndRestore`` restored in the model's private ``_initial_epoch``
    and lets it override ``initial_epoch`` in every later ``fit``; clears it so that each phase of a
    schedule starts where the schedule says."""
    if getattr(model, "_initial_epoch", None) is not None:
        model._initial_epoch = None


def build_from_spec(model: keras.Model, element_spec) -> None:
    """Makes ``fit`` build the compiled loss, metrics and model from ``element_spec`` instead of
    reducing the first distributed batch across workers to learn its shapes (which fails under
    ``MultiWorkerMirroredStrategy`` collectives: "Attempt to convert a value (PerReplica ...)")."""

    def symbolic_build(iterator=None, data_batch=None):
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=element_spec)

    model._maybe_symbolic_build = symbolic_build


def patch_multiworker_reduce() -> None:
    """Under ``MultiWorkerMirroredStrategy`` only, Keras' per-step reduction of scalar logs
    (``strategy.reduce("MEAN", value, axis=0)``, which fails for scalars: "Invalid reduction
    dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388) averages them with
    ``axis=None`` instead: the same mean. Idempotent."""
    original = _tf_trainer.reduce_per_replica
    if getattr(original, "_zoo_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and reduction in ("auto", "mean"):

            def one(value):
                if isinstance(value, tf.distribute.DistributedValues) or tf.is_tensor(value):
                    rank = value.shape.rank if tf.is_tensor(value) else None
                    if rank is None:
                        rank = strategy.experimental_local_results(value)[0].shape.rank
                    if rank == 0:
                        return strategy.reduce("MEAN", value, axis=None)
                return original(value, strategy, reduction)

            from keras.src import tree

            return tree.map_structure(one, values)
        return original(values, strategy, reduction)

    reduce_per_replica._zoo_patched = True
    _tf_trainer.reduce_per_replica = reduce_per_replica


def swap_ema_variables(callback: keras.callbacks.SwapEMAWeights) -> None:
    """Swaps the model's weights with their moving averages (and back, called again): what
    ``SwapEMAWeights`` does around validation, for code that needs the averages at other moments (the
    best checkpoint, the export)."""
    callback._swap_variables()


def call_takes_training(model: keras.Model) -> bool:
    """Whether ``model.call`` takes a ``training`` argument (Keras' own record of the signature):
    ``stateless_call`` passes keywords straight to ``call``, where ``Layer.__call__`` would drop it."""
    return bool(getattr(model, "_call_has_training_arg", True))


def patch_tf2onnx() -> None:
    """The compatibility patch Keras applies to tf2onnx before its own ONNX export (tf2onnx 1.17 still
    uses ``np.object``, gone from NumPy 2)."""
    import warnings

    from keras.src.export.tf2onnx_lib import patch_tf2onnx as patch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        patch()


def keras_state_in_use() -> bool:
    """Whether Keras holds global state (layer names, dtype policies, scopes) made since the last
    ``keras.backend.clear_session()``: the tests clear only then (a clear and a collection cost 0.4 s)."""
    return bool(vars(_global_state.GLOBAL_STATE_TRACKER))

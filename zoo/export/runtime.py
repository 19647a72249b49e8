"""Running any export: one call, ``uint8 images -> dict of NumPy arrays``, whatever the format.

``load(path)`` reads ``model.json`` and picks the runtime: TensorFlow for a SavedModel,
the LiteRT interpreter (``ai_edge_litert``, else TensorFlow's ``tf.lite``) for
``.tflite``, ONNX Runtime for ``.onnx``, and Keras plus this package's serving
function for ``.keras``. All return the outputs listed in ``model.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.tta import parse_tta
from zoo.export.metadata import METADATA_FILE, read_metadata
from zoo.tasks.base import check_pictures
from zoo.tasks.info import ExportInfo


@dataclass
class Predictor:
    """A loaded export. ``predictor(images)`` takes uint8 ``[B, h, w, C]`` (one size per call).

    Attributes:
        path: the export's model file or folder.
        info: its ``model.json`` (``zoo.tasks.base.ExportInfo``).
        run: ``run(images) -> dict`` of NumPy arrays: the export's ``serving_default`` (a SavedModel's
            ``run.native`` is its ``native`` signature, where it has one).
    """

    path: Path
    info: ExportInfo
    run: Callable[[np.ndarray], dict]

    def __call__(
        self,
        images: np.ndarray,
        scale: str | None = None,
        tile: int | tuple[int, int] | None = None,
        overlap: float = 0.25,
        tta: str | None = None,
        probabilities: str | None = "float32",
    ) -> dict[str, np.ndarray]:
        """Runs the export.

        Args:
            images: uint8 ``[B, h, w, C]``.
            scale, tile, overlap, probabilities: for exports that answer per pixel (segmentation): how a
                picture meets the network (``"resize"``: as ``serving_default``; ``"native"``: at its own
                scale in overlapping tiles of ``tile``, blended; None: ``model.json``'s ``scale``), and the
                format of the returned probabilities (``zoo.tasks.segmentation.runtime.run``). Other tasks
                refuse them.
            tta: None, or a test-time augmentation (``zoo.data.tta``: ``"flip"``, ``"scales:0.75,1,1.25"``,
                ``"flip+scales:..."``) the task can take (keypoints: ``"flip"``).

        Returns:
            The export's outputs (``model.json``'s ``outputs``).
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != self.info.channels:
            raise ValueError(
                f"expected uint8 images [batch, height, width, {self.info.channels}], got "
                f"{images.dtype} {list(images.shape)}"
            )
        check_pictures(images)
        tta = parse_tta(tta)
        if tta is not None and self.info.tta:
            raise ValueError(
                f"this export averages test-time augmentation {self.info.tta!r} inside already "
                f"(model.json 'tta', from `zoo export --tta`); leave tta unset"
            )
        return self.info.spec.run(
            self, images, scale=scale, tile=tile, overlap=overlap, tta=tta, probabilities=probabilities
        )

    def predict_boxes(self, image: np.ndarray, boxes, tta: str | None = None) -> dict[str, np.ndarray]:
        """One object per box ``[N, 4]`` (x, y, width, height in the picture's pixels) of one uint8 picture
        ``[h, w, C]``, for tasks that answer per object (keypoints: ``zoo.tasks.keypoints.runtime``):
        ``keypoints`` ``[N, K, 2]`` in the picture's pixels and ``scores`` ``[N, K]``."""
        return self.info.spec.predict_boxes(self, image, boxes, tta)


def _not_ours(folder: Path, why: str) -> ValueError:
    return ValueError(
        f"{folder}: {why}; it does not look like an export of this project (the model.json beside "
        "it may have been copied from another export). Export the run again with "
        "`python -m zoo export RUN_DIR`"
    )


def _saved_model(folder: Path, info: ExportInfo):
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(folder))
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise _not_ours(
            folder, f"TensorFlow cannot load it as a SavedModel ({str(err).splitlines()[0][:200]})"
        ) from None
    serve = loaded.signatures.get("serving_default")
    if serve is None:
        raise _not_ours(
            folder, f"the SavedModel has no serving_default signature (it has {sorted(loaded.signatures) or 'none'})"
        )
    inputs = serve.structured_input_signature[1]
    spec = inputs.get("images")
    if (
        list(inputs) != ["images"]
        or spec.dtype != tf.uint8
        or spec.shape.rank != 4
        or spec.shape[-1] not in (None, info.channels)
    ):
        shown = {k: f"{v.dtype.name} {v.shape}" for k, v in inputs.items()}
        raise _not_ours(
            folder, f"its serving_default takes {shown}, not uint8 images [batch, height, width, {info.channels}]"
        )
    # what the task's serving function returns: a SavedModel without it was not written by this project,
    # whatever model.json beside it says

    missing = [k for k in info.spec.serving_outputs if k not in serve.structured_outputs]
    if missing:
        raise _not_ours(
            folder,
            f"its serving_default returns {sorted(serve.structured_outputs)}, without "
            f"{missing} of a {info.task} export",
        )

    def run(images):
        return {k: v.numpy() for k, v in serve(images=tf.constant(images)).items()}

    native = loaded.signatures.get("native")  # segmentation exports: the network at the pictures' own scale
    if native is not None:
        run.native = lambda images: {k: v.numpy() for k, v in native(images=tf.constant(images)).items()}
    return run


def litert_interpreter():
    """The LiteRT ``Interpreter`` class: ``ai_edge_litert``'s, else TensorFlow's ``tf.lite`` copy
    (deprecated there, still shipped in 2.21; ``ai-edge-litert`` has no Linux aarch64 wheel)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def _damaged(file: Path, runtime: str, err: Exception) -> ValueError:
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
    return ValueError(
        f"{file}: {runtime} cannot read it ({first[:200]}); the file may be truncated or damaged (an unfinished "
        "copy or download?): copy it again, or export the run again with `python -m zoo export RUN_DIR`"
    )


def _litert(file: Path, info: ExportInfo):
    Interpreter = litert_interpreter()
    try:
        interpreter = Interpreter(model_path=str(file), num_threads=os.cpu_count())
        runner = interpreter.get_signature_runner("serving_default")
    except Exception as err:  # noqa: BLE001 - LiteRT raises ValueError or RuntimeError on a bad file
        raise _damaged(file, "LiteRT", err) from None
    return lambda images: dict(runner(images=images))


def _onnx(file: Path, info: ExportInfo):
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError(
            "running an ONNX export needs onnxruntime: `pip install onnxruntime` (onnxruntime-gpu on GPUs)"
        ) from None
    try:
        session = onnxruntime.InferenceSession(str(file), providers=onnxruntime.get_available_providers())
    except Exception as err:  # noqa: BLE001 - onnxruntime's own classes (InvalidProtobuf, Fail, ...)
        raise _damaged(file, "ONNX Runtime", err) from None
    names = [o.name for o in session.get_outputs()]
    feed = session.get_inputs()[0].name
    return lambda images: dict(zip(names, session.run(names, {feed: images})))


def _keras(file: Path, info: ExportInfo):
    import keras
    import tensorflow as tf

    import zoo.models.layers  # noqa: F401 - registers the custom layers the file refers to
    from zoo.export.serving import serving_fn
    from zoo.models.hub_backbones import is_hub, register_hub_layers

    if is_hub(info.backbone):
        register_hub_layers()  # and a keras-hub encoder's (zoo.models.hub_layers)

    try:
        model = keras.saving.load_model(str(file), compile=False)
    except (OSError, ValueError, KeyError, TypeError, EOFError) as err:  # a .keras file is a zip: a cut one fails
        raise _damaged(file, "Keras", err) from None
    serve = tf.function(serving_fn(model, info), reduce_retracing=True, autograph=False)
    return lambda images: {k: v.numpy() for k, v in serve(tf.constant(images)).items()}


RUNTIMES = {"saved_model": _saved_model, "litert": _litert, "onnx": _onnx, "keras": _keras}


def load(path: str | os.PathLike) -> Predictor:
    """Loads an export folder (or its model file) written by ``zoo.export.export_model``.

    Raises:
        FileNotFoundError: nothing at ``path``, or no ``model.json`` with it.
        ValueError: ``model.json`` names a format this module does not know.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such export (a folder written by `python -m zoo export` or a recipe's RUN_DIR/export)"
        )
    info = read_metadata(path)
    fmt = info.format
    if fmt not in RUNTIMES:
        raise ValueError(
            f"{path / METADATA_FILE if path.is_dir() else path}: unknown format {fmt!r}; "
            f"expected one of {sorted(RUNTIMES)}"
        )
    folder = path if path.is_dir() else path.parent
    target = folder if fmt == "saved_model" else folder / info.file
    if not target.exists():
        raise FileNotFoundError(f"{target}: named by {folder / METADATA_FILE} but missing; export again")
    return Predictor(path=target, info=info, run=RUNTIMES[fmt](target, info))

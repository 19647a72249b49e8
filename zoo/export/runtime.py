"""Running any export: one call, ``uint8 images -> dict of NumPy arrays``, whatever the format.

``load(path)`` reads ``model.json`` and picks the runtime: TensorFlow for a SavedModel,
the LiteRT interpreter (``ai_edge_litert``, else TensorFlow's ``tf.lite``) for
``.tflite``, ONNX Runtime for ``.onnx``, and Keras plus this package's serving
function for ``.keras``. All return the outputs listed in ``model.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.export.metadata import METADATA_FILE, read_metadata
from zoo.tasks import get_task


SCALES = ("resize", "native")  # how a picture meets the network (zoo.tiling for native)
TTAS = (None, "flip")  # test-time augmentation of segmentation: the mean with the mirrored picture's answer
NATIVE_TILE = 512  # px: the default native tile where the export takes any tile size


@dataclass
class Predictor:
    """A loaded export. ``predictor(images)`` takes uint8 ``[B, h, w, C]`` (one size per call)."""

    path: Path
    info: dict
    run: Callable[[np.ndarray], dict]

    def __call__(self, images: np.ndarray, scale: str | None = None, tile: int | tuple[int, int] | None = None,
                 overlap: float = 0.25, tta: str | None = None, probabilities: str | None = "float32"
                 ) -> dict[str, np.ndarray]:
        """Runs the export.

        Args:
            images: uint8 ``[B, h, w, C]``.
            scale: segmentation: ``"resize"`` (the picture resized to the training size and the
                answer back, as ``serving_default``) or ``"native"`` (the picture at its own pixel
                scale in overlapping tiles of the training size, blended: ``zoo.tiling``); None:
                the export's ``scale`` in ``model.json`` (``resize`` unless it says otherwise).
            tile: native tiles ``(height, width)`` or one size. Default ``native_tile()``: the
                training size, or at least ``NATIVE_TILE`` for a SavedModel (its ``native``
                signature runs any size); other formats run the training size only.
            overlap: native: pixels or fraction of a tile shared by neighbouring tiles.
            tta: None, or ``"flip"``: the mean of the probabilities for the picture and for its
                mirror image (mirrored back), segmentation only.
            probabilities: native: the format of the returned ``probabilities``
                (``zoo.tiling.PROBABILITY_FORMATS``), or None for the mask alone.

        Returns:
            The export's outputs (segmentation: ``mask`` int32 ``[B, h, w]`` and ``probabilities``).
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != self.info["channels"]:
            raise ValueError(f"expected uint8 images [batch, height, width, {self.info['channels']}], got "
                             f"{images.dtype} {list(images.shape)}")
        scale = scale or self.info.get("scale", "resize")
        if scale not in SCALES or tta not in TTAS:
            raise ValueError(f"scale must be one of {SCALES} and tta one of {TTAS}; got {scale!r}, {tta!r}")
        if scale == "resize" and tta is None:
            return self.run(images)
        if not get_task(self.info["task"]).per_pixel:
            raise ValueError(f"scale={scale!r} and tta={tta!r} are for exports that answer per pixel (segmentation); "
                             f"this one is a {self.info['task']} export (its crops are resized to the training size)")
        if scale == "resize":
            mean = self._probabilities(images, tta)
            return {"probabilities": mean, "mask": np.argmax(mean, axis=-1).astype(np.int32)}
        return self._native(images, tile, overlap, tta, probabilities)

    def _probabilities(self, images: np.ndarray, tta: str | None, run=None) -> np.ndarray:
        """Class probabilities ``[B, h, w, K]`` of ``run`` (default ``serving_default``), with test-time
        augmentation."""
        run = run or self.run
        found = run(images)["probabilities"]
        if tta == "flip":
            mirrored = run(np.ascontiguousarray(images[:, :, ::-1]))["probabilities"][:, :, ::-1]
            found = (found + mirrored) / 2
        return found

    def native_tile(self) -> tuple[int, int]:
        """The default native tile: the training size, or with a ``native`` signature (SavedModel) the
        larger of it and ``NATIVE_TILE`` px (fewer seams and calls; memory grows with the tile)."""
        size = tuple(int(v) for v in self.info["input_size"])
        if getattr(self.run, "native", None) is None:
            return size
        return tuple(max(side, NATIVE_TILE) for side in size)

    def _native(self, images: np.ndarray, tile, overlap, tta, probabilities) -> dict[str, np.ndarray]:
        from zoo.tiling import predict_tiled

        size = tuple(int(v) for v in self.info["input_size"])
        native = getattr(self.run, "native", None)
        wanted = self.native_tile() if tile is None else (
            (int(tile),) * 2 if np.isscalar(tile) else tuple(int(v) for v in tile))
        if native is None and wanted != size:
            raise ValueError(f"tile {wanted}: this {self.info['format']} export runs tiles of its training size "
                             f"{size[0]}x{size[1]} only (its signature resizes anything else); leave tile unset, or "
                             "export as saved_model, whose 'native' signature takes any tile")
        run = native if wanted != size else None  # at the training size serving_default's resize does nothing
        masks, kept = [], []
        for image in images:
            mask, probs = predict_tiled(lambda tiles: self._probabilities(tiles, tta, run), image, wanted, overlap,
                                        probabilities=probabilities)
            masks.append(mask)
            kept.append(probs)
        outputs = {"mask": np.stack(masks)}
        if probabilities is not None:
            outputs["probabilities"] = np.stack(kept)
        return outputs


def _not_ours(folder: Path, why: str) -> ValueError:
    return ValueError(f"{folder}: {why}; it does not look like an export of this project (the model.json beside "
                      "it may have been copied from another export). Export the run again with "
                      "`python -m zoo export RUN_DIR`")


def _saved_model(folder: Path, info: dict):
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(folder))
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise _not_ours(folder, f"TensorFlow cannot load it as a SavedModel ({str(err).splitlines()[0][:200]})")
    serve = loaded.signatures.get("serving_default")
    if serve is None:
        raise _not_ours(folder, f"the SavedModel has no serving_default signature (it has "
                                f"{sorted(loaded.signatures) or 'none'})")
    inputs = serve.structured_input_signature[1]
    spec = inputs.get("images")
    if list(inputs) != ["images"] or spec.dtype != tf.uint8 or spec.shape.rank != 4 \
            or spec.shape[-1] not in (None, info["channels"]):
        shown = {k: f"{v.dtype.name} {v.shape}" for k, v in inputs.items()}
        raise _not_ours(folder, f"its serving_default takes {shown}, not uint8 images [batch, height, width, "
                                f"{info['channels']}]")
    # what the task's serving function returns: a SavedModel without it was not written by this project,
    # whatever model.json beside it says
    missing = [k for k in get_task(info["task"]).serving_outputs if k not in serve.structured_outputs]
    if missing:
        raise _not_ours(folder, f"its serving_default returns {sorted(serve.structured_outputs)}, without "
                                f"{missing} of a {info['task']} export")
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


def _litert(file: Path, info: dict):
    interpreter = litert_interpreter()(model_path=str(file), num_threads=os.cpu_count())
    runner = interpreter.get_signature_runner("serving_default")
    return lambda images: dict(runner(images=images))


def _onnx(file: Path, info: dict):
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError("running an ONNX export needs onnxruntime: `pip install onnxruntime` "
                           "(onnxruntime-gpu on GPUs)") from None
    session = onnxruntime.InferenceSession(str(file), providers=onnxruntime.get_available_providers())
    names = [o.name for o in session.get_outputs()]
    feed = session.get_inputs()[0].name
    return lambda images: dict(zip(names, session.run(names, {feed: images})))


def _keras(file: Path, info: dict):
    import keras
    import tensorflow as tf

    import zoo.layers  # noqa: F401 - registers the custom layers the file refers to
    from zoo.export.serving import serving_fn

    model = keras.saving.load_model(str(file), compile=False)
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
        raise FileNotFoundError(f"{path}: no such export (a folder written by `python -m zoo export` or a "
                                "recipe's RUN_DIR/export)")
    info = read_metadata(path)
    fmt = info.get("format")
    if fmt not in RUNTIMES:
        raise ValueError(f"{path / METADATA_FILE if path.is_dir() else path}: unknown format {fmt!r}; "
                         f"expected one of {sorted(RUNTIMES)}")
    folder = path if path.is_dir() else path.parent
    target = folder if fmt == "saved_model" else folder / info["file"]
    if not target.exists():
        raise FileNotFoundError(f"{target}: named by {folder / METADATA_FILE} but missing; export again")
    return Predictor(path=target, info=info, run=RUNTIMES[fmt](target, info))

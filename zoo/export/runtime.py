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

from zoo.data.detections import enlarged_box
from zoo.export.metadata import METADATA_FILE, read_metadata
from zoo.tasks import get_task
from zoo.tta import parse_tta, resize, tta_probabilities


SCALES = ("resize", "native")  # how a picture meets the network (zoo.tiling for native)


def _crop_mirrored(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` with whatever lies beyond the picture mirrored in (edge pixels repeated)."""
    def mirror(start: int, stop: int, size: int) -> np.ndarray:
        index = np.arange(start, stop) % (2 * size)
        return np.where(index < size, index, 2 * size - 1 - index)

    return image[mirror(y0, y1, image.shape[0])][:, mirror(x0, x1, image.shape[1])]


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
                training size (what a ``--train-crop`` run's validation measured); larger tiles need a
                SavedModel (its ``native`` signature runs any size); other formats run the training
                size only.
            overlap: native: pixels or fraction of a tile shared by neighbouring tiles.
            tta: None, or a test-time augmentation (``zoo.tta``: ``"flip"``, ``"scales:0.75,1,1.25"``,
                ``"flip+scales:..."``): the mean of the probabilities over the views, each mapped back to
                the picture's pixels; native: applied to each tile. Keypoint exports take ``"flip"`` (the
                mirrored picture's keypoints mirrored back, left/right swapped, averaged).
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
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        tta = parse_tta(tta)
        if tta is not None and self.info.get("tta"):
            raise ValueError(f"this export averages test-time augmentation {self.info['tta']!r} inside already "
                             f"(model.json 'tta', from `zoo export --tta`); leave tta unset")
        if scale == "resize" and tta is None:
            return self.run(images)
        if not get_task(self.info["task"]).per_pixel:
            if scale == "resize" and tta.scales == (1.0,):
                return self._flipped_keypoints(images)
            raise ValueError(f"scale={scale!r} and tta={str(tta)!r} are for exports that answer per pixel "
                             f"(segmentation); a {self.info['task']} export resizes its crops to the training size "
                             "and takes tta='flip' only")
        if scale == "resize":
            if tta.scales == (1.0,):  # serving_default resizes each view to the training size and back
                mean = tta_probabilities(lambda views: self.run(views)["probabilities"], images, tta)
            else:  # the views of the picture resized to the training size, the mean resized back
                size = tuple(int(v) for v in self.info["input_size"])
                base = np.clip(np.round(resize(images, size)), 0, 255).astype(np.uint8)
                mean = resize(tta_probabilities(self._any_size, base, tta), images.shape[1:3])
            return {"probabilities": mean, "mask": np.argmax(mean, axis=-1).astype(np.int32)}
        return self._native(images, tile, overlap, tta, probabilities)

    def predict_boxes(self, image: np.ndarray, boxes, tta: str | None = None) -> dict[str, np.ndarray]:
        """Keypoint exports: one object per box of one picture, as top-down pose methods answer.

        Each box is enlarged 1.25x around its centre (what ``--region box`` training looked at), cut
        out of the picture (mirrored beyond its edges, as the training warp fills), and run alone
        (``serving_default`` pads it to the training aspect ratio and resizes it); the keypoints
        come back in the picture's pixels.

        Args:
            image: uint8 ``[h, w, C]``.
            boxes: ``[N, 4]`` (x, y, width, height) in the picture's pixels (COCO's ``bbox``).
            tta: None or ``"flip"``.

        Returns:
            ``keypoints`` float32 ``[N, K, 2]`` (x, y) and ``scores`` float32 ``[N, K]``.
        """
        if get_task(self.info["task"]).per_pixel:
            raise ValueError("boxes are for keypoint exports; a segmentation export answers every pixel")
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != self.info["channels"]:
            raise ValueError(f"expected one uint8 image [height, width, {self.info['channels']}], got {image.dtype} "
                             f"{list(image.shape)}")
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(boxes) and not (boxes[:, 2:] > 0).all():
            raise ValueError(f"boxes need a positive width and height (x, y, width, height), got {boxes.tolist()}")
        count = len(self.info["keypoint_names"])
        keypoints, scores = np.zeros((len(boxes), count, 2), np.float32), np.zeros((len(boxes), count), np.float32)
        for n, box in enumerate(boxes):
            region = enlarged_box(*box)
            x0, y0 = (int(np.floor(v)) for v in region[:2])
            x1, y1 = (int(np.ceil(v)) for v in region[2:])
            crop = _crop_mirrored(image, x0, y0, x1, y1)
            out = self(crop[None], tta=tta)
            keypoints[n] = out["keypoints"][0] + np.array([x0, y0], np.float32)
            scores[n] = out["scores"][0]
        return {"keypoints": keypoints, "scores": scores}

    def _flipped_keypoints(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Keypoint flip TTA: the mean of the answers for the picture and for its mirror image, whose
        keypoints are mirrored back (``x -> w - 1 - x``, pixel centres) and left/right swapped
        (``flip_index``). Coordinates and scores are averaged; so are the heatmaps (mirrored back and
        swapped; exact when the picture needs no letterbox padding, else within a pixel). ``zoo export
        --tta flip`` averages the heatmaps before decoding instead (the recipes' flip test)."""
        flip = np.asarray(self.info["flip_index"])
        plain = self.run(images)
        mirrored = self.run(np.ascontiguousarray(images[:, :, ::-1]))
        back = np.array(mirrored["keypoints"][:, flip], np.float32)
        back[..., 0] = images.shape[2] - 1 - back[..., 0]
        outputs = {"keypoints": (plain["keypoints"] + back) / 2,
                   "scores": (plain["scores"] + mirrored["scores"][:, flip]) / 2}
        if "heatmaps" in plain:
            outputs["heatmaps"] = (plain["heatmaps"] + mirrored["heatmaps"][:, :, ::-1][..., flip]) / 2
        return outputs

    def _any_size(self, images: np.ndarray) -> np.ndarray:
        """Probabilities ``[B, h, w, K]`` of the network at the pictures' own scale, any size: the
        ``native`` signature, else ``serving_default`` at the training size, else tiles of it."""
        from zoo.tiling import predict_tiled

        size = tuple(int(v) for v in self.info["input_size"])
        native = getattr(self.run, "native", None)
        if tuple(images.shape[1:3]) == size:
            return self.run(images)["probabilities"]
        if native is not None:
            return native(images)["probabilities"]
        return np.stack([predict_tiled(lambda tiles: self.run(tiles)["probabilities"], image, size,
                                       probabilities="float32")[1] for image in images])

    def native_tile(self) -> tuple[int, int]:
        """The default native tile: the training size, the tiles a ``--train-crop`` run is validated on.
        Larger tiles (a SavedModel's ``native`` signature takes any) make fewer calls but answered
        held-out scenes less well here (README, "Large pictures")."""
        return tuple(int(v) for v in self.info["input_size"])

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
        if tta is not None and tta.scales != (1.0,):
            run = self._any_size  # scaled tiles: any size (tiles of tiles without a native signature)
        elif wanted != size:
            run = lambda tiles: native(tiles)["probabilities"]  # noqa: E731
        else:  # at the training size serving_default's resize does nothing
            run = lambda tiles: self.run(tiles)["probabilities"]  # noqa: E731
        masks, kept = [], []
        for image in images:
            mask, probs = predict_tiled(lambda tiles: tta_probabilities(run, tiles, tta), image, wanted, overlap,
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

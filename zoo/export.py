"""Exports with the serving functions inside the graph.

A segmentation SavedModel takes uint8 images of any size, resizes them to the
size the model was trained at, applies the backbone's preprocessing, runs the
model, resizes the class scores back to the input's size and returns
``probabilities`` (softmax) and ``mask`` (argmax). It loads with
``tf.saved_model.load`` alone - no zoo, no Keras import needed by the caller.
Written with Keras' ``ExportArchive``; only the serving function is ours.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from zoo.backbones import get_backbone


def segmentation_serving_fn(model: keras.Model, input_size: tuple[int, int], backbone: str):
    """``fn(images uint8 [B, h, w, C]) -> {"probabilities" [B, h, w, K], "mask" int32 [B, h, w]}``.

    The same function serves the export and the Python path (``predict_segmentation``),
    so both give the same masks.
    """
    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])

    def serve(images):
        size = tf.shape(images)[1:3]
        x = tf.image.resize(tf.cast(images, tf.float32), (height, width), method="bilinear", antialias=True)
        scores = model(spec.preprocess(x), training=False)
        scores = tf.image.resize(tf.cast(scores, tf.float32), size, method="bilinear")
        return {
            "probabilities": tf.nn.softmax(scores, axis=-1),
            "mask": tf.argmax(scores, axis=-1, output_type=tf.int32),
        }

    return serve


def predict_segmentation(model: keras.Model, images, input_size: tuple[int, int], backbone: str) -> dict:
    """Runs the serving computation eagerly on uint8 ``images [B, h, w, C]``; returns NumPy arrays."""
    out = segmentation_serving_fn(model, input_size, backbone)(tf.convert_to_tensor(images, tf.uint8))
    return {k: v.numpy() for k, v in out.items()}


def _write_atomic(archive: keras.export.ExportArchive, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        archive.write_out(str(tmp), verbose=False)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def export_segmentation(model: keras.Model, path: str | os.PathLike, input_size: tuple[int, int],
                        backbone: str) -> Path:
    """Writes a SavedModel with a ``serving_default`` signature (see module doc) to ``path``.

    The folder appears complete or not at all (written under a temporary name, then renamed).
    """
    channels = model.input_shape[-1]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=segmentation_serving_fn(model, input_size, backbone),
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8, name="images")],
    )
    return _write_atomic(archive, Path(path))


def keypoint_serving_fn(model: keras.Model, input_size: tuple[int, int], backbone: str, stride: int,
                        method: str = "dark", sigma: float = 2.0, flip_index=None):
    """``fn(images uint8 [B, h, w, C]) -> {"keypoints" [B, K, 2], "scores" [B, K], "heatmaps"}``.

    The image is resized to the training size, the heatmaps decoded (``method``,
    with the flip test when ``flip_index`` is given) and the positions mapped back
    to the input image's pixels (centre of the top-left pixel at (0, 0)).
    """
    from zoo.heatmaps import decode, flip_average, heatmap_to_image

    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])

    def serve(images):
        size = tf.cast(tf.shape(images)[1:3], tf.float32)
        x = tf.image.resize(tf.cast(images, tf.float32), (height, width), method="bilinear", antialias=True)
        x = spec.preprocess(x)
        heatmaps = tf.cast(model(x, training=False), tf.float32)
        if flip_index is not None:
            mirrored = tf.cast(model(tf.reverse(x, axis=[2]), training=False), tf.float32)
            heatmaps = flip_average(heatmaps, mirrored, flip_index)
        coords, scores = decode(heatmaps, method, sigma)
        frame = heatmap_to_image(coords, stride)  # in the resized frame
        scale = tf.stack([size[1] / width, size[0] / height])
        keypoints = (frame + 0.5) * scale - 0.5
        return {"keypoints": keypoints, "scores": scores, "heatmaps": heatmaps}

    return serve


def export_keypoints(model: keras.Model, path: str | os.PathLike, input_size: tuple[int, int], backbone: str,
                     stride: int, method: str = "dark", sigma: float = 2.0, flip_index=None) -> Path:
    """Writes a keypoint SavedModel (``serving_default``: ``images`` uint8 in; ``keypoints``,
    ``scores``, ``heatmaps`` out), complete or not at all."""
    channels = model.input_shape[-1]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=keypoint_serving_fn(model, input_size, backbone, stride, method, sigma, flip_index),
        input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8, name="images")],
    )
    return _write_atomic(archive, Path(path))


def predict_keypoints(model: keras.Model, images, input_size: tuple[int, int], backbone: str, stride: int,
                      method: str = "dark", sigma: float = 2.0, flip_index=None) -> dict:
    """The keypoint serving computation, run eagerly on uint8 ``images``; NumPy arrays out."""
    fn = keypoint_serving_fn(model, input_size, backbone, stride, method, sigma, flip_index)
    return {k: v.numpy() for k, v in fn(tf.convert_to_tensor(images, tf.uint8)).items()}

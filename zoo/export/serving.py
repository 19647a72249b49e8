"""The serving computations: what an exported model does around the trained network.

Segmentation: ``images`` uint8 ``[B, h, w, C]`` of any size -> resize to the
training size (antialiased bilinear) -> the backbone's preprocessing -> the model ->
class scores resized back to ``(h, w)`` (bilinear) -> ``probabilities`` float32
``[B, h, w, K]`` (softmax) and ``mask`` int32 ``[B, h, w]`` (argmax).

Keypoints: as in training, the image is first padded around its centre to the
training size's aspect ratio (reflection; nothing is stretched), then the same input
steps -> heatmaps -> sub-pixel decoding (``zoo.heatmaps``)
-> ``keypoints`` float32 ``[B, K, 2]`` (x, y) in the input image's pixels (centre of
the top-left pixel at (0, 0)), ``scores`` float32 ``[B, K]`` (peak heights) and
``heatmaps`` float32 ``[B, h', w', K]`` at the training size's heatmap resolution.

These functions are written by hand (Keras' exporters serve the model's own call,
which takes preprocessed floats at the training size). The same functions serve
every export format and the Python path, so all of them give the same outputs.
``ServingModel`` wraps one of them as a Keras model so that Keras' LiteRT exporter
(``model.export(format="litert")``) can write it; the ONNX path
(``zoo.export.onnx_convert``) converts the function itself.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.backbones import get_backbone
from zoo.export.resize import letterbox, resize_antialiased


def segmentation_serving_fn(model: keras.Model, input_size: tuple[int, int], backbone: str):
    """``fn(images uint8 [B, h, w, C]) -> {"probabilities" [B, h, w, K], "mask" int32 [B, h, w]}``."""
    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])

    def serve(images):
        size = tf.shape(images)[1:3]
        x = resize_antialiased(tf.cast(images, tf.float32), (height, width))
        scores = tf.cast(model(spec.preprocess(x), training=False), tf.float32)
        scores = tf.image.resize(scores, size, method="bilinear")
        return {
            "probabilities": tf.nn.softmax(scores, axis=-1),
            "mask": tf.argmax(scores, axis=-1, output_type=tf.int32),
        }

    return serve


def keypoint_serving_fn(model: keras.Model, input_size: tuple[int, int], backbone: str, stride: int,
                        method: str = "dark", sigma: float = 2.0, flip_index=None):
    """``fn(images uint8 [B, h, w, C]) -> {"keypoints" [B, K, 2], "scores" [B, K], "heatmaps"}``.

    ``method`` is the heatmap decoder (``zoo.heatmaps.DECODERS``); with ``flip_index``
    the prediction on the mirrored image is averaged in (flip test).
    """
    from zoo.heatmaps import decode, flip_average, heatmap_to_image

    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])

    def serve(images):
        padded, offset, scale = letterbox(tf.cast(images, tf.float32), (height, width))
        x = spec.preprocess(resize_antialiased(padded, (height, width)))
        heatmaps = tf.cast(model(x, training=False), tf.float32)
        if flip_index is not None:
            mirrored = tf.cast(model(tf.reverse(x, axis=[2]), training=False), tf.float32)
            heatmaps = flip_average(heatmaps, mirrored, flip_index)
        coords, scores = decode(heatmaps, method, sigma)
        frame = heatmap_to_image(coords, stride)  # in the model's input frame
        keypoints = (frame + 0.5) * scale - 0.5 - offset
        return {"keypoints": keypoints, "scores": scores, "heatmaps": heatmaps}

    return serve


class ServingModel(keras.Model):
    """A Keras model whose call is a serving function (uint8 images in, a dict out).

    It tracks the trained ``model`` (so its weights are exported) and exists so that
    Keras' own exporters (``export(format="litert")`` here) can write the serving
    computation. Not meant for training.
    """

    def __init__(self, model: keras.Model, serve, channels: int, **kwargs):
        super().__init__(name=f"{model.name}_serving", **kwargs)
        self.inner = model
        self._serve = serve
        self.channels = int(channels)

    def call(self, images):
        return self._serve(images)

    def input_signature(self) -> list[tf.TensorSpec]:
        """One uint8 input ``images [None, None, None, C]`` (any batch and size)."""
        return [tf.TensorSpec([None, None, None, self.channels], tf.uint8, name="images")]


def serving_fn(model: keras.Model, info: dict):
    """The serving function for a trained ``model`` described by ``info`` (``zoo.export.metadata``)."""
    if info["task"] == "segmentation":
        return segmentation_serving_fn(model, info["input_size"], info["backbone"])
    flip_index = info["flip_index"] if info.get("flip_test") else None
    return keypoint_serving_fn(model, info["input_size"], info["backbone"], info["heatmap_stride"],
                               info["decode"], info["sigma"], flip_index)


def serving_model(model: keras.Model, info: dict) -> ServingModel:
    """``serving_fn`` wrapped as a called ``ServingModel``, ready for ``export(format=...)``."""
    wrapper = ServingModel(model, serving_fn(model, info), info["channels"])
    height, width = info["input_size"]
    wrapper(tf.zeros((1, height, width, info["channels"]), tf.uint8))  # Keras exporters need a called model
    return wrapper

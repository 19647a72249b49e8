"""The serving computations: what an exported model does around the trained network.

Each task defines its own (``zoo.tasks``: segmentation returns ``mask`` and
``probabilities`` at the input's size; keypoints return ``keypoints`` in the input's
pixels, ``scores`` and ``heatmaps``); ``serving_fn`` asks the export's task (``info.spec``).
They are written by hand (Keras' exporters serve the model's own call, which takes
preprocessed floats at the training size). The same functions serve every export
format and the Python path, so all of them give the same outputs. ``ServingModel``
wraps one of them as a Keras model so that Keras' LiteRT exporter
(``model.export(format="litert")``) can write it; the ONNX path
(``zoo.export.onnx_convert``) converts the function itself.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.tasks.info import ExportInfo

__all__ = ["ServingModel", "serving_fn", "serving_model"]


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


def serving_fn(model: keras.Model, info: ExportInfo | dict):
    """The serving function for a trained ``model`` described by ``info`` (an ``ExportInfo`` or a
    ``model.json``-style dict): its task's (``Task.serving_fn``)."""
    info = ExportInfo.of(info)
    return info.spec.serving_fn(model, info)


def serving_model(model: keras.Model, info: ExportInfo) -> ServingModel:
    """``serving_fn`` wrapped as a called ``ServingModel``, ready for ``export(format=...)``."""
    wrapper = ServingModel(model, serving_fn(model, info), info.channels)
    height, width = info.input_size
    wrapper(tf.zeros((1, height, width, info.channels), tf.uint8))  # Keras exporters need a called model
    return wrapper

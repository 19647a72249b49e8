"""Segmentation serving functions: what every export of a segmentation network computes.

Written by hand (Keras' exporters serve the model's own call, which takes preprocessed floats at the
training size): ``images`` uint8 ``[B, h, w, C]`` of any size -> resize to the training size
(antialiased bilinear) -> the backbone's preprocessing -> the network -> class scores resized back to
``(h, w)`` (bilinear) -> ``probabilities`` float32 ``[B, h, w, K]`` (softmax) and ``mask`` int32
``[B, h, w]`` (argmax). ``segmentation_native_fn`` runs the network at the pictures' own scale.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.data.resize import resize_antialiased
from zoo.data.tta import parse_tta, tta_probabilities_tf
from zoo.models.backbones import get_backbone
from zoo.models.copies import any_size_copy


def _from_probabilities(probabilities) -> dict:
    """Class probabilities ``[B, h, w, K]`` -> the segmentation exports' outputs (and the argmax mask)."""
    return {"probabilities": probabilities, "mask": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}


def network_probabilities(model):
    """``fn(x float [B, h, w, C] preprocessed, any size) -> softmax float32 [B, h, w, K]``. ``model`` must take
    any size (``zoo.models.copies.any_size_copy``: it pads to its stride inside by reflection and crops its
    scores back)."""

    def run(x):
        return tf.nn.softmax(tf.cast(model(x, training=False), tf.float32), axis=-1)

    return run


def segmentation_serving_fn(model, input_size: tuple[int, int], backbone: str, tta=None):
    """``fn(images uint8 [B, h, w, C]) -> {"mask" [B, h, w], "probabilities" [B, h, w, K]}``.

    ``tta`` (a ``zoo.data.tta`` mode, e.g. ``"flip"``): the probabilities are the mean over its views of
    the picture resized to the training size, resized back (``zoo export --tta``)."""
    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])
    tta = parse_tta(tta)
    if tta is not None:
        run = network_probabilities(model if tta.scales == (1.0,) else any_size_copy(model))

    def serve(images):
        size = tf.shape(images)[1:3]
        x = spec.preprocess(resize_antialiased(tf.cast(images, tf.float32), (height, width)))
        if tta is not None:
            return _from_probabilities(resize_antialiased(tta_probabilities_tf(run, x, tta), (size[0], size[1])))
        scores = tf.image.resize(tf.cast(model(x, training=False), tf.float32), size, method="bilinear")
        return _from_probabilities(tf.nn.softmax(scores, axis=-1))

    return serve


def segmentation_native_fn(model, backbone: str, tta=None):
    """``fn(images uint8 [B, h, w, C]) -> {"mask", "probabilities"}`` with the network at the pictures' own
    scale: no resize (the network pads to its stride inside, ``network_probabilities``). ``model``
    must take any size (``zoo.models.copies.any_size_copy``). ``tta``: as ``segmentation_serving_fn``,
    the views of the picture at its own scale."""
    spec = get_backbone(backbone)
    run = network_probabilities(model)
    tta = parse_tta(tta)

    def serve(images):
        return _from_probabilities(tta_probabilities_tf(run, spec.preprocess(tf.cast(images, tf.float32)), tta))

    return serve

"""What every builder shares: the output checks, the model's assembly from an encoder and a decoder's
output, and the segmentation model of a decoder (scores upsampled to the input size).

A builder lives beside its decoder in ``zoo/models/decoders/`` and is registered by one line of
``zoo/models/registry.py`` (docs/architecture.md, "How to add a decoder").
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from zoo.models.encoder import build_encoder
from zoo.models.freezing import freeze_encoder
from zoo.models.layers import CropToInput, ResizeBilinear2x

ACTIVATIONS = (None, "softmax", "sigmoid")


def check_outputs(num_outputs: int, what: str, activation) -> None:
    """Refuses an output count below 1 and an unknown final activation (ValueError naming the value)."""
    if not isinstance(num_outputs, (int, np.integer)) or num_outputs < 1:
        raise ValueError(f"{what} must be a positive integer, got {num_outputs!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS} (None gives logits), got {activation!r}")


def finish(encoder, outputs, activation, encoder_freeze: bool, name: str) -> keras.Model:
    """The functional model from the encoder's input to ``outputs`` (then ``activation``), frozen if asked.

    Where the encoder padded its input (``Encoder.padded``), spatial outputs (``[B, h, w, K]``) are cropped back
    to the unpadded picture (``zoo.models.layers.CropToInput``), so output pixels line up with input pixels."""
    if encoder.padded and len(outputs.shape) == 4:
        outputs = CropToInput(encoder.spec.divisor, dtype="float32", name="crop_to_input")([outputs, encoder.inputs])
    if activation is not None:
        outputs = keras.layers.Activation(activation, dtype="float32", name="probabilities")(outputs)
    # not "fpn_keras_hub:mit_b0": TensorFlow refuses a ':' in the name scope a model is called under
    model = keras.Model(encoder.inputs, outputs, name=name.replace(":", "_"))
    if encoder_freeze:
        freeze_encoder(model)
    return model


def decoder_model(
    kind: str,
    backbone: str,
    num_classes: int,
    input_shape,
    encoder_weights,
    encoder_freeze: bool,
    activation,
    name: str | None,
    decode: Callable,
    stride: int,
    output_stride: int = 32,
) -> keras.Model:
    """A segmentation model: encoder (dilated past ``output_stride``), ``decode(features)`` at ``stride``,
    1x1 class scores, bilinear upsampling to the input size."""
    check_outputs(num_classes, "num_classes", activation)
    encoder = build_encoder(
        backbone, input_shape, encoder_weights, what=f"{kind} on {backbone}", output_stride=output_stride
    )
    x = decode(encoder.features)
    if stride == 1:
        outputs = keras.layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    else:
        outputs = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
        outputs = ResizeBilinear2x(stride, dtype="float32", name="logits_up")(outputs)
    return finish(encoder, outputs, activation, encoder_freeze, name or f"{kind}_{backbone}")

"""U-Net decoder (Ronneberger et al. 2015) on a pretrained encoder.

From the stride-32 features, each block upsamples by 2, concatenates the encoder's
features at that stride (when the backbone has them) and applies two 3x3
convolution + BatchNorm + ReLU. Five blocks bring the map back to the input's full
resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.models.assembly import check_outputs, finish
from zoo.models.encoder import build_encoder
from zoo.models.layers import ResizeBilinear2x, batch_norm

DEFAULT_FILTERS = (256, 128, 64, 32, 16)
UPSAMPLING = ("bilinear", "transpose")


def _conv_bn_relu(x, filters: int, name: str):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def unet_decoder(
    features: dict[int, keras.KerasTensor],
    decoder_filters: Sequence[int] = DEFAULT_FILTERS,
    upsampling: str = "bilinear",
) -> keras.KerasTensor:
    """Builds the U-Net decoder.

    Args:
        features: stride -> encoder tensor; needs 32, uses 16, 8, 4, 2, 1 if present.
        decoder_filters: widths of the five decoder blocks, coarse to fine.
        upsampling: ``"bilinear"`` (fixed interpolation) or ``"transpose"`` (learned
            4x4 stride-2 transposed convolution).

    Returns:
        ``[batch, H, W, decoder_filters[-1]]`` features at the input resolution.
    """
    filters = tuple(int(f) for f in decoder_filters)
    if len(filters) != 5 or min(filters) < 1:
        raise ValueError(
            f"decoder_filters needs 5 positive widths (one per block, stride 32 back to 1), got {decoder_filters!r}"
        )
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
    x = features[32]
    for index, width in enumerate(filters):
        stride = 32 >> (index + 1)
        name = f"decoder_block{index + 1}"
        if upsampling == "bilinear":
            x = ResizeBilinear2x(2, name=f"{name}_up")(x)
        else:
            x = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", name=f"{name}_up")(x)
        if stride in features:
            x = keras.layers.Concatenate(name=f"{name}_concat")([x, features[stride]])
        x = _conv_bn_relu(x, width, f"{name}_a")
        x = _conv_bn_relu(x, width, f"{name}_b")
    return x


def unet(
    backbone: str = "vgg16",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    decoder_filters: Sequence[int] = (256, 128, 64, 32, 16),
    upsampling: str = "bilinear",
) -> keras.Model:
    """U-Net on a pretrained encoder, output at the input's full resolution.

    Args:
        backbone, input_shape, encoder_weights, encoder_freeze, activation, name:
            as ``fcn32s`` (``encoder_weights="imagenet"`` uses the no-top file).
        num_classes: C output channels (1 for a binary mask with sigmoid).
        decoder_filters: widths of the 5 decoder blocks, coarse to fine.
        upsampling: ``"bilinear"`` or ``"transpose"``.

    Returns:
        Uncompiled model: ``[batch, H, W, channels]`` -> ``[batch, H, W, C]`` float32;
        the last layer is a 1x1 convolution (a per-pixel classifier; then the crop back to the picture where
        the input is padded, docs/4-output-sizes.md).
    """
    check_outputs(num_classes, "num_classes", activation)
    encoder = build_encoder(backbone, input_shape, encoder_weights, what=f"unet on {backbone}")
    x = unet_decoder(encoder.features, decoder_filters, upsampling)
    outputs = keras.layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    return finish(encoder, outputs, activation, encoder_freeze, name or f"unet_{backbone}")

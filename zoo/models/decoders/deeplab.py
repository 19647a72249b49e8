"""DeepLabV3+ decoder (Chen, Zhu, Papandreou, Schroff, Adam 2018).

Atrous spatial pyramid pooling (ASPP) on the deepest features: a 1x1 convolution, three
3x3 atrous separable convolutions and an image-level pooling branch, concatenated and
fused by a 1x1 convolution (256 each, BatchNorm, ReLU, dropout). The result is upsampled
to stride 4 (bilinear), concatenated with the encoder's stride-4 features reduced to 48
channels, and refined by a 3x3 separable convolution (256). The paper's atrous rates
are (6, 12, 18) at output stride 16 (a dilated encoder, ``zoo.models.encoder.build_encoder``'s
``output_stride``); at other strides the default rates are scaled to cover the same image
area: (12, 24, 36) at 8, (3, 6, 9) at 32 (encoders that cannot dilate).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras

from zoo.models.assembly import decoder_model
from zoo.models.layers import ResizeBilinear2x, ResizeTo, batch_norm
from zoo.models.registry import default_output_stride


def _bn_relu(x, name: str):
    return keras.layers.ReLU(name=f"{name}_relu")(batch_norm(f"{name}_bn")(x))


PAPER_RATES = (6, 12, 18)  # at output stride 16


def deeplabv3plus_decoder(
    features: dict[int, keras.KerasTensor],
    atrous_rates=None,
    aspp_channels: int = 256,
    low_level_channels: int = 48,
    decoder_channels: int = 256,
    dropout: float = 0.1,
) -> keras.KerasTensor:
    """Builds the DeepLabV3+ decoder.

    Args:
        features: stride -> encoder tensor; needs 4 and a deeper stride (8, 16 or 32: the
            deepest is used).
        atrous_rates: dilation rates of the three separable ASPP branches at the deepest
            stride; None: ``PAPER_RATES`` scaled by 16 / that stride.
        aspp_channels: width of every ASPP branch and of its fusion.
        low_level_channels: width the stride-4 features are reduced to.
        decoder_channels: width of the refining separable convolution.
        dropout: rate after the ASPP fusion.

    Returns:
        ``[batch, H/4, W/4, decoder_channels]``.
    """
    deepest = max(features)
    if 4 not in features or deepest < 8:
        raise ValueError(f"DeepLabV3+ needs encoder features at stride 4 and deeper; got strides {sorted(features)}")
    if atrous_rates is None:
        atrous_rates = tuple(max(1, rate * 16 // deepest) for rate in PAPER_RATES)
    x = features[deepest]
    branches = [_bn_relu(keras.layers.Conv2D(aspp_channels, 1, use_bias=False, name="aspp_1x1_conv")(x), "aspp_1x1")]
    for rate in atrous_rates:
        name = f"aspp_rate{rate}"
        y = keras.layers.SeparableConv2D(
            aspp_channels, 3, padding="same", dilation_rate=rate, use_bias=False, name=f"{name}_conv"
        )(x)
        branches.append(_bn_relu(y, name))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="aspp_image_pool")(x)
    pooled = keras.layers.Conv2D(aspp_channels, 1, activation="relu", name="aspp_image_conv")(pooled)  # 1x1: no BN
    branches.append(ResizeTo(name="aspp_image_up")([pooled, x]))
    y = keras.layers.Concatenate(name="aspp_concat")(branches)
    y = _bn_relu(keras.layers.Conv2D(aspp_channels, 1, use_bias=False, name="aspp_fuse_conv")(y), "aspp_fuse")
    y = keras.layers.Dropout(dropout, name="aspp_dropout")(y)
    y = ResizeBilinear2x(deepest // 4, name="deeplab_up")(y)  # deepest stride -> 4
    low = _bn_relu(
        keras.layers.Conv2D(low_level_channels, 1, use_bias=False, name="deeplab_low_conv")(features[4]), "deeplab_low"
    )
    y = keras.layers.Concatenate(name="deeplab_concat")([y, low])
    y = keras.layers.SeparableConv2D(decoder_channels, 3, padding="same", use_bias=False, name="deeplab_refine_conv")(y)
    return _bn_relu(y, "deeplab_refine")


def deeplabv3plus(
    backbone: str = "resnet50",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    atrous_rates: Sequence[int] | None = None,
    aspp_channels: int = 256,
    dropout: float = 0.1,
    output_stride: int | None = None,
) -> keras.Model:
    """DeepLabV3+ (Chen et al. 2018): ASPP on the deepest features, fused with the stride-4
    features; ``zoo.models.decoders.deeplab``. Scores at stride 4, upsampled 4x (bilinear).

    ``output_stride``: None gives the paper's 16 on backbones with dilatable stages (ResNet50/101/152,
    VGG16/19: the last stage runs dilated with the same weights) and 32 on the others; 8 and 16
    where dilatable, 32 anywhere. ``atrous_rates``: None gives the paper's (6, 12, 18) at stride 16,
    scaled to the deepest stride ((12, 24, 36) at 8, (3, 6, 9) at 32) to cover the same image area.
    Other arguments as ``unet``."""
    if output_stride is None:
        output_stride = default_output_stride("deeplabv3plus", backbone)
    decode = functools.partial(
        deeplabv3plus_decoder,
        atrous_rates=None if atrous_rates is None else tuple(atrous_rates),
        aspp_channels=aspp_channels,
        dropout=dropout,
    )
    return decoder_model(
        "deeplabv3plus",
        backbone,
        num_classes,
        input_shape,
        encoder_weights,
        encoder_freeze,
        activation,
        name,
        decode,
        4,
        output_stride,
    )

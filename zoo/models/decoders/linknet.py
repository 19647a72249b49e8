"""LinkNet decoder (Chaurasia and Culurciello 2017).

From the stride-32 features, each block halves the stride: a 1x1 convolution to a quarter
of the channels, a 3x3 stride-2 transposed convolution, a 1x1 convolution to the width of
the encoder's features at the new stride, each with BatchNorm and ReLU; those features
are then *added* (not concatenated, as U-Net does), which keeps the decoder light. Five
blocks reach full resolution; where the backbone has no features at a stride (stride 1
for most), the block's width is ``final_channels`` and nothing is added.
"""

from __future__ import annotations

import keras

from zoo.models.assembly import decoder_model
from zoo.models.layers import batch_norm


def _conv_bn_relu(x, filters: int, name: str, transpose: bool = False):
    if transpose:
        x = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv")(x)
    else:
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def linknet_decoder(features: dict[int, keras.KerasTensor], final_channels: int = 32) -> keras.KerasTensor:
    """Builds the LinkNet decoder.

    Args:
        features: stride -> encoder tensor; needs 32, adds 16, 8, 4, 2, 1 where present.
        final_channels: width of a block with no encoder features to add.

    Returns:
        ``[batch, H, W, channels]`` at the input resolution.
    """
    x = features[32]
    for index, stride in enumerate((16, 8, 4, 2, 1)):
        name = f"linknet_block{index + 1}"
        skip = features.get(stride)
        width = int(skip.shape[-1]) if skip is not None else final_channels
        inner = max(int(x.shape[-1]) // 4, 8)
        x = _conv_bn_relu(x, inner, f"{name}_reduce")
        x = _conv_bn_relu(x, inner, f"{name}_up", transpose=True)
        x = _conv_bn_relu(x, width, f"{name}_expand")
        if skip is not None:
            x = keras.layers.Add(name=f"{name}_add")([x, skip])
    return x


def linknet(
    backbone: str = "resnet50",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """LinkNet (Chaurasia and Culurciello 2017): five decoder blocks that add the encoder's features
    instead of concatenating them; ``zoo.models.decoders.linknet``. Arguments and output as ``unet``."""
    return decoder_model(
        "linknet",
        backbone,
        num_classes,
        input_shape,
        encoder_weights,
        encoder_freeze,
        activation,
        name,
        linknet_decoder,
        1,
    )

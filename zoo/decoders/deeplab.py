"""DeepLabV3+ decoder (Chen, Zhu, Papandreou, Schroff, Adam 2018).

Atrous spatial pyramid pooling (ASPP) on the deepest features: a 1x1 convolution, three
3x3 atrous separable convolutions and an image-level pooling branch, concatenated and
fused by a 1x1 convolution (256 each, BatchNorm, ReLU, dropout). The result is upsampled
to stride 4 (bilinear), concatenated with the encoder's stride-4 features reduced to 48
channels, and refined by a 3x3 separable convolution (256). The paper's atrous rates
are (6, 12, 18) at output stride 16; the encoders here end at stride 32 (dilated
encoders are not built yet), so the default rates are halved, (3, 6, 9), to cover the
same image area.
"""

from __future__ import annotations

import keras

from zoo.layers import ResizeBilinear2x, ResizeTo, batch_norm


def _bn_relu(x, name: str):
    return keras.layers.ReLU(name=f"{name}_relu")(batch_norm(f"{name}_bn")(x))


def deeplabv3plus_decoder(features: dict[int, keras.KerasTensor], atrous_rates=(3, 6, 9), aspp_channels: int = 256,
                          low_level_channels: int = 48, decoder_channels: int = 256,
                          dropout: float = 0.1) -> keras.KerasTensor:
    """Builds the DeepLabV3+ decoder.

    Args:
        features: stride -> encoder tensor; needs 32 and 4.
        atrous_rates: dilation rates of the three separable ASPP branches (at stride 32).
        aspp_channels: width of every ASPP branch and of its fusion.
        low_level_channels: width the stride-4 features are reduced to.
        decoder_channels: width of the refining separable convolution.
        dropout: rate after the ASPP fusion.

    Returns:
        ``[batch, H/4, W/4, decoder_channels]``.
    """
    if 4 not in features or 32 not in features:
        raise ValueError("DeepLabV3+ needs encoder features at strides 4 and 32")
    x = features[32]
    branches = [_bn_relu(keras.layers.Conv2D(aspp_channels, 1, use_bias=False, name="aspp_1x1_conv")(x), "aspp_1x1")]
    for rate in atrous_rates:
        name = f"aspp_rate{rate}"
        y = keras.layers.SeparableConv2D(aspp_channels, 3, padding="same", dilation_rate=rate, use_bias=False,
                                         name=f"{name}_conv")(x)
        branches.append(_bn_relu(y, name))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="aspp_image_pool")(x)
    pooled = keras.layers.Conv2D(aspp_channels, 1, activation="relu", name="aspp_image_conv")(pooled)  # 1x1: no BN
    branches.append(ResizeTo(name="aspp_image_up")([pooled, x]))
    y = keras.layers.Concatenate(name="aspp_concat")(branches)
    y = _bn_relu(keras.layers.Conv2D(aspp_channels, 1, use_bias=False, name="aspp_fuse_conv")(y), "aspp_fuse")
    y = keras.layers.Dropout(dropout, name="aspp_dropout")(y)
    y = ResizeBilinear2x(8, name="deeplab_up")(y)  # stride 32 -> 4
    low = _bn_relu(keras.layers.Conv2D(low_level_channels, 1, use_bias=False, name="deeplab_low_conv")(features[4]),
                   "deeplab_low")
    y = keras.layers.Concatenate(name="deeplab_concat")([y, low])
    y = keras.layers.SeparableConv2D(decoder_channels, 3, padding="same", use_bias=False, name="deeplab_refine_conv")(y)
    return _bn_relu(y, "deeplab_refine")

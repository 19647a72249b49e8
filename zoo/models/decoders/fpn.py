"""FPN decoder: the semantic segmentation branch of Panoptic FPN (Kirillov, Girshick, He, Dollar 2019)
on a feature pyramid (Lin et al. 2017), as segmentation_models offers it.

Lateral 1x1 convolutions bring the stride-32, 16, 8 and 4 features to ``pyramid_channels``;
a top-down path adds each level to the one above, upsampled 2x (nearest). Each level then
goes through 3x3 convolution + BatchNorm + ReLU blocks, each followed by a 2x bilinear
upsampling, until it reaches stride 4 (one block for the stride-4 level); the levels are
summed, dropped out and returned at stride 4. The paper uses GroupNorm; BatchNorm here,
like the other decoders (``zoo.models.layers.batch_norm``).
"""

from __future__ import annotations

import functools

import keras

from zoo.models.assembly import decoder_model
from zoo.models.layers import ResizeBilinear2x, batch_norm

LEVELS = (32, 16, 8, 4)


def _block(x, filters: int, name: str):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def fpn_decoder(
    features: dict[int, keras.KerasTensor],
    pyramid_channels: int = 256,
    segmentation_channels: int = 128,
    dropout: float = 0.2,
) -> keras.KerasTensor:
    """Builds the FPN decoder.

    Args:
        features: stride -> encoder tensor; needs 4, 8, 16 and 32.
        pyramid_channels: width of the pyramid (lateral and top-down) maps.
        segmentation_channels: width of the per-level 3x3 blocks.
        dropout: rate after the levels are summed.

    Returns:
        ``[batch, H/4, W/4, segmentation_channels]``.
    """
    missing = [s for s in LEVELS if s not in features]
    if missing:
        raise ValueError(f"FPN needs encoder features at strides {LEVELS}; this backbone lacks {missing}")
    pyramid = {32: keras.layers.Conv2D(pyramid_channels, 1, name="fpn_lateral32")(features[32])}
    for stride in LEVELS[1:]:
        above = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"fpn_topdown{stride}")(pyramid[stride * 2])
        lateral = keras.layers.Conv2D(pyramid_channels, 1, name=f"fpn_lateral{stride}")(features[stride])
        pyramid[stride] = keras.layers.Add(name=f"fpn_p{stride}")([above, lateral])
    levels = []
    for stride, x in pyramid.items():
        steps = max(stride // 4, 1).bit_length() - 1  # 2x upsamplings down to stride 4
        for step in range(max(steps, 1)):
            x = _block(x, segmentation_channels, f"fpn_seg{stride}_{step}")
            if steps:
                x = ResizeBilinear2x(2, name=f"fpn_seg{stride}_{step}_up")(x)
        levels.append(x)
    x = keras.layers.Add(name="fpn_merge")(levels)
    return keras.layers.Dropout(dropout, name="fpn_dropout")(x)


def fpn(
    backbone: str = "resnet50",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    pyramid_channels: int = 256,
    segmentation_channels: int = 128,
    dropout: float = 0.2,
) -> keras.Model:
    """FPN: the semantic branch of Panoptic FPN (Kirillov et al. 2019) on a feature pyramid
    (Lin et al. 2017); ``zoo.models.decoders.fpn``. Scores at stride 4, upsampled 4x (bilinear).

    Args:
        backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name: as ``unet``.
        pyramid_channels, segmentation_channels, dropout: the decoder's widths (256, 128) and
            dropout (0.2), the defaults of segmentation_models.

    Returns:
        Uncompiled model: ``[batch, H, W, channels]`` -> ``[batch, H, W, C]`` float32.
    """
    decode = functools.partial(
        fpn_decoder, pyramid_channels=pyramid_channels, segmentation_channels=segmentation_channels, dropout=dropout
    )
    return decoder_model(
        "fpn", backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name, decode, 4
    )

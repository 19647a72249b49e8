"""Deconvolution heatmap head of "Simple Baselines" (Xiao et al. 2018).

Three 4x4 stride-2 transposed convolutions (256 filters, no bias) with BatchNorm
and ReLU on the stride-32 features bring them to stride 4; a 1x1 convolution then
gives one heatmap per keypoint (added by the builder).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.models.assembly import check_outputs, finish
from zoo.models.encoder import build_encoder
from zoo.models.layers import batch_norm

DEFAULT_FILTERS = (256, 256, 256)


def heatmap_head(
    features: dict[int, keras.KerasTensor],
    deconv_filters: Sequence[int] = DEFAULT_FILTERS,
) -> keras.KerasTensor:
    """Builds the deconvolution head.

    Args:
        features: stride -> encoder tensor; uses stride 32.
        deconv_filters: one width per transposed convolution; each doubles the
            resolution, so 3 of them give stride 32 / 8 = 4.

    Returns:
        ``[batch, H / s, W / s, deconv_filters[-1]]`` with ``s = 32 / 2**len(deconv_filters)``.
    """
    filters = tuple(int(f) for f in deconv_filters)
    if not 1 <= len(filters) <= 5 or min(filters) < 1:
        raise ValueError(f"deconv_filters needs 1 to 5 positive widths, got {deconv_filters!r}")
    x = features[32]
    for index, width in enumerate(filters):
        name = f"head_deconv{index + 1}"
        x = keras.layers.Conv2DTranspose(
            width,
            4,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
            name=name,
        )(x)
        x = batch_norm(f"{name}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def simple_baseline(
    backbone: str = "resnet50",
    num_keypoints: int = 17,
    input_shape=(256, 192, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    deconv_filters: Sequence[int] = (256, 256, 256),
) -> keras.Model:
    """Keypoint heatmaps with the "Simple Baselines" deconvolution head (Xiao et al. 2018).

    Args:
        backbone, input_shape, encoder_weights, encoder_freeze, activation, name:
            as ``unet`` (default input 256x192, the paper's COCO size).
        num_keypoints: K, one heatmap per keypoint.
        deconv_filters: widths of the 4x4 stride-2 transposed convolutions.

    Returns:
        Uncompiled model: ``[batch, H, W, channels]`` -> ``[batch, H/4, W/4, K]``
        float32 heatmaps (with the default three deconvolutions).
    """
    check_outputs(num_keypoints, "num_keypoints", activation)
    encoder = build_encoder(backbone, input_shape, encoder_weights, what=f"simple_baseline on {backbone}")
    x = heatmap_head(encoder.features, deconv_filters)
    outputs = keras.layers.Conv2D(
        num_keypoints,
        1,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        dtype="float32",
        name="heatmaps",
    )(x)
    return finish(encoder, outputs, activation, encoder_freeze, name or f"simple_baseline_{backbone}")

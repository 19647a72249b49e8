"""Deconvolution heatmap head of "Simple Baselines" (Xiao et al. 2018).

Three 4x4 stride-2 transposed convolutions (256 filters, no bias) with BatchNorm
and ReLU on the stride-32 features bring them to stride 4; a 1x1 convolution then
gives one heatmap per keypoint (added by the builder).
"""

from __future__ import annotations

from typing import Sequence

import keras

from zoo.layers import batch_norm

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

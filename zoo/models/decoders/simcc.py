"""The SimCC head (Li et al. 2022): keypoints as coordinate classification, each keypoint's x and y
classified into bins finer than a pixel by two dense layers over its flattened feature map; on Simple
Baselines' deconvolutions (``zoo.models.decoders.heatmap``) when given."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.models.assembly import check_outputs, finish
from zoo.models.decoders.heatmap import heatmap_head
from zoo.models.encoder import build_encoder


def simcc(
    backbone: str = "resnet50",
    num_keypoints: int = 17,
    input_shape=(256, 192, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    split_ratio: float = 2.0,
    name: str | None = None,
    deconv_filters: Sequence[int] = (),
) -> keras.Model:
    """Keypoints as coordinate classification, SimCC (Li et al. 2022): the encoder's stride-32 features
    (after ``deconv_filters``' transposed convolutions, as Simple Baselines' head, when given), a 1x1
    convolution to K maps, each map flattened and classified by two dense layers into ``W * split_ratio``
    x bins and ``H * split_ratio`` y bins (``zoo.tasks.keypoints.simcc_codec``).

    Args:
        backbone, input_shape, encoder_weights, encoder_freeze, name: as ``simple_baseline``; the height
            and width must be fixed (the dense layers see every position of the feature map).
        num_keypoints: K.
        split_ratio: bins per input pixel.
        deconv_filters: the paper's variant on Simple Baselines (``(256, 256, 256)``: stride 4 maps) or
            without deconvolutions (``()``, the default: stride 32, few positions on small inputs).

    Returns:
        Uncompiled model: ``[batch, H, W, channels]`` -> float32 logits ``[batch, K, W*r + H*r]``.
    """
    check_outputs(num_keypoints, "num_keypoints", None)
    height, width = input_shape[0], input_shape[1]
    if height is None or width is None:
        raise ValueError(
            f"simcc needs a fixed input height and width (its dense layers see every feature "
            f"position), got input_shape {tuple(input_shape)}"
        )
    encoder = build_encoder(backbone, input_shape, encoder_weights, what=f"simcc on {backbone}")
    features = (
        heatmap_head(encoder.features, deconv_filters) if deconv_filters else encoder.features[max(encoder.features)]
    )
    maps = keras.layers.Conv2D(num_keypoints, 1, name="simcc_keypoint_maps")(features)  # [B, h, w, K]
    positions = int(maps.shape[1]) * int(maps.shape[2])
    flat = keras.layers.Permute((2, 1), name="simcc_per_keypoint")(
        keras.layers.Reshape((positions, num_keypoints), name="simcc_flatten")(maps)
    )  # [B, K, h*w]
    x_logits = keras.layers.Dense(int(round(width * split_ratio)), dtype="float32", name="simcc_x")(flat)
    y_logits = keras.layers.Dense(int(round(height * split_ratio)), dtype="float32", name="simcc_y")(flat)
    outputs = keras.layers.Concatenate(axis=-1, dtype="float32", name="simcc")([x_logits, y_logits])
    return finish(encoder, outputs, None, encoder_freeze, name or f"simcc_{backbone}")

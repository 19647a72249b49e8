"""FCN-32s / 16s / 8s decoder (Long, Shelhamer, Darrell 2015).

Scores are computed per pixel by 1x1 convolutions (the classifier) at stride 32,
optionally after the convolutionalised fc6 (7x7) and fc7 (1x1) layers, then
upsampled by transposed convolutions that start as bilinear interpolation. FCN-16s
adds scores from the stride-16 features (pool4), FCN-8s also from stride 8 (pool3);
those skip score layers start at zero, so a fresh FCN-8s predicts exactly what the
FCN-32s path predicts until training moves them.
"""

from __future__ import annotations

import keras

from zoo.layers import BilinearUpsampling

FC_LAYERS = (("fc6", 4096, 7), ("fc7", 4096, 1))


def _upsample(x, num_classes: int, factor: int, name: str, dtype=None):
    return keras.layers.Conv2DTranspose(
        num_classes,
        kernel_size=2 * factor,
        strides=factor,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
        dtype=dtype,
        name=name,
    )(x)


def fcn_decoder(
    features: dict[int, keras.KerasTensor],
    num_classes: int,
    output_stride: int = 8,
    fc_layers: bool = True,
    dropout: float = 0.5,
) -> keras.KerasTensor:
    """Builds FCN-``output_stride``s on encoder features.

    Args:
        features: stride -> tensor; needs 32, plus 16 for FCN-16s and 8 for FCN-8s.
        num_classes: C, the number of score channels.
        output_stride: 32, 16 or 8 (the coarsest skip that is fused).
        fc_layers: add fc6 (7x7x4096) and fc7 (1x1x4096) with ReLU and dropout before
            the stride-32 score (VGG16, as in the paper).
        dropout: dropout rate after fc6 and fc7.

    Returns:
        ``[batch, H, W, C]`` float32 class scores (logits) at the input resolution.
    """
    if output_stride not in (32, 16, 8):
        raise ValueError(f"FCN output_stride must be 32, 16 or 8, got {output_stride}")
    x = features[32]
    if fc_layers:
        for name, filters, size in FC_LAYERS:
            x = keras.layers.Conv2D(filters, size, padding="same", activation="relu", name=name)(x)
            x = keras.layers.Dropout(dropout, name=f"drop{name[2:]}")(x)
    score = keras.layers.Conv2D(num_classes, 1, name="score_fr")(x)
    if output_stride == 32:
        return _upsample(score, num_classes, 32, "upscore32", dtype="float32")

    for stride, skip_name in ((16, "pool4"), (8, "pool3")):
        if stride < output_stride:
            break
        up = _upsample(score, num_classes, 2, f"upscore{'2' if stride == 16 else '_pool4'}")
        skip = keras.layers.Conv2D(
            num_classes, 1, kernel_initializer="zeros", name=f"score_{skip_name}"
        )(features[stride])
        score = keras.layers.Add(name=f"fuse_{skip_name}")([up, skip])
    return _upsample(score, num_classes, output_stride, f"upscore{output_stride}", dtype="float32")

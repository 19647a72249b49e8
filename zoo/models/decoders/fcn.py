"""FCN-32s / 16s / 8s decoder (Long, Shelhamer, Darrell 2015).

Scores are computed per pixel by 1x1 convolutions (the classifier) at stride 32,
optionally after the convolutionalised fc6 (7x7) and fc7 (1x1) layers, then
upsampled by transposed convolutions that start as bilinear interpolation. FCN-16s
adds scores from the stride-16 features (pool4), FCN-8s also from stride 8 (pool3);
those skip score layers start at zero, so a fresh FCN-8s predicts exactly what the
FCN-32s path predicts until training moves them.
"""

from __future__ import annotations

import warnings

import keras

from zoo.models.assembly import check_outputs, finish
from zoo.models.encoder import build_encoder
from zoo.models.layers import BilinearUpsampling

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
        skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name=f"score_{skip_name}")(
            features[stride]
        )
        score = keras.layers.Add(name=f"fuse_{skip_name}")([up, skip])
    return _upsample(score, num_classes, output_stride, f"upscore{output_stride}", dtype="float32")


def _fcn(
    output_stride: int,
    backbone: str,
    num_classes: int,
    input_shape,
    encoder_weights,
    encoder_freeze: bool,
    activation,
    name: str | None,
    dropout: float,
) -> keras.Model:
    check_outputs(num_classes, "num_classes", activation)
    model_name = name or f"fcn{output_stride}s_{backbone}"
    encoder = build_encoder(
        backbone, input_shape, encoder_weights, want_top=True, what=f"fcn{output_stride}s on {backbone}"
    )
    use_fc = bool(encoder.spec.top_dense)
    outputs = fcn_decoder(encoder.fcn_features, num_classes, output_stride, fc_layers=use_fc, dropout=dropout)
    model = finish(encoder, outputs, activation, encoder_freeze, model_name)
    if use_fc and encoder.weights_source is not None:
        if encoder.top_weights:
            for dense_name, conv_name in zip(encoder.spec.top_dense, ("fc6", "fc7")):
                kernel, bias = encoder.top_weights[dense_name]
                layer = model.get_layer(conv_name)
                layer.set_weights([kernel.reshape(layer.kernel.shape), bias])
        else:
            warnings.warn(
                f"{encoder.weights_source} has no classifier (fc1/fc2) weights: fc6/fc7 of {model_name} "
                "start from random initial weights. Use the with-top VGG16 file to initialise them as in "
                "the FCN paper.",
                stacklevel=3,
            )
    return model


def fcn32s(
    backbone: str = "vgg16",
    num_classes: int = 21,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    dropout: float = 0.5,
) -> keras.Model:
    """FCN-32s: stride-32 scores upsampled 32x (Long et al. 2015).

    Args:
        backbone: ``"vgg16"`` or ``"resnet50"``.
        num_classes: C.
        input_shape: ``(H, W, channels)``; any H and W, or None (padded to a multiple of 32 inside, cut back).
        encoder_weights: ``"imagenet"`` (for VGG16 the with-top file, whose Dense
            layers initialise fc6/fc7), None, or a path to a weights file.
        encoder_freeze: freeze all encoder stages (BatchNorm in inference mode).
        activation: None (logits), ``"softmax"`` or ``"sigmoid"``.
        name: model name; default ``fcn32s_<backbone>``.
        dropout: rate after fc6 and fc7 (VGG16 only).

    Returns:
        Uncompiled model: ``[batch, H, W, channels]`` preprocessed float32 ->
        ``[batch, H, W, C]`` float32 scores.
    """
    return _fcn(32, backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name, dropout)


def fcn16s(
    backbone: str = "vgg16",
    num_classes: int = 21,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    dropout: float = 0.5,
) -> keras.Model:
    """FCN-16s: FCN-32s plus zero-initialised scores from the stride-16 features. Arguments as ``fcn32s``."""
    return _fcn(16, backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name, dropout)


def fcn8s(
    backbone: str = "vgg16",
    num_classes: int = 21,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    dropout: float = 0.5,
) -> keras.Model:
    """FCN-8s: FCN-16s plus zero-initialised scores from the stride-8 features. Arguments as ``fcn32s``."""
    return _fcn(8, backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name, dropout)

"""Public builders: a backbone's encoder joined to a decoder, as a functional ``keras.Model``.

Every builder returns an uncompiled model whose input ``images`` takes float32
pixels already preprocessed for the backbone (``zoo.preprocess_input``), with any
channel count, and whose height and width are multiples of 32.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import keras
import numpy as np

from zoo.decoders import fcn_decoder, heatmap_head, unet_decoder
from zoo.encoder import build_encoder
from zoo.freezing import freeze_encoder

ACTIVATIONS = (None, "softmax", "sigmoid")


def _check_common(num_outputs: int, what: str, activation) -> None:
    if not isinstance(num_outputs, (int, np.integer)) or num_outputs < 1:
        raise ValueError(f"{what} must be a positive integer, got {num_outputs!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS} (None gives logits), got {activation!r}")


def _finish(encoder, outputs, activation, encoder_freeze: bool, name: str) -> keras.Model:
    if activation is not None:
        outputs = keras.layers.Activation(activation, dtype="float32", name="probabilities")(outputs)
    model = keras.Model(encoder.inputs, outputs, name=name)
    if encoder_freeze:
        freeze_encoder(model)
    return model


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
    _check_common(num_classes, "num_classes", activation)
    model_name = name or f"fcn{output_stride}s_{backbone}"
    encoder = build_encoder(
        backbone, input_shape, encoder_weights, want_top=True, what=f"fcn{output_stride}s on {backbone}"
    )
    use_fc = bool(encoder.spec.top_dense)
    outputs = fcn_decoder(encoder.fcn_features, num_classes, output_stride, fc_layers=use_fc, dropout=dropout)
    model = _finish(encoder, outputs, activation, encoder_freeze, model_name)
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
        input_shape: ``(H, W, channels)``; H and W multiples of 32 or None.
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
        the last layer is a 1x1 convolution (a per-pixel classifier).
    """
    _check_common(num_classes, "num_classes", activation)
    encoder = build_encoder(backbone, input_shape, encoder_weights, what=f"unet on {backbone}")
    x = unet_decoder(encoder.features, decoder_filters, upsampling)
    outputs = keras.layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    return _finish(encoder, outputs, activation, encoder_freeze, name or f"unet_{backbone}")


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
    _check_common(num_keypoints, "num_keypoints", activation)
    encoder = build_encoder(backbone, input_shape, encoder_weights, what=f"simple_baseline on {backbone}")
    x = heatmap_head(encoder.features, deconv_filters)
    outputs = keras.layers.Conv2D(
        num_keypoints,
        1,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        dtype="float32",
        name="heatmaps",
    )(x)
    return _finish(encoder, outputs, activation, encoder_freeze, name or f"simple_baseline_{backbone}")


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "fcn32s": fcn32s,
    "fcn16s": fcn16s,
    "fcn8s": fcn8s,
    "unet": unet,
    "simple_baseline": simple_baseline,
}


def build(name: str, **kwargs) -> keras.Model:
    """Builds a model by registry name (``zoo.BUILDERS``), passing ``kwargs`` to its builder."""
    key = str(name).lower()
    if key not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(BUILDERS)}")
    return BUILDERS[key](**kwargs)

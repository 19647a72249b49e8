"""Public builders: a backbone's encoder joined to a decoder, as a functional ``keras.Model``.

Every builder returns an uncompiled model whose input ``images`` takes float32
pixels already preprocessed for the backbone (``zoo.preprocess_input``), with any
channel count, and whose height and width are multiples of 32.
"""

from __future__ import annotations

import functools
import warnings
from typing import Callable, Sequence

import keras
import numpy as np

from zoo.decoders import (deeplabv3plus_decoder, fcn_decoder, fpn_decoder, heatmap_head, linknet_decoder,
                          pspnet_decoder, unet_decoder, unetplusplus_decoder)
from zoo.encoder import build_encoder
from zoo.freezing import freeze_encoder
from zoo.layers import ResizeBilinear2x

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


def unetplusplus(
    backbone: str = "resnet50",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    decoder_filters: Sequence[int] = (256, 128, 64, 32, 16),
) -> keras.Model:
    """UNet++ (Zhou et al. 2018): U-Net with nested, dense skip pathways; ``zoo.decoders.unetplusplus``.
    Arguments and output as ``unet`` (bilinear upsampling, no deep supervision)."""
    decode = functools.partial(unetplusplus_decoder, decoder_filters=decoder_filters)
    return _decoder_model("unetplusplus", backbone, num_classes, input_shape, encoder_weights, encoder_freeze,
                          activation, name, decode, 1)


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
    x bins and ``H * split_ratio`` y bins (``zoo.simcc``).

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
    _check_common(num_keypoints, "num_keypoints", None)
    height, width = input_shape[0], input_shape[1]
    if height is None or width is None:
        raise ValueError(f"simcc needs a fixed input height and width (its dense layers see every feature "
                         f"position), got input_shape {tuple(input_shape)}")
    encoder = build_encoder(backbone, input_shape, encoder_weights, what=f"simcc on {backbone}")
    features = heatmap_head(encoder.features, deconv_filters) if deconv_filters else \
        encoder.features[max(encoder.features)]
    maps = keras.layers.Conv2D(num_keypoints, 1, name="simcc_keypoint_maps")(features)  # [B, h, w, K]
    positions = int(maps.shape[1]) * int(maps.shape[2])
    flat = keras.layers.Permute((2, 1), name="simcc_per_keypoint")(
        keras.layers.Reshape((positions, num_keypoints), name="simcc_flatten")(maps))  # [B, K, h*w]
    x_logits = keras.layers.Dense(int(round(width * split_ratio)), dtype="float32", name="simcc_x")(flat)
    y_logits = keras.layers.Dense(int(round(height * split_ratio)), dtype="float32", name="simcc_y")(flat)
    outputs = keras.layers.Concatenate(axis=-1, dtype="float32", name="simcc")([x_logits, y_logits])
    return _finish(encoder, outputs, None, encoder_freeze, name or f"simcc_{backbone}")


def default_output_stride(builder: str, backbone: str) -> int:
    """What ``output_stride=None`` means for ``builder`` on ``backbone``: DeepLabV3+ at the paper's 16 where
    the backbone's last stages can dilate, every other case at 32 (undilated)."""
    from zoo.backbones import get_backbone

    return 16 if builder == "deeplabv3plus" and get_backbone(backbone).dilatable else 32


def _decoder_model(kind: str, backbone: str, num_classes: int, input_shape, encoder_weights, encoder_freeze: bool,
                   activation, name: str | None, decode: Callable, stride: int, output_stride: int = 32) -> keras.Model:
    """A segmentation model: encoder (dilated past ``output_stride``), ``decode(features)`` at ``stride``,
    1x1 class scores, bilinear upsampling to the input size."""
    _check_common(num_classes, "num_classes", activation)
    encoder = build_encoder(backbone, input_shape, encoder_weights, what=f"{kind} on {backbone}",
                            output_stride=output_stride)
    x = decode(encoder.features)
    if stride == 1:
        outputs = keras.layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    else:
        outputs = keras.layers.Conv2D(num_classes, 1, name="logits")(x)
        outputs = ResizeBilinear2x(stride, dtype="float32", name="logits_up")(outputs)
    return _finish(encoder, outputs, activation, encoder_freeze, name or f"{kind}_{backbone}")


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
    (Lin et al. 2017); ``zoo.decoders.fpn``. Scores at stride 4, upsampled 4x (bilinear).

    Args:
        backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name: as ``unet``.
        pyramid_channels, segmentation_channels, dropout: the decoder's widths (256, 128) and
            dropout (0.2), the defaults of segmentation_models.

    Returns:
        Uncompiled model: ``[batch, H, W, channels]`` -> ``[batch, H, W, C]`` float32.
    """
    decode = functools.partial(fpn_decoder, pyramid_channels=pyramid_channels,
                               segmentation_channels=segmentation_channels, dropout=dropout)
    return _decoder_model("fpn", backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation,
                          name, decode, 4)


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
    instead of concatenating them; ``zoo.decoders.linknet``. Arguments and output as ``unet``."""
    return _decoder_model("linknet", backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation,
                          name, linknet_decoder, 1)


def pspnet(
    backbone: str = "resnet50",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    feature_stride: int | None = None,
    psp_channels: int = 512,
    dropout: float = 0.2,
    output_stride: int = 32,
) -> keras.Model:
    """PSPNet (Zhao et al. 2017): the pyramid pooling module (bins 1, 2, 3, 6) on the encoder's
    features at ``feature_stride``; ``zoo.decoders.pspnet``. Scores upsampled ``feature_stride`` x
    (bilinear).

    Two settings: the paper's, a dilated ResNet whose deepest features stay at stride 8
    (``output_stride=8``, on backbones with dilatable stages: ResNet50/101/152, VGG16/19); and
    segmentation_models' default (``output_stride=32``, here the default too), the encoder's
    stride-8 features with the deeper stages left out, which is far cheaper. ``feature_stride``:
    None takes ``output_stride`` when dilated, else 8. Other arguments as ``unet``;
    ``psp_channels`` (512) and ``dropout`` (0.2) as the paper."""
    if feature_stride is None:
        feature_stride = output_stride if output_stride < 32 else 8
    elif output_stride < 32 and feature_stride != output_stride:
        raise ValueError(f"pspnet: feature_stride={feature_stride} with output_stride={output_stride}: a dilated "
                         f"encoder's deepest features are at {output_stride}, so pool those (leave feature_stride "
                         "unset), or use output_stride=32 for an undilated encoder's features at another stride")
    decode = functools.partial(pspnet_decoder, feature_stride=feature_stride, psp_channels=psp_channels,
                               dropout=dropout)
    return _decoder_model("pspnet", backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation,
                          name, decode, feature_stride, output_stride)


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
    features; ``zoo.decoders.deeplab``. Scores at stride 4, upsampled 4x (bilinear).

    ``output_stride``: None gives the paper's 16 on backbones with dilatable stages (ResNet50/101/152,
    VGG16/19: the last stage runs dilated with the same weights) and 32 on the others; 8 and 16
    where dilatable, 32 anywhere. ``atrous_rates``: None gives the paper's (6, 12, 18) at stride 16,
    scaled to the deepest stride ((12, 24, 36) at 8, (3, 6, 9) at 32) to cover the same image area.
    Other arguments as ``unet``."""
    if output_stride is None:
        output_stride = default_output_stride("deeplabv3plus", backbone)
    decode = functools.partial(deeplabv3plus_decoder, atrous_rates=None if atrous_rates is None else tuple(atrous_rates),
                               aspp_channels=aspp_channels, dropout=dropout)
    return _decoder_model("deeplabv3plus", backbone, num_classes, input_shape, encoder_weights, encoder_freeze,
                          activation, name, decode, 4, output_stride)


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "fcn32s": fcn32s,
    "fcn16s": fcn16s,
    "fcn8s": fcn8s,
    "unet": unet,
    "fpn": fpn,
    "linknet": linknet,
    "pspnet": pspnet,
    "deeplabv3plus": deeplabv3plus,
    "unetplusplus": unetplusplus,
    "simple_baseline": simple_baseline,
    "simcc": simcc,
}
KEYPOINT_BUILDERS = ("simple_baseline", "simcc")  # take num_keypoints (the others num_classes)
FIXED_SIZE_BUILDERS = ("simcc",)  # need a fixed input height and width


def build(name: str, **kwargs) -> keras.Model:
    """Builds a model by registry name (``zoo.BUILDERS``), passing ``kwargs`` to its builder."""
    key = str(name).lower()
    if key not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(BUILDERS)}")
    return BUILDERS[key](**kwargs)

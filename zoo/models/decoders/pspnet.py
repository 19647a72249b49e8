"""PSPNet decoder: the pyramid pooling module (Zhao, Shi, Qi, Wang, Jia 2017).

The features at ``feature_stride`` are average-pooled into 1x1, 2x2, 3x3 and 6x6 bins
(adaptive: the bins cover any feature size, ``zoo.models.layers.AdaptiveAveragePool``), each
reduced by a 1x1 convolution to a quarter of the channels, upsampled back (bilinear) and
concatenated with the features; a 3x3 convolution (512) with BatchNorm and ReLU and
dropout follow. The paper runs a dilated ResNet whose deepest features stay at stride 8
(``zoo.pspnet(output_stride=8)``); segmentation_models' default, and ours, takes an
undilated encoder's stride-8 features, so the deeper stages are not part of the model.
"""

from __future__ import annotations

import functools

import keras

from zoo.models.assembly import decoder_model
from zoo.models.layers import AdaptiveAveragePool, ResizeTo, batch_norm

BINS = (1, 2, 3, 6)


def pspnet_decoder(
    features: dict[int, keras.KerasTensor],
    feature_stride: int = 8,
    bins=BINS,
    psp_channels: int = 512,
    dropout: float = 0.2,
) -> keras.KerasTensor:
    """Builds the PSPNet decoder.

    Args:
        features: stride -> encoder tensor; needs ``feature_stride``.
        feature_stride: 8, 16 or 32: which encoder features are pooled.
        bins: the pyramid's bin counts per side.
        psp_channels: width of the 3x3 convolution after the pyramid.
        dropout: rate after it.

    Returns:
        ``[batch, H / feature_stride, W / feature_stride, psp_channels]``.
    """
    if feature_stride not in (8, 16, 32) or feature_stride not in features:
        raise ValueError(f"PSPNet feature_stride must be 8, 16 or 32 (a stride the backbone has), got {feature_stride}")
    x = features[feature_stride]
    reduced = max(int(x.shape[-1]) // len(bins), 8)
    branches = [x]
    for size in bins:
        name = f"psp_bin{size}"
        pooled = AdaptiveAveragePool(size, name=f"{name}_pool")(x)
        # one value per channel in a 1x1 bin: no BatchNorm there (its statistics would be the value itself)
        pooled = keras.layers.Conv2D(reduced, 1, use_bias=size == 1, name=f"{name}_conv")(pooled)
        if size > 1:
            pooled = batch_norm(f"{name}_bn")(pooled)
        pooled = keras.layers.ReLU(name=f"{name}_relu")(pooled)
        branches.append(ResizeTo(name=f"{name}_up")([pooled, x]))
    y = keras.layers.Concatenate(name="psp_concat")(branches)
    y = keras.layers.Conv2D(psp_channels, 3, padding="same", use_bias=False, name="psp_fuse_conv")(y)
    y = batch_norm("psp_fuse_bn")(y)
    y = keras.layers.ReLU(name="psp_fuse_relu")(y)
    return keras.layers.Dropout(dropout, name="psp_dropout")(y)


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
    features at ``feature_stride``; ``zoo.models.decoders.pspnet``. Scores upsampled ``feature_stride`` x
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
        raise ValueError(
            f"pspnet: feature_stride={feature_stride} with output_stride={output_stride}: a dilated "
            f"encoder's deepest features are at {output_stride}, so pool those (leave feature_stride "
            "unset), or use output_stride=32 for an undilated encoder's features at another stride"
        )
    decode = functools.partial(
        pspnet_decoder, feature_stride=feature_stride, psp_channels=psp_channels, dropout=dropout
    )
    return decoder_model(
        "pspnet",
        backbone,
        num_classes,
        input_shape,
        encoder_weights,
        encoder_freeze,
        activation,
        name,
        decode,
        feature_stride,
        output_stride,
    )

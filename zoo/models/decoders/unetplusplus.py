"""UNet++ decoder (Zhou, Rahman Siddiquee, Tajbakhsh, Liang 2018): nested, dense skip pathways.

Where U-Net joins the encoder's features at stride ``s`` to the upsampled decoder once,
UNet++ fills the gap with a grid of nodes. Node ``X(s, j)`` (stride ``s``, column ``j``)
concatenates every earlier node at its stride, ``X(s, 0)`` (the encoder's features) to
``X(s, j-1)``, with the upsampled ``X(2s, j-1)``, and applies two 3x3 convolution +
BatchNorm + ReLU. ``X(32, 0)`` is the deepest features; the output is the last node at
stride 1, ``X(1, 5)``, at the input's full resolution. Strides the backbone has no features
at (ResNet's 1, ConvNeXt's 2 and 1) keep only their last node, a plain upsampling block as
in U-Net. Widths per stride as U-Net's (256, 128, 64, 32, 16 from stride 16 to 1), as in
segmentation_models.pytorch; no deep supervision (the paper's optional pruning heads).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras

from zoo.models.assembly import decoder_model
from zoo.models.decoders.unet import DEFAULT_FILTERS, _conv_bn_relu
from zoo.models.layers import ResizeBilinear2x

STRIDES = (16, 8, 4, 2, 1)  # decoder levels, coarse to fine; node columns at stride s: 1 .. depth(s)


def unetplusplus_decoder(
    features: dict[int, keras.KerasTensor], decoder_filters: Sequence[int] = DEFAULT_FILTERS
) -> keras.KerasTensor:
    """Builds the UNet++ decoder.

    Args:
        features: stride -> encoder tensor; needs 32, uses 16, 8, 4, 2, 1 where present (a
            stride with features needs features at every coarser stride below 32).
        decoder_filters: widths of the nodes at strides 16, 8, 4, 2, 1.

    Returns:
        ``[batch, H, W, decoder_filters[-1]]``: node ``X(1, 5)``.
    """
    filters = tuple(int(f) for f in decoder_filters)
    if len(filters) != 5 or min(filters) < 1:
        raise ValueError(f"decoder_filters needs 5 positive widths (strides 16, 8, 4, 2, 1), got {decoder_filters!r}")
    nodes: dict[tuple[int, int], keras.KerasTensor] = {(32, 0): features[32]}
    for level, (stride, width) in enumerate(zip(STRIDES, filters)):
        depth = level + 1  # columns at this stride
        if stride in features:
            nodes[(stride, 0)] = features[stride]
            columns = range(1, depth + 1)
        else:
            columns = range(depth, depth + 1)
        for column in columns:
            below = nodes.get((2 * stride, column - 1))
            if below is None:
                raise ValueError(
                    f"UNet++ needs encoder features at stride {2 * stride} to join those at {stride}; "
                    f"this encoder has strides {sorted(features)}"
                )
            name = f"decoder_x{stride}_{column}"
            up = ResizeBilinear2x(2, name=f"{name}_up")(below)
            same = [nodes[(stride, k)] for k in range(column) if (stride, k) in nodes]
            x = keras.layers.Concatenate(name=f"{name}_concat")([up, *same]) if same else up
            x = _conv_bn_relu(x, width, f"{name}_a")
            nodes[(stride, column)] = _conv_bn_relu(x, width, f"{name}_b")
    return nodes[(1, len(STRIDES))]


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
    """UNet++ (Zhou et al. 2018): U-Net with nested, dense skip pathways; ``zoo.models.decoders.unetplusplus``.
    Arguments and output as ``unet`` (bilinear upsampling, no deep supervision)."""
    decode = functools.partial(unetplusplus_decoder, decoder_filters=decoder_filters)
    return decoder_model(
        "unetplusplus", backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name, decode, 1
    )

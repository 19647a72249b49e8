"""UPerNet decoder: the head of "Unified Perceptual Parsing for Scene Understanding" (Xiao, Liu, Zhou,
Jiang, Sun 2018), the way mmsegmentation's ``UPerHead`` and segmentation_models.pytorch's ``UPerNet``
lay it out: a pyramid pooling module (PSPNet, Zhao et al. 2017) on the deepest features and a feature
pyramid (Lin et al. 2017) that carries its output down to stride 4.

1. PSP on the stride-32 features: adaptive average pools into 1x1, 2x2, 3x3 and 6x6 bins, each through a
   1x1 convolution to ``channels`` (+ BatchNorm, + ReLU), resized back to the stride-32 map and
   concatenated with it; a 3x3 convolution + BatchNorm + ReLU brings the whole to ``channels``. This is
   the pyramid's top level.
2. Laterals: the stride-16, 8 and 4 features through 1x1 convolution + BatchNorm + ReLU to ``channels``.
3. Top-down: from the top, each level is upsampled 2x (bilinear) and added to the lateral below it.
4. Each fused level below the top goes through a 3x3 convolution + BatchNorm + ReLU (the top level is
   already the PSP's 3x3 output, as in both references).
5. The four levels are upsampled to stride 4 (bilinear), concatenated (finest first) and fused by a
   3x3 convolution + BatchNorm + ReLU to ``channels``; dropout follows; the builder adds the 1x1
   class scores at stride 4.

One difference from the references: the 1x1-bin branch of the PSP has no BatchNorm (a bias instead), as in
``zoo.pspnet`` - a 1x1 map holds one value per channel and image, so BatchNorm's batch statistics there are
those few values themselves (a batch of one normalises the branch to a constant). segmentation_models.pytorch's
UPerNet also puts a LayerNorm on each encoder map (for the transformer backbones of its converted weights);
there is none here, as in mmsegmentation and the paper.
"""

from __future__ import annotations

import functools

import keras

from zoo.models.assembly import decoder_model
from zoo.models.layers import AdaptiveAveragePool, ResizeBilinear2x, ResizeTo, batch_norm

LEVELS = (4, 8, 16, 32)
BINS = (1, 2, 3, 6)


def _conv_bn_relu(x, filters: int, kernel: int, name: str):
    x = keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _pyramid_pooling(x, channels: int, bins) -> keras.KerasTensor:
    """The PSP module on ``x``: pooled branches resized back and concatenated with ``x``, then 3x3 to
    ``channels``."""
    branches = [x]
    for size in bins:
        name = f"upernet_psp_bin{size}"
        pooled = AdaptiveAveragePool(size, name=f"{name}_pool")(x)
        # a 1x1 bin holds one value per channel and image: no BatchNorm there (zoo.pspnet's rule)
        pooled = keras.layers.Conv2D(channels, 1, use_bias=size == 1, name=f"{name}_conv")(pooled)
        if size > 1:
            pooled = batch_norm(f"{name}_bn")(pooled)
        pooled = keras.layers.ReLU(name=f"{name}_relu")(pooled)
        branches.append(ResizeTo(name=f"{name}_up")([pooled, x]))
    y = keras.layers.Concatenate(name="upernet_psp_concat")(branches)
    return _conv_bn_relu(y, channels, 3, "upernet_psp_fuse")


def upernet_decoder(
    features: dict[int, keras.KerasTensor],
    channels: int = 256,
    bins=BINS,
    dropout: float = 0.1,
) -> keras.KerasTensor:
    """Builds the UPerNet decoder (module docstring: the five steps).

    Args:
        features: stride -> encoder tensor; needs 4, 8, 16 and 32 (an undilated encoder).
        channels: width of every map in the head: the PSP branches and its 3x3 output, the laterals,
            the per-level 3x3 convolutions and the final fuse.
        bins: the PSP's bin counts per side.
        dropout: rate after the fuse.

    Returns:
        ``[batch, H/4, W/4, channels]``.

    Raises:
        ValueError: the features lack one of the strides 4, 8, 16, 32.
    """
    missing = [s for s in LEVELS if s not in features]
    if missing:
        raise ValueError(
            f"UPerNet needs encoder features at strides {LEVELS}; this backbone (or a dilated encoder) lacks {missing}"
        )
    pyramid = {32: _pyramid_pooling(features[32], channels, bins)}
    for stride in (16, 8, 4):
        lateral = _conv_bn_relu(features[stride], channels, 1, f"upernet_lateral{stride}")
        above = ResizeBilinear2x(2, name=f"upernet_topdown{stride}")(pyramid[stride * 2])
        pyramid[stride] = keras.layers.Add(name=f"upernet_sum{stride}")([lateral, above])
    levels = []
    for stride in LEVELS:
        x = pyramid[stride]
        if stride < 32:  # the top level is the PSP's 3x3 output already
            x = _conv_bn_relu(x, channels, 3, f"upernet_fpn{stride}")
        if stride > 4:
            x = ResizeBilinear2x(stride // 4, name=f"upernet_up{stride}")(x)
        levels.append(x)
    x = keras.layers.Concatenate(name="upernet_concat")(levels)
    x = _conv_bn_relu(x, channels, 3, "upernet_fuse")
    return keras.layers.Dropout(dropout, name="upernet_dropout")(x)


def upernet(
    backbone: str = "resnet50",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    channels: int = 256,
    dropout: float = 0.1,
) -> keras.Model:
    """UPerNet (Xiao et al. 2018, "Unified Perceptual Parsing for Scene Understanding",
    arXiv:1807.10221): pyramid pooling on the stride-32 features, a feature pyramid down to stride 4,
    the four levels concatenated and fused; ``zoo.models.decoders.upernet``. Class scores at stride 4
    (1x1 convolution), upsampled 4x (bilinear) to the input size.

    Args:
        backbone: a backbone name (``zoo.get_backbone``); it needs features at strides 4, 8, 16
            and 32, which every registered backbone has.
        num_classes, input_shape, encoder_weights, encoder_freeze, activation, name: as ``unet``.
        channels: the head's one width (PSP branches, laterals, per-level and fuse convolutions).
            mmsegmentation's UPerHead configurations use 512 and segmentation_models.pytorch's UPerNet
            256; 256 is the default here: the fuse is a 3x3 convolution at stride 4 over ``4 * channels``
            inputs, so the head's cost grows with ``channels`` squared and 512 costs about 4x as much
            (at 512x512 the fuse alone is about 39 GMACs at 256 and 155 at 512, against about 21 for
            the whole ResNet50 encoder).
        dropout: rate before the class scores (0.1, mmsegmentation's ``dropout_ratio``;
            segmentation_models.pytorch has none).

    Returns:
        Uncompiled model: ``[batch, H, W, channels_in]`` -> ``[batch, H, W, num_classes]`` float32.

    Raises:
        ValueError: a bad ``num_classes`` or ``activation``, an unknown backbone, or features missing at
            one of the strides 4, 8, 16, 32.
    """
    decode = functools.partial(upernet_decoder, channels=channels, dropout=dropout)
    return decoder_model(
        "upernet", backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name, decode, 4
    )

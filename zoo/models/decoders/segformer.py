"""SegFormer's all-MLP decode head (Xie, Wang, Yu, Anandkumar, Alvarez, Luo 2021, "SegFormer: Simple and
Efficient Design for Semantic Segmentation with Transformers", NeurIPS 2021) on a zoo encoder.

Each of the four levels (strides 4, 8, 16, 32) goes through one linear layer - a 1x1 convolution with a
bias and no normalisation or activation, the paper's per-pixel MLP - to ``embed_dim`` channels at its own
resolution, is upsampled to stride 4 (bilinear), and the four are concatenated deepest first (stride 32,
16, 8, 4: the order of the authors' code, ``[c4, c3, c2, c1]``). A 1x1 convolution + BatchNorm + ReLU
fuses them back to ``embed_dim``; dropout follows; the builder adds the 1x1 class scores at stride 4.

The paper pairs the head with its Mix Transformer encoders (MiT-B0..B5). On a ``keras.applications``
backbone the model is SegFormer's head, not SegFormer; on the optional keras-hub encoders
``keras_hub:mit_b0`` .. ``keras_hub:mit_b5`` (``zoo.models.hub_backbones``) it is the paper's network:
``segformer("keras_hub:mit_b0", num_classes=150)`` has 3,753,206 parameters (3,752,694 trainable), the count
of keras-hub's own SegFormer-B0 (``SegFormerBackbone`` with ``projection_filters=256`` and a 1x1 classifier),
the paper's 3.8M.
"""

from __future__ import annotations

import functools

import keras

from zoo.models.assembly import decoder_model
from zoo.models.layers import ResizeBilinear2x, batch_norm

LEVELS = (32, 16, 8, 4)  # the concatenation's order: deepest first


def segformer_decoder(
    features: dict[int, keras.KerasTensor],
    embed_dim: int = 256,
    dropout: float = 0.1,
) -> keras.KerasTensor:
    """Builds the all-MLP decoder.

    Args:
        features: stride -> encoder tensor; needs 4, 8, 16 and 32 (an undilated encoder).
        embed_dim: width of each level's linear layer and of the fuse.
        dropout: rate after the fuse.

    Returns:
        ``[batch, H/4, W/4, embed_dim]``.

    Raises:
        ValueError: the features lack one of the strides 4, 8, 16, 32.
    """
    missing = [s for s in sorted(LEVELS) if s not in features]
    if missing:
        raise ValueError(
            f"SegFormer's head needs encoder features at strides {tuple(sorted(LEVELS))}; this backbone "
            f"(or a dilated encoder) lacks {missing}"
        )
    levels = []
    for stride in LEVELS:
        x = keras.layers.Conv2D(embed_dim, 1, name=f"segformer_linear{stride}")(features[stride])
        if stride > 4:
            x = ResizeBilinear2x(stride // 4, name=f"segformer_up{stride}")(x)
        levels.append(x)
    x = keras.layers.Concatenate(name="segformer_concat")(levels)
    x = keras.layers.Conv2D(embed_dim, 1, use_bias=False, name="segformer_fuse_conv")(x)
    x = batch_norm("segformer_fuse_bn")(x)
    x = keras.layers.ReLU(name="segformer_fuse_relu")(x)
    return keras.layers.Dropout(dropout, name="segformer_dropout")(x)


def segformer(
    backbone: str = "mobilenetv2",
    num_classes: int = 1,
    input_shape=(None, None, 3),
    encoder_weights="imagenet",
    encoder_freeze: bool = False,
    activation: str | None = None,
    name: str | None = None,
    embed_dim: int = 256,
    dropout: float = 0.1,
) -> keras.Model:
    """SegFormer's all-MLP decode head (Xie et al. 2021, arXiv:2105.15203) on a zoo backbone:
    per-level linear layers to ``embed_dim``, upsampled to stride 4, concatenated (deepest first), fused
    by 1x1 convolution + BatchNorm + ReLU; ``zoo.models.decoders.segformer``. Class scores at stride 4
    (1x1 convolution), upsampled 4x (bilinear) to the input size.

    Args:
        backbone: a backbone name (``zoo.get_backbone``); it needs features at strides 4, 8, 16 and 32, which every
            registered backbone has. The default is ``"mobilenetv2"`` (2.3M encoder parameters), a light
            encoder in the spirit of the paper's light head and of its smallest model (SegFormer-B0, about 3.8M
            parameters in all) that needs no optional package. Any backbone works (``"resnet50"``,
            ``"convnexttiny"``; ``"keras_hub:mit_b0"`` .. ``"keras_hub:mit_b5"`` for the paper's encoders).
        num_classes, input_shape, encoder_weights, encoder_freeze, activation, name: as ``unet``.
        embed_dim: width of the linear layers and the fuse: 256, the paper's for B0 and B1 (768 for
            B2..B5).
        dropout: rate before the class scores (0.1, as the paper's code).

    Returns:
        Uncompiled model: ``[batch, H, W, channels]`` -> ``[batch, H, W, num_classes]`` float32.

    Raises:
        ValueError: a bad ``num_classes`` or ``activation``, an unknown backbone, or features missing at
            one of the strides 4, 8, 16, 32.
    """
    decode = functools.partial(segformer_decoder, embed_dim=embed_dim, dropout=dropout)
    return decoder_model(
        "segformer", backbone, num_classes, input_shape, encoder_weights, encoder_freeze, activation, name, decode, 4
    )

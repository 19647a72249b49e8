"""keras-hub's MiT (SegFormer's Mix Transformer encoder) as layers that run on feature maps of any size.

keras-hub 0.32's ``MiTBackbone`` passes tokens ``[batch, H * W, C]`` between its blocks and recovers the map as
``H = W = sqrt(H * W)``, and sizes its ``Reshape`` layers from a fixed ``image_shape``: it builds only at a known
size (``image_shape=(None, None, 3)`` fails with a ``TypeError``) and runs only on square pictures (64x96 fails
in a reshape). zoo builds and exports at any height and width (``zoo.models.copies.any_size_copy``), so these
subclasses of keras-hub's layers keep the blocks' inputs and outputs as maps ``[batch, H, W, C]`` and read H and
W from them; their sub-layers (and so their weights, in keras-hub's order) are keras-hub's own, and their
arithmetic is keras-hub's (its approximate GELU and dropout rates included). Their configs rebuild them
(keras-hub's block config does not), so a zoo model saves as ``.keras``: a process that loads one imports this
module first (``zoo.models.hub_backbones.register_hub_layers``).

Imports keras-hub (``pip install ".[hub]"``); the table of names is ``zoo.models.hub_backbones``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from keras_hub.src.models.mit.mit_layers import HierarchicalTransformerEncoder, OverlappingPatchingAndEmbedding


@keras.saving.register_keras_serializable(package="zoo")
class MiTPatchEmbedding(OverlappingPatchingAndEmbedding):
    """keras-hub's overlapping patch embedding (zero padding, strided convolution, LayerNormalization) giving
    the map ``[batch, H / stride, W / stride, project_dim]`` instead of its tokens."""

    def build(self, input_shape):  # keras-hub's builds its sub-layers when first called: here before (from_config)
        self.proj.build((None, None, None, input_shape[-1]))
        self.norm.build((None, None, None, self.project_dim))
        keras.layers.Layer.build(self, input_shape)

    def call(self, x):
        return self.norm(self.proj(self.padding(x)))


@keras.saving.register_keras_serializable(package="zoo")
class MiTBlock(HierarchicalTransformerEncoder):
    """keras-hub's MiT block (efficient self-attention with sequence reduction, then Mix-FFN, both residual
    with drop path) on a map ``[batch, H, W, project_dim]``: the same sub-layers, H and W read from the map."""

    def __init__(self, project_dim, num_heads, sr_ratio=1, drop_prob=0.0, layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(project_dim, num_heads, sr_ratio, drop_prob, layer_norm_epsilon, **kwargs)
        self.sr_ratio = sr_ratio
        self.drop_prob = drop_prob
        self.layer_norm_epsilon = layer_norm_epsilon

    def build(self, input_shape):  # keras-hub's reads H and W as sqrt(tokens) and leaves the sub-layers to the call
        channels = input_shape[-1]
        tokens = (None, None, channels)
        attn, mlp = self.attn, self.mlp
        for layer in (self.norm1, self.norm2, attn.q, attn.k, attn.v, attn.proj, mlp.fc1):
            layer.build(tokens)
        if attn.sr_ratio > 1:
            attn.sr.build((None, None, None, channels))
            attn.norm.build(tokens)
        mlp.dwconv.build((None, None, None, mlp.fc1.units))
        mlp.fc2.build((None, None, mlp.fc1.units))
        attn.built = mlp.built = True
        keras.layers.Layer.build(self, input_shape)

    def call(self, x, training=None):
        shape = ops.shape(x)
        batch, height, width, channels = shape[0], shape[1], shape[2], x.shape[-1]
        tokens = ops.reshape(x, (batch, -1, channels))
        attended = _attention(self.attn, self.norm1(tokens), height, width, training)
        tokens = tokens + self.drop_path(attended, training=training)
        mixed = _mix_ffn(self.mlp, self.norm2(tokens), height, width)
        tokens = tokens + self.drop_path(mixed, training=training)
        return ops.reshape(tokens, (batch, height, width, channels))

    def get_config(self):  # keras-hub's leaves sr_ratio out and adds keys its __init__ does not take
        config = keras.layers.Layer.get_config(self)
        config.update(
            project_dim=self.project_dim,
            num_heads=self.num_heads,
            sr_ratio=self.sr_ratio,
            drop_prob=self.drop_prob,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config


def _attention(attn, x, height, width, training):
    """keras-hub's ``SegFormerMultiheadAttention.call`` on tokens of an ``height`` x ``width`` map. One head (MiT's
    first level) stays ``[batch, tokens, C]``: tf2onnx 1.17 turns the head transposes of a single head into
    reshapes and gives the queries' reshape the keys' shape (ONNX Runtime then fails in the MatMul)."""
    batch, channels, heads = ops.shape(x)[0], x.shape[-1], attn.num_heads

    def split(tokens):
        if heads == 1:
            return tokens
        return ops.transpose(ops.reshape(tokens, (batch, -1, heads, channels // heads)), (0, 2, 1, 3))

    query = split(attn.q(x))
    if attn.sr_ratio > 1:  # keys and values from the map reduced by sr_ratio in each direction
        x = attn.sr(ops.reshape(x, (batch, height, width, channels)))
        x = attn.norm(ops.reshape(x, (batch, -1, channels)))
    key, value = split(attn.k(x)), split(attn.v(x))
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) * attn.scale
    weights = attn.dropout(ops.nn.softmax(scores, axis=-1), training=training)
    out = ops.matmul(weights, value)
    if heads > 1:
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (batch, -1, channels))
    return attn.proj_drop(attn.proj(out), training=training)


def _mix_ffn(mlp, x, height, width):
    """keras-hub's ``MixFFN.call`` (dense, 3x3 depthwise convolution on the map, GELU, dense)."""
    batch = ops.shape(x)[0]
    x = mlp.fc1(x)
    hidden = x.shape[-1]
    x = mlp.dwconv(ops.reshape(x, (batch, height, width, hidden)))
    return mlp.fc2(ops.nn.gelu(ops.reshape(x, (batch, -1, hidden))))


def mit_encoder(
    hidden_dims,
    depths,
    num_heads=(1, 2, 5, 8),
    sr_ratios=(8, 4, 2, 1),
    patch_sizes=(7, 3, 3, 3),
    strides=(4, 2, 2, 2),
    max_drop_path_rate=0.1,
    input_tensor=None,
    input_shape=None,
    name="mit",
) -> keras.Model:
    """The MiT encoder of keras-hub's ``MiTBackbone`` with the same arguments, on ``input_tensor`` (its layers
    join that graph) or a new input of ``input_shape``. Layer names: keras-hub's ``patch_and_embed_{i}`` and
    ``hierarchical_encoder_{i}_{k}``; level i's closing LayerNormalization (unnamed in keras-hub) is
    ``output_level_{i}``, the name of keras-hub's pyramid output at stride ``4 * 2**i``."""
    x = keras.Input(shape=input_shape) if input_tensor is None else input_tensor
    rates = np.linspace(0.0, max_drop_path_rate, sum(depths))
    block = 0
    for level, (dim, depth) in enumerate(zip(hidden_dims, depths)):
        x = MiTPatchEmbedding(
            project_dim=dim, patch_size=patch_sizes[level], stride=strides[level], name=f"patch_and_embed_{level}"
        )(x)
        for k in range(depth):
            x = MiTBlock(
                dim,
                num_heads[level],
                sr_ratio=sr_ratios[level],
                drop_prob=float(rates[block]),
                name=f"hierarchical_encoder_{level}_{k}",
            )(x)
            block += 1
        x = keras.layers.LayerNormalization(epsilon=1e-5, name=f"output_level_{level}")(x)
    return keras.Model(keras.utils.get_source_inputs(x), x, name=name)

"""Backbone registry: one table entry per pretrained encoder.

Each entry says how to build the encoder (a ``keras.applications`` constructor),
which layer gives the features at each stride, which layers make up the stages
``stage1`` .. ``stage5``, how images are preprocessed, and which pretrained files
(see ``zoo/models/weights_manifest.json``) hold its ImageNet weights. Decoders only ever ask
this table for "the features at stride 8", so they never special-case a backbone.
Adding a backbone is adding one ``BackboneSpec`` to ``BACKBONES``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # Keras is imported where a model is built, not with the table (``python -m recipes.* --help``)
    import keras

STAGES = ("stage1", "stage2", "stage3", "stage4", "stage5")

# ImageNet channel means in BGR order, as used by the "caffe" preprocessing of the
# original VGG16 / ResNet50 weights (keras.applications.imagenet_utils).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# "torch" preprocessing (DenseNet): RGB in [0, 1], minus these means, divided by these deviations
_TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
_TORCH_STD_RGB = (0.229, 0.224, 0.225)
# keras.applications.imagenet_utils' modes, and "tf128" (x / 128 - 1: EfficientNetV2-S/M/L's in-graph rescaling)
PREPROCESSING = ("caffe", "tf", "torch", "tf128")
# Feature references (``BackboneSpec.features``): a layer name (its output), "NAME:input" (the input of layer
# NAME, where the layer making the deepest tensor at a stride has a name Keras numbers by a counter), "<output>" (the Keras
# model's output) and "<output>:input" (the input of its last layer).
OUTPUT_REF = "<output>"


@dataclasses.dataclass(frozen=True)
class KerasApplication:
    """A ``keras.applications`` constructor named, not imported: the table (and ``--help``, which lists it)
    loads no Keras; calling it imports Keras and builds the model with ``options`` and the call's arguments."""

    name: str  # e.g. "VGG16", the attribute of keras.applications
    options: tuple[tuple[str, object], ...] = ()  # fixed keyword arguments, e.g. (("include_preprocessing", False),)

    @property
    def func(self) -> Callable[..., keras.Model]:
        """Keras' own constructor (without ``options``)."""
        import keras

        return getattr(keras.applications, self.name)

    def __call__(self, **kwargs) -> keras.Model:
        return self.func(**dict(self.options), **kwargs)


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Everything the builders need to know about one encoder.

    Attributes:
        name: registry key, e.g. ``"vgg16"``.
        constructor: a ``keras.applications`` function taking ``include_top``,
            ``weights``, ``input_tensor`` / ``input_shape``: the table names them (``KerasApplication``, so that
            the table loads no Keras); a backbone of one's own may give the function itself.
        features: stride (1, 2, 4, ..., 32) -> the deepest tensor at that stride, as a
            reference (see ``OUTPUT_REF``): mostly a layer name. U-Net skips use these.
        fcn_features: stride -> layer for FCN skip scores (the paper's pool3,
            pool4, pool5 on VGG16).
        stage_prefixes: stage name -> layer-name prefixes that belong to it; empty: by the
            stride rule (``stage_of``).
        first_conv: name of the first convolution (adapted for channels != 3), or of the
            nested model whose first weight is its kernel (ConvNeXt's stem).
        top_dense: names of Dense layers of the with-top model that FCN turns into
            convolutions (fc6, fc7), empty when the backbone has none.
        top_units: their widths (4096, 4096 for VGG16).
        classifier: the with-top model's class layer (Dense, 1000 ImageNet classes); it
            reads the flattened stride-32 features through ``top_dense`` when there are
            any (VGG), else their global average (ResNet).
        classifier_window: the stride-32 feature window the flattening classifier reads
            (7 for VGG16's 224x224 input); unused by pooled classifiers.
        weights_notop / weights_top: manifest file names of the ImageNet weights.
        top_marker: a layer name present only in with-top weight files.
        divisor: input height and width must be multiples of this (total stride).
        preprocessing: how pixels in [0, 255] become the network's input, one of
            ``PREPROCESSING`` (the mode of ``keras.applications`` for these weights).
        marker: a layer that tells this backbone from the smaller members of its family
            where the features do not (DenseNets: the last block of stage 4).
        graph_start: for families that preprocess inside the Keras graph (EfficientNet's
            Rescaling and Normalization layers): the first layer of the encoder proper. The
            layers before it are left out and ``preprocessing`` does their work outside the
            graph, so the first convolution sees values it can be adapted for exactly.
            Empty: the Keras model is used from its input (built without its in-graph
            preprocessing where Keras offers ``include_preprocessing=False``).
        file_normalization: the ``(mean, variance)`` that the left-out in-graph
            Normalization layer holds in Keras' ImageNet file; loading a file checks them, as
            ``preprocessing`` is only right for those values.
        dilatable: the last stages can run dilated (``output_stride`` 8 or 16).
        grouped_depthwise: the depthwise convolutions are Keras ``Conv2D(groups=C)`` layers
            (ConvNeXt), which TensorFlow runs as a compiled function: slow on CPU and not
            exportable to ONNX. The encoder rebuilds them as ``DepthwiseConv2D`` (the same
            function; the kernel's last two axes swap when weights load).
    """

    name: str
    constructor: KerasApplication | Callable[..., keras.Model]
    features: Mapping[int, str]
    fcn_features: Mapping[int, str]
    stage_prefixes: Mapping[str, tuple[str, ...]]
    first_conv: str
    top_dense: tuple[str, ...]
    weights_notop: str
    weights_top: str
    top_marker: str
    divisor: int = 32
    top_units: tuple[int, ...] = ()
    classifier: str = "predictions"
    classifier_window: int = 7
    classes: int = 1000
    preprocessing: str = "caffe"
    marker: str = ""
    graph_start: str = ""
    file_normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    dilatable: bool = False
    grouped_depthwise: bool = False

    def __post_init__(self):
        if self.preprocessing not in PREPROCESSING:  # else preprocess() would fall back to caffe silently
            raise ValueError(
                f"backbone {self.name!r}: preprocessing {self.preprocessing!r} is not one of {PREPROCESSING}"
            )

    def stage_of(self, layer_name: str) -> str | None:
        """Returns the stage (``"stage1"``..``"stage5"``) of an encoder layer, or None.

        With ``stage_prefixes``, by name. Otherwise by the stride rule: stage k holds the
        layers whose output is at stride 2**k (stride 1 and 2: stage 1), padding layers
        the stage before them (``encoder_layers``).
        """

        if not self.stage_prefixes:
            return encoder_layers(self.name).get(layer_name)
        for stage, prefixes in self.stage_prefixes.items():
            if layer_name.startswith(prefixes):
                return stage
        return None

    def feature_layers(self) -> tuple[str, ...]:
        """The names of the layers that ``features`` refers to (``"<output>"`` references left out)."""
        return tuple(ref.split(":")[0] for ref in self.features.values() if not ref.startswith(OUTPUT_REF))

    def preprocess(self, images: np.ndarray | keras.KerasTensor) -> np.ndarray:
        """Maps pixels in [0, 255] to this backbone's input convention.

        Args:
            images: float or uint8 array/tensor ``[..., height, width, channels]``
                with pixel values in [0, 255], channels in RGB order.

        Returns:
            float32 of the same shape, by ``preprocessing``:
            - "caffe" (VGG, ResNet): RGB->BGR, minus the ImageNet BGR means;
            - "tf" (ResNetV2, MobileNetV2): ``x / 127.5 - 1`` for every channel;
            - "torch" (DenseNet, EfficientNet, EfficientNetV2-B0..B3, ConvNeXt): ``(x / 255 - mean) / std``
              with the ImageNet RGB statistics;
            - "tf128" (EfficientNetV2-S/M/L): ``x / 128 - 1`` for every channel.
            For 1 or 2 channels each channel is treated as a gray level (the mean of the
            three means, and of the three deviations); channels after the third are
            centred at 127.5 (scaled as the others).
        """
        cast, _ = _ops_for(images)
        if self.preprocessing == "tf":
            return cast(images, "float32") / 127.5 - 1.0
        if self.preprocessing == "tf128":
            return cast(images, "float32") / 128.0 - 1.0
        if self.preprocessing == "torch":
            return torch_preprocess(images)
        return caffe_preprocess(images)


def _ops_for(images) -> tuple:
    """``(cast, concatenate)`` for ``images``: TensorFlow's for a TensorFlow tensor (a tf.data pipeline or a
    serving graph, whatever Keras' backend is: under JAX, Keras' ops cannot run there), else Keras'."""
    if type(images).__module__.startswith("tensorflow"):
        import tensorflow as tf

        return tf.cast, lambda parts, axis: tf.concat(parts, axis=axis)
    import keras

    return keras.ops.cast, keras.ops.concatenate


def caffe_preprocess(images):
    """ "caffe" preprocessing for any channel count; see ``BackboneSpec.preprocess``."""
    cast, concatenate = _ops_for(images)
    x = cast(images, "float32")
    channels = x.shape[-1]
    if channels is None:
        raise ValueError("preprocess needs a known channel count (last axis), got None")
    if channels >= 3:
        bgr = x[..., 2::-1] - np.asarray(_CAFFE_MEAN_BGR, "float32")
        if channels == 3:
            return bgr
        return concatenate([bgr, x[..., 3:] - 127.5], axis=-1)
    return x - float(np.mean(_CAFFE_MEAN_BGR))


def torch_preprocess(images):
    """ "torch" preprocessing for any channel count; see ``BackboneSpec.preprocess``."""
    cast, concatenate = _ops_for(images)
    x = cast(images, "float32") / 255.0
    channels = x.shape[-1]
    if channels is None:
        raise ValueError("preprocess needs a known channel count (last axis), got None")
    std = float(np.mean(_TORCH_STD_RGB))
    if channels >= 3:
        rgb = (x[..., :3] - np.asarray(_TORCH_MEAN_RGB, "float32")) / np.asarray(_TORCH_STD_RGB, "float32")
        if channels == 3:
            return rgb
        return concatenate([rgb, (x[..., 3:] - 0.5) / std], axis=-1)
    return (x - float(np.mean(_TORCH_MEAN_RGB))) / std


def encoder_layers(name: str) -> dict[str, str]:
    """Layer name -> stage of ``name``'s encoder by the stride rule (``BackboneSpec.stage_of``), read from
    the Keras model built once at 224x224 with random weights (cached for the process). Layers Keras
    names by a counter (paddings, activations) have other names in each model; they hold no weights, so
    whatever part they are counted in, freezing is unaffected."""
    return {layer: STAGES[max(0, stride_out.bit_length() - 2)] for layer, (_, stride_out) in _encoder_layout(name)}


def layer_strides(name: str) -> dict[str, tuple[int, int]]:
    """Layer name -> (stride of its input, stride of its output) in ``name``'s Keras model (first input of
    a merge; a padding or other odd-sized map counts at the stride before it)."""
    return dict(_encoder_layout(name))


@functools.cache
def _encoder_layout(name: str) -> tuple[tuple[str, tuple[int, int]], ...]:
    spec = get_backbone(name)
    model = spec.constructor(include_top=False, weights=None, input_shape=(224, 224, 3))

    def stride(tensor, previous: int) -> int:
        shape = tensor.shape
        value = 224 / shape[1] if len(shape) == 4 else 0
        return int(value) if value in (1, 2, 4, 8, 16, 32) else previous

    layout, current = [], 1
    for layer in model.layers[1:]:
        source = layer.input[0] if isinstance(layer.input, (list, tuple)) else layer.input
        stride_in = stride(source, current)
        current = stride(layer.output, stride_in)
        layout.append((layer.name, (stride_in, current)))
    return tuple(layout)


def _keras_family(
    name: str,
    constructor,
    features: dict[int, str],
    first_conv: str,
    preprocessing: str,
    notop: str,
    top: str,
    stage_prefixes: Mapping[str, tuple[str, ...]] | None = None,
    marker: str = "",
    **extra,
) -> BackboneSpec:
    """A backbone with a pooled classifier whose FCN skips are its features at 8, 16, 32, and whose
    stages follow the stride rule unless ``stage_prefixes`` names them; ``extra``: further
    ``BackboneSpec`` fields."""
    return BackboneSpec(
        name=name,
        constructor=constructor,
        features=features,
        fcn_features={s: features[s] for s in (8, 16, 32)},
        stage_prefixes=stage_prefixes or {},
        first_conv=first_conv,
        top_dense=(),
        weights_notop=notop,
        weights_top=top,
        top_marker=extra.pop("top_marker", "predictions"),
        preprocessing=preprocessing,
        marker=marker,
        **extra,
    )


# ResNet stage names (conv1_x .. conv5_x), shared by the v1 and v2 families
_RESNET_STAGES = {
    "stage1": ("conv1_",),
    "stage2": ("pool1_", "conv2_"),
    "stage3": ("conv3_",),
    "stage4": ("conv4_",),
    "stage5": ("conv5_",),
}

VGG16 = BackboneSpec(
    name="vgg16",
    constructor=KerasApplication("VGG16"),
    features={
        1: "block1_conv2",
        2: "block2_conv2",
        4: "block3_conv3",
        8: "block4_conv3",
        16: "block5_conv3",
        32: "block5_pool",
    },
    fcn_features={8: "block3_pool", 16: "block4_pool", 32: "block5_pool"},
    stage_prefixes={f"stage{i}": (f"block{i}_",) for i in range(1, 6)},
    first_conv="block1_conv1",
    top_dense=("fc1", "fc2"),
    top_units=(4096, 4096),
    weights_notop="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    weights_top="vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    top_marker="fc1",
    dilatable=True,
)

RESNET50 = BackboneSpec(
    name="resnet50",
    constructor=KerasApplication("ResNet50"),
    features={
        2: "conv1_relu",
        4: "conv2_block3_out",
        8: "conv3_block4_out",
        16: "conv4_block6_out",
        32: "conv5_block3_out",
    },
    fcn_features={8: "conv3_block4_out", 16: "conv4_block6_out", 32: "conv5_block3_out"},
    stage_prefixes=_RESNET_STAGES,
    first_conv="conv1_conv",
    top_dense=(),
    weights_notop="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    weights_top="resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    top_marker="predictions",
    dilatable=True,
)

# The other keras.applications families (features: the deepest layer at each stride, read from the Keras
# model; tests/test_backbones.py checks each table against the model).
VGG19 = dataclasses.replace(
    VGG16,
    name="vgg19",
    constructor=KerasApplication("VGG19"),
    features={
        1: "block1_conv2",
        2: "block2_conv2",
        4: "block3_conv4",
        8: "block4_conv4",
        16: "block5_conv4",
        32: "block5_pool",
    },
    weights_notop="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    weights_top="vgg19_weights_tf_dim_ordering_tf_kernels.h5",
)
# ResNet v1 and v2 and DenseNet: the members differ in their blocks per stage (the deepest block of stages 3 and
# 4 names the stride-8 and stride-16 features) and in Keras' file names.
RESNETS = [
    _keras_family(
        f"resnet{depth}",
        KerasApplication(f"ResNet{depth}"),
        {
            2: "conv1_relu",
            4: "conv2_block3_out",
            8: f"conv3_block{b3}_out",
            16: f"conv4_block{b4}_out",
            32: "conv5_block3_out",
        },
        "conv1_conv",
        "caffe",
        f"resnet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"resnet{depth}_weights_tf_dim_ordering_tf_kernels.h5",
        stage_prefixes=_RESNET_STAGES,
        dilatable=True,
    )
    for depth, b3, b4 in ((101, 4, 23), (152, 8, 36))
]
RESNETV2S = [
    _keras_family(
        f"resnet{depth}v2",
        KerasApplication(f"ResNet{depth}V2"),
        {
            2: "conv1_conv",
            4: "conv2_block3_1_relu",
            8: f"conv3_block{b3}_1_relu",
            16: f"conv4_block{b4}_1_relu",
            32: "post_relu",
        },
        "conv1_conv",
        "tf",
        f"resnet{depth}v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"resnet{depth}v2_weights_tf_dim_ordering_tf_kernels.h5",
        stage_prefixes={**_RESNET_STAGES, "stage5": ("conv5_", "post_")},
    )
    for depth, b3, b4 in ((50, 4, 6), (101, 4, 23), (152, 8, 36))
]
DENSENETS = [
    _keras_family(
        f"densenet{depth}",
        KerasApplication(f"DenseNet{depth}"),
        {2: "conv1_relu", 4: "pool2_conv", 8: "pool3_conv", 16: "pool4_conv", 32: "relu"},
        "conv1_conv",
        "torch",
        f"densenet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        f"densenet{depth}_weights_tf_dim_ordering_tf_kernels.h5",
        marker=f"conv4_block{b4}_concat",
    )
    for depth, b4 in ((121, 24), (169, 32), (201, 48))
]
MOBILENETV2 = _keras_family(
    "mobilenetv2",
    KerasApplication("MobileNetV2"),
    {
        2: "block_1_expand_relu",
        4: "block_3_expand_relu",
        8: "block_6_expand_relu",
        16: "block_13_expand_relu",
        32: "out_relu",
    },
    "Conv1",
    "tf",
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
)


# EfficientNet (Tan & Le 2019). Keras rescales and normalises inside the graph; zoo leaves those two layers out
# (graph_start) and does the same "torch" normalisation outside, as Keras' ImageNet file holds it: the
# Normalization layer stores the RGB means and, as variance, the deviations themselves, which an extra
# Rescaling by 1 / sqrt(std) corrects (keras.applications.efficientnet; tensorflow/tensorflow#49930).
_EFFICIENTNET_FILE_NORMALIZATION = (_TORCH_MEAN_RGB, _TORCH_STD_RGB)
_EFFICIENTNET_FEATURES = {
    2: "block2a_expand_activation",
    4: "block3a_expand_activation",
    8: "block4a_expand_activation",
    16: "block6a_expand_activation",
    32: "top_activation",
}
EFFICIENTNETS = [
    _keras_family(
        f"efficientnet{variant}",
        KerasApplication(f"EfficientNet{variant.upper()}"),
        _EFFICIENTNET_FEATURES,
        "stem_conv",
        "torch",
        f"efficientnet{variant}_notop.h5",
        f"efficientnet{variant}.h5",
        graph_start="stem_conv_pad",
        file_normalization=_EFFICIENTNET_FILE_NORMALIZATION,
    )
    for variant in ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7")
]

# EfficientNetV2 (Tan & Le 2021), built without Keras' in-graph preprocessing: B0-B3 normalise as "torch",
# S/M/L rescale to [-1, 1] by x / 128 - 1 ("tf128").
_V2_EARLY = {
    "b0": ("block1a_project_activation", "block2b_add"),
    "b1": ("block1b_add", "block2c_add"),
    "b2": ("block1b_add", "block2c_add"),
    "b3": ("block1b_add", "block2c_add"),
    "s": ("block1b_add", "block2d_add"),
    "m": ("block1c_add", "block2e_add"),
    "l": ("block1d_add", "block2g_add"),
}
EFFICIENTNETV2S = [
    _keras_family(
        f"efficientnetv2{variant}",
        KerasApplication(f"EfficientNetV2{variant.upper()}", (("include_preprocessing", False),)),
        {
            2: early[0],
            4: early[1],
            8: "block4a_expand_activation",
            16: "block6a_expand_activation",
            32: "top_activation",
        },
        "stem_conv",
        "torch" if variant.startswith("b") else "tf128",
        f"efficientnetv2-{variant}_notop.h5",
        f"efficientnetv2-{variant}.h5",
    )
    for variant, early in _V2_EARLY.items()
]

# MobileNetV3 (Howard et al. 2019), without its in-graph Rescaling ("tf" outside). Its activation layers are
# named by a counter (re_lu_7, activation_3: other names in each model), so the features are named as the inputs
# of the stride-2 blocks' paddings.
# Its classifier ends in a convolution and hard-swish after pooling: no class maps.
MOBILENETV3S = [
    _keras_family(
        f"mobilenetv3{size.lower()}",
        KerasApplication(f"MobileNetV3{size}", (("include_preprocessing", False),)),
        {stride: f"expanded_conv{block}_depthwise_pad:input" for stride, block in zip((2, 4, 8, 16), blocks)}
        | {32: OUTPUT_REF},
        "conv",
        "tf",
        f"weights_mobilenet_v3_{size.lower()}_224_1.0_float_no_top_v2.h5",
        f"weights_mobilenet_v3_{size.lower()}_224_1.0_float.h5",
        top_marker="Logits",
        classifier="",
    )
    for size, blocks in (("Small", ("", "_1", "_3", "_8")), ("Large", ("_1", "_3", "_6", "_12")))
]


# ConvNeXt (Liu et al. 2022), without its in-graph normalisation ("torch" outside). Its stem is a 4x4 stride-4
# convolution (no stride-2 map: the decoders upsample without a skip there), its stages are nested models and
# residual additions, and the no-top model ends in a LayerNormalization that zoo leaves out (the stride-32
# feature is the last block's output, as at strides 4-16). Its classifier normalises after pooling: no class maps.
def _convnext(size: str) -> BackboneSpec:
    prefix = f"convnext_{size.lower()}"
    return _keras_family(
        f"convnext{size.lower()}",
        KerasApplication(f"ConvNeXt{size}", (("include_preprocessing", False),)),
        {
            4: f"{prefix}_downsampling_block_0:input",
            8: f"{prefix}_downsampling_block_1:input",
            16: f"{prefix}_downsampling_block_2:input",
            32: f"{OUTPUT_REF}:input",
        },
        f"{prefix}_stem",
        "torch",
        f"{prefix}_notop.h5",
        f"{prefix}.h5",
        stage_prefixes={
            "stage1": (f"{prefix}_stem",),
            "stage2": (f"{prefix}_stage_0_",),
            **{f"stage{k + 3}": (f"{prefix}_downsampling_block_{k}", f"{prefix}_stage_{k + 1}_") for k in range(3)},
        },
        top_marker=f"{prefix}_head_dense",
        classifier="",
        grouped_depthwise=True,
    )


CONVNEXTS = [_convnext(size) for size in ("Tiny", "Small", "Base", "Large")]

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        VGG16,
        VGG19,
        RESNET50,
        *RESNETS,
        *RESNETV2S,
        *DENSENETS,
        MOBILENETV2,
        *MOBILENETV3S,
        *EFFICIENTNETS,
        *EFFICIENTNETV2S,
        *CONVNEXTS,
    )
}


def get_backbone(name: str) -> BackboneSpec:
    """Looks a backbone up by name (``keras_hub:...``: ``zoo.models.hub_backbones``); raises ValueError listing
    the known ones."""
    key = str(name).lower()
    if key.startswith("keras_hub:"):
        return _hub_backbone(key)
    if key not in BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)} or keras_hub:mit_b0 .. keras_hub:mit_b5 "
            "(add a BackboneSpec to zoo.models.backbones.BACKBONES for a new one)"
        )
    return BACKBONES[key]


@functools.cache
def _hub_backbone(key: str) -> BackboneSpec:
    """A keras-hub encoder's entry, made once per name (the table imports neither Keras nor keras-hub)."""
    from zoo.models.hub_backbones import spec_fields

    return BackboneSpec(**spec_fields(key))


def preprocess_input(images, backbone: str = "vgg16"):
    """Preprocesses pixels in [0, 255] for ``backbone``; see ``BackboneSpec.preprocess``."""
    return get_backbone(backbone).preprocess(images)


def adapt_first_kernel(kernel: np.ndarray, channels: int) -> np.ndarray:
    """Adapts an RGB (3-channel) first-convolution kernel to ``channels`` inputs.

    Args:
        kernel: ``[kh, kw, 3, filters]`` pretrained kernel.
        channels: the new input channel count (>= 1).

    Returns:
        ``[kh, kw, channels, filters]``:
        - 3: unchanged;
        - 1: the sum over the colour axis, so a gray image gives the response the
          RGB kernel gives to that image replicated into R = G = B;
        - 2: that sum divided by 2 for each channel (the same guarantee when both
          channels carry the gray level);
        - more than 3: the RGB kernel for the first three channels and zeros for the
          rest, so the model starts exactly as the pretrained RGB model and learns
          how to use the extra channels (their gradients are not zero).
    """
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"expected an RGB kernel [kh, kw, 3, filters], got shape {kernel.shape}")
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if channels == 3:
        return kernel.copy()
    if channels < 3:
        gray = kernel.sum(axis=2, keepdims=True) / channels
        return np.repeat(gray, channels, axis=2).astype(kernel.dtype)
    extra = np.zeros(kernel.shape[:2] + (channels - 3, kernel.shape[3]), kernel.dtype)
    return np.concatenate([kernel, extra], axis=2)

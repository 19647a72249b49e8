"""Backbone registry: one table entry per pretrained encoder.

Each entry says how to build the encoder (a ``keras.applications`` constructor),
which layer gives the features at each stride, which layers make up the stages
``stage1`` .. ``stage5``, how images are preprocessed, and which pretrained files
(see ``zoo/weights_manifest.json``) hold its ImageNet weights. Decoders only ever ask
this table for "the features at stride 8", so they never special-case a backbone.
Adding a backbone is adding one ``BackboneSpec`` to ``BACKBONES``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import keras
import numpy as np

STAGES = ("stage1", "stage2", "stage3", "stage4", "stage5")

# ImageNet channel means in BGR order, as used by the "caffe" preprocessing of the
# original VGG16 / ResNet50 weights (keras.applications.imagenet_utils).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Everything the builders need to know about one encoder.

    Attributes:
        name: registry key, e.g. ``"vgg16"``.
        constructor: ``keras.applications`` function taking ``include_top``,
            ``weights``, ``input_tensor`` / ``input_shape``.
        features: stride (1, 2, 4, ..., 32) -> name of the deepest layer whose
            output has that stride. U-Net skips use these.
        fcn_features: stride -> layer for FCN skip scores (the paper's pool3,
            pool4, pool5 on VGG16).
        stage_prefixes: stage name -> layer-name prefixes that belong to it.
        first_conv: name of the first convolution (adapted for channels != 3).
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
    """

    name: str
    constructor: Callable[..., keras.Model]
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

    def stage_of(self, layer_name: str) -> str | None:
        """Returns the stage (``"stage1"``..``"stage5"``) of an encoder layer, or None."""
        for stage, prefixes in self.stage_prefixes.items():
            if layer_name.startswith(prefixes):
                return stage
        return None

    def preprocess(self, images: np.ndarray | keras.KerasTensor) -> np.ndarray:
        """Maps pixels in [0, 255] to this backbone's input convention.

        Args:
            images: float or uint8 array/tensor ``[..., height, width, channels]``
                with pixel values in [0, 255], channels in RGB order.

        Returns:
            float32 of the same shape: "caffe" preprocessing (RGB->BGR, minus the
            ImageNet BGR means). For 1 or 2 channels each channel is treated as a
            gray level (minus the mean of the three means); channels after the
            third are centred at 127.5.
        """
        return caffe_preprocess(images)


def caffe_preprocess(images):
    """"caffe" preprocessing for any channel count; see ``BackboneSpec.preprocess``."""
    x = keras.ops.cast(images, "float32")
    channels = x.shape[-1]
    if channels is None:
        raise ValueError("preprocess needs a known channel count (last axis), got None")
    if channels >= 3:
        bgr = x[..., 2::-1] - keras.ops.convert_to_tensor(_CAFFE_MEAN_BGR, "float32")
        if channels == 3:
            return bgr
        return keras.ops.concatenate([bgr, x[..., 3:] - 127.5], axis=-1)
    return x - float(np.mean(_CAFFE_MEAN_BGR))


VGG16 = BackboneSpec(
    name="vgg16",
    constructor=keras.applications.VGG16,
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
)

RESNET50 = BackboneSpec(
    name="resnet50",
    constructor=keras.applications.ResNet50,
    features={
        2: "conv1_relu",
        4: "conv2_block3_out",
        8: "conv3_block4_out",
        16: "conv4_block6_out",
        32: "conv5_block3_out",
    },
    fcn_features={8: "conv3_block4_out", 16: "conv4_block6_out", 32: "conv5_block3_out"},
    stage_prefixes={
        "stage1": ("conv1_",),
        "stage2": ("pool1_", "conv2_"),
        "stage3": ("conv3_",),
        "stage4": ("conv4_",),
        "stage5": ("conv5_",),
    },
    first_conv="conv1_conv",
    top_dense=(),
    weights_notop="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    weights_top="resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    top_marker="predictions",
)

BACKBONES: dict[str, BackboneSpec] = {spec.name: spec for spec in (VGG16, RESNET50)}


def get_backbone(name: str) -> BackboneSpec:
    """Looks a backbone up by name; raises ValueError listing the known ones."""
    key = str(name).lower()
    if key not in BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)} "
            "(add a BackboneSpec to zoo.backbones.BACKBONES for a new one)"
        )
    return BACKBONES[key]


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

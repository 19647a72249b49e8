"""Builds a backbone's encoder graph on a given input and loads pretrained weights into it.

The encoder layers become part of the caller's functional model (not a nested
sub-model), so stages can be frozen layer by layer and features picked by name.
Pretrained weights are read into a 3-channel reference copy of the backbone and
copied over layer by layer; the first convolution is adapted when the input has a
channel count other than 3 (``zoo.models.backbones.adapt_first_kernel``).

Where the Keras model has to change (in-graph preprocessing left out, ``BackboneSpec.graph_start``;
the last stages dilated for ``output_stride`` 8 or 16; grouped depthwise convolutions as
``DepthwiseConv2D``, ``BackboneSpec.grouped_depthwise``), it is built once and cloned onto the input
with ``keras.models.clone_model``, each layer rebuilt from its (changed) config: the same layers and
names, so the same weights load.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np

from zoo.models import weights as weights_store
from zoo.models.backbones import BACKBONES, OUTPUT_REF, BackboneSpec, adapt_first_kernel, get_backbone, layer_strides
from zoo.models.layers import InputSizeCheck, check_spatial_size


@dataclasses.dataclass
class Encoder:
    """An encoder built on an input tensor.

    Attributes:
        inputs: the model input, ``[batch, H, W, C]`` float32 preprocessed pixels.
        spec: the backbone's registry entry.
        features: stride -> feature tensor (deepest layer at that stride).
        fcn_features: stride -> tensor for FCN skip scores.
        top_weights: Dense layer name -> [kernel, bias] from a with-top weights
            file (``fc1``, ``fc2`` for VGG16), empty if none were loaded.
        weights_source: the file the encoder weights came from, or None.
        output_stride: the stride of the deepest features (32, or 16 / 8 when dilated).
    """

    inputs: keras.KerasTensor
    spec: BackboneSpec
    features: dict[int, keras.KerasTensor]
    fcn_features: dict[int, keras.KerasTensor]
    top_weights: dict[str, list[np.ndarray]]
    weights_source: Path | None
    output_stride: int = 32


OUTPUT_STRIDES = (8, 16, 32)


def validate_input_shape(input_shape, spec: BackboneSpec, what: str) -> tuple:
    """Checks ``(height, width, channels)``; returns it as a tuple.

    Raises ValueError for a wrong length, a bad channel count, or a static size
    that is not a multiple of the backbone's total stride.
    """

    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if shape is None or len(shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), e.g. (None, None, 3) or (224, 224, 1); got {input_shape!r}"
        )
    height, width, channels = shape
    if not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"input_shape channels must be a positive integer, got {channels!r}")
    for size in (height, width):
        if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
            raise ValueError(f"input_shape height/width must be positive integers or None, got {input_shape!r}")
    check_spatial_size(height, width, spec.divisor, what)
    return (height, width, int(channels))


def weights_file_layers(path: Path) -> list[str]:
    """Names of the layers stored in a Keras weights file (legacy .h5 or Keras 3 .weights.h5)."""
    try:
        with h5py.File(path, "r") as handle:
            group = handle.get("model_weights", handle)
            if "layer_names" in group.attrs:
                return [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]
            if "layers" in group:
                return list(group["layers"].keys())
            return list(group.keys())
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 weights file ({err})") from err


def load_pretrained(spec: BackboneSpec, path: Path) -> dict[str, list[np.ndarray]]:
    """Reads a weights file for ``spec`` into a 3-channel reference model.

    Returns:
        layer name -> list of weight arrays, for every layer with weights
        (Dense top layers included when the file has them).

    Raises:
        ValueError: the file does not fit the backbone (both names in the message).
    """
    has_top = spec.top_marker.lower() in {name.lower() for name in weights_file_layers(path)}  # Logits / logits
    shape = (224, 224, 3) if has_top else (None, None, 3)
    reference = spec.constructor(include_top=has_top, weights=None, input_shape=shape)
    try:
        reference.load_weights(str(path))
    except Exception as err:  # Keras raises ValueError / KeyError / TypeError here
        raise ValueError(
            f"weights file {path} does not fit backbone {spec.name!r} ({'with' if has_top else 'without'} top): {err}"
        ) from err
    if spec.file_normalization is not None:
        _check_file_normalization(spec, path, reference)
    return {layer.name: layer.get_weights() for layer in reference.layers if layer.weights}


def _check_file_normalization(spec: BackboneSpec, path: Path, reference: keras.Model) -> None:
    """Refuses a file whose in-graph Normalization (left out of zoo's encoder) is not the one
    ``spec.preprocessing`` stands in for."""
    expected = [np.asarray(v, "float32") for v in spec.file_normalization]
    for layer in reference.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.weights:
            found = [np.asarray(w, "float32").reshape(-1) for w in layer.get_weights()[:2]]
            if not all(f.shape == e.shape and np.allclose(f, e, atol=1e-6) for f, e in zip(found, expected)):
                raise ValueError(
                    f"weights file {path}: its input Normalization holds mean {found[0].tolist()} and variance "
                    f"{found[1].tolist()}, but zoo's {spec.preprocessing!r} preprocessing for {spec.name!r} stands "
                    f"in for mean {expected[0].tolist()} and variance {expected[1].tolist()} (Keras' ImageNet file); "
                    "use that file, or a file fine-tuned from it"
                )


def resolve_weights(spec: BackboneSpec, encoder_weights, want_top: bool, classifier: bool = False) -> Path | None:
    """Turns ``encoder_weights`` ("imagenet", None or a path) into a file path or None. ``classifier``:
    the with-top file is needed whatever the backbone (its class layer too)."""
    if encoder_weights is None:
        return None
    if isinstance(encoder_weights, str) and encoder_weights.lower() == "imagenet":
        if classifier or (want_top and spec.top_dense):
            return weights_store.resolve(spec.weights_top)
        found, _ = weights_store.locate(spec.weights_notop)
        if found is None:  # the with-top file holds the same encoder weights
            found, _ = weights_store.locate(spec.weights_top)
        return found or weights_store.resolve(spec.weights_notop)
    if isinstance(encoder_weights, (str, os.PathLike)):
        path = Path(encoder_weights).expanduser()
        if not path.is_file():
            raise ValueError(
                f"encoder_weights={str(encoder_weights)!r} is neither 'imagenet', None, nor an existing "
                "weights file; pass a path to a Keras .h5 / .weights.h5 file of the backbone"
            )
        return path
    raise ValueError(f"encoder_weights must be 'imagenet', None or a path to a weights file, got {encoder_weights!r}")


def resolve_feature(net: keras.Model, ref: str) -> keras.KerasTensor:
    """The tensor a ``BackboneSpec.features`` reference names in ``net`` (see ``zoo.models.backbones.OUTPUT_REF``)."""
    name, _, port = ref.partition(":")
    if name == OUTPUT_REF:  # node 0 of the last layer: in a cloned net, net.outputs are copies outside this graph
        return net.layers[-1].input if port == "input" else net.layers[-1].output
    layer = net.get_layer(name)
    return layer.input if port == "input" else layer.output


def _dilation_plan(spec: BackboneSpec, output_stride: int) -> dict[str, tuple[bool, int]]:
    """Layer name -> (keeps its resolution, dilation rate) for the layers past ``output_stride``.

    The atrous rule (Chen et al., DeepLab): a layer that would halve the resolution past
    ``output_stride`` keeps it (strides 1; a max pooling becomes 3x3, stride 1, "same", as in
    DeepLab-v1's VGG); every convolution wider than 1x1 whose input would be at stride ``s >
    output_stride`` is dilated by ``s / output_stride``, so it samples the image as before.
    """
    plan = {}
    for name, (stride_in, stride_out) in layer_strides(spec.name).items():
        keep = stride_out > stride_in and stride_out > output_stride
        rate = stride_in // output_stride if stride_in > output_stride else 1
        if keep or rate > 1:
            plan[name] = (keep, rate)
    return plan


def _rebuilt(layer: keras.layers.Layer, keep: bool, rate: int) -> keras.layers.Layer:
    """A new layer from ``layer``'s config, without its stride (``keep``) and dilated by ``rate``; a
    grouped convolution with one input channel per group becomes a ``DepthwiseConv2D``."""
    config = layer.get_config()
    if _is_grouped_depthwise(layer):
        depthwise = {
            key: config[key]
            for key in (
                "name",
                "kernel_size",
                "strides",
                "padding",
                "dilation_rate",
                "use_bias",
                "activation",
                "trainable",
                "dtype",
            )
        }
        depthwise.update(
            depth_multiplier=1,
            depthwise_initializer=config["kernel_initializer"],
            bias_initializer=config["bias_initializer"],
        )
        layer = keras.layers.DepthwiseConv2D(**depthwise)
        config = layer.get_config()
    plain_conv = type(layer) is keras.layers.Conv2D
    if keep:
        if isinstance(layer, keras.layers.MaxPooling2D):
            config.update(pool_size=(3, 3), strides=(1, 1), padding="same")
        elif plain_conv:
            config["strides"] = (1, 1)
        else:
            raise ValueError(f"cannot dilate: layer {layer.name!r} ({type(layer).__name__}) halves the resolution")
    if rate > 1 and "kernel_size" in config and max(config["kernel_size"]) > 1:
        if not plain_conv:
            raise ValueError(f"cannot dilate: {layer.name!r} is a {type(layer).__name__}, not a plain Conv2D")
        if config.get("padding") != "same":
            raise ValueError(f"cannot dilate: convolution {layer.name!r} pads {config.get('padding')!r}, not 'same'")
        config["dilation_rate"] = (rate, rate)
    return layer.__class__.from_config(config)


def _is_grouped_depthwise(layer) -> bool:
    """A Keras ``Conv2D`` whose groups each hold one input channel and one filter."""
    return (
        type(layer) is keras.layers.Conv2D
        and layer.groups > 1
        and layer.groups == layer.filters
        and layer.kernel.shape[2] == 1
    )


def _build_net(spec: BackboneSpec, x: keras.KerasTensor, shape: tuple, output_stride: int) -> keras.Model:
    """The Keras model of ``spec`` on ``x``: as Keras builds it, or cloned without its in-graph
    preprocessing, with its last stages dilated and grouped depthwise convolutions as
    ``DepthwiseConv2D`` (module docstring)."""
    if not spec.graph_start and output_stride == 32 and not spec.grouped_depthwise:
        return spec.constructor(include_top=False, weights=None, input_tensor=x)
    full = spec.constructor(include_top=False, weights=None, input_shape=shape)
    start = full.get_layer(spec.graph_start).input if spec.graph_start else full.inputs[0]
    plan = _dilation_plan(spec, output_stride) if output_stride != 32 else {}

    def rebuild(layer):
        return _rebuilt(layer, *plan.get(layer.name, (False, 1)))

    return keras.models.clone_model(keras.Model(start, full.outputs[0]), input_tensors=x, clone_function=rebuild)


def build_encoder(
    backbone: str,
    input_shape,
    encoder_weights=None,
    want_top: bool = False,
    what: str = "this model",
    classifier: bool = False,
    output_stride: int = 32,
) -> Encoder:
    """Builds ``backbone``'s encoder on a new ``images`` input and loads its weights.

    Args:
        backbone: registry name (``"vgg16"``, ``"resnet50"``).
        input_shape: ``(height, width, channels)``; height/width may be None.
        encoder_weights: ``"imagenet"``, None (random initial weights) or a path.
        want_top: also read the classifier's Dense layers (for FCN's fc6/fc7).
        what: model description for error messages.
        classifier: read the whole ImageNet classifier (``spec.top_dense`` and
            ``spec.classifier``); a weights file without it is refused.
        output_stride: 32 (as pretrained), or 16 / 8 on backbones with ``spec.dilatable``:
            the stages past it keep their resolution and run dilated with the same weights
            (``_dilation_plan``); ``features`` then end at that stride.

    The input check layer (``zoo.models.layers.InputSizeCheck``) records the backbone's name, which
    ``zoo.models.freezing.model_backbone`` reads back.
    """
    spec = get_backbone(backbone)
    shape = validate_input_shape(input_shape, spec, what)
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}")
    if output_stride != 32 and not spec.dilatable:
        dilatable = sorted(name for name, other in BACKBONES.items() if other.dilatable)
        raise ValueError(
            f"output_stride={output_stride} needs a backbone whose last stages can run dilated "
            f"({', '.join(dilatable)}); {spec.name!r} runs at 32 only"
        )
    path = resolve_weights(spec, encoder_weights, want_top, classifier)

    inputs = keras.Input(shape=shape, name="images")
    x = InputSizeCheck(spec.divisor, what, backbone=spec.name, name="input_size_check")(inputs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input channels.*")
        net = _build_net(spec, x, shape, output_stride)

    features = {s: resolve_feature(net, ref) for s, ref in spec.features.items()}
    fcn_features = {s: resolve_feature(net, ref) for s, ref in spec.fcn_features.items()}
    top: dict[str, list[np.ndarray]] = {}
    if path is not None:
        loaded = load_pretrained(spec, path)
        used = keras.Model(inputs, [*features.values(), *fcn_features.values()])  # not a final layer left out
        for layer in used.layers:
            if not layer.weights:
                continue
            if layer.name not in loaded:
                raise ValueError(f"weights file {path} has no layer {layer.name!r} of backbone {spec.name!r}")
            values = list(loaded[layer.name])
            if layer.name == spec.first_conv:
                values[0] = adapt_first_kernel(values[0], shape[2])
            if spec.grouped_depthwise and isinstance(layer, keras.layers.DepthwiseConv2D) and values[0].shape[2] == 1:
                # Keras' Conv2D(groups=C) kernel [kh, kw, 1, C] as DepthwiseConv2D's [kh, kw, C, 1]
                values[0] = np.swapaxes(values[0], 2, 3)
            layer.set_weights(values)
        wanted = (*spec.top_dense, spec.classifier) if classifier else spec.top_dense
        top = {name: loaded[name] for name in wanted if name in loaded}
        if classifier and len(top) < len(wanted):
            raise ValueError(
                f"weights file {path} has no ImageNet classifier ({', '.join(wanted)}) of backbone "
                f"{spec.name!r}: {what} needs the with-top file {spec.weights_top} (`python -m zoo "
                f"weights fetch {spec.weights_top}`)"
            )

    if output_stride != 32:  # the deepest features now sit at output_stride
        deepest = features[max(features)]
        features = {s: t for s, t in features.items() if s < output_stride} | {output_stride: deepest}
        fcn_features = {}
    return Encoder(
        inputs=inputs,
        spec=spec,
        features=features,
        fcn_features=fcn_features,
        top_weights=top,
        weights_source=path,
        output_stride=output_stride,
    )

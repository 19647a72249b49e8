"""Builds a backbone's encoder graph on a given input and loads pretrained weights into it.

The encoder layers become part of the caller's functional model (not a nested
sub-model), so stages can be frozen layer by layer and features picked by name.
Pretrained weights are read into a 3-channel reference copy of the backbone and
copied over layer by layer; the first convolution is adapted when the input has a
channel count other than 3 (``zoo.backbones.adapt_first_kernel``).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np

from zoo import weights as weights_store
from zoo.backbones import BackboneSpec, adapt_first_kernel, get_backbone
from zoo.layers import InputSizeCheck, check_spatial_size


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
    """

    inputs: keras.KerasTensor
    spec: BackboneSpec
    features: dict[int, keras.KerasTensor]
    fcn_features: dict[int, keras.KerasTensor]
    top_weights: dict[str, list[np.ndarray]]
    weights_source: Path | None


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
            f"input_shape must be (height, width, channels), e.g. (None, None, 3) or (224, 224, 1); "
            f"got {input_shape!r}"
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
            group = handle["model_weights"] if "model_weights" in handle else handle
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
    has_top = spec.top_marker in weights_file_layers(path)
    shape = (224, 224, 3) if has_top else (None, None, 3)
    reference = spec.constructor(include_top=has_top, weights=None, input_shape=shape)
    try:
        reference.load_weights(str(path))
    except Exception as err:  # Keras raises ValueError / KeyError / TypeError here
        raise ValueError(
            f"weights file {path} does not fit backbone {spec.name!r} "
            f"({'with' if has_top else 'without'} top): {err}"
        ) from err
    return {layer.name: layer.get_weights() for layer in reference.layers if layer.weights}


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
    raise ValueError(
        f"encoder_weights must be 'imagenet', None or a path to a weights file, got {encoder_weights!r}"
    )


def build_encoder(
    backbone: str,
    input_shape,
    encoder_weights=None,
    want_top: bool = False,
    what: str = "this model",
    classifier: bool = False,
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
    """
    spec = get_backbone(backbone)
    shape = validate_input_shape(input_shape, spec, what)
    path = resolve_weights(spec, encoder_weights, want_top, classifier)

    inputs = keras.Input(shape=shape, name="images")
    x = inputs
    if shape[0] is None or shape[1] is None:
        x = InputSizeCheck(spec.divisor, what, name="input_size_check")(x)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input channels.*")
        net = spec.constructor(include_top=False, weights=None, input_tensor=x)

    top: dict[str, list[np.ndarray]] = {}
    if path is not None:
        loaded = load_pretrained(spec, path)
        for layer in net.layers:
            if not layer.weights:
                continue
            if layer.name not in loaded:
                raise ValueError(f"weights file {path} has no layer {layer.name!r} of backbone {spec.name!r}")
            values = list(loaded[layer.name])
            if layer.name == spec.first_conv:
                values[0] = adapt_first_kernel(values[0], shape[2])
            layer.set_weights(values)
        wanted = (*spec.top_dense, spec.classifier) if classifier else spec.top_dense
        top = {name: loaded[name] for name in wanted if name in loaded}
        if classifier and len(top) < len(wanted):
            raise ValueError(f"weights file {path} has no ImageNet classifier ({', '.join(wanted)}) of backbone "
                             f"{spec.name!r}: {what} needs the with-top file {spec.weights_top} (`python -m zoo "
                             f"weights fetch {spec.weights_top}`)")

    return Encoder(
        inputs=inputs,
        spec=spec,
        features={s: net.get_layer(n).output for s, n in spec.features.items()},
        fcn_features={s: net.get_layer(n).output for s, n in spec.fcn_features.items()},
        top_weights=top,
        weights_source=path,
    )

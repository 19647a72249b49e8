"""Builds a backbone's encoder graph on a given input and loads pretrained weights into it.

The encoder layers become part of the caller's functional model (not a nested
sub-model), so stages can be frozen layer by layer and features picked by name.
Pretrained weights are read into a 3-channel reference copy of the backbone and
copied over layer by layer; the first convolution is adapted when the input has a
channel count other than 3 (``zoo.models.backbones.adapt_first_kernel``).

Where the Keras model has to change (in-graph preprocessing left out, ``BackboneSpec.graph_start``;
the last stages dilated for ``output_stride`` 8 or 16; grouped depthwise convolutions as
``DepthwiseConv2D``, ``BackboneSpec.grouped_depthwise``; on TensorFlow, BatchNormalization as
``zoo.models.layers.FusedBatchNormalization``, one kernel per training step), it is built once and cloned onto the input
with ``keras.models.clone_model``, each layer rebuilt from its (changed) config: the same layers and
names, so the same weights load.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np

from zoo.models import hub_backbones
from zoo.models import weights as weights_store
from zoo.models.backbones import BACKBONES, OUTPUT_REF, BackboneSpec, adapt_first_kernel, get_backbone, layer_strides
from zoo.models.layers import InputSizeCheck, PadToMultiple, fused_copy


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
        padded: the input is padded to a multiple of the backbone's stride (``zoo.models.layers.PadToMultiple``:
            its size is unknown or not such a multiple); the builder crops its outputs back
            (``zoo.models.assembly.finish``).
    """

    inputs: keras.KerasTensor
    spec: BackboneSpec
    features: dict[int, keras.KerasTensor]
    fcn_features: dict[int, keras.KerasTensor]
    top_weights: dict[str, list[np.ndarray]]
    weights_source: Path | None
    output_stride: int = 32
    padded: bool = False


OUTPUT_STRIDES = (8, 16, 32)


def validate_input_shape(input_shape, spec: BackboneSpec, what: str) -> tuple:
    """Checks ``(height, width, channels)``; returns it as a tuple.

    Raises ValueError for a wrong length, a bad channel count or a size below 1. Any height and width work:
    those that are not multiples of the backbone's total stride are padded to one inside the model
    (``build_encoder``).
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
    return (height, width, int(channels))


LEGACY, KERAS3 = "legacy", "keras3"


@dataclasses.dataclass(frozen=True)
class WeightsFileContents:
    """What a Keras weights file holds, read without loading it into a model.

    Attributes:
        path: the file.
        format: ``"legacy"`` (Keras 2 HDF5, the format of the ``keras.applications`` downloads: layers by name)
            or ``"keras3"`` (``model.save_weights("x.weights.h5")``: layers by class-named entry keys,
            ``keras3_entry_keys``).
        layers: legacy: the layer names the file lists; keras3: the entry keys under ``layers/`` that hold
            weights (``conv2d``, ``dense_1``, ...).
        names: keras3: entry key -> the layer name Keras stored with it (recent Keras 3 versions store it as
            the ``name`` attribute of the entry's ``vars`` group; empty for files of older versions).
        shapes: keras3: entry key -> the shapes of the entry's own variables, in order (``vars/0``, ``vars/1``, ...).
        nested: keras3: the entries that hold layers of their own (a nested model, ConvNeXt's stem).
    """

    path: Path
    format: str
    layers: tuple[str, ...]
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    shapes: dict[str, list[tuple[int, ...]]] = dataclasses.field(default_factory=dict)
    nested: frozenset[str] = frozenset()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_weights_file(path: str | os.PathLike) -> WeightsFileContents:
    """Reads which layers a Keras weights file holds (legacy ``.h5`` or Keras 3 ``.weights.h5``, whatever its
    file name ends with).

    Raises:
        ValueError: one line: the file is not HDF5, or an HDF5 file that holds no Keras weights.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is a zip archive (a whole .keras model?), not a weights file; save its weights with "
            "model.save_weights('x.weights.h5') and pass that file"
        )
    try:
        with h5py.File(path, "r") as handle:
            return _contents(path, handle)
    except OSError as err:
        raise ValueError(
            f"{path} is not a readable HDF5 weights file ({str(err).splitlines()[0]}); pass a Keras .h5 or "
            ".weights.h5 file"
        ) from err


def _contents(path: Path, handle: h5py.File) -> WeightsFileContents:
    group = handle["model_weights"] if "layer_names" not in handle.attrs and "model_weights" in handle else handle
    if "layer_names" in group.attrs:
        return WeightsFileContents(path, LEGACY, tuple(_text(n) for n in group.attrs["layer_names"]))
    layers = handle.get("layers", handle.get("_layer_checkpoint_dependencies"))
    if not isinstance(layers, h5py.Group):
        found = ", ".join(list(handle.keys())[:5]) or "nothing"
        raise ValueError(
            f"{path} is an HDF5 file but not Keras weights: it has neither the layer_names of a Keras 2 .h5 file "
            f"nor the layers group of a Keras 3 .weights.h5 file (it holds {found}); pass a file written by "
            "model.save_weights"
        )
    keys, names, shapes, nested = [], {}, {}, set()
    for key, entry in layers.items():
        datasets: list[str] = []
        entry.visititems(
            lambda name, item, found=datasets: found.append(name) if isinstance(item, h5py.Dataset) else None
        )
        if not datasets:
            continue  # a layer without weights (recent Keras 3 writes an empty entry for every layer)
        keys.append(key)
        own = entry.get("vars")
        if isinstance(own, h5py.Group):
            if "name" in own.attrs:
                names[key] = _text(own.attrs["name"])
            shapes[key] = [tuple(own[str(i)].shape) for i in range(len(own)) if str(i) in own]
        if "layers" in entry:
            nested.add(key)
    return WeightsFileContents(path, KERAS3, tuple(keys), names, shapes, frozenset(nested))


def _snake_case(name: str) -> str:
    """A class name as Keras 3 writes it in a ``.weights.h5`` entry key (``keras.src.utils.naming.to_snake_case``:
    ``Conv2D`` -> ``conv2d``, ``BatchNormalization`` -> ``batch_normalization``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_entry_keys(model: keras.Model) -> dict[str, str]:
    """Entry key -> layer name for the layers of a functional ``model``, as Keras 3 keys them under
    ``layers/`` in a ``.weights.h5`` file.

    Keras 3 (``keras.src.saving.saving_lib._save_container_state``) does not key a layer by its name (names
    are often generated) but by its class name in snake case, numbered in the order of ``model.layers``
    (``conv2d``, ``conv2d_1``, ...: VGG16's ``fc1``, ``fc2``, ``predictions`` are ``dense``, ``dense_1``,
    ``dense_2``), and loads by that structure: a file fits a model whose layers give the same keys.
    """
    used: dict[str, int] = {}
    keys = {}
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        keys[f"{base}_{used[base]}" if used[base] else base] = layer.name
    return keys


def _weighted_keys(model: keras.Model) -> dict[str, str]:
    """``keras3_entry_keys`` of the layers that have weights."""
    return {key: name for key, name in keras3_entry_keys(model).items() if model.get_layer(name).weights}


def _reference(spec: BackboneSpec, has_top: bool, keras_defaults: bool = False) -> keras.Model:
    """``spec``'s Keras model with 3 channels, random weights: with its classifier at 224x224, else any size;
    ``keras_defaults``: without zoo's fixed options (Keras' in-graph preprocessing kept)."""
    shape = (224, 224, 3) if has_top else (None, None, 3)
    constructor = getattr(spec.constructor, "func", spec.constructor) if keras_defaults else spec.constructor
    return constructor(include_top=has_top, weights=None, input_shape=shape)


def _constructor_name(spec: BackboneSpec) -> str:
    """``keras.applications.VGG16`` for the table's constructors, a plain function's own name otherwise."""
    name = getattr(spec.constructor, "name", None)
    return f"keras.applications.{name}" if name else getattr(spec.constructor, "__name__", "its constructor")


def _has_top(spec: BackboneSpec, names) -> bool:
    return spec.top_marker.lower() in {name.lower() for name in names}  # Logits / logits


def _keras3_reference(spec: BackboneSpec, contents: WeightsFileContents) -> tuple[keras.Model, bool, dict[str, str]]:
    """The reference model whose Keras 3 entry keys are the file's: with or without the classifier (in the order
    the stored layer names suggest where the file has them, else without first), with zoo's constructor options
    or Keras' defaults. Returns (model, has_top, entry key -> layer name); raises a one-line ValueError when none
    fits."""
    named_top = _has_top(spec, contents.names.values())  # the stored names, where the file has them, go first
    tops = [named_top, not named_top] if contents.names else [False, True]
    variants = [False, True] if getattr(spec.constructor, "options", ()) else [False]  # a plain function: as it is
    wanted = set(contents.layers)
    counts = {}
    for has_top in tops:
        for defaults in variants:
            model = _reference(spec, has_top, defaults)
            keys = _weighted_keys(model)
            if set(keys) == wanted:
                return model, has_top, keys
            counts.setdefault(has_top, len(keys))
            del model
    described = ", ".join(sorted(contents.names.get(key, key) for key in contents.layers)[:3])
    theirs = " or ".join(f"{n} {'with' if top else 'without'} its classifier" for top, n in counts.items())
    raise ValueError(
        f"weights file {contents.path} does not fit backbone {spec.name!r}: it holds {len(wanted)} layers with "
        f"weights ({described}, ...), {_constructor_name(spec)} has {theirs}; pass a weights "
        f"file saved from {spec.name} (model.save_weights of {_constructor_name(spec)}, with or "
        "without top)"
    )


def _check_shapes(spec: BackboneSpec, contents: WeightsFileContents, model: keras.Model, keys: dict[str, str]) -> None:
    """One line naming the first layer whose stored shapes differ from the reference's."""
    for key, name in keys.items():
        if key in contents.nested or key not in contents.shapes:
            continue
        want = [tuple(w.shape) for w in model.get_layer(name).weights]
        found = contents.shapes[key]
        if want != found:
            raise ValueError(
                f"weights file {contents.path} does not fit backbone {spec.name!r}: layer {name} (entry {key}) holds "
                f"shapes {found}, {spec.name} needs {want}; pass a weights file saved from {spec.name}"
            )


def weights_file_layers(path: Path, spec: BackboneSpec | None = None) -> list[str]:
    """Names of the layers with weights stored in a Keras weights file (legacy .h5 or Keras 3 .weights.h5).

    A legacy file lists its layers by name. A Keras 3 file keys them by class (``dense_1``): with ``spec``, the
    names are those of ``spec``'s Keras model whose layers give the same keys (``keras3_entry_keys``), in its
    layer order; without, the names the file stored with them (recent Keras 3), else the keys themselves.
    Raises ValueError (one line) for a file that is no Keras weights file, or (with ``spec``) a Keras 3 file
    that does not fit the backbone.
    """
    contents = read_weights_file(path)
    if contents.format == LEGACY:
        return list(contents.layers)
    if spec is None:
        return [contents.names.get(key, key) for key in contents.layers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, keys = _keras3_reference(spec, contents)
    return list(keys.values())


def _one_line(err: Exception) -> str:
    """Keras' loading error without the variable values it prints, on one line."""
    text = str(err) or type(err).__name__
    for cut in ("Target variable:", " value=["):
        text = text.split(cut)[0]
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def _load_weights(model: keras.Model, contents: WeightsFileContents) -> None:
    """``model.load_weights`` for the file's format whatever its name ends with (Keras picks the reader by the
    suffix: ``.weights.h5`` for Keras 3, ``.h5`` for legacy)."""
    path = contents.path
    name = path.name.lower()
    fits = (
        name.endswith(".weights.h5")
        if contents.format == KERAS3
        else (name.endswith((".h5", ".hdf5")) and not name.endswith(".weights.h5"))
    )
    if fits:
        model.load_weights(str(path))
        return
    with tempfile.TemporaryDirectory(prefix="zoo-weights-") as folder:
        link = Path(folder) / ("file.weights.h5" if contents.format == KERAS3 else "file.h5")
        link.symlink_to(path.resolve())
        model.load_weights(str(link))


def load_pretrained(spec: BackboneSpec, path: Path) -> dict[str, list[np.ndarray]]:
    """Reads a weights file for ``spec`` into a 3-channel reference model.

    The file may be a legacy Keras ``.h5`` (the ImageNet downloads; layers by name) or a Keras 3
    ``.weights.h5`` (``model.save_weights``; layers by class-named keys, mapped back to the layer names by the
    reference model, ``keras3_entry_keys``), with or without the classifier. Keras' per-layer warnings while
    trying a file are silenced: what does not fit is said in the one-line error.

    Returns:
        layer name -> list of weight arrays, for every layer with weights
        (Dense top layers included when the file has them).

    Raises:
        ValueError: one line: the file is no Keras weights file, or does not fit the backbone (both names).
    """
    if hub_backbones.is_hub(spec.name):  # a keras-hub preset folder, read by keras-hub
        return hub_backbones.preset_weights(spec.name, path)
    contents = read_weights_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns per layer and container it cannot match
        if contents.format == KERAS3:
            reference, has_top, keys = _keras3_reference(spec, contents)
            _check_shapes(spec, contents, reference, keys)
        else:
            has_top = _has_top(spec, contents.layers)
            reference = _reference(spec, has_top)
        try:
            _load_weights(reference, contents)
        except Exception as err:  # Keras raises ValueError / KeyError / TypeError here
            raise ValueError(
                f"weights file {path} does not fit backbone {spec.name!r} ({'with' if has_top else 'without'} top): "
                f"{_one_line(err)}"
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
    the with-top file is needed whatever the backbone (its class layer too). A keras-hub backbone's: its preset
    folder (``zoo.models.hub_backbones.preset_directory``, downloaded where needed)."""
    if hub_backbones.is_hub(spec.name):
        return hub_backbones.preset_directory(spec.name, encoder_weights)
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
    grouped convolution with one input channel per group becomes a ``DepthwiseConv2D``; on TensorFlow a
    ``BatchNormalization`` becomes a ``FusedBatchNormalization`` (the same arithmetic in one kernel)."""
    if type(layer) is keras.layers.BatchNormalization and keras.backend.backend() == "tensorflow":
        return fused_copy(layer)
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
    preprocessing, with its last stages dilated, grouped depthwise convolutions as
    ``DepthwiseConv2D`` and, on TensorFlow, its BatchNormalization layers fused (module docstring)."""
    full = spec.constructor(include_top=False, weights=None, input_shape=shape)
    fuse = keras.backend.backend() == "tensorflow" and any(
        type(layer) is keras.layers.BatchNormalization for layer in full.layers
    )
    if not spec.graph_start and output_stride == 32 and not spec.grouped_depthwise and not fuse:
        return spec.constructor(include_top=False, weights=None, input_tensor=x)
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

    Any input size: where the height or width is unknown or not a multiple of the backbone's total stride
    (``spec.divisor``), the input is padded to one by reflection at the bottom and right
    (``zoo.models.layers.PadToMultiple``) and ``padded`` is set: the builder crops its outputs back
    (``zoo.models.assembly.finish``). A fixed multiple gets the identity ``InputSizeCheck`` instead. Either
    first layer records the backbone's name, which ``zoo.models.freezing.model_backbone`` reads back.
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
    padded = any(size is None or size % spec.divisor for size in shape[:2])
    if padded:
        x = PadToMultiple(spec.divisor, backbone=spec.name, name="pad_to_stride")(inputs)
    else:
        x = InputSizeCheck(spec.divisor, what, backbone=spec.name, name="input_size_check")(inputs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*input channels.*")
        net = _build_net(spec, x, tuple(x.shape[1:]), output_stride)

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
        padded=padded,
    )

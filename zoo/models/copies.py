"""Copies of a built network that share its weights: in float32 whatever policy it was trained under, and on
an input of any height and width (a run's network is built at its training size). Keras only."""

from __future__ import annotations

import contextlib

import keras


@contextlib.contextmanager
def global_policy(name: str):
    """Sets Keras' global dtype policy to ``name`` inside the block, restores it after."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def _float32_policies(config):
    """A copy of a Keras config in which every mixed dtype policy is float32 (variables stay as saved)."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            name = config["config"].get("name", "")
            if name.startswith("mixed_"):
                return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: _float32_policies(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_policies(v) for v in config]
    return config


def in_float32(model: keras.Model) -> keras.Model:
    """``model`` itself if it computes in float32, else a float32 copy with the same weights.

    A model trained under a mixed policy (``mixed_bfloat16`` on TPUs and where asked for,
    ``mixed_float16`` on GPUs) keeps float32 variables, so the copy's weights are the trained
    ones exactly. Exports are float32: LiteRT and ONNX do not convert bfloat16 convolutions,
    and 16-bit arithmetic is slow or missing on the CPUs and phones that run them.
    """
    if all(layer.compute_dtype in ("float32", None) for layer in model.layers):
        return model
    with global_policy("float32"):
        copy = model.__class__.from_config(_float32_policies(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def any_size_copy(model: keras.Model) -> keras.Model:
    """``model`` itself if its input takes any height and width, else the same layers (the same variables: the
    export stores them once) called on an input of any height and width (a run's network is built at its
    training size).

    A network built at a multiple of its stride starts with the identity ``InputSizeCheck``: in the copy that
    call becomes a ``PadToMultiple`` (reflection to the next multiple of the same divisor) and the spatial
    outputs are cropped back (``CropToInput``), as a builder does for an input of unknown size
    (docs/builders.md, "Any input size"). A network built at another size pads already."""
    if model.inputs[0].shape[1] is None and model.inputs[0].shape[2] is None:
        return model
    from zoo.models.layers import CropToInput, InputSizeCheck, PadToMultiple

    shape = model.inputs[0].shape
    inputs = keras.Input(shape=(None, None, *shape[3:]), name=model.inputs[0].name, dtype=model.inputs[0].dtype)
    check = next((layer for layer in model.layers if isinstance(layer, InputSizeCheck)), None)
    if check is None:
        return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer)

    def call(layer, *args, **kwargs):
        if layer is check:
            pad = PadToMultiple(check.divisor, backbone=check.backbone, dtype=check.dtype_policy, name="pad_to_stride")
            return pad(*args, **kwargs)
        return layer(*args, **kwargs)

    clone = keras.models.clone_model(
        model, input_tensors=inputs, clone_function=lambda layer: layer, call_function=call
    )

    def crop(tensor, index: int):
        if len(tensor.shape) != 4:  # not a map (SimCC's bins)
            return tensor
        name = "crop_to_input" if index == 0 else f"crop_to_input_{index}"
        return CropToInput(check.divisor, dtype="float32", name=name)([tensor, inputs])

    outputs = [crop(tensor, index) for index, tensor in enumerate(clone.outputs)]
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs, name=model.name)

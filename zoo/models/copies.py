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
    """``model`` itself if its input takes any height and width, else the same layers (the same
    variables: the export stores them once) called on an input of any height and width (a run's
    network is built at its training size)."""
    if model.inputs[0].shape[1] is None and model.inputs[0].shape[2] is None:
        return model
    shape = model.inputs[0].shape
    inputs = keras.Input(shape=(None, None, *shape[3:]), name=model.inputs[0].name, dtype=model.inputs[0].dtype)
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer)

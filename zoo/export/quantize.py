"""Quantized LiteRT exports: ``--quantize float16`` or ``int8``, and the calibration pictures int8 needs.

=========  ==================================================================================================
quantize   what the LiteRT converter does (``tf.lite.TFLiteConverter``, driven through Keras' exporter)
=========  ==================================================================================================
(none)     float32 weights and arithmetic
float16    weights stored as float16 (half the file); CPUs widen them to float32 once at load, GPU delegates
           compute in float16
int8       post-training quantization: weights int8, and activations int8 at the scales measured by running
           the calibration pictures through the serving function (the converter's ``representative_dataset``);
           an op without an int8 kernel stays float, between (de)quantize ops. Inputs and outputs are
           unchanged: uint8 pictures in, the task's float / int32 outputs.
=========  ==================================================================================================

The calibration pictures are the run's own training pictures: a recipe writes a sample of them at the
training size to ``RUN_DIR/calibration.npz`` (``zoo.data.calibration``), and ``zoo export RUN_DIR --format litert
--quantize int8`` reads it. ``--calibration FOLDER`` (image files) takes any other set, for runs written
before that file existed.
"""

from __future__ import annotations

import numpy as np

from zoo.data.calibration import CALIBRATION_FILE, read_calibration, write_calibration  # noqa: F401 - re-exported

QUANTIZE = ("float16", "int8")


def check_quantize(quantize: str | None, fmt: str) -> str | None:
    """``quantize`` itself when ``fmt`` takes it (LiteRT only); ValueError naming the fix otherwise."""
    if quantize in (None, "", "none", "float32"):
        return None
    if quantize not in QUANTIZE:
        raise ValueError(f"--quantize {quantize!r}: choose float16 or int8 (or leave it out for float32)")
    if fmt != "litert":
        raise ValueError(
            f"--quantize {quantize} is for --format litert; a {fmt} export is float32 (drop --quantize, or export "
            "--format litert)"
        )
    return quantize


def converter_settings(quantize: str | None, calibration: np.ndarray | None, info) -> dict:
    """The LiteRT converter's settings (keyword arguments of Keras' ``export(format="litert")``): built-in ops
    only (the file then runs on any LiteRT runtime, phones included, without the Flex delegate), and
    ``quantize``'s (module docstring). ``calibration``: uint8 pictures ``[N, H, W, C]``, needed by int8."""
    import tensorflow as tf

    settings: dict = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize is None:
        return settings
    settings["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        settings["target_spec"]["supported_types"] = [tf.float16]
        return settings
    if calibration is None or len(calibration) == 0:
        raise ValueError(
            "--quantize int8 needs calibration pictures: the run's calibration.npz (recipes write it), or "
            "--calibration FOLDER of the kind of pictures the model will see"
        )
    pictures = np.asarray(calibration)
    if pictures.dtype != np.uint8 or pictures.ndim != 4 or pictures.shape[-1] != info.channels:
        raise ValueError(
            f"calibration pictures must be uint8 [N, H, W, {info.channels}], got {pictures.dtype} "
            f"{list(pictures.shape)}"
        )

    def representative():
        for picture in pictures:
            yield [picture[None]]

    settings["representative_dataset"] = representative
    return settings

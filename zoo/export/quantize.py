"""Quantized LiteRT exports: ``--quantize float16`` or ``int8``, and the calibration pictures int8 needs.

=========  ==================================================================================================
quantize   what the LiteRT converter does (``tf.lite.TFLiteConverter``, driven through Keras' exporter)
=========  ==================================================================================================
(none)     float32 weights and arithmetic
float16    weights stored as float16 (half the file); CPUs widen them to float32 once at load, GPU delegates
           compute in float16
int8       post-training quantization of the network: its weights int8, and its activations int8 at the
           scales measured by running the calibration pictures through the serving function (the converter's
           ``representative_dataset``). The serving function around the network (resize, preprocessing,
           softmax and argmax, heatmap decoding) stays float32 (``int8_network_only``): quantized too, a
           keypoint run's OKS AP fell from 0.204 to 0.052, kept float 0.193 (docs/exports.md). Inputs and
           outputs are unchanged: uint8 pictures in, the task's float / int32 outputs.
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


def int8_network_only(wrapper, network_name: str, settings: dict) -> bytes:
    """The LiteRT file of the serving model ``wrapper`` with its network ``network_name`` quantized to int8 and
    everything around it left float32: the converter's selective quantization (TensorFlow's
    ``QuantizationDebugger`` with the tensors outside the network's name scope deny-listed, their names read
    from a float conversion of the same graph). ``settings``: ``converter_settings(..., "int8")``'s."""
    import re
    import tempfile

    import keras
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved:
        archive = keras.export.ExportArchive()
        archive.track(wrapper)
        archive.add_endpoint(
            "serving_default", lambda images: wrapper(images), input_signature=wrapper.input_signature()
        )
        archive.write_out(saved, verbose=False)

        def converter():
            made = tf.lite.TFLiteConverter.from_saved_model(saved)
            made.target_spec.supported_ops = list(settings["target_spec"]["supported_ops"])
            return made

        floating = tf.lite.Interpreter(model_content=converter().convert())
        inside = re.compile(rf"/{re.escape(network_name)}(_\d+)?/")
        outside = [t["name"] for t in floating.get_tensor_details() if not inside.search(t["name"])]
        del floating
        quantized = converter()
        quantized.optimizations = settings["optimizations"]
        quantized.representative_dataset = settings["representative_dataset"]
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=quantized,
            debug_dataset=settings["representative_dataset"],
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=outside),
        )
        return debugger.get_nondebug_quantized_model()

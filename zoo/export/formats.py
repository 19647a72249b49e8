"""Writing an export in one of four formats, each in its own folder with ``model.json``.

=============  ====================  ==================================================
format         file in the folder    what it holds
=============  ====================  ==================================================
saved_model    (the folder itself)   serving function + weights; ``serving_default``
litert         ``model.tflite``      the same serving function, LiteRT built-in ops only
onnx           ``model.onnx``        the same serving function (tf2onnx, opset 17; weights
                                     in ``model.onnx.data`` beside it above 2 GB)
keras          ``model.keras``       the bare network (preprocessed float input)
=============  ====================  ==================================================

SavedModel is written with Keras' ``ExportArchive``; LiteRT with Keras'
``model.export(format="litert")`` applied to ``zoo.export.serving.ServingModel``
(Keras runs the LiteRT converter); ONNX with tf2onnx, the converter Keras uses, called
with the large weights as graph inputs (``zoo.export.onnx_convert``: Keras' own call
needs about 70x the weights' size in memory). A folder appears complete or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from zoo.data.tta import parse_tta
from zoo.export.card import write_card
from zoo.export.metadata import FILES, FORMATS, describe_io, write_metadata
from zoo.export.onnx_convert import DEFAULT_OPSET
from zoo.export.serving import serving_fn, serving_model
from zoo.models.copies import any_size_copy, global_policy, in_float32
from zoo.tasks.info import ExportInfo


def _write_saved_model(model: keras.Model, info: ExportInfo, folder: Path) -> None:
    archive = keras.export.ExportArchive()
    # No archive.track(model): the endpoint tracks the variables it uses. With Keras 3.15 on
    # TF 2.21, track() (and model.export()) store every weight twice, doubling the folder's size.
    images = [tf.TensorSpec([None, None, None, info.channels], tf.uint8, name="images")]
    archive.add_endpoint(name="serving_default", fn=serving_fn(model, info), input_signature=images)
    # the task's own: segmentation's "native" (the network at the pictures' own scale, for clients that tile),
    # keypoints' "boxes" (one object per box, cropped in the graph)
    for name, (fn, signature) in info.spec.saved_model_signatures(model, info).items():
        archive.add_endpoint(name=name, fn=fn, input_signature=signature)
    archive.write_out(str(folder), verbose=False)


def _write_litert(
    model: keras.Model, info: ExportInfo, folder: Path, quantize: str | None = None, calibration=None
) -> None:
    from zoo.export.quantize import converter_settings, int8_network_only
    from zoo.export.refusals import litert_refusal
    from zoo.utils.startup import native_stderr_to

    wrapper = serving_model(model, info)
    # Built-in ops only: the file then runs on any LiteRT runtime (phones included), no Flex delegate.
    settings = converter_settings(quantize, calibration, info)
    # The converter prints MLIR diagnostics (hundreds of lines on a failure) from C++: kept in a log file,
    # named by the one-line refusal (zoo.export.refusals), deleted when the conversion succeeds.
    handle, log = tempfile.mkstemp(prefix=f"zoo-litert-{info.model}-", suffix=".log")
    os.close(handle)
    try:
        with native_stderr_to(log):
            if quantize == "int8":  # the network alone in int8 (zoo.export.quantize)
                (folder / FILES["litert"]).write_bytes(int8_network_only(wrapper, model.name, settings))
            else:
                wrapper.export(
                    str(folder / FILES["litert"]),
                    format="litert",
                    verbose=False,
                    input_signature=wrapper.input_signature(),
                    **settings,
                )
    except Exception as err:  # noqa: BLE001 - the converter raises its own ConverterError (and others)
        with open(log, "a") as handle:
            handle.write(f"\n{type(err).__name__}: {err}\n")
        raise litert_refusal(
            Path(log).read_text(errors="replace"), model, f"{info.model} on {info.backbone}", log
        ) from None
    os.remove(log)


def _write_onnx(model: keras.Model, info: ExportInfo, folder: Path, opset: int) -> None:
    # Not Keras' model.export(format="onnx"): its tf2onnx call needs about 70x the weights'
    # size in memory (FCN-8s/VGG16 did not fit in 24 GB); see zoo.export.onnx_convert.
    from zoo.export.onnx_convert import convert  # checks the opset before converting

    tta = parse_tta(info.tta)
    if tta is not None and tta.scales != (1.0,):  # views at other sizes: the weights' stand-in must take them
        model = any_size_copy(model)
    what = f"{info.model} on {info.backbone}"
    convert(model, lambda network: serving_fn(network, info), info.channels, folder / FILES["onnx"], opset, what)


def _converter_versions(fmt: str) -> dict:
    from zoo.utils.versions import library_versions

    versions = library_versions()
    if fmt == "onnx":
        import onnx
        import tf2onnx

        versions.update(tf2onnx=tf2onnx.__version__, onnx=onnx.__version__)
    return versions


def with_tta(info: ExportInfo, tta) -> ExportInfo:
    """``info`` with test-time augmentation ``tta`` (``zoo.data.tta``; None: as it is) baked into the serving
    functions, recorded as ``tta`` in ``model.json`` (``Task.with_tta``: keypoint exports take ``flip`` only,
    the flip test). Raises ValueError for a mode the task cannot take."""
    tta = parse_tta(tta)
    return info if tta is None else info.spec.with_tta(info, tta)


def export_model(
    model: keras.Model,
    info: ExportInfo | dict,
    fmt: str,
    out: str | os.PathLike,
    source: dict | None = None,
    opset: int = DEFAULT_OPSET,
    tta: str | None = None,
    metrics: dict | None = None,
    quantize: str | None = None,
    calibration=None,
) -> Path:
    """Writes ``model`` (trained; described by ``info``) as format ``fmt`` into folder ``out``.

    Args:
        model: the trained network, ``[B, H, W, C] float -> [B, h, w, K]``.
        info: what the network is (``zoo.tasks.base.ExportInfo``: a run's, ``ExportInfo.from_run``; or the
            same as a ``model.json``-style dict).
        fmt: one of ``FORMATS``.
        out: the export folder; replaced if it exists.
        source: where the weights came from (stored in ``model.json``).
        opset: ONNX opset version (ONNX only).
        tta: test-time augmentation baked into the export (``zoo.data.tta``: ``"flip"``,
            ``"flip+scales:0.75,1,1.25"``; keypoints ``"flip"`` only), recorded as ``tta`` in
            ``model.json``; None: ``info``'s (a run's own, if any).
        metrics: the validation metrics for the model card (``README.md``, ``zoo.export.card``); None: the
            ``metrics.json`` of ``source``'s run, if any.
        quantize: LiteRT only: ``"float16"`` or ``"int8"`` (``zoo.export.quantize``), recorded as ``quantize`` in
            ``model.json``; None: float32.
        calibration: uint8 pictures ``[N, H, W, C]`` int8 calibrates on (``zoo.export.quantize.read_calibration``).

    Returns:
        ``out`` as a Path. ``out/model.json`` describes the export. The export computes in
        float32 whatever policy ``model`` was trained under (see ``in_float32``).
    """
    from zoo.export.quantize import check_quantize

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {FORMATS}")
    quantize = check_quantize(quantize, fmt)
    info = with_tta(ExportInfo.of(info), tta).replace(quantize=quantize)
    out = Path(out)
    check_replaceable(out)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    from zoo.run.safety import bytes_needed, check_free_space

    # the export is written beside ``out`` and swapped in; the old one goes after: room for a second copy
    check_free_space(out.parent, bytes_needed(model.count_params(), copies=2.2), f"the {fmt} export to {out}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a server running as another user must read it
    try:
        with global_policy("float32"):  # the serving wrapper's own layers too
            model = in_float32(model)
            if fmt == "saved_model":
                _write_saved_model(model, info, tmp)
            elif fmt == "litert":
                _write_litert(model, info, tmp, quantize, calibration)
            elif fmt == "onnx":
                _write_onnx(model, info, tmp, opset)
            else:
                model.save(str(tmp / FILES["keras"]))
        descriptive = {
            **describe_io(info, served=fmt != "keras"),
            "versions": _converter_versions(fmt),
            "source": source or {},
            **({"onnx_opset": int(opset)} if fmt == "onnx" else {}),
        }
        signatures = ("serving_default", *info.spec.extra_signatures) if fmt == "saved_model" else ()
        final = info.replace(format=fmt, file=FILES[fmt], signatures=signatures, descriptive=descriptive)
        write_metadata(tmp, final)
        write_card(tmp, final, source, metrics)  # README.md: the model card (zoo.export.card)
        old = None
        if out.exists():  # moved aside, not deleted first: a crash here leaves one complete folder
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


EXPORT_ENTRIES = {
    "model.json",
    "README.md",
    "saved_model.pb",
    "variables",
    "assets",
    "fingerprint.pb",
    "model.onnx.data",
    *FILES.values(),
}


def check_replaceable(out: Path) -> None:
    """Refuses an ``out`` that is not a new folder, an empty one, or an earlier export.

    An export replaces its folder, so pointing ``--out`` at a run directory, the current
    folder or any folder with other files would delete them.
    """
    out = Path(out)
    resolved = out.resolve()
    if resolved == Path.cwd() or resolved in Path.cwd().parents:
        raise ValueError(
            f"--out {out} is the current folder or one of its parents; give a new folder for "
            "the export, e.g. exports/my-model"
        )
    if out.is_file():
        raise ValueError(f"--out {out} is a file; give a folder path (the export is a folder with model.json)")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in EXPORT_ENTRIES)
        if others:
            raise ValueError(
                f"--out {out} holds files that are not part of an export ({', '.join(others[:5])}"
                f"{' ...' if len(others) > 5 else ''}); an export replaces its folder, so choose "
                "a new or empty folder"
            )

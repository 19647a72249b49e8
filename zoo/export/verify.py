"""An export checked against the Keras network it was written from, and the export matrix.

``verify_export`` runs the same uint8 pictures through the export, loaded in its own runtime
(``zoo.export.load``: TensorFlow for a SavedModel, the LiteRT interpreter, ONNX Runtime), and through the
Keras network with the same serving function, and compares them with the task's tolerance
(``Task.export_agreement``: segmentation masks agree on >= 0.99 of pixels, keypoints within 0.05 px).
Segmentation exports are also compared at the pictures' own scale (``scale="native"``): a SavedModel through
its ``native`` signature, the other formats in tiles of the training size.

``check_cell`` is one cell of the export matrix: a builder on a backbone, built at a small size with random
weights and BatchNorm statistics that are not the identity (a mistake in them shows), written in one format
and verified. ``python -m zoo models --exports`` prints the recorded matrix (``MATRIX_FILE``) and, with
``--verify``, checks cells here.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

MATRIX_FILE = Path(__file__).with_name("export_matrix.json")
MATRIX_FORMATS = ("saved_model", "onnx", "litert")
# one backbone of every keras.applications family: the smallest
FAMILIES = {
    "vgg": "vgg16",
    "resnet": "resnet50",
    "resnet_v2": "resnet50v2",
    "densenet": "densenet121",
    "mobilenet_v2": "mobilenetv2",
    "mobilenet_v3": "mobilenetv3small",
    "efficientnet": "efficientnetb0",
    "efficientnet_v2": "efficientnetv2b0",
    "convnext": "convnexttiny",
}
CELL_SIZE = 32  # pixels: the matrix's input size (square); conversion time hardly depends on it


@dataclasses.dataclass
class Cell:
    """One export checked: ``ok`` and ``why`` (the agreement in words, or the refusal's line)."""

    model: str
    backbone: str
    format: str
    ok: bool
    why: str
    seconds: float = 0.0


def keras_predictor(model, info):
    """A ``zoo.export.Predictor`` that runs the Keras ``model`` through the export's own serving functions (and,
    where ``info`` lists a ``native`` signature, the task's): what every export must answer."""
    import tensorflow as tf

    from zoo.export.runtime import Predictor
    from zoo.export.serving import serving_fn

    images = [tf.TensorSpec([None, None, None, info.channels], tf.uint8)]  # one trace for every size
    serve = tf.function(serving_fn(model, info), input_signature=images, autograph=False)

    def run(images):
        return {k: v.numpy() for k, v in serve(tf.constant(images)).items()}

    if "native" in info.signatures:
        native, _ = info.spec.saved_model_signatures(model, info)["native"]
        native = tf.function(native, input_signature=images, autograph=False)
        run.native = lambda images: {k: v.numpy() for k, v in native(tf.constant(images)).items()}
    return Predictor(path=Path("<keras>"), info=info, run=run)


def verify_export(model, folder, pictures: np.ndarray, large: np.ndarray | None = None) -> tuple[bool, str]:
    """Compares the export in ``folder`` with the Keras ``model`` it was written from.

    Args:
        model: the float32 Keras network.
        folder: the export (``model.json`` beside it).
        pictures: uint8 ``[B, h, w, C]`` (any size).
        large: for exports that answer per pixel: uint8 pictures larger than the training size, run at their
            own scale (``scale="native"``; tiles); None: not compared.

    Returns:
        (agrees, the figures in words).
    """
    from zoo.export.runtime import load

    loaded = load(folder)
    reference = keras_predictor(model, loaded.info)
    ok, said = loaded.info.spec.export_agreement(reference(pictures), loaded(pictures))
    if not ok or large is None or "mask" not in loaded.info.spec.serving_outputs:
        return ok, said
    native_ok, native_said = loaded.info.spec.export_agreement(
        reference(large, scale="native"), loaded(large, scale="native")
    )
    how = "native signature" if "native" in loaded.info.signatures else "tiles"
    return native_ok, f"{said}; at native scale ({how}): {native_said.replace('mask agrees on ', '')}"


def _cell_info(entry, backbone: str, size: int) -> dict:
    common = {"model": entry.name, "backbone": backbone, "input_size": [size, size], "channels": 3}
    if entry.outputs == "num_classes":
        return {**common, "task": "segmentation", "classes": ["background", "a", "b"]}
    keypoints = {
        **common,
        "task": "keypoints",
        # flip test inside, and no keypoint its own mirror image: the flip-averaged heatmap of one (a nose) is
        # symmetric, and a random network's then has its maximum twice, where round-off picks either
        "keypoint_names": ["left_eye", "right_eye", "left_mouth", "right_mouth"],
        "flip_index": [1, 0, 3, 2],
        "flip_test": True,
    }
    if entry.name == "simcc":
        return {
            **keypoints,
            "head": "simcc",
            "simcc_split_ratio": 2.0,
            "sigma": 2.0,
            "decode": "argmax",
            "heatmap_stride": 1,
        }
    return {**keypoints, "heatmap_stride": 4, "sigma": 2.0, "decode": "dark", "codec": "msra"}


def cell_network(model: str, backbone: str, size: int = CELL_SIZE, seed: int = 0):
    """A network of the matrix: ``model`` on ``backbone`` at ``size`` px with random weights (``seed``), its
    BatchNorm statistics moved off the identity; and its ``model.json`` fields."""
    import keras

    from zoo.models.registry import model_entry

    entry = model_entry(model)
    keras.utils.set_random_seed(seed)
    outputs = {entry.outputs: 3 if entry.outputs == "num_classes" else 4}
    network = entry.builder(backbone=backbone, input_shape=(size, size, 3), encoder_weights=None, **outputs)
    rng = np.random.default_rng(seed)
    for layer in network._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0.0, 0.1, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
    return network, _cell_info(entry, backbone, size)


def check_cell(
    model: str, backbone: str, fmt: str, size: int = CELL_SIZE, network=None, workdir: str | Path | None = None
) -> Cell:
    """One cell: ``model`` on ``backbone`` exported as ``fmt`` and verified (``verify_export``) on two pictures
    of another size (square, as the network) and, for segmentation, two larger ones at native scale. ``network``: a ``cell_network``
    pair already built (the formats of one network share it). A refusal (``ExportRefused``) or any error
    is the cell's ``why``."""
    from zoo.export.formats import export_model
    from zoo.export.refusals import ExportRefused

    started = time.perf_counter()
    try:
        network, info = network or cell_network(model, backbone, size)
        rng = np.random.default_rng(1)
        # another size, the training aspect ratio (a letterbox's constant border can give a random network's
        # heatmaps equal maxima, where the keypoint is not defined and round-off moves it)
        pictures = rng.integers(0, 256, (2, size + 11, size + 11, 3), dtype=np.uint8)
        large = rng.integers(0, 256, (1, 2 * size + 5, 2 * size + 19, 3), dtype=np.uint8)
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            folder = export_model(network, info, fmt, Path(tmp) / fmt)
            ok, why = verify_export(network, folder, pictures, large)
    except ExportRefused as err:
        ok, why = False, str(err).split(" (the converter's full output")[0]
    except Exception as err:  # noqa: BLE001 - a cell records any failure as its reason, in one line
        first = next((line for line in str(err).splitlines() if line.strip()), "")
        ok, why = False, f"{type(err).__name__}: {first[:200]}"
    return Cell(model, backbone, fmt, ok, why, round(time.perf_counter() - started, 1))


def check_matrix(
    models, backbones, formats=MATRIX_FORMATS, size: int = CELL_SIZE, log=print, save: str | Path | None = None
) -> list[Cell]:
    """Every cell of ``models`` x ``backbones`` x ``formats`` (one network per model and backbone), logged as it
    is checked; ``save``: written there (``write_matrix``) after each network, so a long check keeps its part."""
    import keras

    cells = []
    for model in models:
        for backbone in backbones:
            try:
                built = cell_network(model, backbone, size)
            except ValueError as err:  # a size or pairing the builder refuses: every format says why
                built = None
                refused = str(err).splitlines()[0][:200]
            for fmt in formats:
                if built is None:
                    cell = Cell(model, backbone, fmt, False, f"not built: {refused}")
                else:
                    cell = check_cell(model, backbone, fmt, size, network=built)
                cells.append(cell)
                log(
                    f"{model:<14} {backbone:<18} {fmt:<12} {'yes' if cell.ok else 'NO ':<4} {cell.seconds:>6.1f} s  {cell.why}"
                )
            keras.backend.clear_session()
            if save is not None:
                write_matrix(cells, save, size)
    return cells


def write_matrix(cells: list[Cell], path: str | Path, size: int = CELL_SIZE) -> Path:
    """The matrix as JSON: the cells, the input size, the library versions and the date."""
    from zoo.utils.io import write_json_atomic
    from zoo.utils.versions import library_versions

    write_json_atomic(
        path,
        {
            "checked": time.strftime("%Y-%m-%d"),
            "input_size": size,
            "versions": library_versions(),
            "cells": [dataclasses.asdict(c) for c in cells],
        },
    )
    return Path(path)


def read_matrix(path: str | Path = MATRIX_FILE) -> dict:
    """The recorded matrix (``write_matrix``'s)."""
    return json.loads(Path(path).read_text())


def matrix_table(record: dict) -> list[str]:
    """The matrix as text lines: a row per model and backbone, a column per format (yes / no), then every
    "no" with its reason."""
    cells = record["cells"]
    formats = [f for f in MATRIX_FORMATS if any(c["format"] == f for c in cells)]
    rows: dict[tuple[str, str], dict] = {}
    for cell in cells:
        rows.setdefault((cell["model"], cell["backbone"]), {})[cell["format"]] = cell
    from zoo.models.registry import MODELS

    models = [e.name for e in MODELS]
    backbones = list(FAMILIES.values())

    def order(key):
        model, backbone = key
        return (
            models.index(model) if model in models else len(models),
            backbones.index(backbone) if backbone in backbones else len(backbones),
            key,
        )

    lines = [(f"{'model':<16} {'backbone':<18} " + " ".join(f"{f:<12}" for f in formats)).rstrip()]
    for model, backbone in sorted(rows, key=order):
        by_format = rows[(model, backbone)]
        marks = [("yes" if by_format[f]["ok"] else "no") if f in by_format else "-" for f in formats]
        lines.append((f"{model:<16} {backbone:<18} " + " ".join(f"{m:<12}" for m in marks)).rstrip())
    failed = [c for c in cells if not c["ok"]]
    done = len(cells) - len(failed)
    lines.append(f"{done} of {len(cells)} exports load in their runtime and agree with Keras")
    lines += [f"no: {c['model']} on {c['backbone']} as {c['format']}: {c['why']}" for c in failed]
    return lines

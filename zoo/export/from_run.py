"""Exporting a finished (or stopped) run directory: rebuild its network, load its weights."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras

from zoo.export.formats import check_replaceable, export_model, with_tta
from zoo.export.metadata import FORMATS, info_from_config
from zoo.tasks.info import ExportInfo


def run_weights(run_dir: Path) -> tuple[Path, str]:
    """The weights a run's export uses: ``best.weights.h5`` if present, else the last phase's.

    Returns (path, label). Raises FileNotFoundError when the run saved no weights.
    """
    checkpoints = Path(run_dir) / "checkpoints"
    best = checkpoints / "best.weights.h5"
    if best.is_file():
        return best, "best"
    phases = sorted(checkpoints.glob("phase*.weights.h5"), key=lambda p: int(p.name[5:].split(".")[0]))
    if phases:
        return phases[-1], phases[-1].name.split(".")[0]
    raise FileNotFoundError(
        f"{checkpoints}: no best.weights.h5 or phase*.weights.h5; the run has not finished "
        "an epoch yet - train it (re-run its command) first"
    )


def load_run(run_dir: str | os.PathLike) -> tuple[keras.Model, ExportInfo, dict]:
    """Rebuilds a run's network from its ``config.json`` (the ``NetworkSpec`` stored as
    ``resolved.network``; runs written before it: from the task's settings) and loads its weights.

    Returns:
        (model, info, source): the trained Keras model, its task description
        (``zoo.export.metadata``) and where the weights came from.
    """
    from zoo.tasks import NetworkSpec, build_network

    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no config.json; give the run directory a recipe wrote (its --out)")
    config = json.loads(config_path.read_text())
    info = info_from_config(config)
    weights, label = run_weights(run_dir)
    stored = config.get("resolved", {}).get("network")
    spec = NetworkSpec.from_json(stored) if stored else info.spec.legacy_network(info)
    model = build_network(spec, encoder_weights=None)
    model.load_weights(str(weights))
    return model, info, {"run": str(run_dir.resolve()), "weights": label}


def default_out(run_dir: str | os.PathLike, fmt: str) -> Path:
    """``RUN_DIR/export`` for a SavedModel (the recipes' export), ``RUN_DIR/export-<format>`` otherwise."""
    return Path(run_dir) / ("export" if fmt == "saved_model" else f"export-{fmt}")


def export_run(run_dir: str | os.PathLike, fmt: str, out: str | os.PathLike | None = None, **kwargs) -> Path:
    """``python -m zoo export``: writes run ``run_dir`` as ``fmt`` to ``out`` (default ``default_out``).

    ``kwargs``: ``export_model``'s (``opset``, ``tta``, ``quantize``, ``metrics``); ``calibration``: where int8
    calibration pictures come from (a folder of image files or an ``.npz``; None: the run's ``calibration.npz``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {FORMATS}")
    out = Path(out) if out else default_out(run_dir, fmt)
    check_replaceable(out)  # before the slow part
    if fmt == "onnx" and "opset" in kwargs:
        from zoo.export.onnx_convert import check_opset

        check_opset(kwargs["opset"])
    from zoo.export.quantize import check_quantize, read_calibration

    quantize = check_quantize(kwargs.get("quantize"), fmt)
    calibration = kwargs.pop("calibration", None)
    if calibration is not None and quantize != "int8":
        raise ValueError("--calibration is for --quantize int8 (float32 and float16 exports need no pictures)")
    model, info, source = load_run(run_dir)
    with_tta(info, kwargs.get("tta"))  # a mode the task cannot take is refused before the slow part
    if quantize == "int8":  # the run's own training pictures (calibration.npz), or the folder given
        calibration = read_calibration(calibration or run_dir, info)
    return export_model(model, info, fmt, out, source=source, calibration=calibration, **kwargs)

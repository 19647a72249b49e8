"""Command line: ``python -m zoo weights list|fetch NAME|import FILE``, ``models``, ``export``, ``predict``,
``report`` and ``sample-data``."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path


def _cmd_weights(args) -> int:
    from zoo.models import weights

    if args.action == "list":
        print(f"store: {weights.store_dir()}   keras cache: {', '.join(map(str, weights.keras_cache_dirs()))}")
        rows = weights.status()
        width = max(len(row["name"]) for row in rows)
        print(f"{'file':<{width}} {'backbone':<18} {'top':<4} {'MB':>6}  state")
        for row in rows:
            where = f" ({row['path']})" if row["path"] else ""
            size = f"{row['bytes'] / 1e6:>6.1f}" if row["bytes"] else f"{'?':>6}"  # ?: not measured here
            print(
                f"{row['name']:<{width}} {row['backbone']:<18} {'yes' if row['include_top'] else 'no':<4} "
                f"{size}  {row['state']}{where}"
            )
        return 0
    if args.action == "fetch":
        names = list(weights.manifest()) if args.target == "all" else [args.target]
        for name in names:
            found, _ = weights.locate(name)
            if found is not None:
                print(f"{name}: already present and verified at {found}")
                continue
            print(f"{name}: saved and verified at {weights.fetch(name)}")
        return 0
    path = weights.import_file(args.target)
    print(f"{args.target}: verified, stored as {path}")
    return 0


def _models_size(text: str) -> tuple[int, int]:
    """``--input-size`` of ``zoo models``: H or HxW, each >= 1 (ValueError naming the value)."""
    try:
        values = [int(v) for v in str(text).lower().split("x")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values or [0]) < 1:
        raise ValueError(f"--input-size must be H or HxW in pixels (e.g. 224 or 75x101), got {text!r}")
    return values[0], values[-1]


def _cmd_exports(args, entries: list, backbones: list) -> int:
    """``zoo models --exports``: the recorded export matrix, or (``--verify``) the cells checked here."""
    from zoo.export.verify import FAMILIES, MATRIX_FILE, check_matrix, matrix_table, read_matrix, write_matrix

    if not args.verify:
        if args.save:
            raise ValueError("--save writes a matrix checked here: add --verify")
        record = read_matrix()
        chosen = {
            "cells": [
                c
                for c in record["cells"]
                if (not args.models or c["model"] in args.models.split(","))
                and (not args.backbones or c["backbone"] in args.backbones.split(","))
            ]
        }
        if not chosen["cells"]:
            raise ValueError(
                f"the record ({MATRIX_FILE.name}) has no cell for those models and backbones; it holds one backbone "
                f"per family ({', '.join(FAMILIES.values())}): check others with --verify"
            )
        versions = record["versions"]
        print(
            f"Export matrix, checked {record['checked']} at {record['input_size']} px with random weights "
            f"(TensorFlow {versions.get('tensorflow')}, Keras {versions.get('keras')}): each export loaded in its own "
            "runtime and compared with the Keras model (masks agree on >= 0.99 of pixels, also at native scale; "
            "keypoints within 0.05 px). `--exports --verify` checks here."
        )
        print("\n".join(matrix_table(chosen)))
        return 0
    models = [e.name for e in entries]
    chosen = backbones if args.backbones else list(FAMILIES.values())
    cells = check_matrix(models, chosen, save=args.save)
    print("\n".join(matrix_table({"cells": [dataclasses.asdict(c) for c in cells]})))
    if args.save:
        print(f"written to {write_matrix(cells, args.save)}")
    return 0 if all(c.ok for c in cells) else 1


def _cmd_models(args) -> int:
    from zoo.models.backbones import BACKBONES
    from zoo.models.registry import MODELS

    height, width = _models_size(args.input_size)
    entries = list(MODELS)
    backbones = list(BACKBONES)
    for flag, chosen, known in (
        ("--models", args.models, [e.name for e in entries]),
        ("--backbones", args.backbones, backbones),
    ):
        unknown = sorted(set((chosen or "").split(",")) - set(known) - {""}) if chosen else []
        if unknown:
            raise ValueError(f"{flag}: unknown {unknown}; choose from {known}")
    if args.models:
        entries = [e for e in entries if e.name in args.models.split(",")]
    if args.backbones:
        backbones = [b for b in backbones if b in args.backbones.split(",")]
    if args.exports or args.verify:
        return _cmd_exports(args, entries, backbones)
    import keras  # the record above needs neither Keras nor TensorFlow
    import numpy as np

    rows = []
    for entry in entries:
        builder = entry.name
        for backbone in backbones:
            outputs = {entry.outputs: 17 if entry.outputs == "num_keypoints" else 21}
            shape = (height, width, 3) if entry.fixed_size or args.fixed else (None, None, 3)
            start = time.perf_counter()
            try:
                model = entry.builder(backbone=backbone, input_shape=shape, encoder_weights=None, **outputs)
                out = model(np.zeros((1, height, width, 3), "float32"), training=False)
                rows.append(
                    (builder, backbone, f"{model.count_params():,}", str(tuple(out.shape)), time.perf_counter() - start)
                )
                del model
            except ValueError as err:  # a size this network cannot take says why (e.g. SimCC's fixed bins)
                rows.append(
                    (builder, backbone, "-", f"refused: {str(err).splitlines()[0][:120]}", time.perf_counter() - start)
                )
            keras.backend.clear_session()  # 429 models: keep memory flat
    how = "built for exactly that size" if args.fixed else "built for any size, called at it"
    print(f"Models at a {height}x{width}x3 input ({how}), random initial weights (encoder_weights=None):")
    print(f"{'model':<16} {'backbone':<18} {'parameters':>12}  {'output shape':<20} {'build s':>7}")
    for builder, backbone, params, shape, built in rows:
        print(f"{builder:<16} {backbone:<18} {params:>12}  {shape:<20} {built:>7.2f}")
    refused = sum(1 for row in rows if row[2] == "-")
    print(
        f"{len(rows) - refused} of {len(rows)} built"
        + (f"; {refused} refused (above, with the reason)" if refused else "")
    )
    return 0


def _unfinished_warning(run_dir: str) -> str | None:
    """A warning when ``run_dir`` is not finished (no metrics.json) or a training process holds it."""
    run = Path(run_dir)
    if not (run / "config.json").is_file() or (run / "metrics.json").is_file():
        return None
    from zoo.run.safety import run_in_use

    busy = " and a training process is working on it now" if run_in_use(run) else ""
    return (
        f"warning: {run_dir} has not finished training (no metrics.json){busy}: the export holds the best "
        "weights saved so far. Finish the run (re-run its command) and export again for the final model."
    )


def _cmd_export(args) -> int:
    from zoo.export import export_run, read_metadata

    warning = _unfinished_warning(args.run_dir)
    if warning:
        print(warning, file=sys.stderr)
    started = time.perf_counter()
    options = {"opset": args.opset} if args.opset is not None else {}
    if args.quantize:
        options["quantize"] = args.quantize
    if args.calibration:
        options["calibration"] = args.calibration
    path = export_run(args.run_dir, args.format, args.out, tta=args.tta, **options)
    info = read_metadata(path)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    what = f"{args.format} ({info.quantize})" if info.quantize else args.format
    print(
        f"{what} export of {args.run_dir} ({info.source.get('weights')} weights) written to {path} "
        f"({size / 1e6:.1f} MB, {time.perf_counter() - started:.0f} s)"
    )
    print(f"  inputs:  {info.descriptive['inputs']}")
    for name, what in info.descriptive["outputs"].items():
        print(f"  output {name}: {what}")
    print(f"run it on images: python -m zoo predict {shlex.quote(str(path))} IMAGE_OR_FOLDER... --out DIR")
    return 0


def _cmd_predict(args) -> int:
    from zoo.predict import predict_files

    summary = predict_files(
        args.export,
        args.inputs,
        args.out,
        batch_size=args.batch_size,
        min_score=args.min_score,
        progress=None if not args.no_progress else False,
        scale=args.scale,
        tile=args.tile,
        overlap=args.overlap,
        tta=args.tta,
        save_probabilities=args.save_probabilities,
        boxes=args.boxes,
        box_category=args.box_category,
        min_box_score=args.min_box_score,
        annotations=args.annotations,
    )
    print(f"{len(summary.written)} image(s) written to {summary.out}; {len(summary.skipped)} skipped")
    for path, reason in summary.skipped.items():
        print(f"  skipped {path}: {reason}", file=sys.stderr)
    return 1 if summary.skipped else 0


def _cmd_report(args) -> int:
    from zoo.run.report import write_report

    path = write_report(args.run_dir)
    print(f"report of {args.run_dir} written to {path} (open it in a browser; it needs no network)")
    return 0


def _cmd_sample_data(args) -> int:
    from zoo.tasks import TASKS, write_sample_folder

    size = None  # the kind's own default
    if args.size is not None:
        try:
            size = tuple(int(v) for v in args.size.lower().split("x"))
        except ValueError:
            size = ()
        if len(size) not in (1, 2):
            raise ValueError(f"--size must be H or HxW in pixels (e.g. 96 or 384x512), got {args.size!r}")
        size = (size[0], size[-1])
    folder = write_sample_folder(
        args.kind,
        args.folder,
        count=args.count,
        channels=args.channels,
        seed=args.seed,
        masks=args.masks,
        **({"size": size} if size else {}),
    )
    task = next(task for task in TASKS.values() if args.kind in task.sample_kinds)
    print(
        f"{args.count} pictures ({args.kind}) written to {folder}; train on them with "
        f"python -m recipes.{task.recipe} --dataset {shlex.quote(task.sample_dataset(args.kind, folder))}"
    )
    return 0


def main(argv: list[str] | None = None, command: bool = False) -> int:
    """``python -m zoo``: returns the exit code (``command``: this process is the command line, which ends
    at once after a full disk, ``zoo.utils.errors.exit_at_once``)."""
    from zoo.data.tiling import PROBABILITY_FORMATS
    from zoo.export.metadata import FORMATS
    from zoo.tasks import TASKS
    from zoo.tasks.segmentation.runtime import SCALES
    from zoo.tasks.segmentation.samples import MASK_ENCODINGS

    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="pretrained weight files: list, fetch, import")
    wsub = w.add_subparsers(dest="action", required=True)
    wsub.add_parser("list", help="each manifest file, where it is and whether it is verified")
    fetch = wsub.add_parser("fetch", help="download a manifest file (or 'all') into the store")
    fetch.add_argument("target", metavar="NAME", help="file name from `weights list`, or 'all'")
    imp = wsub.add_parser("import", help="verify a file obtained elsewhere and copy it into the store")
    imp.add_argument("target", metavar="FILE")
    m = sub.add_parser("models", help="build every model and print a table (parameters, output shape)")
    m.add_argument(
        "--input-size",
        default="224",
        help="input size in pixels, H or HxW (default 224); any size works: the networks pad to their stride inside",
    )
    m.add_argument(
        "--fixed",
        action="store_true",
        help="build each network for exactly that size (default: for any size, then called at it)",
    )
    m.add_argument("--models", help="only these builders, comma-separated (default: all)")
    m.add_argument(
        "--exports",
        action="store_true",
        help="print the export matrix instead: which builder on which backbone family exports to SavedModel, ONNX "
        "and LiteRT and agrees with Keras (yes / no and why), as recorded with this version",
    )
    m.add_argument(
        "--verify",
        action="store_true",
        help="with --exports: check the cells here instead of printing the record (--models, --backbones; default "
        "every builder on one backbone per family: about 90 minutes on 2 CPU cores)",
    )
    m.add_argument("--save", metavar="FILE", help="with --exports --verify: write the checked matrix as JSON")
    m.add_argument("--backbones", help="only these backbones, comma-separated (default: all)")
    e = sub.add_parser("export", help="write a trained run as SavedModel, LiteRT, ONNX or .keras (with model.json)")
    e.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by recipes.segment or recipes.pose")
    e.add_argument(
        "--format",
        default="saved_model",
        choices=FORMATS,
        help="saved_model (TensorFlow, TF Serving), litert (.tflite, phones), onnx (ONNX Runtime), "
        "keras (the bare network) (default saved_model)",
    )
    e.add_argument("--out", help="export folder (default RUN_DIR/export for saved_model, else RUN_DIR/export-FORMAT)")
    e.add_argument("--opset", type=int, help="ONNX opset version, 11 to 18 with tf2onnx 1.17 (default 17)")
    e.add_argument(
        "--tta",
        metavar="MODE",
        help="bake test-time augmentation into the export (recorded in model.json): segmentation flip, "
        "scales:0.75,1,1.25 or flip+scales:...; keypoints flip (each view costs a network run)",
    )
    e.add_argument(
        "--quantize",
        choices=("float16", "int8"),
        help="LiteRT only: float16 weights (half the file) or int8 post-training quantization calibrated on the "
        "run's training pictures (RUN_DIR/calibration.npz); recorded in model.json (docs/exports.md, Quantized LiteRT)",
    )
    e.add_argument(
        "--calibration",
        metavar="FOLDER",
        help="int8: image files to calibrate on instead of RUN_DIR/calibration.npz (runs written before it)",
    )
    p = sub.add_parser("predict", help="run an export on image files or folders; write masks/overlays or keypoints")
    p.add_argument("export", metavar="EXPORT_PATH", help="an export folder (or its model file) with model.json")
    p.add_argument("inputs", metavar="IMAGE_OR_FOLDER", nargs="+", help="image files and folders (recursive)")
    p.add_argument("--out", required=True, help="folder for the results (created)")
    p.add_argument(
        "--batch-size", dest="batch_size", type=int, default=8, help="images read and run at a time (default 8)"
    )
    p.add_argument(
        "--min-score",
        dest="min_score",
        type=float,
        default=0.1,
        help="keypoints scored below this are drawn hollow (default 0.1)",
    )
    p.add_argument(
        "--no-progress",
        dest="no_progress",
        action="store_true",
        help="no progress bar (terminal), no progress lines every 10 s (log or pipe)",
    )
    p.add_argument(
        "--scale",
        choices=SCALES,
        help="segmentation: resize (each picture resized to the training size, as the SavedModel's "
        "serving_default) or native (the picture at its own pixel scale, in overlapping tiles "
        "(--tile), blended; memory bounded by a row of tiles) (default: model.json's "
        "scale, else resize)",
    )
    p.add_argument(
        "--tile",
        type=int,
        help="native: tile side in pixels (default: a SavedModel, whose 'native' signature takes any size: "
        "the training size raised to at least 512 and rounded up to a multiple of 32, for speed; other formats: "
        "the training size, the only one they run; a tile larger than the picture is capped at it)",
    )
    p.add_argument(
        "--overlap",
        type=float,
        default=0.25,
        help="native: share of a tile (below 1) or pixels that neighbouring tiles overlap (default 0.25)",
    )
    p.add_argument(
        "--tta",
        metavar="MODE",
        help="segmentation test-time augmentation, probabilities averaged over views: flip (and the "
        "mirrored picture), scales:0.75,1,1.25 (resized by each factor), flip+scales:0.75,1,1.25 "
        "(cost: one network run per view)",
    )
    p.add_argument(
        "--save-probabilities",
        dest="save_probabilities",
        choices=PROBABILITY_FORMATS,
        help="segmentation: also write <name>_probabilities.npy [h, w, K] (uint8: round(255 p); float16; float32)",
    )
    p.add_argument(
        "--boxes",
        metavar="JSON",
        help="keypoints: boxes to look at, one object each (COCO detection results: image_id or file_name, "
        "bbox [x, y, w, h], score; or a COCO annotation file), as a model trained with --region box "
        "needs; keypoints.json then holds one result per box in the pictures' pixels",
    )
    p.add_argument(
        "--box-category",
        dest="box_category",
        metavar="NAME|ID",
        help="keypoints: only the boxes of this category (e.g. person, or 1); default: every box in the file",
    )
    p.add_argument(
        "--min-box-score",
        dest="min_box_score",
        type=float,
        default=0.0,
        help="keypoints: only the boxes scored at least this (detector results; default 0: all)",
    )
    p.add_argument(
        "--annotations",
        metavar="JSON",
        help="keypoints: the COCO annotation file whose images give --boxes' image_id their file names",
    )
    r = sub.add_parser(
        "report", help="rebuild RUN_DIR/report.html: metrics, curves, samples, data, settings, timings and export"
    )
    r.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by recipes.segment or recipes.pose")
    d = sub.add_parser("sample-data", help="write a built-in synthetic set as a folder dataset (a template for yours)")
    kinds = {kind: what for task in TASKS.values() for kind, what in task.sample_kinds.items()}
    d.add_argument(
        "kind",
        choices=tuple(kinds),
        help="; ".join(f"{kind}: {what}" for kind, what in kinds.items()).replace("%", "%%"),
    )
    d.add_argument("folder", metavar="DIR")
    d.add_argument("--count", type=int, default=40, help="pictures (default 40)")
    d.add_argument("--size", help="H or HxW in pixels (default 96; scenes 384)")
    d.add_argument("--channels", type=int, default=3, choices=(1, 3), help="3 = RGB, 1 = grayscale (default 3)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument(
        "--masks",
        default="index",
        choices=tuple(MASK_ENCODINGS),
        help="how segmentation masks are written, as users' masks come: "
        + "; ".join(f"{k}: {v}" for k, v in MASK_ENCODINGS.items())
        + " (default index)",
    )
    for sub_parser in (m, e, p, r, d, *wsub.choices.values()):
        sub_parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    commands = {
        "weights": _cmd_weights,
        "models": _cmd_models,
        "export": _cmd_export,
        "predict": _cmd_predict,
        "report": _cmd_report,
        "sample-data": _cmd_sample_data,
    }
    from zoo.models.weights import WeightsUnavailableError
    from zoo.utils.errors import EXPECTED, exit_at_once, is_disk_full, report

    try:
        return commands[args.command](args)
    except Exception as err:
        if not report(err, getattr(args, "debug", False), (*EXPECTED, WeightsUnavailableError)):
            raise
        if command and is_disk_full(err):
            exit_at_once(2)
        return 2


if __name__ == "__main__":
    from zoo.utils.startup import quiet_startup

    quiet_startup(debug="--debug" in sys.argv[1:])  # TensorFlow, if a command needs it, starts quietly
    sys.exit(main(command=True))

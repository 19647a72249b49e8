"""Export sizes, export cost and per-image latency of every format, measured side by side
(figures: docs/performance.md, "Export formats side by side").

    python -m benchmarks.exports [RUN_DIR] [--model unet:vgg16] [--input-size 128]
        [--image-size 256] [--repeats 20] [--out bench_exports.json]

Exports one model (a run directory's, or with ``--model`` a fresh one with random
weights: latency and size do not depend on the weights' values) as SavedModel,
LiteRT (also quantized: ``--formats ...,litert:float16,litert:int8``), ONNX and
``.keras``. Each export runs in a process of its own, so that its time and peak memory
(the child's maximum resident set, and how much of it came after the model was built)
are its own. Then one process loads every export with its
runtime (``zoo.export.load``: TF, the LiteRT interpreter, ONNX Runtime, Keras + the
serving function) and times one uint8 image of ``--image-size`` per call, the whole
serving job included (resize, preprocessing, network, softmax/argmax or decoding,
resize back). After two warm-up calls per format the formats take turns, call by
call, ``--repeats`` times, so machine noise hits all of them alike; the table gives
the median and the best call. Sizes are the bytes of the export folder without
``model.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.exports",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", nargs="?", help="a run directory to export (default: a fresh --model)")
    p.add_argument("--model", default="unet:vgg16", help="MODEL:BACKBONE when no RUN_DIR is given")
    p.add_argument("--input-size", type=int, default=128, help="training size of the fresh model (square)")
    p.add_argument("--image-size", type=int, default=256, help="side of the square test image")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per format (interleaved)")
    p.add_argument(
        "--formats",
        default="saved_model,litert,onnx,keras",
        help="comma-separated; LiteRT quantized: litert:float16, litert:int8 (int8 calibrates on the run's "
        "calibration.npz, or on random pictures for a fresh --model: size and speed do not depend on them)",
    )
    p.add_argument("--out", default="bench_exports.json")
    p.add_argument("--export-one", nargs=2, metavar=("FORMAT", "FOLDER"), help=argparse.SUPPRESS)
    return p


def _fresh(spec: str, size: int):
    """A fresh network of ``MODEL:BACKBONE`` (random weights) and its model.json fields, from its recipe's
    parts on the recipe's synthetic set (``benchmarks.train.Subject``: 4 classes, or 5 keypoints)."""
    import keras

    from benchmarks.train import Subject

    keras.utils.set_random_seed(0)
    subject = Subject(spec if ":" in spec else f"{spec}:vgg16", size, 1)
    return subject.build(), subject.info(), {"fresh": spec}


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != "model.json")


def _peak_gb() -> float:
    """This process's peak resident memory so far, in GB (10^9 bytes; Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9  # Linux: KiB


def _export_one(args) -> int:
    """Child process: build or load the model, export one format, print one JSON line."""
    from zoo.export import export_model, load_run

    fmt, folder = args.export_one
    fmt, _, quantize = fmt.partition(":")  # litert:float16, litert:int8
    model, info, source = load_run(args.run_dir) if args.run_dir else _fresh(args.model, args.input_size)
    calibration = None
    if quantize == "int8":  # the run's own pictures; random ones for a fresh model (size and speed only)
        from zoo.export.quantize import read_calibration

        if args.run_dir:
            calibration = read_calibration(args.run_dir, info)
        else:
            import numpy as np

            size = (16, *info.input_size, info.channels)
            calibration = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)
    before = _peak_gb()
    started = time.perf_counter()
    export_model(model, info, fmt, folder, source=source, quantize=quantize or None, calibration=calibration)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "export_seconds": round(seconds, 1),
                "peak_gb": round(_peak_gb(), 2),
                "peak_gb_model_built": round(before, 2),
            }
        )
    )
    return 0


def _export_in_child(args, fmt: str, folder: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "benchmarks.exports",
        *([args.run_dir] if args.run_dir else []),
        "--model",
        args.model,
        "--input-size",
        str(args.input_size),
        "--export-one",
        fmt,
        str(folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"exporting {fmt} failed (exit code {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.export_one:
        return _export_one(args)
    import numpy as np

    from zoo.export import load, read_metadata
    from zoo.utils.versions import library_versions

    formats = [f for f in args.formats.split(",") if f]
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        predictors = {}
        for fmt in formats:
            folder = Path(scratch) / fmt.replace(":", "-")
            rows[fmt] = _export_in_child(args, fmt, folder)
            rows[fmt]["megabytes"] = round(_folder_bytes(folder) / 1e6, 2)
            predictors[fmt] = load(folder)
            print(
                f"exported {fmt}: {rows[fmt]['megabytes']} MB in {rows[fmt]['export_seconds']} s, peak memory "
                f"{rows[fmt]['peak_gb']} GB ({rows[fmt]['peak_gb_model_built']} GB with the model built)",
                flush=True,
            )
        info = read_metadata(Path(scratch) / formats[0].replace(":", "-"))
        image = np.random.default_rng(0).integers(
            0, 256, (1, args.image_size, args.image_size, info.channels), dtype=np.uint8
        )
        for predictor in predictors.values():
            predictor(image), predictor(image)
        times = {fmt: [] for fmt in formats}
        for _ in range(args.repeats):
            for fmt, predictor in predictors.items():
                start = time.perf_counter()
                predictor(image)
                times[fmt].append(time.perf_counter() - start)
    base = statistics.median(times[formats[0]])
    for fmt in formats:
        median = statistics.median(times[fmt])
        rows[fmt].update(
            median_ms=round(median * 1e3, 1),
            best_ms=round(min(times[fmt]) * 1e3, 1),
            median_vs_first=round(median / base, 2),
        )
    result = {
        "model": info.model,
        "backbone": info.backbone,
        "task": info.task,
        "input_size": list(info.input_size),
        "image_size": args.image_size,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "versions": library_versions(),
        "formats": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n{info.model}:{info.backbone} trained at {list(info.input_size)}, one {args.image_size}x"
        f"{args.image_size} uint8 image per call, {args.repeats} interleaved calls per format"
    )
    print(
        f"{'format':<12} {'MB':>8} {'export s':>9} {'export peak GB':>15} {'median ms':>10} {'best ms':>8} "
        f"{'vs ' + formats[0]:>16}"
    )
    for fmt, row in rows.items():
        print(
            f"{fmt:<12} {row['megabytes']:>8.1f} {row['export_seconds']:>9.1f} {row['peak_gb']:>15.2f} "
            f"{row['median_ms']:>10.1f} {row['best_ms']:>8.1f} {row['median_vs_first']:>16.2f}"
        )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Decoder heads on large scenes: networks trained on crops of ``synthetic:scenes`` at one budget, scored on held-out
scenes of another size at their own scale (figures: docs/performance.md, "Heads on scenes").

    python -m benchmarks.heads --models unet:resnet50,upernet:convnexttiny,segformer:convnexttiny --seeds 0,1

Each run is ``recipes.segment`` on ``synthetic:scenes`` (256x256 scenes of many 6-14 px shapes, 3 classes plus
background) with 64 px training crops and scale jitter 0.8-1.25, from random weights (``--encoder-weights none``,
so every machine measures the same thing), ``all:E@1e-3``, 30 steps of 8 crops an epoch. Scores: the validation
split's mIoU (the run's ``metrics.json``, in tiles), and the mIoU of the export's native prediction on 3 held-out
scenes of 300x420 (another seed and size) with the default tile (the whole scene: the network pads to its stride
inside) and with 64 px tiles (the training size). Training seconds are the run's wall time (recipe, evaluation and
export included), measured one after another on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def run(model: str, backbone: str, seed: int, out: Path, args) -> dict:
    """One recipe run; returns its metrics.json."""
    from recipes import segment

    argv = [
        "--dataset",
        "synthetic:scenes",
        "--train-crop",
        "--scale-jitter",
        "0.8,1.25",
        "--input-size",
        str(args.size),
        "--synthetic-count",
        str(args.count),
        "--model",
        model,
        "--backbone",
        backbone,
        "--encoder-weights",
        "none",
        "--schedule",
        f"all:{args.epochs}@{args.lr}",
        "--steps-per-epoch",
        str(args.steps),
        "--batch-size",
        "8",
        "--seed",
        str(seed),
        "--mixed-precision",
        args.precision,
        "--out",
        str(out),
        "--verbose",
        "0",
    ]
    if segment.main(argv) != 0:
        raise RuntimeError(f"the recipe failed: {argv}")
    return json.loads((out / "metrics.json").read_text())


def held_out_scores(export: Path, size: int) -> dict:
    """Native mIoU on 3 held-out 300x420 scenes: the default tile and tiles of the training size."""
    from zoo.export import load
    from zoo.tasks.segmentation.losses import iou_report
    from zoo.tasks.segmentation.synthetic import SHAPES_CLASSES, make_scenes

    images, masks = make_scenes(3, 300, 420, seed=99)
    classes = len(SHAPES_CLASSES)

    def miou(found):
        confusion = np.bincount(masks[..., 0].ravel() * classes + found.ravel(), minlength=classes**2)
        return iou_report(confusion.reshape(classes, classes), list(SHAPES_CLASSES))["mean_iou"]

    predictor = load(export)
    return {
        "native_default_tile": round(miou(predictor(images, probabilities=None)["mask"]), 4),
        f"native_tile_{size}": round(miou(predictor(images, tile=size, probabilities=None)["mask"]), 4),
    }


def parameters(model: str, backbone: str, size: int) -> int:
    """The network's parameter count (4 classes: the scenes' background and 3 shapes)."""
    import zoo

    return zoo.build(
        model, backbone=backbone, num_classes=4, input_shape=(size, size, 3), encoder_weights=None
    ).count_params()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.heads", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", default="unet:resnet50,upernet:convnexttiny,segformer:convnexttiny")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--steps", type=int, default=30, help="steps of 8 crops per epoch")
    p.add_argument("--lr", default="1e-3")
    p.add_argument("--count", type=int, default=256, help="synthetic scenes (10%% for validation)")
    p.add_argument("--size", type=int, default=64, help="training crop side, pixels")
    p.add_argument("--precision", default="off", help="--mixed-precision of the runs (default off: float32)")
    p.add_argument("--keep", action="store_true", help="keep the rows already in --out, run only the missing ones")
    p.add_argument("--out", default="bench_heads.json")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pairs = [tuple(m.split(":", 1)) for m in args.models.split(",") if m]
    seeds = [int(s) for s in args.seeds.split(",")]
    from benchmarks.train import _device

    results = {"cpu": _device(), "settings": vars(args), "rows": []}
    if args.keep and Path(args.out).exists():
        results["rows"] = json.loads(Path(args.out).read_text())["rows"]
    done = {(r["model"], r["backbone"], r["seed"]) for r in results["rows"]}
    with tempfile.TemporaryDirectory(prefix="bench-heads-") as tmp:
        for seed in seeds:
            for model, backbone in pairs:
                if (model, backbone, seed) in done:
                    continue
                out = Path(tmp) / f"{model}-{backbone}-{seed}"
                t0 = time.time()
                metrics = run(model, backbone, seed, out, args)
                seconds = time.time() - t0
                row = {
                    "model": model,
                    "backbone": backbone,
                    "seed": seed,
                    "parameters": parameters(model, backbone, args.size),
                    "validation_miou": round(metrics["mean_iou"], 4),
                    **held_out_scores(out / "export", args.size),
                    "seconds": round(seconds, 1),
                }
                results["rows"].append(row)
                print(json.dumps(row), flush=True)
                Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    return 0


def table(results: dict) -> str:
    """Mean [min-max] over seeds per network: validation, held-out native (default tile, training-size tiles)."""
    groups: dict[str, list[dict]] = {}
    for row in results["rows"]:
        groups.setdefault(f"{row['model']}:{row['backbone']}", []).append(row)
    size = results["settings"]["size"]
    keys = ("validation_miou", "native_default_tile", f"native_tile_{size}")
    lines = [
        f"synthetic:scenes, {results['settings']['epochs']} epochs x {results['settings']['steps']} steps, "
        f"mean over seeds [min-max]; {results['cpu']}",
        "| network | seeds | validation mIoU | held-out native, default tile | held-out native, "
        f"{size} px tiles | seconds a run |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in groups.items():
        cells = []
        for key in keys:
            values = [r[key] for r in rows]
            cells.append(f"{statistics.mean(values):.3f} [{min(values):.3f}-{max(values):.3f}]")
        seconds = statistics.mean(r["seconds"] for r in rows)
        lines.append(f"| {name} | {len(rows)} | {' | '.join(cells)} | {seconds:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""Rare classes: the settings ``check`` recommends against the defaults on ``synthetic:rare`` at the demo's budget
(figures: docs/performance.md, "Rare classes").

    python -m benchmarks.rare --settings default,lovasz,ohem --seeds 0,1,2 --out bench_rare.json

``synthetic:rare`` is the shapes set with its triangles at about half size: about 1% of the pixels, in about half
the pictures. Each run is ``recipes.segment`` with the demo's budget (U-Net on VGG16, 1000 pictures at 64x64,
batch 8, 6 epochs; from random weights, ``--encoder-weights none``, so every machine measures the same thing) and
the settings named; the score is the validation split's per-class IoU from the run's ``metrics.json``
(the model the run keeps).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# name -> flags over the recipe's defaults ("{epochs}" is replaced by the budget)
SETTINGS = {
    "default": [],
    "lr-1e-3": ["--schedule", "all:{epochs}@1e-3"],
    "lr-3e-4": ["--schedule", "all:{epochs}@3e-4"],
    "ohem-lr-1e-3": ["--loss", "ohem", "--schedule", "all:{epochs}@1e-3"],
    "lovasz-lr-1e-3": ["--loss", "ce+lovasz", "--schedule", "all:{epochs}@1e-3"],
    "auto": ["--class-weights", "auto"],
    "ohem": ["--loss", "ohem"],
    "ohem+auto": ["--loss", "ohem", "--class-weights", "auto"],
    "ce+dice": ["--loss", "ce+dice"],
    "lovasz": ["--loss", "ce+lovasz"],
    "repeat": ["--repeat-rare", "0.6"],
}
RARE = "triangle"


def run(flags: list[str], seed: int, out: Path, args) -> dict:
    """One recipe run; returns its metrics.json."""
    from benchmarks.learning import with_budget
    from recipes import segment

    argv = [
        "--dataset",
        "synthetic:rare",
        "--model",
        args.model,
        "--backbone",
        args.backbone,
        "--encoder-weights",
        "none",
        "--input-size",
        str(args.size),
        "--synthetic-count",
        str(args.count),
        "--batch-size",
        "8",
        "--epochs",
        str(args.epochs),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--verbose",
        "0",
        "--mixed-precision",
        args.precision,
        *with_budget(flags, args.epochs),
    ]
    if segment.main(argv) != 0:
        raise RuntimeError(f"the recipe failed: {argv}")
    return json.loads((out / "metrics.json").read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.rare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--settings", default="default,ohem", help=f"comma-separated, from {sorted(SETTINGS)}")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=6, help="the demo's budget: 6")
    p.add_argument("--count", type=int, default=1000, help="pictures (the demo's 1000, 10%% for validation)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--model", default="unet")
    p.add_argument("--backbone", default="vgg16")
    p.add_argument("--precision", default="off", help="--mixed-precision of the runs (default off: float32)")
    p.add_argument("--keep", action="store_true", help="keep the rows already in --out, run only the missing ones")
    p.add_argument("--out", default="bench_rare.json")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    names = [s for s in args.settings.split(",") if s]
    for name in names:
        if name not in SETTINGS:
            raise SystemExit(f"unknown setting {name!r}; choose from {sorted(SETTINGS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    from benchmarks.train import _device

    results = {"cpu": _device(), "settings": vars(args), "rows": []}
    if args.keep and Path(args.out).exists():
        results["rows"] = json.loads(Path(args.out).read_text())["rows"]
    done = {(r["setting"], r["seed"]) for r in results["rows"]}
    with tempfile.TemporaryDirectory(prefix="bench-rare-") as tmp:
        for seed in seeds:
            for name in names:
                if (name, seed) in done:
                    continue
                t0 = time.time()
                metrics = run(SETTINGS[name], seed, Path(tmp) / f"{name}-{seed}", args)
                row = {
                    "setting": name,
                    "seed": seed,
                    "rare_iou": round(metrics["per_class_iou"][RARE], 4),
                    "mean_iou": round(metrics["mean_iou"], 4),
                    "per_class_iou": {k: round(v, 4) for k, v in metrics["per_class_iou"].items()},
                    "seconds": round(time.time() - t0, 1),
                }
                for key in ("per_class_precision", "per_class_recall"):
                    if key in metrics:
                        row[key.replace("per_class_", "rare_")] = round(metrics[key][RARE], 4)
                results["rows"].append(row)
                print(json.dumps(row), flush=True)
                Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    return 0


def table(results: dict) -> str:
    """Mean [min-max] of the rare class's IoU and of the mean IoU per setting."""
    groups: dict[str, list[dict]] = {}
    for row in results["rows"]:
        groups.setdefault(row["setting"], []).append(row)
    lines = [
        f"synthetic:rare, validation split; mean over seeds [min-max]; {results['cpu']}",
        f"{'setting':<10} {'n':>2} {RARE + ' IoU':<22} {'mIoU':<22}",
    ]
    for name, rows in groups.items():
        cells = []
        for key in ("rare_iou", "mean_iou"):
            values = [r[key] for r in rows]
            cells.append(f"{np.mean(values):.3f} [{min(values):.3f}-{max(values):.3f}]")
        lines.append(f"{name:<10} {len(rows):>2} {cells[0]:<22} {cells[1]:<22}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

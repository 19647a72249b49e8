"""Quantized LiteRT against float32 on a run's validation split: the score, the file's size and the latency per
picture of each precision (figures: docs/exports.md, "Quantized LiteRT").

    python -m benchmarks.quantize RUN_DIR [RUN_DIR ...] [--repeats 3] [--out bench_quantize.json]

Each run (a finished ``recipes.segment`` run on ``synthetic:shapes`` or ``recipes.pose`` run on
``synthetic:faces``) is exported as LiteRT three times: float32, ``--quantize float16`` and ``--quantize
int8`` (calibrated on the run's ``calibration.npz``: its own training pictures). Each export is loaded with
``zoo.export.load`` (the LiteRT interpreter) and run on the run's validation pictures, rebuilt from the seed in
its ``config.json``: mean IoU over the classes (segmentation) or COCO OKS AP with the run's sigmas (keypoints).
Latency: one picture per call at the training size, the precisions taking turns call by call, ``--repeats``
rounds over the validation pictures; the median call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.quantize",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished runs on synthetic:shapes or synthetic:faces")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds over the validation pictures")
    p.add_argument("--out", default="bench_quantize.json")
    return p


def validation_split(run: Path):
    """The run's validation pictures and truth, rebuilt from its config.json: (metric, pictures uint8 [N, H, W, C],
    truth: masks [N, H, W] or (keypoints [N, K, 2], visible [N, K], areas [N]), sigmas or None)."""
    config = json.loads((run / "config.json").read_text())
    settings, resolved = config["settings"], config["resolved"]
    size = tuple(resolved["input_size"])
    dataset = settings["dataset"]
    count, seed, share = settings["synthetic_count"], settings["seed"], settings["val_fraction"]
    if dataset == "synthetic:shapes":
        from zoo.tasks.segmentation.sources import synthetic_shapes

        source = synthetic_shapes(count, size, resolved.get("channels", 3), seed, share)
        pairs = list(source.val.as_numpy_iterator())
        pictures = np.stack([p for p, _ in pairs]).astype(np.uint8)
        return "mean IoU", pictures, np.stack([m[..., 0] for _, m in pairs]), None
    if dataset == "synthetic:faces":
        from zoo.tasks.keypoints.sources import synthetic_faces

        source = synthetic_faces(count, size, resolved.get("channels", 3), seed, share)
        examples = list(source.val.as_numpy_iterator())
        pictures = np.stack([e["image"] for e in examples]).astype(np.uint8)
        keypoints = np.stack([e["keypoints"] for e in examples]).astype(np.float32)
        visible = (keypoints[..., 2] > 0) if keypoints.shape[-1] == 3 else np.ones(keypoints.shape[:2], bool)
        areas = np.array([float(e["norm"]) ** 2 for e in examples])
        sigmas = json.loads((run / "metrics.json").read_text())["oks"]["sigmas"]
        return "OKS AP", pictures, (keypoints[..., :2], visible, areas), sigmas
    raise ValueError(f"{run}: --dataset {dataset}; this benchmark rebuilds synthetic:shapes and synthetic:faces only")


def score(metric: str, outputs: list[dict], truth, sigmas, num_classes: int) -> float:
    """``metric``: mean IoU over the classes present in truth or prediction, or OKS AP."""
    if metric == "mean IoU":
        masks = np.concatenate([o["mask"] for o in outputs])
        ious = []
        for c in range(num_classes):
            union = np.logical_or(masks == c, truth == c).sum()
            if union:
                ious.append(np.logical_and(masks == c, truth == c).sum() / union)
        return float(np.mean(ious))
    from zoo.tasks.keypoints.coco_ap import oks_ap

    keypoints, visible, areas = truth
    pred = np.concatenate([o["keypoints"] for o in outputs])
    scores = np.concatenate([o["scores"] for o in outputs])
    return float(oks_ap(pred, scores, keypoints, visible, areas, sigmas)["ap"])


def measure(run: Path, repeats: int) -> list[dict]:
    from zoo.export import export_run, load

    metric, pictures, truth, sigmas = validation_split(run)
    rows, predictors = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for quantize in ("float32", "float16", "int8"):
            options = {} if quantize == "float32" else {"quantize": quantize}
            started = time.perf_counter()
            folder = export_run(run, "litert", Path(tmp) / quantize, **options)
            seconds = time.perf_counter() - started
            predictors[quantize] = load(folder)
            classes = len(predictors[quantize].info.fields.to_json().get("classes", [])) or 1
            outputs = [predictors[quantize](p[None]) for p in pictures]
            rows.append(
                {
                    "run": str(run),
                    "model": f"{predictors[quantize].info.model}:{predictors[quantize].info.backbone}",
                    "precision": quantize,
                    "score": round(score(metric, outputs, truth, sigmas, classes), 4),
                    "metric": metric,
                    "mb": round((folder / "model.tflite").stat().st_size / 1e6, 2),
                    "export_s": round(seconds, 1),
                }
            )
        times = {q: [] for q in predictors}
        for _ in range(repeats):
            for picture in pictures:
                for quantize, predictor in predictors.items():
                    started = time.perf_counter()
                    predictor(picture[None])
                    times[quantize].append(time.perf_counter() - started)
    for row in rows:
        row["ms_per_picture"] = round(1000 * statistics.median(times[row["precision"]]), 2)
    base = rows[0]["score"]
    for row in rows:
        row["change"] = round(row["score"] - base, 4)
    return rows


def main(argv: list[str] | None = None) -> int:
    from benchmarks.train import _device as cpu_name

    args = build_parser().parse_args(argv)
    rows = []
    for run in args.runs:
        rows += measure(Path(run), args.repeats)
    print(f"LiteRT on {cpu_name()} (the interpreter's default threads), validation split of each run:")
    print(f"{'model':<28} {'precision':<9} {'metric':<9} {'score':>7} {'change':>8} {'MB':>7} {'ms/picture':>10}")
    for r in rows:
        print(
            f"{r['model']:<28} {r['precision']:<9} {r['metric']:<9} {r['score']:>7.4f} {r['change']:>+8.4f} "
            f"{r['mb']:>7.2f} {r['ms_per_picture']:>10.2f}"
        )
    Path(args.out).write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Native-scale segmentation of large pictures: time and peak memory against megapixels, the cost of
test-time augmentation, and the default tile against a fixed one (figures: docs/exports.md, "Large
pictures at their own scale").

    python -m benchmarks.native [--model unet:vgg16] [--channels 1] [--input-size 256]
        [--sizes 1000x1500,2000x3000,4000x6000] [--tile 512] [--overlap 0.25] [--tta "none;flip"]
        [--compare 3000x3000] [--repeats 1] [--out bench_native.json]

One model with random weights (time and memory do not depend on the weights' values) is
exported as a SavedModel. Each picture size and TTA mode then runs in a process of its own,
``zoo.export.load(export)(picture, scale="native", tile=..., probabilities=None)`` on one
random uint8 picture, so that the child's peak resident memory (``ru_maxrss``) is that
job's alone; the time is the call's wall time after a warm-up call on one tile. The table
and ``bench_native.png`` give seconds and peak GB against megapixels.

``--compare`` sizes are run twice side by side, at the default tile (``tile=None``:
``zoo.tasks.segmentation.runtime.native_tile`` of the export, the tile ``predict`` uses without
``--tile``) and at ``--tile``, alternating ``--repeats`` times (the fastest of each kept, as the
machine may be shared), and the ratio default / ``--tile`` is reported. A quick CPU run (a few
minutes on 2 cores): ``--model unet:mobilenetv2 --input-size 64 --sizes 1000x1500 --tta none``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from zoo.export import load
from zoo.tasks.segmentation.runtime import native_tile
export, height, width, tile, overlap, tta = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \
    float(sys.argv[5]), sys.argv[6]
predictor = load(export)
channels = predictor.info.channels
tile = None if tile == "default" else int(tile)
side = (tile,) * 2 if tile else native_tile(predictor.info, any_size=hasattr(predictor.run, "native"))
predictor(np.zeros((1, *side, channels), np.uint8), scale="native", tile=tile, probabilities=None)  # warm-up
picture = np.random.default_rng(0).integers(0, 256, (1, height, width, channels), dtype=np.uint8)
start = time.perf_counter()
out = predictor(picture, scale="native", tile=tile, overlap=overlap, tta=None if tta == "none" else tta,
                probabilities=None)
seconds = time.perf_counter() - start
assert out["mask"].shape == (1, height, width)
print("RESULT " + json.dumps({"seconds": seconds, "tile": list(side),
                              "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.native",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default="unet:vgg16", help="MODEL:BACKBONE (random weights)")
    p.add_argument("--channels", type=int, default=1, help="input channels (1: gray pictures)")
    p.add_argument("--classes", type=int, default=2, help="classes")
    p.add_argument("--input-size", type=int, default=256, help="training size recorded in model.json (square)")
    p.add_argument("--sizes", default="1000x1500,2000x3000,4000x6000", help="picture sizes HxW, comma-separated")
    p.add_argument("--tile", type=int, default=512, help="native tile side (px)")
    p.add_argument("--overlap", type=float, default=0.25, help="tile overlap (fraction or px)")
    p.add_argument(
        "--tta",
        default="none;flip",
        help="TTA modes to time, semicolon-separated: none, flip, scales:0.75,1,1.25, "
        "flip+scales:0.75,1,1.25 (zoo.data.tta) (default none;flip)",
    )
    p.add_argument(
        "--compare",
        default="3000x3000",
        help="picture sizes HxW, comma-separated, timed at the default tile and at --tile side by side ('none': skip)",
    )
    p.add_argument("--repeats", type=int, default=1, help="--compare: alternating runs of each tile (fastest kept)")
    p.add_argument("--out", default="bench_native.json", help="results file (a PNG plot beside it)")
    return p


def _export(args, folder: Path) -> Path:
    import zoo
    from zoo.export import export_model

    name, _, backbone = args.model.partition(":")
    model = zoo.build(
        name, backbone=backbone, num_classes=args.classes, encoder_weights=None, input_shape=(None, None, args.channels)
    )
    info = {
        "model": name,
        "backbone": backbone,
        "input_size": [args.input_size] * 2,
        "channels": args.channels,
        "task": "segmentation",
        "classes": [f"class{i}" for i in range(args.classes)],
    }
    return export_model(model, info, "saved_model", folder / "export")


def measure(export: Path, height: int, width: int, tile: int | str, overlap: float, tta: str) -> dict:
    """One job in a child process (``tile``: pixels, or ``"default"``): ``{"seconds", "tile", "peak_gb"}``."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(export), str(height), str(width), str(tile), str(overlap), tta],
        capture_output=True,
        text=True,
    )
    line = next((row for row in done.stdout.splitlines() if row.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"native prediction at {height}x{width} failed:\n{done.stderr[-2000:]}")
    return json.loads(line[len("RESULT ") :])


def _sizes(text: str) -> list[tuple[int, int]]:
    if text.strip().lower() in ("", "none"):
        return []
    return [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",")]


def compare(export: Path, height: int, width: int, args) -> dict:
    """The default tile against ``args.tile`` on one picture size, alternating ``args.repeats`` times: the
    fastest seconds of each and their ratio (default / tile)."""
    runs = {"default": [], "tile": []}
    for _ in range(max(1, args.repeats)):
        runs["default"].append(measure(export, height, width, "default", args.overlap, "none"))
        runs["tile"].append(measure(export, height, width, args.tile, args.overlap, "none"))
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    return {
        "height": height,
        "width": width,
        "default_tile": best["default"]["tile"],
        "default_seconds": best["default"]["seconds"],
        "default_peak_gb": best["default"]["peak_gb"],
        "tile": best["tile"]["tile"],
        "tile_seconds": best["tile"]["seconds"],
        "tile_peak_gb": best["tile"]["peak_gb"],
        "ratio": best["default"]["seconds"] / best["tile"]["seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = _sizes(args.sizes)
    compared = _sizes(args.compare)
    from zoo.data.tta import parse_tta

    modes = [str(parse_tta(m) or "none") for m in args.tta.split(";")]  # a bad mode fails here, not in a child
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        export = _export(args, Path(tmp))
        for height, width in sizes:
            for tta in modes:
                result = measure(export, height, width, args.tile, args.overlap, tta)
                rows.append(
                    {"height": height, "width": width, "megapixels": height * width / 1e6, "tta": tta, **result}
                )
                print(
                    f"{height}x{width} ({height * width / 1e6:.1f} MP) tta {tta}: {result['seconds']:.1f} s, "
                    f"peak {result['peak_gb']:.2f} GB",
                    flush=True,
                )
        comparisons = []
        for height, width in compared:
            row = compare(export, height, width, args)
            comparisons.append(row)
            print(
                f"{height}x{width} default tile {row['default_tile'][0]}x{row['default_tile'][1]}: "
                f"{row['default_seconds']:.1f} s; tile {args.tile}: {row['tile_seconds']:.1f} s; "
                f"ratio {row['ratio']:.2f}",
                flush=True,
            )
    out = Path(args.out)
    out.write_text(
        json.dumps(
            {
                "model": args.model,
                "channels": args.channels,
                "input_size": args.input_size,
                "tile": args.tile,
                "overlap": args.overlap,
                "rows": rows,
                "comparisons": comparisons,
            },
            indent=1,
        )
        + "\n"
    )
    if rows:
        _plot(rows, out.with_suffix(".png"), args)
    print(f"results: {out}" + (f", plot: {out.with_suffix('.png')}" if rows else ""))
    return 0


def _plot(rows: list[dict], path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for tta in dict.fromkeys(r["tta"] for r in rows):
        mine = [r for r in rows if r["tta"] == tta]
        left.plot([r["megapixels"] for r in mine], [r["seconds"] for r in mine], "o-", label=f"tta {tta}")
        right.plot([r["megapixels"] for r in mine], [r["peak_gb"] for r in mine], "o-", label=f"tta {tta}")
    left.set(xlabel="megapixels", ylabel="seconds", title=f"{args.model}, tile {args.tile}")
    right.set(xlabel="megapixels", ylabel="peak resident GB", title="memory")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

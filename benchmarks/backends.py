"""The recipe's training step on Keras' JAX backend against TensorFlow, fed by the same tf.data pipeline, each
side in fresh processes, alternated (figures: docs/performance.md, "JAX or TensorFlow for training").

    python -m benchmarks.backends [--models unet:resnet50,unet:vgg16,simple_baseline:resnet50] [--size 128]
        [--batch 8] [--steps 3] [--groups 3] [--rounds 3] [--out bench_backends.json]

Each side is one process with ``KERAS_BACKEND`` set: the recipe's network and loss (``benchmarks.train.Subject``,
random weights, Adam 1e-4) trained by ``fit`` on the recipe's own training pipeline (its synthetic set through
tf.data: decode, resize, augmentation, batching), repeated, on one device. TensorFlow runs the step as the
recipes do (a ``tf.function``, no XLA); JAX compiles it with XLA, as Keras always does there. After two
warm-up steps, ``--groups`` groups of ``--steps`` steps are timed from one step's end to the next; the
process's figure is the median group. A ratio is JAX / TensorFlow within a round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.peers import device, group_rates

ROOT = Path(__file__).resolve().parents[1]


def measure(spec: str, size: int, batch: int, steps: int, groups: int) -> dict:
    """Training images/s of the recipe's ``spec`` on this process's Keras backend, fed by tf.data."""
    import keras

    from benchmarks.train import Subject

    subject = Subject(spec, size, batch)
    model = subject.build(jit_compile=keras.backend.backend() == "jax")  # Keras' own default on each backend
    rates = group_rates(keras, model, subject.trainer.train_data().repeat(), batch, steps, groups)
    return {
        "model": spec,
        "backend": keras.backend.backend(),
        "images_per_s": statistics.median(rates),
        "group_rates": rates,
        "jit_compile": bool(model.jit_compile),
    }


def run_side(backend: str, spec: str, args) -> dict:
    command = [sys.executable, "-m", "benchmarks.backends", "--worker", spec, "--size", str(args.size)]
    command += ["--batch", str(args.batch), "--steps", str(args.steps), "--groups", str(args.groups)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"model": spec, "backend": backend, "error": " | ".join(tail) or f"exit {done.returncode}"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.backends", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="unet:resnet50,unet:vgg16,simple_baseline:resnet50")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--groups", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="bench_backends.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.size, args.batch, args.steps, args.groups)))
        return 0
    results = {"device": device(), "size": args.size, "batch": args.batch, "runs": [], "summary": []}
    specs = [m.strip() for m in args.models.split(",") if m.strip()]
    for round_index in range(args.rounds):
        for spec in specs:
            order = ["tensorflow", "jax"] if round_index % 2 == 0 else ["jax", "tensorflow"]
            row = {backend: run_side(backend, spec, args) for backend in order}
            results["runs"].append({"model": spec, **row})
            print(
                f"round {round_index + 1} {spec}: "
                + ", ".join(f"{b} {r.get('error') or format(r['images_per_s'], '.2f')}" for b, r in row.items()),
                flush=True,
            )
        results["summary"] = []
        for spec in specs:
            pairs = [
                r
                for r in results["runs"]
                if r["model"] == spec and all("error" not in r[b] for b in ("jax", "tensorflow"))
            ]
            if not pairs:
                continue
            ratios = [r["jax"]["images_per_s"] / r["tensorflow"]["images_per_s"] for r in pairs]
            results["summary"].append(
                {
                    "model": spec,
                    "tensorflow_images_per_s": statistics.median(r["tensorflow"]["images_per_s"] for r in pairs),
                    "jax_images_per_s": statistics.median(r["jax"]["images_per_s"] for r in pairs),
                    "jax_over_tensorflow": statistics.median(ratios),
                    "range": [min(ratios), max(ratios)],
                }
            )
        Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"device: {results['device']}; {args.size} px, batch {args.batch}, float32, the recipe's tf.data pipeline")
    print("| model | TensorFlow img/s | JAX img/s | JAX / TensorFlow |\n|---|---|---|---|")
    for s in results["summary"]:
        low, high = s["range"]
        print(
            f"| {s['model']} | {s['tensorflow_images_per_s']:.2f} | {s['jax_images_per_s']:.2f} "
            f"| {s['jax_over_tensorflow']:.2f} ({low:.2f}-{high:.2f}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a training step's time goes, by layer kind and direction, from TensorFlow's own profiler (figures:
docs/performance.md, "Where the time goes").

    python -m benchmarks.profile [--models unet:vgg16,unet:resnet50,fpn:resnet50,deeplabv3plus:resnet50,
        simple_baseline:resnet50] [--size 128] [--batch 8] [--steps 3] [--out bench_profile.json]

Each network is the recipe's (``benchmarks.train.Subject``: its loss, one batch of its training pipeline held
in memory), compiled as the recipe compiles it (no XLA). After two warm-up steps, ``--steps`` steps run under
``tf.profiler``; the trace's framework op statistics (the profiler's ``framework_op_stats`` tool, read with
TensorFlow's own converter) give each op's self time. Each op is charged to:

- the layer whose name scope holds it, by the layer's class (``Conv2D``, ``BatchNormalization``, ``Concatenate``,
  resizes, ...), forward or backward (ops under ``gradient_tape/``);
- ``loss`` (the compiled loss and its gradient), ``optimizer`` (the weight updates), or ``other`` (the step's
  glue: casts, layout changes, iterator, metrics).

Prints, per model, the milliseconds per step and the share of each group, and writes ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_MODELS = "unet:vgg16,unet:resnet50,fpn:resnet50,deeplabv3plus:resnet50,simple_baseline:resnet50"


def op_self_times(trace_folder: str) -> list[dict]:
    """Each TensorFlow op of a trace with its type, full name and self time in microseconds (host ops)."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    paths = glob.glob(f"{trace_folder}/**/*.xplane.pb", recursive=True)
    data, _ = plugin.xspace_to_tools_data(paths, "framework_op_stats", {})
    tables = json.loads(data)
    table = tables[0]
    columns = [c["id"] for c in table["cols"]]
    rows = []
    for row in table["rows"]:
        values = dict(zip(columns, (cell.get("v") if cell else None for cell in row["c"]), strict=False))
        if values.get("type") in ("IDLE", None):
            continue
        rows.append({"type": values["type"], "name": values["operation"], "self_us": float(values["total_self_time"])})
    return rows


def _scope_layer(name: str, layers: dict[str, str]) -> str | None:
    """The model layer whose name scope holds op ``name`` (Keras appends ``_N`` to a scope it reuses)."""
    for part in name.split("/"):
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers:
                return candidate
    return None


def group_of(op: dict, layers: dict[str, str]) -> str:
    """``"Conv2D forward"``, ``"BatchNormalization backward"``, ``"loss"``, ``"optimizer"`` or ``"other"``."""
    name = op["name"]
    lowered = name.lower()
    if "compile_loss" in lowered or "/loss" in lowered or lowered.startswith("loss"):
        return "loss"
    if lowered.startswith(("adam", "sgd", "adamw")) or "/adam/" in lowered or "optimizer" in lowered:
        return "optimizer"
    if op["type"].startswith(("ResourceApply", "AssignSubVariableOp", "AssignAddVariableOp")):
        return "optimizer"
    layer = _scope_layer(name, layers)
    if layer is None:
        return "other"
    direction = "backward" if "gradient_tape" in lowered else "forward"
    return f"{layers[layer]} {direction}"


def profile_model(spec: str, size: int, batch: int, steps: int) -> dict:
    """Self time per group of one training step of ``spec`` (``MODEL:BACKBONE``), in ms, and the step's total."""
    import keras
    import tensorflow as tf

    from benchmarks.train import Subject

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    subject = Subject(spec, size, batch)
    model = subject.build()
    data = subject.batch()
    inputs, targets = data[0], data[1]
    for _ in range(2):
        model.train_on_batch(inputs, targets)
    layers = {layer.name: type(layer).__name__ for layer in model.layers}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        tf.profiler.experimental.start(folder)
        for _ in range(steps):
            model.train_on_batch(inputs, targets)
        tf.profiler.experimental.stop()
        wall = (time.perf_counter() - start) / steps
        ops = op_self_times(folder)
    groups: dict[str, float] = collections.defaultdict(float)
    op_types: dict[str, float] = collections.defaultdict(float)
    for op in ops:
        groups[group_of(op, layers)] += op["self_us"] / steps / 1e3
        op_types[op["type"]] += op["self_us"] / steps / 1e3
    total = sum(groups.values())
    return {
        "model": spec,
        "size": size,
        "batch": batch,
        "step_ms_wall_while_tracing": wall * 1e3,
        "op_self_ms_per_step": total,
        "groups_ms": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
        "op_types_ms": dict(sorted(op_types.items(), key=lambda kv: -kv[1])[:15]),
    }


def plain_bn_copy(model):
    """``model`` with every ``FusedBatchNormalization`` back as Keras' own ``BatchNormalization`` (same weights,
    compiled alike): the side-by-side reference for the fused layer."""
    import keras

    from zoo.models.layers import FusedBatchNormalization

    def clone(layer):
        cls = keras.layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else layer.__class__
        return cls.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def fused_against_plain(spec: str, size: int, batch: int, steps: int, rounds: int = 3) -> dict:
    """Training images/s of ``spec`` with the zoo's fused BatchNormalization and with Keras' own, alternated
    ``rounds`` times in this process (``steps`` steps each, after two warm-up steps); their ratio per round."""
    import keras

    from benchmarks.train import Subject

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    subject = Subject(spec, size, batch)
    fused = subject.build()
    plain = plain_bn_copy(fused)
    plain.compile(keras.optimizers.Adam(1e-4), fused.loss)
    inputs, targets = subject.batch()[:2]
    rates: dict[str, list[float]] = {"fused": [], "plain": []}
    for model in (fused, plain):
        for _ in range(2):
            model.train_on_batch(inputs, targets)
    for round_index in range(rounds):
        order = [("fused", fused), ("plain", plain)]
        for name, model in order if round_index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(inputs, targets)
            rates[name].append(steps * batch / (time.perf_counter() - start))
    ratios = [f / p for f, p in zip(rates["fused"], rates["plain"], strict=True)]
    return {
        "model": spec,
        "fused_images_per_s": statistics.median(rates["fused"]),
        "plain_images_per_s": statistics.median(rates["plain"]),
        "ratio": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
    }


def summary_lines(row: dict, top: int = 8) -> list[str]:
    total = row["op_self_ms_per_step"]
    lines = [f"{row['model']}: {total:.0f} ms of op time per step ({row['size']} px, batch {row['batch']})"]
    for group, ms in list(row["groups_ms"].items())[:top]:
        lines.append(f"  {group:<40} {ms:8.1f} ms  {ms / total:6.1%}")
    types = ", ".join(f"{t} {ms / total:.0%}" for t, ms in list(row["op_types_ms"].items())[:6])
    lines.append(f"  top op types: {types}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated MODEL:BACKBONE")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3, help="traced training steps")
    p.add_argument(
        "--fused", action="store_true", help="also time each model with fused against Keras' BatchNormalization"
    )
    p.add_argument("--out", default="bench_profile.json")
    args = p.parse_args(argv)
    rows = []
    for spec in [m.strip() for m in args.models.split(",") if m.strip()]:
        rows.append(profile_model(spec, args.size, args.batch, args.steps))
        print("\n".join(summary_lines(rows[-1])), flush=True)
        if args.fused:
            rows[-1]["fused_against_plain"] = ab = fused_against_plain(spec, args.size, args.batch, args.steps)
            low, high = ab["ratio_range"]
            print(
                f"  fused BatchNormalization: {ab['fused_images_per_s']:.2f} img/s against Keras' "
                f"{ab['plain_images_per_s']:.2f}: {ab['ratio']:.2f}x ({low:.2f}-{high:.2f})",
                flush=True,
            )
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The zoo against its peers on an accelerator that has JAX and PyTorch but no TensorFlow (figures:
docs/performance.md, "Against the peers", GPU).

    KERAS_BACKEND=jax python -m benchmarks.peers_device [--pairs unet-vgg16,fpn-resnet50,deeplab-resnet50,
        segformer-b0] [--size 256] [--batch 32] [--out peers_device.json]

The CPU table (``benchmarks.peers``) pits the zoo against segmentation_models on tf_keras, which needs
TensorFlow; here its PyTorch sibling, segmentation_models_pytorch (``smp``), stands in for it:

- ``unet-vgg16``, ``fpn-resnet50``: ``zoo.unet``/``zoo.fpn`` (Keras on JAX) against ``smp.Unet``/``smp.FPN``
  (PyTorch, eager, ``cudnn.benchmark`` on, channels-first as smp ships);
- ``deeplab-resnet50``, ``segformer-b0``: the zoo against keras-hub (both Keras on JAX), built as
  ``benchmarks.peers.build_side`` builds them for the CPU table.

Each side runs in its own process (``--worker``), under float32 and then the mixed precision each library
offers (Keras ``mixed_bfloat16``; PyTorch ``autocast`` to bfloat16): random weights, Adam 1e-3, cross-entropy
on the logits, one batch of random pixels and labels resident on the device; two warm-up steps (the
compile), then the median of 3 groups of 10 steps, each ended by reading the loss back (the step has
finished). Peak device memory is the backend's own count (JAX ``peak_bytes_in_use``, PyTorch
``max_memory_allocated``). No export latency here: SavedModels need TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PAIRS = {
    "unet-vgg16": ("zoo:unet:vgg16", "smp:Unet:vgg16"),
    "fpn-resnet50": ("zoo:fpn:resnet50", "smp:FPN:resnet50"),
    "deeplab-resnet50": ("zoo:deeplabv3plus:resnet50:os32", "hub:deeplabv3plus:resnet50"),
    "segformer-b0": ("zoo:segformer:keras_hub:mit_b0", "hub:segformer:mit_b0"),
}
ROOT = Path(__file__).resolve().parents[1]
CLASSES = 8


def _groups(step, steps: int = 10, groups: int = 3) -> list[float]:
    """Seconds per step of ``groups`` groups of ``steps`` calls of ``step`` (which returns once finished)."""
    times = []
    for _ in range(groups):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps)
    return times


def keras_side(spec: str, size: int, batch: int, policy: str) -> dict:
    import jax
    import keras
    import numpy as np

    from benchmarks.peers import build_side

    keras.backend.clear_session()
    model = build_side(spec, size, policy)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    out = tuple(int(d) for d in model.output_shape[1:3])
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))
    y = keras.ops.convert_to_tensor(rng.integers(0, CLASSES, (batch, *out, 1)).astype("int32"))
    start = time.perf_counter()
    for _ in range(2):
        model.train_on_batch(x, y)
    compile_s = time.perf_counter() - start
    times = _groups(lambda: model.train_on_batch(x, y))
    stats = jax.devices()[0].memory_stats() or {}
    return {
        "images_per_s": batch / statistics.median(times),
        "compile_s": compile_s,
        "params": int(model.count_params()),
        "peak_mib": stats.get("peak_bytes_in_use", 0) / 2**20,
    }


def torch_side(spec: str, size: int, batch: int, policy: str) -> dict:
    import segmentation_models_pytorch as smp
    import torch

    torch.backends.cudnn.benchmark = True
    arch, backbone = spec.split(":")[1:]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = getattr(smp, arch)(encoder_name=backbone, encoder_weights=None, classes=CLASSES).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, 3, size, size, generator=generator) * 255).to(device)
    y = torch.randint(0, CLASSES, (batch, size, size), generator=generator).to(device)
    mixed = policy != "float32"

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=mixed):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(2):
        step()
    compile_s = time.perf_counter() - start
    times = _groups(step)
    return {
        "images_per_s": batch / statistics.median(times),
        "compile_s": compile_s,
        "params": sum(p.numel() for p in model.parameters()),
        "peak_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0,
    }


def worker(spec: str, size: int, batch: int, policies: list[str]) -> list[dict]:
    rows = []
    for policy in policies:
        side = torch_side if spec.startswith("smp:") else keras_side
        try:
            row = side(spec, size, batch, policy)
        except Exception as err:  # a side that fails is a row with its reason, the others still run
            row = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}
        rows.append({"spec": spec, "policy": policy, **row})
    return rows


def device_name() -> str:
    try:
        import jax

        return jax.devices()[0].device_kind
    except Exception:  # no JAX: the PyTorch side names it
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peers_device", description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", default=",".join(PAIRS))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--policies", default="float32,mixed_bfloat16")
    p.add_argument("--out", default="peers_device.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    policies = args.policies.split(",")
    if args.worker:
        print(json.dumps(worker(args.worker, args.size, args.batch, policies)))
        return 0
    results = {"device": device_name(), "size": args.size, "batch": args.batch, "rows": []}
    for pair in args.pairs.split(","):
        for spec in PAIRS[pair]:
            command = [sys.executable, "-m", "benchmarks.peers_device", "--worker", spec, "--size", str(args.size)]
            command += ["--batch", str(args.batch), "--policies", args.policies]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
            lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
            rows = json.loads(lines[-1]) if lines else [{"spec": spec, "error": done.stderr.strip()[-300:]}]
            for row in rows:
                row["pair"] = pair
                print(json.dumps(row), flush=True)
            results["rows"].extend(rows)
            Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\n{results['device']}: {args.size} px, batch {args.batch}")
    print("| pair | precision | zoo img/s | peer img/s | zoo / peer | peak MiB zoo / peer |\n|---|---|---|---|---|---|")
    for pair in args.pairs.split(","):
        for policy in policies:
            ours, theirs = (
                next((r for r in results["rows"] if r["spec"] == s and r.get("policy") == policy), {})
                for s in PAIRS[pair]
            )
            if "images_per_s" in ours and "images_per_s" in theirs:
                print(
                    f"| {pair} | {policy} | {ours['images_per_s']:.0f} | {theirs['images_per_s']:.0f} "
                    f"| {ours['images_per_s'] / theirs['images_per_s']:.2f} "
                    f"| {ours['peak_mib']:.0f} / {theirs['peak_mib']:.0f} |"
                )
            else:
                print(f"| {pair} | {policy} | {ours.get('error', '')} | {theirs.get('error', '')} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

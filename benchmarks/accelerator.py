"""Speed and precision on an accelerator through Keras alone, with no TensorFlow (figures: docs/performance.md,
"On a GPU").

    KERAS_BACKEND=jax python -m benchmarks.accelerator --out accelerator.json

For a machine that has an accelerator and JAX but no TensorFlow (the recipes, data pipelines and exports need
TensorFlow; the builders do not: docs/builders.md). Two parts, each under every Keras dtype policy in
``--policies`` (``float32``, ``mixed_bfloat16``, ``mixed_float16``; under ``mixed_float16`` Keras' ``compile``
wraps the optimizer in its loss-scale optimizer), with every step compiled by the backend (on JAX, XLA):

1. **Speed**: training images/s of each ``--models`` network at ``--size`` px, batch ``--batch``, on one batch
   of random pixels and labels that stays on the device (``train_on_batch``; the input pipeline is not
   counted). The median of ``--repeats`` groups of ``--steps`` steps after two warm-up steps; ratios to
   float32 are measured side by side in one process.
2. **Precision**: a plain fit of U-Net/ResNet50 from random weights on the ``objects`` task of
   ``benchmarks.learning`` (240 gray pictures at 64 px with one object class, 0/255 masks; Adam 1e-3, batch 8,
   horizontal flips, ``--epochs`` epochs), scored by the object's IoU on 40 held-out pictures of another size
   (80x96: resized to 64 px with antialiasing, logits resized back bilinearly, as the export's serving
   function does), for every seed in ``--seeds``. ``shapes`` (4 classes, RGB) is the second task in
   ``--tasks``. Each policy's network is compiled once; each seed restores freshly initialised weights and
   the optimizer's first state, so seeds cost no compile.

Writes ``--out`` (JSON) after every measurement, so a run cut short keeps what it measured, and prints two
markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks.learning import mean_iou  # the object classes' IoU, as benchmarks.learning scores


def device_name() -> str:
    """The accelerator's name as the backend reports it (for JAX ``device_kind``), else the CPU's."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.device_kind} ({device.platform}, jax {jax.__version__}, keras {keras.__version__})"
    return f"{platform.processor() or platform.machine()} ({keras.backend.backend()}, keras {keras.__version__})"


def build(model_name: str, backbone: str, size: tuple[int, int], channels: int, classes: int, policy: str):
    """The zoo's builder under the Keras dtype ``policy``, random weights; the policy is restored after."""
    import zoo
    from zoo.models.copies import global_policy

    with global_policy(policy):
        return zoo.build(
            model_name,
            backbone=backbone,
            num_classes=classes,
            input_shape=(size[0], size[1], channels),
            encoder_weights=None,
        )


def compiled(model):
    """``model`` compiled as a plain fit compiles it: Adam 1e-3, sparse cross-entropy on the logits."""
    import keras

    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def speed(model_name: str, policy: str, size: int, batch: int, steps: int, repeats: int) -> dict:
    """Training images/s of ``model_name`` ("decoder:backbone") on one device-resident batch."""
    import keras

    decoder, backbone = model_name.split(":", 1)
    model = compiled(build(decoder, backbone, (size, size), 3, 8, policy))
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
    y = keras.ops.convert_to_tensor(rng.integers(0, 8, (batch, size, size, 1)).astype("int32"))
    start = time.perf_counter()
    model.train_on_batch(x, y)  # compiles
    compile_s = time.perf_counter() - start
    model.train_on_batch(x, y)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(x, y)  # returns a Python float: the step has finished
        rates.append(steps * batch / (time.perf_counter() - start))
    return {
        "model": model_name,
        "policy": policy,
        "size": size,
        "batch": batch,
        "images_per_s": statistics.median(rates),
        "spread": [min(rates), max(rates)],
        "compile_s": compile_s,
        "params": int(model.count_params()),
        "finite_loss": bool(np.isfinite(loss)),
    }


def task_data(task: str, count: int = 240) -> dict:
    """``count`` training pictures (64 px) and 40 held-out pictures (80x96) of ``task``: ``objects`` or ``shapes``."""
    if task == "objects":
        from benchmarks.learning import make_objects

        images, masks = make_objects(count, 64, 64, seed=0)
        test_images, test_masks = make_objects(40, 80, 96, seed=1)
        classes = 2
    elif task == "shapes":
        from zoo.tasks.segmentation.synthetic import make_shapes

        images, masks = make_shapes(count, 64, 64, seed=0)
        test_images, test_masks = make_shapes(40, 80, 96, seed=1)
        classes = int(max(masks.max(), test_masks.max())) + 1
    else:
        raise ValueError(f"unknown task {task!r}: use objects or shapes")
    masks = masks.reshape(masks.shape[:3])
    test_masks = test_masks.reshape(test_masks.shape[:3])
    return {
        "images": images.astype("float32"),
        "masks": masks.astype("int32"),
        "test_images": test_images.astype("float32"),
        "test_masks": test_masks,
        "classes": classes,
        "channels": images.shape[-1],
    }


def score(model, data: dict, backbone: str, size: int) -> float:
    """The object classes' mean IoU on the held-out pictures, resized to ``size`` and the logits back."""
    import keras

    import zoo

    spec = zoo.get_backbone(backbone)
    test = data["test_images"]
    small = keras.ops.image.resize(test, (size, size), interpolation="bilinear", antialias=True)
    logits = model.predict(spec.preprocess(small), batch_size=8, verbose=0)
    back = keras.ops.image.resize(keras.ops.cast(logits, "float32"), test.shape[1:3], interpolation="bilinear")
    return mean_iou(np.argmax(keras.ops.convert_to_numpy(back), axis=-1), data["test_masks"], data["classes"])


def precision(
    task: str, policy: str, seeds: list[int], epochs: int, model_name: str = "unet:resnet50", count: int = 240
) -> list[dict]:
    """The plain fit of ``model_name`` on ``count`` pictures of ``task`` under ``policy``, once per seed (one
    compile: each seed starts from its own fresh weights and the optimizer's first state)."""
    import keras

    import zoo

    decoder, backbone = model_name.split(":", 1)
    data = task_data(task, count)
    spec = zoo.get_backbone(backbone)
    size = data["images"].shape[1]
    model = compiled(build(decoder, backbone, (size, size), data["channels"], data["classes"], policy))
    model.optimizer.build(model.trainable_variables)
    first_state = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    results = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        fresh = build(decoder, backbone, (size, size), data["channels"], data["classes"], policy)
        model.set_weights(fresh.get_weights())
        for variable, value in zip(model.optimizer.variables, first_state):
            variable.assign(value)
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        losses = []
        for _ in range(epochs):
            order = rng.permutation(len(data["images"]))
            flip = rng.random(len(order)) < 0.5
            for first in range(0, len(order) - 7, 8):
                pick = order[first : first + 8]
                x = np.where(flip[pick, None, None, None], data["images"][pick, :, ::-1], data["images"][pick])
                y = np.where(flip[pick, None, None], data["masks"][pick, :, ::-1], data["masks"][pick])
                losses.append(model.train_on_batch(spec.preprocess(x), y[..., None]))
        seconds = time.perf_counter() - start
        results.append(
            {
                "task": task,
                "model": model_name,
                "policy": policy,
                "seed": seed,
                "epochs": epochs,
                "iou": score(model, data, backbone, size),
                "last_loss": float(np.mean(losses[-30:])),
                "seconds": seconds,
            }
        )
    return results


def tables(results: dict) -> str:
    """Markdown: speed per model and policy (ratio to float32), and IoU per task and policy over seeds."""
    lines = [
        f"device: {results['device']}",
        "",
        "| network | policy | images/s | x float32 | compile s |",
        "|---|---|---|---|---|",
    ]
    base = {r["model"]: r["images_per_s"] for r in results["speed"] if r["policy"] == "float32"}
    for r in results["speed"]:
        ratio = r["images_per_s"] / base[r["model"]] if r["model"] in base else float("nan")
        lines.append(
            f"| {r['model']} ({r['size']} px, batch {r['batch']}) | {r['policy']} | {r['images_per_s']:.0f} | "
            f"{ratio:.2f} | {r['compile_s']:.0f} |"
        )
    lines += ["", "| task | policy | seeds | IoU mean | min-max | per seed |", "|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results["precision"]:
        groups.setdefault((r["task"], r["policy"]), []).append(r)
    for (task, policy), runs in groups.items():
        ious = [r["iou"] for r in runs]
        lines.append(
            f"| {task} | {policy} | {len(runs)} | {np.mean(ious):.3f} | {min(ious):.3f}-{max(ious):.3f} | "
            + " / ".join(f"{v:.3f}" for v in ious)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="unet:resnet50,unet:vgg16,deeplabv3plus:resnet50,upernet:convnexttiny")
    p.add_argument("--policies", default="float32,mixed_bfloat16,mixed_float16")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tasks", default="objects", help="precision tasks: objects, shapes (empty: none)")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--order", default="speed-first,precision", help="which part runs first: speed or precision")
    p.add_argument("--out", default="accelerator.json")
    args = p.parse_args(argv)
    policies = [s for s in args.policies.split(",") if s]
    results = {"device": device_name(), "backend": os.environ.get("KERAS_BACKEND", ""), "speed": [], "precision": []}
    out = Path(args.out)

    def save() -> None:
        out.write_text(json.dumps(results, indent=1))

    def run_speed(models: list[str]) -> None:
        for name in models:
            for policy in policies:
                try:
                    results["speed"].append(speed(name, policy, args.size, args.batch, args.steps, args.repeats))
                except Exception as error:  # one network's failure must not lose the others' figures
                    results["speed"].append(
                        {"model": name, "policy": policy, "error": f"{type(error).__name__}: {error}"[:300]}
                    )
                print(json.dumps(results["speed"][-1]), flush=True)
                save()

    def run_precision() -> None:
        for task in [t for t in args.tasks.split(",") if t]:
            for policy in policies:
                runs = precision(task, policy, [int(s) for s in args.seeds.split(",")], args.epochs)
                results["precision"] += runs
                for r in runs:
                    print(json.dumps(r), flush=True)
                save()

    models = [m for m in args.models.split(",") if m]
    if args.order.startswith("precision"):
        run_precision()
        run_speed(models)
    else:  # the first network's speed, then the precision runs, then the other networks
        run_speed(models[:1])
        run_precision()
        run_speed(models[1:])
    results["speed"] = [r for r in results["speed"] if "error" not in r] + [r for r in results["speed"] if "error" in r]
    save()
    print(tables({**results, "speed": [r for r in results["speed"] if "error" not in r]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

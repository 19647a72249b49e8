"""Training and serving speed, measured side by side in one process.

    python -m recipes.benchmark [--models unet:vgg16,fcn8s:vgg16,unet:resnet50,simple_baseline:resnet50]
        [--input-size 128] [--batch-size 8] [--steps 5] [--out bench.json]

Reports, for this machine:

1. the limit: float32 matrix-multiply throughput (GFLOP/s) of a large product;
2. per model: FLOPs per image of a training step (3x the forward FLOPs counted in the
   graph: forward + two backward products), training images/s on in-memory tensors,
   and that as a fraction of the limit;
3. images/s through the recipe's real input pipeline (the synthetic set, and a folder
   of PNG files), as a ratio to in-memory;
4. images/s of the plain-Keras way (``fit`` on NumPy arrays with defaults) - our
   recipe's pipeline throughput as a ratio to it;
5. the exported SavedModel's serving latency per image as a ratio to the Keras
   model's own call;
6. in-memory throughput as input size and batch size grow (``bench.png``).

Every ratio compares runs made one after the other in this process, so machine noise
hits both sides alike. Writes ``bench.json`` (all figures, versions, device) and prints
a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_MODELS = "unet:vgg16,fcn8s:vgg16,unet:resnet50,simple_baseline:resnet50"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recipes.benchmark", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated MODEL:BACKBONE")
    p.add_argument("--input-size", type=int, default=128, help="square training size in pixels")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=5, help="timed training steps per measurement (after warm-up)")
    p.add_argument("--sizes", default="64,128,192", help="input sizes of the scaling sweep (first model)")
    p.add_argument("--batches", default="4,8,16", help="batch sizes of the scaling sweep (first model)")
    p.add_argument("--out", default="bench.json", help="where to write the figures (bench.png beside it)")
    return p


def matmul_limit(n: int = 2048, repeats: int = 10) -> float:
    """float32 GFLOP/s of an n x n matrix product, best of ``repeats`` timed batches."""
    import tensorflow as tf

    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    product = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    product(a, b).numpy()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def forward_flops(model, input_shape) -> float:
    """FLOPs of one forward pass for one image, counted by TensorFlow's profiler on the graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, *input_shape], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options)
    return float(info.total_float_ops)


def _task(model_name: str) -> str:
    return "pose" if model_name == "simple_baseline" else "segment"


def _build(model_name: str, backbone: str, size: int):
    import keras

    import zoo
    from zoo.losses import HeatmapLoss, SegmentationLoss

    if _task(model_name) == "pose":
        model = zoo.simple_baseline(backbone, num_keypoints=5, input_shape=(size, size, 3), encoder_weights=None)
        model.compile(keras.optimizers.Adam(1e-4), HeatmapLoss())
    else:
        model = zoo.build(model_name, backbone=backbone, num_classes=4, input_shape=(size, size, 3),
                          encoder_weights=None)
        model.compile(keras.optimizers.Adam(1e-4), SegmentationLoss(4))
    return model


def _fake_batch(model, batch: int, size: int, task: str):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, 3)).astype("float32")
    if task == "pose":
        out = model.output_shape
        return x, rng.random((batch, *out[1:])).astype("float32")
    return x, rng.integers(0, 4, (batch, size, size, 1)).astype("int32")


def _timed_fit(model, data, steps: int, batch: int, **kwargs) -> float:
    """Images per second of ``steps`` training steps after a one-epoch warm-up."""
    model.fit(data, steps_per_epoch=min(2, steps), epochs=1, verbose=0, shuffle=False, **kwargs)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, **kwargs)
    return steps * batch / (time.perf_counter() - start)


def _recipe_pipelines(task: str, backbone: str, size: int, batch: int, steps: int, folder: Path):
    """The recipe's own training pipelines on the synthetic set and on PNG files."""
    import numpy as np
    from PIL import Image

    from zoo.data import keypoint_sources as ks
    from zoo.data import segmentation as seg
    from zoo.data.augment import AugmentConfig
    from zoo.data.keypoints import KeypointAugment
    from zoo.data.pipeline import keypoint_pipeline, segmentation_pipeline

    count = max(64, batch * (steps + 2))
    if task == "pose":
        synthetic = ks.synthetic_faces(count + 2, (size, size), 3, 0, 0.02)
        common = dict(input_size=(size, size), channels=3, batch_size=batch, backbone=backbone, stride=4,
                      sigma=2.0, flip_index=synthetic.flip_index, training=True, augment=KeypointAugment(),
                      num_examples=count, repeat=True)
        images = np.stack([e["image"].numpy() for e in synthetic.train.take(count)])
        points = [e["keypoints"].numpy() for e in synthetic.train.take(count)]
        (folder / "images").mkdir(parents=True, exist_ok=True)
        rows = [["image"] + [f"{n}_{a}" for n in synthetic.keypoint_names for a in "xy"]]
        for i, (image, kp) in enumerate(zip(images, points)):
            Image.fromarray(image).save(folder / "images" / f"{i}.png")
            rows.append([f"{i}.png"] + [f"{v:.2f}" for v in kp[:, :2].ravel()])
        (folder / "points.csv").write_text("\n".join(",".join(r) for r in rows))
        files = ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.02, seed=0)
        return {"synthetic": keypoint_pipeline(synthetic.train, **common),
                "png folder": keypoint_pipeline(files.train, **{**common, "num_examples": files.num_train})}
    synthetic = seg.synthetic_shapes(count + 2, (size, size), 3, 0, 0.02)
    common = dict(table=synthetic.table, input_size=(size, size), channels=3, batch_size=batch, backbone=backbone,
                  training=True, augment=AugmentConfig(), num_examples=count, repeat=True)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    for i, (image, mask) in enumerate(synthetic.train.take(count)):
        Image.fromarray(image.numpy()).save(folder / "images" / f"{i}.png")
        Image.fromarray(mask.numpy()[..., 0]).save(folder / "masks" / f"{i}.png")
    files = seg.folder_source(str(folder), channels=3, num_classes=4, ignore_index=255, binary_masks=False,
                              val_fraction=0.02, seed=0)
    return {"synthetic": segmentation_pipeline(synthetic.train, **common),
            "png folder": segmentation_pipeline(files.train, **{**common, "num_examples": files.num_train})}


def serving_latency(model, size: int, backbone: str, repeats: int = 10) -> tuple[float, float]:
    """(SavedModel seconds per image, Keras call seconds per image), batch 1, best of ``repeats``."""
    import numpy as np
    import tensorflow as tf

    from zoo.export import export_segmentation

    with tempfile.TemporaryDirectory() as folder:
        export_segmentation(model, Path(folder) / "export", (size, size), backbone)
        serve = tf.saved_model.load(str(Path(folder) / "export")).signatures["serving_default"]
        image = tf.constant(np.zeros((1, size, size, 3), np.uint8))
        pixels = tf.constant(np.zeros((1, size, size, 3), np.float32))
        call = tf.function(lambda x: model(x, training=False))

        def best(fn):
            fn()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return min(times)

        exported = best(lambda: serve(images=image)["mask"].numpy())
        keras_call = best(lambda: call(pixels).numpy())
    return exported, keras_call


def run_benchmark(args) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.training import library_versions

    limit = matmul_limit()
    print(f"limit: float32 matmul {limit:.0f} GFLOP/s", flush=True)
    results = {"limit_gflops_float32": limit, "input_size": args.input_size, "batch_size": args.batch_size,
               "steps": args.steps, "precision": "float32", "versions": library_versions(),
               "device": _device(), "models": []}
    size, batch = args.input_size, args.batch_size
    for spec in [m for m in args.models.split(",") if m]:
        name, _, backbone = spec.partition(":")
        task = _task(name)
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = _build(name, backbone, size)
        flops = 3 * forward_flops(model, (size, size, 3))
        x, y = _fake_batch(model, batch, size, task)
        memory = _timed_fit(model, tf.data.Dataset.from_tensors((x, y)).repeat(), args.steps, batch)
        row = {"model": spec, "train_gflop_per_image": flops / 1e9, "in_memory_images_per_s": memory,
               "fraction_of_limit": memory * flops / 1e9 / limit}
        with tempfile.TemporaryDirectory() as folder:
            for label, data in _recipe_pipelines(task, backbone, size, batch, args.steps, Path(folder)).items():
                speed = _timed_fit(model, data, args.steps, batch)
                row[f"{label} images_per_s"] = speed
                row[f"{label} / in-memory"] = speed / memory
        xs, ys = np.repeat(x, args.steps, 0), np.repeat(y, args.steps, 0)
        plain = _timed_numpy_fit(model, xs, ys, batch)
        row["plain keras images_per_s"] = plain
        row["recipe (synthetic) / plain keras"] = row["synthetic images_per_s"] / plain
        if task == "segment":
            exported, keras_call = serving_latency(model, size, backbone)
            row.update({"export_ms_per_image": exported * 1e3, "keras_call_ms_per_image": keras_call * 1e3,
                        "export / keras call": exported / keras_call})
        results["models"].append(row)
        print(json.dumps(row), flush=True)
    results["scaling"] = _sweep(args)
    return results


def _timed_numpy_fit(model, xs, ys, batch: int) -> float:
    """The plain-Keras way: ``fit`` on NumPy arrays with default settings."""
    model.fit(xs[: 2 * batch], ys[: 2 * batch], batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(xs, ys, batch_size=batch, epochs=1, verbose=0)
    return len(xs) / (time.perf_counter() - start)


def _sweep(args) -> list[dict]:
    import keras
    import tensorflow as tf

    name, _, backbone = args.models.split(",")[0].partition(":")
    rows = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        for batch in [int(b) for b in args.batches.split(",") if b]:
            keras.backend.clear_session()
            model = _build(name, backbone, size)
            x, y = _fake_batch(model, batch, size, _task(name))
            speed = _timed_fit(model, tf.data.Dataset.from_tensors((x, y)).repeat(), max(2, args.steps // 2), batch)
            rows.append({"model": f"{name}:{backbone}", "input_size": size, "batch_size": batch,
                         "images_per_s": speed})
            print(f"sweep {size}px batch {batch}: {speed:.1f} images/s", flush=True)
    return rows


def _device() -> str:
    import platform

    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return ", ".join(g.name for g in gpus)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name}, {os.cpu_count()} cores"


def _plot(results: dict, path: Path) -> None:
    from zoo.reporting import _pyplot, _save

    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(6, 4))
    rows = results["scaling"]
    for batch in sorted({r["batch_size"] for r in rows}):
        points = sorted((r["input_size"], r["images_per_s"]) for r in rows if r["batch_size"] == batch)
        axis.plot([p[0] for p in points], [p[1] for p in points], "-o", label=f"batch {batch}")
    axis.set_xlabel("input size (px)")
    axis.set_ylabel("training images / s")
    axis.set_title(f"{rows[0]['model'] if rows else ''}: throughput ({results['device']})", fontsize=8)
    axis.grid(alpha=0.3)
    axis.legend()
    _save(fig, path)
    plt.close(fig)


def _table(results: dict) -> str:
    lines = [f"device: {results['device']}; limit {results['limit_gflops_float32']:.0f} GFLOP/s (float32 matmul); "
             f"{results['input_size']} px, batch {results['batch_size']}, {results['precision']}",
             f"{'model':<24} {'GFLOP/img':>9} {'img/s':>7} {'of limit':>8} {'synth/mem':>9} {'png/mem':>8} "
             f"{'ours/plain':>10} {'export/keras':>12}"]
    for r in results["models"]:
        export = f"{r['export / keras call']:.2f}" if "export / keras call" in r else "-"
        lines.append(f"{r['model']:<24} {r['train_gflop_per_image']:>9.2f} {r['in_memory_images_per_s']:>7.1f} "
                     f"{r['fraction_of_limit']:>8.2f} {r['synthetic / in-memory']:>9.2f} "
                     f"{r['png folder / in-memory']:>8.2f} {r['recipe (synthetic) / plain keras']:>10.2f} "
                     f"{export:>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.input_size % 32:
        raise ValueError(f"--input-size {args.input_size} must be a multiple of 32")
    started = time.perf_counter()
    results = run_benchmark(args)
    results["seconds"] = time.perf_counter() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from zoo.training import write_json_atomic

    write_json_atomic(out, results)
    _plot(results, out.with_suffix(".png"))
    print(_table(results))
    print(f"wrote {out} and {out.with_suffix('.png')} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    from recipes.common import run_main

    sys.exit(run_main(main))

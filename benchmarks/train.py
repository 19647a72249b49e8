"""Training and serving speed, measured side by side in one process (figures: docs/performance.md, "Performance").

    python -m benchmarks.train [--models unet:vgg16,fcn8s:vgg16,unet:resnet50,simple_baseline:resnet50,fpn:mobilenetv2,unet:efficientnetb0]
        [--input-size 128] [--batch-size 8] [--steps 2] [--repeats 2] [--out bench.json]

``--models`` takes any builder a recipe offers as ``--model`` (``zoo.models.registry``) on any backbone; the
default set stays short. The decoders left out of it, in one quick run (about 4 minutes on 2 CPU cores):

    python -m benchmarks.train --models upernet:resnet50,segformer:mobilenetv2 --input-size 64 --batch-size 4 \
        --steps 1 --repeats 1 --options "" --sizes 64 --batches 4 --out /tmp/bench-heads/bench.json

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
6. in-memory throughput as input size and batch size grow (``bench.png``);
7. for the first model, the speed options as ratios to the default (``--options``: XLA, bfloat16), and
   for the slowest model where the time goes (forward vs backward, encoder vs decoder).

Every throughput is the median of ``--repeats`` timed groups of ``--steps`` steps, after
a warm-up step, inside one epoch of one ``fit`` call (one iterator, so a pipeline's
start-up and cache fill are not counted as steady-state cost; steps are timed from one
step's end to the next). The plain-Keras figure is ``fit`` on
arrays of ``--repeats`` x ``--steps`` batches: one warm-up epoch, then one timed epoch
(every epoch of ``fit`` on arrays starts a new pass). Every ratio compares runs made one
after the other in this process, so machine noise hits both sides alike. Writes ``bench.json`` (all figures, versions, device) and prints
a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_MODELS = "unet:vgg16,fcn8s:vgg16,unet:resnet50,simple_baseline:resnet50,fpn:mobilenetv2,unet:efficientnetb0"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated MODEL:BACKBONE")
    p.add_argument("--input-size", type=int, default=128, help="square training size in pixels")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=2, help="training steps per timed epoch")
    p.add_argument("--repeats", type=int, default=2, help="timed epochs per measurement (median), after one warm-up")
    p.add_argument(
        "--options",
        default="xla",
        help="speed options compared on the first model (comma-separated: xla, bfloat16, float16; "
        "'' to skip; bfloat16 is slow on a CPU without bf16 units)",
    )
    p.add_argument("--sizes", default="64,128", help="input sizes of the scaling sweep (first model)")
    p.add_argument("--batches", default="4,16", help="batch sizes of the scaling sweep (first model)")
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


class Subject:
    """``MODEL:BACKBONE`` at one size and batch, measured through its recipe's own parts.

    The recipe is the first of ``RECIPES`` whose ``--model`` choices hold MODEL (``unet``
    is a segmentation network here). Its trainer (``zoo.tasks.*_training``, on the recipe's
    built-in synthetic set and default settings) gives the network, the loss, the
    training pipeline and the ``model.json`` fields, so no task is special-cased here.
    """

    def __init__(self, spec: str, size: int, batch: int):
        import dataclasses

        from recipes import pose, segment

        self.name, _, self.backbone = spec.partition(":")
        self.size, self.batch_size = size, batch
        self.recipe = next((r for r in (segment.RECIPE, pose.RECIPE) if self.name in r.models), None)
        if self.recipe is None:
            raise ValueError(f"--models: no recipe trains {self.name!r}")
        self.count = max(16, 2 * batch)  # small: the cache is full after the first steps
        defaults = self.recipe.config()
        self.settings = dataclasses.replace(
            defaults,
            model=self.name,
            backbone=self.backbone,
            input_size=str(size),
            batch_size=batch,
            synthetic_count=self.count + 2,
            val_fraction=0.1,
        )
        self.recipe.validate(self.settings)
        self.trainer = self.recipe.trainer(self.settings, (size, size), lambda message: None)
        self.kind = defaults.dataset.partition(":")[2]  # the synthetic set, also written as a folder by sample-data

    def build(self, jit_compile: bool = False):
        """The recipe's network (random weights), compiled with Adam(1e-4) and the recipe's loss."""
        import keras

        from zoo.tasks import build_network

        model = build_network(self.trainer.network(), None)
        model.compile(keras.optimizers.Adam(1e-4), self.trainer.compile_kwargs()["loss"], jit_compile=jit_compile)
        return model

    def batch(self) -> tuple:
        """One batch of the recipe's training pipeline as NumPy arrays: (inputs, targets[, weights])."""
        return tuple(part.numpy() for part in next(iter(self.trainer.train_data())))

    def in_memory(self):
        """That batch, repeated without end: training with no input cost."""
        import tensorflow as tf

        return tf.data.Dataset.from_tensors(self.batch()).repeat()

    def pipelines(self, folder: Path) -> dict:
        """The recipe's training pipelines on its synthetic set and on the same kind of set as PNG files."""
        import dataclasses

        from zoo.tasks import write_sample_folder

        path = write_sample_folder(self.kind, folder / "data", count=self.count + 2, size=(self.size, self.size))
        files = dataclasses.replace(self.settings, dataset=f"folder:{path}")
        on_files = self.recipe.trainer(files, (self.size, self.size), lambda message: None)
        return {"synthetic": self.trainer.train_data(), "png folder": on_files.train_data()}

    def info(self) -> dict:
        """The ``model.json`` fields of a run of this network (as the recipe's export writes them)."""
        import dataclasses

        from zoo.export import info_from_config

        return info_from_config(
            {
                "settings": dataclasses.asdict(self.settings),
                "resolved": {**self.trainer.resolved(), "network": self.trainer.network().to_json()},
            }
        )


class _EpochTimer:
    """A Keras callback that records the wall time of each epoch and of each training step."""

    def __init__(self):
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(inner):
                super().__init__()
                inner.times, inner.step_ends = [], []

            def on_epoch_begin(inner, epoch, logs=None):
                inner.start = time.perf_counter()

            def on_train_batch_end(inner, batch, logs=None):
                inner.step_ends.append(time.perf_counter())

            def on_epoch_end(inner, epoch, logs=None):
                inner.times.append(time.perf_counter() - inner.start)

        self.callback = Timer()

    def median_after_warmup(self) -> float:
        return statistics.median(self.callback.times[1:])


def _timed_fit(model, data, steps: int, batch: int, repeats: int = 2) -> float:
    """Training images per second: the median over ``repeats`` groups of ``steps`` steps, after one warm-up step.

    ``data`` is an endless ``tf.data.Dataset``. One epoch of ``1 + repeats * steps`` steps
    keeps one iterator, so a pipeline's start-up (shuffle buffer, cache fill, tracing)
    falls into the warm-up step; steps are timed from one step's end to the next.
    """
    timer = _EpochTimer()
    model.fit(data, steps_per_epoch=1 + repeats * steps, epochs=1, verbose=0, shuffle=False, callbacks=[timer.callback])
    ends = timer.callback.step_ends
    groups = [ends[(i + 1) * steps] - ends[i * steps] for i in range(repeats)]
    return steps * batch / statistics.median(groups)


def _timed_numpy_fit(model, xs, ys, batch: int) -> float:
    """The plain-Keras way: ``fit`` on NumPy arrays with default settings (shuffle included);
    a warm-up epoch, then one timed epoch over all of ``xs`` (a new pass, as every epoch is)."""
    timer = _EpochTimer()
    model.fit(xs, ys, batch_size=batch, epochs=2, verbose=0, callbacks=[timer.callback])
    return len(xs) / timer.median_after_warmup()


def serving_latency(model, subject: Subject, repeats: int = 15) -> tuple[float, float]:
    """(SavedModel seconds per image, Keras call seconds per image), batch 1, the best of
    ``repeats`` calls of each, interleaved.

    The SavedModel does its whole serving job (uint8 in, resize, preprocess, model,
    mask or decoded keypoints out); the Keras side is the model's call alone in a
    ``tf.function``, so the ratio shows what the serving wrapper and SavedModel cost.
    """
    import numpy as np
    import tensorflow as tf

    from zoo.export import export_model

    size = subject.size
    with tempfile.TemporaryDirectory() as folder:
        path = export_model(model, subject.info(), "saved_model", Path(folder) / "export")
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        image = tf.constant(np.zeros((1, size, size, 3), np.uint8))
        pixels = tf.constant(np.zeros((1, size, size, 3), np.float32))
        call = tf.function(lambda x: model(x, training=False))

        def timed(fn) -> float:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start

        exported_fn = lambda: {k: v.numpy() for k, v in serve(images=image).items()}  # noqa: E731
        keras_fn = lambda: call(pixels).numpy()  # noqa: E731
        exported_fn(), keras_fn()
        pairs = [(timed(exported_fn), timed(keras_fn)) for _ in range(repeats)]  # interleaved: same noise
        exported, keras_call = min(a for a, _ in pairs), min(b for _, b in pairs)
    return exported, keras_call


def measure_model(spec: str, args, limit: float) -> dict:
    """Every per-model figure (items 2-5 of the module docstring) for ``MODEL:BACKBONE``."""
    import keras
    import numpy as np

    size, batch, steps, repeats = args.input_size, args.batch_size, args.steps, args.repeats
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    subject = Subject(spec, size, batch)
    backbone = subject.backbone
    model = subject.build()
    parts = flops_by_part(model, backbone, (size, size, 3))
    forward_flops = parts["encoder"] + parts["decoder"]
    flops = 3 * forward_flops
    memory = _timed_fit(model, subject.in_memory(), steps, batch, repeats)
    row = {
        "model": spec,
        "train_gflop_per_image": flops / 1e9,
        "in_memory_images_per_s": memory,
        "fraction_of_limit": memory * flops / 1e9 / limit,
    }
    with tempfile.TemporaryDirectory() as folder:
        for label, data in subject.pipelines(Path(folder)).items():
            speed = _timed_fit(model, data, steps, batch, repeats)
            row[f"{label} images_per_s"] = speed
            row[f"{label} / in-memory"] = speed / memory
    x, y = subject.batch()[:2]  # the plain way: arrays of inputs and targets
    plain = _timed_numpy_fit(model, np.repeat(x, steps * repeats, 0), np.repeat(y, steps * repeats, 0), batch)
    row["plain keras images_per_s"] = plain
    row["recipe (synthetic) / plain keras"] = row["synthetic images_per_s"] / plain
    exported, keras_call = serving_latency(model, subject)
    row.update(
        {
            "export_ms_per_image": exported * 1e3,
            "keras_call_ms_per_image": keras_call * 1e3,
            "export / keras call": exported / keras_call,
        }
    )
    row["encoder_share_of_forward_flops"] = parts["encoder"] / forward_flops
    row["forward_gflop_per_image"] = forward_flops / 1e9
    return row


def compare_options(spec: str, args, default_speed: float) -> dict:
    """In-memory training speed of ``spec`` with each of ``args.options``, as a ratio to
    ``default_speed`` (float32 without XLA, measured earlier in this run)."""
    import keras

    name, _, backbone = spec.partition(":")
    size, batch = args.input_size, args.batch_size
    subject = Subject(spec, size, batch)
    options = [o for o in args.options.split(",") if o]
    unknown = set(options) - {"xla", "bfloat16", "float16"}
    if unknown:
        raise ValueError(f"--options: unknown {sorted(unknown)}; choose from xla, bfloat16, float16")
    speeds = {"default": default_speed}
    for option in options:
        if option == "bfloat16":
            from zoo.models.backbones import get_backbone
            from zoo.run.precision import choose_precision

            wide = name.startswith("fcn") and bool(get_backbone(backbone).top_dense)
            try:
                choose_precision("bfloat16", wide_kernels=wide, what=spec)
            except ValueError as err:
                print(f"option bfloat16 skipped: {err}", flush=True)
                continue
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        policy = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}.get(option, "float32")
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = subject.build(jit_compile=option == "xla")
            speeds[option] = _timed_fit(model, subject.in_memory(), args.steps, batch, 1)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        print(f"option {option}: {speeds[option]:.2f} images/s", flush=True)
    return {
        "model": spec,
        "images_per_s": speeds,
        "ratio_to_default": {k: v / speeds["default"] for k, v in speeds.items() if k != "default"},
    }


def flops_by_part(model, backbone: str, input_shape) -> dict[str, float]:
    """Forward FLOPs per image split into the backbone's encoder layers and the rest (decoder/head)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from zoo.models.backbones import get_backbone

    reference = get_backbone(backbone).constructor(include_top=False, weights=None, input_shape=input_shape)
    encoder_layers = {layer.name for layer in reference.layers}
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, *input_shape], tf.float32)
    )
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, cmd="scope", options=options)
    parts = {"encoder": 0.0, "decoder": 0.0}

    def walk(node):
        for child in node.children:
            names = child.name.split("/")
            layer = names[1].rsplit("_", 1)[0] if len(names) > 2 else ""
            if child.total_float_ops and not child.children:
                parts["encoder" if layer in encoder_layers else "decoder"] += child.total_float_ops
            walk(child)

    walk(info)
    return parts


def where_time_goes(row: dict, args) -> dict:
    """For the model of ``row`` (a ``measure_model`` result), per image: the forward pass alone,
    the full training step (from ``row``), a step with the encoder frozen (no weight
    gradients, no backward pass through it) and the optimizer's update of every
    trainable weight (Adam), plus the FLOP split from ``row``."""
    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.models.freezing import freeze_encoder

    size, batch = args.input_size, args.batch_size
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    subject = Subject(row["model"], size, batch)
    model = subject.build()
    x = tf.constant(subject.batch()[0])

    def per_call(fn) -> float:
        fn()
        times = []
        for _ in range(max(2, args.repeats)):
            start = time.perf_counter()
            for _ in range(args.steps):
                fn()
            times.append((time.perf_counter() - start) / args.steps)
        return float(np.median(times))

    call = tf.function(lambda v: model(v, training=False))
    forward = per_call(lambda: call(x).numpy()) / batch
    variables = model.trainable_variables
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(variables)
    zeros = [tf.zeros_like(v) for v in variables]
    update = tf.function(lambda: optimizer.apply_gradients(zip(zeros, variables)))
    adam = per_call(lambda: (update(), variables[0].numpy())) / batch
    freeze_encoder(model)
    model.compile(keras.optimizers.Adam(1e-4), model.loss)
    frozen = _timed_fit(model, subject.in_memory(), args.steps, batch, args.repeats)
    return {
        "model": row["model"],
        "forward_ms_per_image": forward * 1e3,
        "train_step_ms_per_image": 1e3 / row["in_memory_images_per_s"],
        "train_step_encoder_frozen_ms_per_image": 1e3 / frozen,
        "adam_update_ms_per_image": adam * 1e3,
        "trainable_parameters": int(sum(np.prod(v.shape) for v in variables)),
        "encoder_share_of_forward_flops": row["encoder_share_of_forward_flops"],
        "forward_gflop_per_image": row["forward_gflop_per_image"],
    }


def run_benchmark(args) -> dict:
    from zoo.utils.versions import library_versions

    limit = matmul_limit()
    print(f"limit: float32 matmul {limit:.0f} GFLOP/s", flush=True)
    results = {
        "limit_gflops_float32": limit,
        "input_size": args.input_size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "repeats": args.repeats,
        "precision": "float32",
        "versions": library_versions(),
        "device": _device(),
        "models": [],
    }
    specs = [m for m in args.models.split(",") if m]
    for spec in specs:
        started = time.perf_counter()
        row = measure_model(spec, args, limit)
        row["seconds"] = time.perf_counter() - started
        results["models"].append(row)
        print(json.dumps(row), flush=True)
    started = time.perf_counter()
    if args.options:
        results["options"] = compare_options(specs[0], args, results["models"][0]["in_memory_images_per_s"])
        results["options"]["seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    slowest = min(results["models"], key=lambda r: r["in_memory_images_per_s"])
    results["where_time_goes"] = where_time_goes(slowest, args)
    results["where_time_goes"]["seconds"] = time.perf_counter() - started
    print(json.dumps(results["where_time_goes"]), flush=True)
    started = time.perf_counter()
    first = results["models"][0]
    results["scaling"] = _sweep(args, known={(args.input_size, args.batch_size): first["in_memory_images_per_s"]})
    results["scaling_seconds"] = time.perf_counter() - started
    # The limit again at the end: a busy moment at the start would make every fraction too high.
    again = matmul_limit()
    if again > limit:
        results["limit_gflops_float32"] = again
        for row in results["models"]:
            row["fraction_of_limit"] *= limit / again
    results["limit_measurements"] = [limit, again]
    return results


def _sweep(args, known: dict | None = None) -> list[dict]:
    """In-memory training speed of the first model at every size x batch (``known``: figures
    already measured in this run, keyed by (size, batch))."""
    import keras

    name, _, backbone = args.models.split(",")[0].partition(":")
    rows = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        for batch in [int(b) for b in args.batches.split(",") if b]:
            if known and (size, batch) in known:
                speed = known[(size, batch)]
            else:
                keras.backend.clear_session()
                subject = Subject(f"{name}:{backbone}", size, batch)
                speed = _timed_fit(subject.build(), subject.in_memory(), 2, batch, 1)
            rows.append({"model": f"{name}:{backbone}", "input_size": size, "batch_size": batch, "images_per_s": speed})
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
    from zoo.utils.plotting import pyplot, save_figure

    plt = pyplot()
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
    save_figure(fig, path)
    plt.close(fig)


def _table(results: dict) -> str:
    lines = [
        f"device: {results['device']}; limit {results['limit_gflops_float32']:.0f} GFLOP/s (float32 matmul); "
        f"{results['input_size']} px, batch {results['batch_size']}, {results['precision']}",
        f"{'model':<24} {'GFLOP/img':>9} {'img/s':>7} {'of limit':>8} {'synth/mem':>9} {'png/mem':>8} "
        f"{'ours/plain':>10} {'export/keras':>12}",
    ]
    for r in results["models"]:
        lines.append(
            f"{r['model']:<24} {r['train_gflop_per_image']:>9.2f} {r['in_memory_images_per_s']:>7.2f} "
            f"{r['fraction_of_limit']:>8.2f} {r['synthetic / in-memory']:>9.2f} "
            f"{r['png folder / in-memory']:>8.2f} {r['recipe (synthetic) / plain keras']:>10.2f} "
            f"{r['export / keras call']:>12.2f}"
        )
    if "options" in results:
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in results["options"]["ratio_to_default"].items())
        lines.append(f"options on {results['options']['model']} (speed vs float32 without XLA): {ratios}")
    w = results.get("where_time_goes")
    if w:
        lines.append(
            f"slowest, {w['model']}: forward {w['forward_ms_per_image']:.0f} ms/image, training step "
            f"{w['train_step_ms_per_image']:.0f} ms/image ({w['train_step_encoder_frozen_ms_per_image']:.0f}"
            f" with the encoder frozen; Adam's update of {w['trainable_parameters'] / 1e6:.0f}M weights "
            f"{w['adam_update_ms_per_image']:.0f}); encoder {w['encoder_share_of_forward_flops']:.0%} of "
            f"{w['forward_gflop_per_image']:.1f} forward GFLOP"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.input_size % 32:
        raise ValueError(f"--input-size {args.input_size} must be a multiple of 32")
    if args.steps < 1 or args.repeats < 1:
        raise ValueError(f"--steps ({args.steps}) and --repeats ({args.repeats}) must be at least 1")
    started = time.perf_counter()
    results = run_benchmark(args)
    results["seconds"] = time.perf_counter() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from zoo.utils.io import write_json_atomic

    write_json_atomic(out, results)
    _plot(results, out.with_suffix(".png"))
    print(_table(results))
    print(f"wrote {out} and {out.with_suffix('.png')} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    from recipes.driver import run_main

    sys.exit(run_main(main))

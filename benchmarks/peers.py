"""The zoo against its peers on the same training loop, each side in fresh processes, alternated (figures:
docs/performance.md, "Against the peers").

    make peers-env                      # segmentation_models 1.0.1 on legacy tf_keras, in .venv-peers
    python -m benchmarks.peers [--pairs sm-unet-vgg16,sm-fpn-resnet50,hub-deeplab-resnet50,hub-segformer-b0]
        [--size 128] [--batch 8] [--steps 3] [--groups 3] [--rounds 3] [--out bench_peers.json]

A pair is the zoo's network and a peer's network of the same architecture:

- ``sm-unet-vgg16``, ``sm-fpn-resnet50``: ``segmentation_models`` (qubvel, 1.0.1) ``Unet``/``FPN`` on legacy
  ``tf_keras`` (its own environment, ``--peers-python``, made by ``make peers-env``), against ``zoo.unet`` /
  ``zoo.fpn`` on the same backbone.
- ``hub-deeplab-resnet50``: keras-hub's ``DeepLabV3ImageSegmenter`` on its ResNet50 (the layout of its
  ``deeplab_v3_plus_resnet50_pascalvoc`` preset: ASPP on P5 with rates 6, 12, 18, so output stride 32, and the
  P2 skip) against ``zoo.deeplabv3plus("resnet50", output_stride=32, atrous_rates=(6, 12, 18))``: the same
  stride and rates; the zoo's ASPP and refinement convolutions are separable, as in the paper, keras-hub's full.
- ``hub-segformer-b0``: keras-hub's ``SegFormerImageSegmenter`` on MiT-B0 (projection 256) against
  ``zoo.segformer("keras_hub:mit_b0")``.

Every side runs the same loop, in its own process (``--worker``): random weights, ``compile`` with Adam 1e-3
and sparse cross-entropy on the logits (no XLA, as the recipes), ``fit`` on one in-memory batch of random
pixels and labels repeated (``tf.data.Dataset.from_tensors(...).repeat()``), one epoch of
``2 + groups x steps`` steps: two warm-up steps, then images/s of each group of ``steps`` steps, timed from one
step's end to the next; the process's figure is the median group. Then its peak resident memory (the whole
process: runtime, model, optimizer, activations), and the latency per image of its SavedModel (Keras 3's
``model.export``, or ``tf.saved_model.save`` for tf_keras), loaded by TensorFlow alone and called on one
128 px picture: median of 20 calls after 3. Labels have each network's output size (a peer that predicts at
a lower resolution is scored there, as its own training would).

``--rounds`` rounds: each round runs every pair's two sides one after the other, alternating which goes
first. A ratio is zoo / peer within a round (machine noise hits both alike); the table gives the median
ratio with its range, and each side's median images/s with its range over the rounds.

``--precision auto`` adds the zoo side under the recipe's automatic precision (``zoo.run.precision``); where
that is float32 (a CPU without AMX) the float32 figure stands for it and the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAIRS = {
    "sm-unet-vgg16": ("zoo:unet:vgg16", "sm:Unet:vgg16"),
    "sm-fpn-resnet50": ("zoo:fpn:resnet50", "sm:FPN:resnet50"),
    "hub-deeplab-resnet50": ("zoo:deeplabv3plus:resnet50:os32", "hub:deeplabv3plus:resnet50"),
    "hub-segformer-b0": ("zoo:segformer:keras_hub:mit_b0", "hub:segformer:mit_b0"),
}
CLASSES = 8


# ---------------------------------------------------------------- the worker: one side, one process


def _keras_for(kind: str):
    """The Keras a side's library uses: tf_keras for segmentation_models, Keras 3 otherwise."""
    if kind == "sm":
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        os.environ.setdefault("SM_FRAMEWORK", "tf.keras")
        import tf_keras

        return tf_keras
    import keras

    return keras


def build_side(spec: str, size: int, policy: str = "float32"):
    """The network ``spec`` names (``zoo:MODEL:BACKBONE[:osN]``, ``sm:ARCH:BACKBONE``, ``hub:ARCH:ENCODER``),
    random weights, ``CLASSES`` logits per pixel, input ``[batch, size, size, 3]``."""
    kind, _, rest = spec.partition(":")
    shape = (size, size, 3)
    if kind == "sm":
        _keras_for("sm")
        import segmentation_models as sm

        arch, backbone = rest.split(":")
        return getattr(sm, arch)(
            backbone, encoder_weights=None, classes=CLASSES, activation="linear", input_shape=shape
        )
    import keras

    keras.mixed_precision.set_global_policy(policy)
    if kind == "zoo":
        import zoo

        model, _, backbone = rest.partition(":")
        extra = {}
        if backbone.endswith((":os8", ":os16", ":os32")):
            backbone, _, stride = backbone.rpartition(":")
            extra["output_stride"] = int(stride[2:])
            if model == "deeplabv3plus":
                extra["atrous_rates"] = (6, 12, 18)  # keras-hub's rates at its stride 32, not the zoo's scaled ones
        return zoo.build(
            model, backbone=backbone, num_classes=CLASSES, input_shape=shape, encoder_weights=None, **extra
        )
    if kind == "hub":
        import keras_hub

        arch, encoder = rest.split(":")
        if arch == "deeplabv3plus" and encoder == "resnet50":
            image_encoder = keras_hub.models.ResNetBackbone(
                input_conv_filters=[64],
                input_conv_kernel_sizes=[7],
                stackwise_num_filters=[64, 128, 256, 512],
                stackwise_num_blocks=[3, 4, 6, 3],
                stackwise_num_strides=[1, 2, 2, 2],
                block_type="bottleneck_block",
                use_pre_activation=False,
                image_shape=shape,
            )
            backbone = keras_hub.models.DeepLabV3Backbone(
                image_encoder=image_encoder,
                spatial_pyramid_pooling_key="P5",
                upsampling_size=8,
                dilation_rates=[6, 12, 18],
                low_level_feature_key="P2",
                projection_filters=48,
                image_shape=shape,
            )
            segmenter = keras_hub.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=CLASSES)
        elif arch == "segformer" and encoder == "mit_b0":
            image_encoder = keras_hub.models.MiTBackbone(
                layerwise_depths=[2, 2, 2, 2],
                num_layers=4,
                hidden_dims=[32, 64, 160, 256],
                layerwise_num_heads=[1, 2, 5, 8],
                layerwise_sr_ratios=[8, 4, 2, 1],
                max_drop_path_rate=0.1,
                layerwise_patch_sizes=[7, 3, 3, 3],
                layerwise_strides=[4, 2, 2, 2],
                image_shape=shape,
            )
            backbone = keras_hub.models.SegFormerBackbone(image_encoder=image_encoder, projection_filters=256)
            segmenter = keras_hub.models.SegFormerImageSegmenter(backbone=backbone, num_classes=CLASSES)
        else:
            raise ValueError(
                f"--worker {spec}: keras-hub side not known; use hub:deeplabv3plus:resnet50 or hub:segformer:mit_b0"
            )
        inputs = keras.Input(shape)
        return keras.Model(inputs, segmenter(inputs), name=f"keras_hub_{arch}_{encoder}")
    raise ValueError(f"--worker {spec}: the side's library must be zoo, sm or hub")


def group_rates(keras, model, data, batch: int, steps: int, groups: int) -> list[float]:
    """Images/s of ``groups`` groups of ``steps`` training steps of ``model`` on the endless ``data``: one ``fit``
    epoch (one iterator) of two warm-up steps and the groups, timed from one step's end to the next. ``keras`` is
    the Keras the model belongs to (tf_keras for segmentation_models)."""
    ends: list[float] = []

    class StepEnds(keras.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None):
            ends.append(time.perf_counter())

    model.fit(data, steps_per_epoch=2 + groups * steps, epochs=1, verbose=0, callbacks=[StepEnds()])
    return [steps * batch / (ends[1 + (g + 1) * steps] - ends[1 + g * steps]) for g in range(groups)]


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_side(spec: str, size: int, batch: int, steps: int, groups: int, precision: str) -> dict:
    """Training images/s, peak memory and SavedModel latency of one side (see the module's docstring)."""
    import numpy as np
    import tensorflow as tf

    kind = spec.partition(":")[0]
    keras = _keras_for(kind)
    policy, why = "float32", ""
    if precision == "auto":
        from zoo.run.precision import choose_precision

        policy, why = choose_precision("auto", what=spec)
    model = build_side(spec, size, policy)
    out_shape = tuple(int(d) for d in model.output_shape[1:3])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = rng.integers(0, CLASSES, (batch, *out_shape, 1)).astype("int32")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    rates = group_rates(keras, model, tf.data.Dataset.from_tensors((x, y)).repeat(), batch, steps, groups)
    train_peak = peak_rss_mib()
    latency = export_latency(model, kind, size)
    return {
        "spec": spec,
        "precision": precision,
        "policy": policy,
        "policy_why": why,
        "images_per_s": statistics.median(rates),
        "group_rates": rates,
        "params": int(model.count_params()),
        "forward_gflops": forward_gflops(model, size),
        "output_size": list(out_shape),
        "peak_rss_mib": train_peak,
        "export_latency_ms": latency,
        "versions": _versions(kind),
    }


def forward_gflops(model, size: int) -> float:
    """Forward GFLOPs per image that TensorFlow's profiler counts in the frozen inference graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, size, size, 3], tf.float32)
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    graph = convert_variables_to_constants_v2(concrete).graph
    return tf.compat.v1.profiler.profile(graph=graph, cmd="scope", options=options).total_float_ops / 1e9


def export_latency(model, kind: str, size: int, calls: int = 20) -> float:
    """Milliseconds per image of the network's SavedModel, loaded by TensorFlow alone, called on one picture."""
    import numpy as np
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "saved")
        if kind == "sm":
            tf.saved_model.save(model, path)
        else:
            model.export(path, verbose=False)
        loaded = tf.saved_model.load(path)
        serve = loaded.signatures["serving_default"]
        image = tf.constant(np.random.default_rng(1).uniform(0, 255, (1, size, size, 3)).astype("float32"))
        name = next(iter(serve.structured_input_signature[1]))
        times = []
        for i in range(3 + calls):
            start = time.perf_counter()
            out = serve(**{name: image})
            next(iter(out.values())).numpy()
            if i >= 3:
                times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _versions(kind: str) -> dict:
    import tensorflow as tf

    found = {"tensorflow": tf.__version__}
    if kind == "sm":
        import segmentation_models as sm
        import tf_keras

        found.update({"tf_keras": tf_keras.__version__, "segmentation_models": sm.__version__})
    else:
        import keras

        found["keras"] = keras.__version__
        if kind == "hub":
            import keras_hub

            found["keras_hub"] = keras_hub.__version__
    return found


# ---------------------------------------------------------------- the orchestrator: fresh processes, alternated


def run_worker(python: str, spec: str, args, precision: str = "float32") -> dict:
    """One side in a fresh process of ``python``; its JSON line, or a failure with its last lines."""
    command = [python, "-m", "benchmarks.peers", "--worker", spec, "--size", str(args.size), "--batch", str(args.batch)]
    command += ["--steps", str(args.steps), "--groups", str(args.groups), "--precision", precision]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"spec": spec, "precision": precision, "error": " | ".join(tail) or f"exit {done.returncode}"}


def summarise(rounds: list[dict], pair: str) -> dict:
    """Medians and ranges of each side, and the zoo / peer ratio within each round."""
    ours, peer = PAIRS[pair]
    rows = [r[pair] for r in rounds if pair in r]
    summary = {"pair": pair, "zoo": ours, "peer": peer}
    for side in ("zoo", "peer"):
        ok = [row[side] for row in rows if "error" not in row[side]]
        if not ok:
            summary[side + "_error"] = rows[0][side].get("error", "not run") if rows else "not run"
            continue
        for field in ("images_per_s", "peak_rss_mib", "export_latency_ms"):
            values = [r[field] for r in ok]
            summary[f"{side}_{field}"] = statistics.median(values)
            summary[f"{side}_{field}_range"] = [min(values), max(values)]
        summary[f"{side}_params"] = ok[0]["params"]
        summary[f"{side}_forward_gflops"] = ok[0]["forward_gflops"]
        summary[f"{side}_output_size"] = ok[0]["output_size"]
    ratios = [
        row["zoo"]["images_per_s"] / row["peer"]["images_per_s"]
        for row in rows
        if "error" not in row["zoo"] and "error" not in row["peer"]
    ]
    if ratios:
        summary["speed_ratio"] = statistics.median(ratios)
        summary["speed_ratio_range"] = [min(ratios), max(ratios)]
    autos = [row["zoo_auto"] for row in rows if "zoo_auto" in row and "error" not in row["zoo_auto"]]
    if autos:
        summary["zoo_auto_policy"] = autos[0]["policy"]
        summary["zoo_auto_images_per_s"] = statistics.median(a["images_per_s"] for a in autos)
    return summary


def table(results: dict) -> str:
    lines = [
        f"device: {results['device']}; {results['size']} px, batch {results['batch']}, float32; "
        f"{results['rounds']} rounds of fresh processes",
        "",
        "| pair | zoo img/s | peer img/s | zoo / peer | params zoo / peer | forward GFLOP/img zoo / peer "
        "| peak MiB zoo / peer | export ms/img zoo / peer | zoo auto precision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in results["summary"]:
        if "speed_ratio" not in s:
            lines.append(f"| {s['pair']} | {s.get('zoo_error', '')} | {s.get('peer_error', '')} | | | | | | |")
            continue

        def rng(key, fmt="{:.2f}", s=s):
            low, high = s[key + "_range"]
            return f"{fmt.format(s[key])} ({fmt.format(low)}-{fmt.format(high)})"

        auto = s.get("zoo_auto_policy", "")
        if auto and "zoo_auto_images_per_s" in s and auto != "float32":
            auto = f"{auto}: {s['zoo_auto_images_per_s']:.2f} img/s"
        elif auto == "float32":
            auto = "float32 (the float32 figure)"
        lines.append(
            f"| {s['pair']} | {rng('zoo_images_per_s')} | {rng('peer_images_per_s')} | {rng('speed_ratio')} "
            f"| {s['zoo_params'] / 1e6:.1f}M / {s['peer_params'] / 1e6:.1f}M "
            f"| {s['zoo_forward_gflops']:.2f} / {s['peer_forward_gflops']:.2f} "
            f"| {s['zoo_peak_rss_mib']:.0f} / {s['peer_peak_rss_mib']:.0f} "
            f"| {s['zoo_export_latency_ms']:.1f} / {s['peer_export_latency_ms']:.1f} | {auto} |"
        )
    return "\n".join(lines)


def device() -> str:
    """The machine as ``benchmarks.train`` names it, with its bfloat16 units (AMX or not)."""
    from benchmarks.train import _device

    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return _device()
    units = "AMX" if "amx_bf16" in flags else ("AVX-512 BF16, no AMX" if "avx512_bf16" in flags else "no bf16 units")
    return f"{_device()}, {units}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, of: {', '.join(PAIRS)}")
    p.add_argument("--size", type=int, default=128, help="square input in pixels")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3, help="steps per timed group")
    p.add_argument("--groups", type=int, default=3, help="timed groups per process (median)")
    p.add_argument("--rounds", type=int, default=3, help="fresh-process rounds, alternating which side goes first")
    p.add_argument("--precision", default="float32", help="float32, or float32,auto to add the zoo's automatic one")
    p.add_argument("--python", default=sys.executable, help="the zoo's and keras-hub's Python")
    p.add_argument(
        "--peers-python", default=".venv-peers/bin/python", help="segmentation_models' Python (make peers-env)"
    )
    p.add_argument("--out", default="bench_peers.json")
    p.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        if args.worker.startswith("sm:"):
            _keras_for("sm")  # before TensorFlow is imported: tf.keras must be tf_keras
        print(json.dumps(measure_side(args.worker, args.size, args.batch, args.steps, args.groups, args.precision)))
        return 0
    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    unknown = [p for p in pairs if p not in PAIRS]
    if unknown:
        raise SystemExit(f"--pairs {','.join(unknown)}: not known; choose from {', '.join(PAIRS)}")
    if any(PAIRS[p][1].startswith("sm:") for p in pairs) and not Path(args.peers_python).exists():
        raise SystemExit(
            f"--peers-python {args.peers_python}: not found; run `make peers-env` first (segmentation_models on tf_keras)"
        )
    results = {"device": device(), "size": args.size, "batch": args.batch, "rounds": args.rounds, "runs": []}
    for round_index in range(args.rounds):
        measured = {}
        for pair in pairs:
            ours, peer = PAIRS[pair]
            sides = [
                ("zoo", ours, args.python),
                ("peer", peer, args.peers_python if peer.startswith("sm:") else args.python),
            ]
            if round_index % 2:
                sides.reverse()
            measured[pair] = {}
            for side, spec, python in sides:
                row = run_worker(python, spec, args)
                measured[pair][side] = row
                print(
                    f"round {round_index + 1} {pair} {side}: "
                    + (row.get("error") or f"{row['images_per_s']:.2f} img/s"),
                    flush=True,
                )
            earlier = [r[pair]["zoo_auto"] for r in results["runs"] if "zoo_auto" in r.get(pair, {})]
            if "auto" in args.precision.split(",") and not any(a.get("policy") == "float32" for a in earlier):
                measured[pair]["zoo_auto"] = run_worker(args.python, ours, args, precision="auto")
        results["runs"].append(measured)
        results["summary"] = [summarise(results["runs"], pair) for pair in pairs]
        Path(args.out).write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

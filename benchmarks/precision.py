"""Where mixed bfloat16 departs from float32: each part's gradient error on one batch, with parts kept in float32
(figures: docs/performance.md, "Precision").

    python -m benchmarks.precision --model unet --backbone resnet50 --out bench_precision.json

The network is built once in float32 (random weights, seed 0) and copied with the same weights under Keras'
``mixed_bfloat16`` policy, as a whole and with "islands" kept in float32 through per-layer dtype policies:
the stem (the backbone's first convolution, which sees the raw-scale preprocessed pixels), the decoder (its
resizes, skip additions and convolutions), or both. The copies are built under the policy as a recipe builds
its network, so the layers the builders pin to float32 (the logits) stay float32 in every row. For a batch of the learning benchmark's ``objects`` task,
each copy's gradients are compared with float32's: the relative error ``|g - g32| / |g32|`` over each part's
variables (stage1..stage5, decoder), and the logits' relative error. The first row is the floor: float32 itself
on the batch's pixels rounded to bfloat16 (a change of at most 2^-9 of each value), which shows how much of the
error is the gradient's own sensitivity rather than 16-bit arithmetic. BatchNormalization already normalises in
float32 in Keras 3 and the recipes' logits layer is float32 under every policy, so neither is an island here.
This measures arithmetic, not learning: ``benchmarks.learning --precisions`` measures learning.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ISLANDS = {
    "bfloat16": (),
    "bfloat16, stem in float32": ("stem",),
    "bfloat16, decoder in float32": ("decoder",),
    "bfloat16, stem and decoder in float32": ("stem", "decoder"),
}


def island_layers(model, islands: tuple[str, ...]) -> set[str]:
    """Names of the layers kept in float32: ``stem`` (the first convolution and what precedes it) and/or
    ``decoder`` (every layer of the decoder part)."""
    import keras

    from zoo.models.freezing import layer_parts

    parts = layer_parts(model)
    names: set[str] = set()
    if "decoder" in islands:
        names |= {layer.name for layer in parts.get("decoder", [])}
    if "stem" in islands:
        for layer in model.layers:
            names.add(layer.name)
            if isinstance(layer, keras.layers.Conv2D):
                break
    return names


def mixed_copy(model, islands: tuple[str, ...], rebuild):
    """The network ``rebuild()`` makes, built under Keras' ``mixed_bfloat16`` policy (so the layers its builder
    pins to float32, the logits, stay float32, as in a recipe's run) with the ``islands`` set to float32 too,
    and the weights of float32 ``model``."""
    import keras

    from zoo.models.copies import global_policy

    with global_policy("mixed_bfloat16"):
        mixed = rebuild()
    keep = island_layers(mixed, islands)
    config = mixed.get_config()
    for layer in config["layers"]:
        if layer["name"] in keep and layer["class_name"] != "InputLayer":
            layer["config"]["dtype"] = {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": "float32"},
                "registered_name": None,
            }
    with global_policy("float32"):
        copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def gradients(model, images, labels) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Gradients of the recipe's cross-entropy per variable path, and the logits."""
    import tensorflow as tf

    from zoo.tasks.segmentation.losses import SegmentationLoss

    loss_fn = SegmentationLoss(2, "ce")
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = loss_fn(labels, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    return {v.path: g.numpy().astype(np.float64) for v, g in zip(model.trainable_variables, grads)}, np.asarray(
        logits, np.float64
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.precision", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="unet")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--out", default="bench_precision.json")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import zoo
    from benchmarks.learning import make_objects
    from benchmarks.train import _device
    from zoo.models.freezing import layer_parts

    def rebuild():
        return zoo.build(
            args.model,
            backbone=args.backbone,
            num_classes=2,
            input_shape=(args.size, args.size, 1),
            encoder_weights=None,
        )

    keras.utils.set_random_seed(0)
    model = rebuild()
    images, masks = make_objects(args.batch, args.size, args.size, seed=5)
    x = zoo.preprocess_input(images.astype("float32"), args.backbone)
    part_of = {v.path: part for part, layers in layer_parts(model).items() for layer in layers for v in layer.weights}
    reference, logits32 = gradients(model, x, masks)
    parts = sorted({part_of.get(k, "other") for k in reference})
    rounded = np.asarray(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
    rows = []
    for name, islands in {"float32, pixels rounded to bfloat16": None, **ISLANDS}.items():
        if islands is None:
            grads, logits = gradients(model, rounded, masks)
        else:
            grads, logits = gradients(mixed_copy(model, islands, rebuild), x, masks)
        by_path = dict(zip(reference, grads.values()))  # same variable order, paths may differ
        row = {"policy": name, "logits": float(np.linalg.norm(logits - logits32) / np.linalg.norm(logits32))}
        for part in parts + ["all"]:
            keys = [k for k in reference if part == "all" or part_of.get(k, "other") == part]
            diff = np.sqrt(sum(np.sum((by_path[k] - reference[k]) ** 2) for k in keys))
            norm = np.sqrt(sum(np.sum(reference[k] ** 2) for k in keys))
            row[part] = float(diff / norm) if norm else 0.0
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"cpu": _device(), "settings": vars(args), "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    header = ["policy", "logits", *parts, "all"]
    print("relative error against float32 (one batch, same weights); " + result["cpu"])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join([row["policy"]] + [f"{row[k]:.4f}" for k in header[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

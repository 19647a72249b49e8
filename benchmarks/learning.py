"""Learning quality: the recipes against a plain Keras ``fit`` of the same builder
(figures: docs/performance.md, "Learning quality").

    python -m benchmarks.learning --tasks cars,shapes,faces --epochs 8 --seeds 0,1 --out bench_learning.json

Tasks (generated here, offline, deterministic):

- ``cars``: one gray object (the synthetic shapes merged into one class) on a textured
  background, 64x64 pictures with 0/255 masks in a folder, as a user's binary task
  would be; scored on held-out pictures of another size (96x80).
- ``objects``: one gray object per picture (a smooth blob, sometimes two), darker or brighter than a
  shaded, noisy background, 64x64 with 0/255 masks in a folder: the kind of binary task a user
  brings (cells, parts, cars seen from above), where a plain fit already does well; scored on
  held-out pictures of another size (80x96).
- ``shapes``: the built-in shapes set (4 classes, RGB, 64x64) as a folder; scored on
  held-out pictures of the same size.
- ``faces``: the built-in faces set (five landmarks, RGB, 64x64) as a folder with a CSV,
  trained with ``recipes.pose`` (Simple Baselines, heatmap stride 4); scored on held-out
  pictures of another size (80x72) by the mean pixel error of the landmarks.

For each task, precision, seed and epoch budget: the recipe (``recipes.segment`` on the folder
with ``--epochs E`` and its defaults, a ``--variants`` entry changing some of them) and the plain way (the same
builder, Adam 1e-3, batch 8, random horizontal flips, ``model.fit`` on every training
picture for the same number of epochs). Both are scored the same way: the held-out
pictures go through the export's serving function (resize to the training size and
back), and the score is the mean IoU over the object classes (cars: the car's IoU).
For faces the plain way is the same network trained with Adam 1e-3 on Gaussian heatmaps
(``zoo.tasks.keypoints.heatmap_codec.encode``) by mean squared error, without augmentation (a flip needs
keypoint-aware code a ten-line script does not have), and both are scored through the
export's keypoint serving function (letterbox, DARK decoding, back to image pixels).
The recipe's score is that of the model it keeps (its best checkpoint).

``--precisions`` adds precision as a dimension: ``float32``, ``bfloat16`` (Keras' ``mixed_bfloat16``
policy, for the recipe ``--mixed-precision bfloat16``) or ``auto`` (the recipe's own choice; the
plain fit then runs in float32). The plain fit always runs in float32 unless ``--plain-precisions``
says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Settings over the recipes' defaults (cosine rate after a warm-up, BatchNorm momentum by epoch
# length; segmentation: light augmentation, 10% validation; keypoints: default augmentation, 20%
# validation). "before" is the recipes as they were before issue 15; the others change one setting.
# "{epochs}" is replaced by the budget.
VARIANTS = {
    "default": [],
    "lr-1e-3": ["--schedule", "all:{epochs}@1e-3"],
    "lr-3e-4": ["--schedule", "all:{epochs}@3e-4"],
    "lr-2e-3": ["--schedule", "all:{epochs}@2e-3"],
    "warmup-0": ["--warmup", "0"],
    "aug-none": ["--augment", "none"],
    "lovasz": ["--loss", "ce+lovasz"],
    "ohem": ["--loss", "ohem"],
    "before": ["--lr-schedule", "constant", "--bn-momentum", "keras", "--augment", "default", "--val-fraction", "0.2"],
    "cosine-bn": ["--augment", "default", "--val-fraction", "0.2"],
    "cosine-bn-light": ["--val-fraction", "0.2"],
    "constant-lr": ["--lr-schedule", "constant"],
    "keras-bn": ["--bn-momentum", "keras"],
    "default-aug": ["--augment", "default"],
    "ema": ["--ema", "0.99"],
    "light-aug": ["--augment", "light"],
    "val-0.1": ["--val-fraction", "0.1"],
}
TASKS = ("cars", "objects", "shapes", "faces")
PRECISIONS = {"float32": "off", "bfloat16": "bfloat16", "auto": "auto"}  # name -> --mixed-precision
KEYPOINT_TASKS = ("faces",)


def write_task(task: str, folder: Path, count: int, size: int, test_count: int, seed: int = 0) -> dict:
    """Writes ``folder/train`` (a folder dataset) and the held-out pictures; returns how to read them."""
    from PIL import Image

    from zoo.tasks.segmentation import synthetic

    if task in KEYPOINT_TASKS:
        return write_faces(folder, count, size, test_count, seed)
    if task == "objects":
        images, masks = make_objects(count, size, size, seed=seed)
        test_images, test_masks = make_objects(test_count, 80, 96, seed=seed + 1000)
        return write_binary(folder, images, masks, test_images, test_masks)

    gray = task == "cars"
    channels = 1 if gray else 3
    images, masks = synthetic.make_shapes(count, size, size, channels=channels, seed=seed)
    test_shape = (96, 80) if gray else (size, size)
    test_images, test_masks = synthetic.make_shapes(test_count, *test_shape, channels=channels, seed=seed + 1000)
    if gray:
        masks, test_masks = (masks > 0).astype(np.uint8), (test_masks > 0).astype(np.uint8)
    train = folder / "train"
    (train / "images").mkdir(parents=True, exist_ok=True)
    (train / "masks").mkdir(exist_ok=True)
    for i in range(count):
        Image.fromarray(images[i][..., 0] if gray else images[i]).save(train / "images" / f"{i:04d}.png")
        Image.fromarray((masks[i][..., 0] * (255 if gray else 1)).astype(np.uint8)).save(
            train / "masks" / f"{i:04d}.png"
        )
    if not gray:
        (train / "classes.txt").write_text("\n".join(synthetic.SHAPES_CLASSES) + "\n")
    return {
        "train": str(train),
        "images": images,
        "masks": masks[..., 0],
        "test_images": test_images,
        "test_masks": test_masks[..., 0],
        "classes": 2 if gray else len(synthetic.SHAPES_CLASSES),
        "channels": channels,
        "binary": gray,
    }


def make_objects(count: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One object class in gray: 1-2 smooth star-shaped blobs per picture (radius 15-30% of the
    picture's side), their mean gray 35-80 levels above or below a shaded, noisy background.
    Returns images uint8 ``[count, height, width, 1]`` and masks uint8 ``[count, height, width, 1]`` in {0, 1}."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    side = float(min(height, width))
    base = rng.uniform(60, 190, (count, 1, 1)).astype(np.float32)
    tilt = rng.uniform(-30, 30, (count, 2, 1, 1)).astype(np.float32)
    image = base + tilt[:, 0] * (xx / width - 0.5) + tilt[:, 1] * (yy / height - 0.5)
    mask = np.zeros((count, height, width), bool)
    for index in range(2):
        present = np.ones(count, bool) if index == 0 else rng.random(count) < 0.4
        cx = rng.uniform(0.25, 0.75, (count, 1, 1)).astype(np.float32) * width
        cy = rng.uniform(0.25, 0.75, (count, 1, 1)).astype(np.float32) * height
        radius = rng.uniform(0.15, 0.3, (count, 1, 1)).astype(np.float32) * side
        theta = np.arctan2(yy - cy, xx - cx)
        wobble = np.ones_like(theta)
        for k in (2, 3, 5):  # a few low harmonics make the outline irregular but smooth
            amp = rng.uniform(0, 0.18 / k * 2, (count, 1, 1)).astype(np.float32)
            phase = rng.uniform(0, 2 * np.pi, (count, 1, 1)).astype(np.float32)
            wobble = wobble + amp * np.sin(k * theta + phase)
        inside = (np.hypot(xx - cx, yy - cy) <= radius * wobble) & present[:, None, None]
        contrast = rng.uniform(35, 80, (count, 1, 1)).astype(np.float32) * rng.choice([-1.0, 1.0], (count, 1, 1))
        shade = base + contrast + rng.standard_normal(image.shape, dtype=np.float32) * 8
        image = np.where(inside, shade, image)
        mask |= inside
    image += rng.standard_normal(image.shape, dtype=np.float32) * 10
    return np.clip(image, 0, 255).astype(np.uint8)[..., None], mask.astype(np.uint8)[..., None]


def write_binary(folder: Path, images, masks, test_images, test_masks) -> dict:
    """A binary task as a user has it: ``folder/train/images/*.png`` (gray) and ``masks/*.png`` (0/255)."""
    from PIL import Image

    train = folder / "train"
    (train / "images").mkdir(parents=True, exist_ok=True)
    (train / "masks").mkdir(exist_ok=True)
    for i in range(len(images)):
        Image.fromarray(images[i][..., 0]).save(train / "images" / f"{i:04d}.png")
        Image.fromarray((masks[i][..., 0] * 255).astype(np.uint8)).save(train / "masks" / f"{i:04d}.png")
    return {
        "train": str(train),
        "images": images,
        "masks": masks[..., 0],
        "test_images": test_images,
        "test_masks": test_masks[..., 0],
        "classes": 2,
        "channels": 1,
        "binary": True,
    }


def write_faces(folder: Path, count: int, size: int, test_count: int, seed: int = 0) -> dict:
    """The faces task: ``folder/train/images`` and ``landmarks.csv`` (image, NAME_x, NAME_y, ...)."""
    import csv

    from PIL import Image

    from zoo.tasks.keypoints import synthetic

    images, keypoints, _ = synthetic.make_faces(count, size, size, seed=seed)
    test_images, test_keypoints, test_sizes = synthetic.make_faces(test_count, 80, 72, seed=seed + 1000)
    train = folder / "train"
    (train / "images").mkdir(parents=True, exist_ok=True)
    with open(train / "landmarks.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image"] + [f"{name}_{axis}" for name in synthetic.FACE_KEYPOINTS for axis in "xy"])
        for i in range(count):
            Image.fromarray(images[i]).save(train / "images" / f"{i:04d}.png")
            writer.writerow([f"{i:04d}.png"] + [f"{v:.3f}" for v in keypoints[i, :, :2].reshape(-1)])
    return {
        "kind": "keypoints",
        "train": str(train),
        "images": images,
        "keypoints": keypoints,
        "test_images": test_images,
        "test_keypoints": test_keypoints,
        "channels": 3,
        "model": "simple_baseline",
        "stride": 4,
        "batch": 8,
    }


def score_keypoints(model, data: dict, size: int, backbone: str, stride: int) -> float:
    """Mean distance in pixels between predicted and true landmarks on the held-out pictures,
    through the export's keypoint serving function (lower is better)."""
    import tensorflow as tf

    from zoo.tasks.keypoints.heatmap_codec import HeatmapCodec
    from zoo.tasks.keypoints.serving import keypoint_serving_fn

    serve = tf.function(keypoint_serving_fn(model, (size, size), backbone, HeatmapCodec(stride, 2.0, "dark")))
    pred = np.concatenate(
        [
            serve(tf.constant(data["test_images"][i : i + 8]))["keypoints"].numpy()
            for i in range(0, len(data["test_images"]), 8)
        ]
    )
    return float(np.linalg.norm(pred - data["test_keypoints"][..., :2], axis=-1).mean())


def with_budget(flags: list[str], epochs: int) -> list[str]:
    """A variant's flags with ``{epochs}`` replaced by the budget."""
    return [f.replace("{epochs}", str(epochs)) for f in flags]


def plain_fit_keypoints(data: dict, backbone: str, size: int, epochs: int, seed: int, policy: str = "float32") -> float:
    """The plain way for keypoints: the same network, Gaussian heatmap targets, MSE, Adam 1e-3, no augmentation."""
    from zoo.models.copies import global_policy

    with global_policy(policy):
        return _plain_fit_keypoints(data, backbone, size, epochs, seed)


def _plain_fit_keypoints(data: dict, backbone: str, size: int, epochs: int, seed: int) -> float:
    import keras
    import tensorflow as tf

    from zoo import get_backbone
    from zoo.tasks import build_network
    from zoo.tasks.keypoints.heatmap_codec import HeatmapCodec, encode

    keras.utils.set_random_seed(seed)
    stride = data["stride"]
    model = build_network(
        HeatmapCodec(stride).network(
            data["model"], backbone, data["keypoints"].shape[1], (size, size, data["channels"])
        )
    )
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.MeanSquaredError())
    spec = get_backbone(backbone)
    heat = (size // stride, size // stride)

    def targets(x, k):
        maps, _ = encode(k[:, :2], k[:, 2], heat, stride)
        return spec.preprocess(tf.cast(x, tf.float32)), maps

    ds = (
        tf.data.Dataset.from_tensor_slices((data["images"], data["keypoints"]))
        .shuffle(len(data["images"]), seed=seed)
        .map(targets)
        .batch(data["batch"])
        .prefetch(2)
    )
    model.fit(ds, epochs=epochs, verbose=0)
    return score_keypoints(model, data, size, backbone, stride)


def score(model, data: dict, size: int, backbone: str) -> float:
    """Mean IoU over the object classes (class 0, the background, left out) on the held-out pictures,
    through the export's serving function."""
    import tensorflow as tf

    from zoo.tasks.segmentation.serving import segmentation_serving_fn

    serve = tf.function(segmentation_serving_fn(model, (size, size), backbone))
    pred = np.concatenate(
        [
            serve(tf.constant(data["test_images"][i : i + 8]))["mask"].numpy()
            for i in range(0, len(data["test_images"]), 8)
        ]
    )
    return mean_iou(pred, data["test_masks"], data["classes"])


def mean_iou(pred: np.ndarray, true: np.ndarray, classes: int) -> float:
    """Mean IoU over the object classes (class 0, the background, left out) present in either class map."""
    ious = []
    for c in range(1, classes):
        union = np.logical_or(pred == c, true == c).sum()
        if union:
            ious.append(np.logical_and(pred == c, true == c).sum() / union)
    return float(np.mean(ious))


def plain_fit(
    data: dict, model_name: str, backbone: str, size: int, epochs: int, seed: int, policy: str = "float32"
) -> float:
    """The ten lines a user would write: the builder, Adam 1e-3, batch 8, flips, fit on every picture
    (under the Keras dtype ``policy``)."""
    from zoo.models.copies import global_policy

    with global_policy(policy):
        return _plain_fit(data, model_name, backbone, size, epochs, seed)


def _plain_fit(data: dict, model_name: str, backbone: str, size: int, epochs: int, seed: int) -> float:
    import keras
    import tensorflow as tf

    import zoo

    keras.utils.set_random_seed(seed)
    model = zoo.build(
        model_name,
        backbone=backbone,
        num_classes=data["classes"],
        input_shape=(size, size, data["channels"]),
        encoder_weights=None,
    )
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    spec = zoo.get_backbone(backbone)
    flip = keras.layers.RandomFlip("horizontal", seed=seed)

    def augment(x, y):
        both = flip({"images": x, "segmentation_masks": tf.cast(y, tf.float32)}, training=True)
        return spec.preprocess(both["images"]), tf.cast(both["segmentation_masks"], tf.int32)

    ds = (
        tf.data.Dataset.from_tensor_slices((data["images"].astype("float32"), data["masks"][..., None]))
        .shuffle(len(data["images"]), seed=seed)
        .batch(8)
        .map(augment)
        .prefetch(2)
    )
    model.fit(ds, epochs=epochs, verbose=0)
    return score(model, data, size, backbone)


def recipe(
    data: dict, model_name: str, backbone: str, size: int, epochs: int, seed: int, extra: list[str], out: Path
) -> tuple[float, list[float]]:
    """The recipe on the task's folder; returns (held-out score of the model it keeps, validation mIoU per epoch)."""
    from recipes import pose, segment
    from zoo.export.from_run import load_run
    from zoo.run.rundir import read_history

    keypoints = data.get("kind") == "keypoints"
    args = [
        "--dataset",
        f"folder:{data['train']}",
        "--model",
        data["model"] if keypoints else model_name,
        "--backbone",
        backbone,
        "--encoder-weights",
        "none",
        "--input-size",
        str(size),
        "--batch-size",
        str(data.get("batch", 8)),
        "--epochs",
        str(epochs),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--verbose",
        "0",
        *extra,
    ]
    if not keypoints:
        args += ["--binary-masks"] if data["binary"] else ["--num-classes", str(data["classes"])]
    if (pose if keypoints else segment).main(args) != 0:
        raise RuntimeError(f"the recipe failed: {args}")
    model, _, _ = load_run(out)
    history = read_history(out / "history.csv")
    if keypoints:
        curve = [row.get("val_mean_pixel_error") for row in history]
        return score_keypoints(model, data, size, backbone, data["stride"]), curve
    curve = [row.get("val_mean_iou") for row in history]
    return score(model, data, size, backbone), curve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.learning", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", default="cars,shapes", help=f"comma-separated, from {TASKS}")
    p.add_argument(
        "--variants",
        default="default",
        help=f"recipe settings to compare, comma-separated, from {sorted(VARIANTS)} (default: default)",
    )
    p.add_argument("--epochs", default="8", help="epoch budgets, comma-separated (default 8)")
    p.add_argument("--seeds", default="0,1", help="seeds, comma-separated (default 0,1)")
    p.add_argument("--model", default="unet")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--size", type=int, default=64, help="training size in pixels (default 64)")
    p.add_argument("--count", type=int, default=240, help="training pictures per task (default 240)")
    p.add_argument("--test-count", type=int, default=40, help="held-out pictures per task (default 40)")
    p.add_argument("--no-plain", action="store_true", help="skip the plain fit (e.g. to compare variants only)")
    p.add_argument(
        "--precisions",
        default="float32",
        help=f"the recipe's precisions, comma-separated, from {sorted(PRECISIONS)} (default float32)",
    )
    p.add_argument(
        "--plain-precisions",
        default="float32",
        help="the plain fit's precisions, comma-separated, float32 and/or bfloat16 (default float32)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the rows already in --out and run only the missing ones (a run split over sessions)",
    )
    p.add_argument("--out", default="bench_learning.json")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tasks = [t for t in args.tasks.split(",") if t]
    variants = [v for v in args.variants.split(",") if v]
    precisions = [v for v in args.precisions.split(",") if v]
    plain_precisions = [] if args.no_plain else [v for v in args.plain_precisions.split(",") if v]
    for name in tasks:
        if name not in TASKS:
            raise SystemExit(f"unknown task {name!r}; choose from {TASKS}")
    for name in variants:
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; choose from {sorted(VARIANTS)}")
    for name in precisions:
        if name not in PRECISIONS:
            raise SystemExit(f"unknown precision {name!r}; choose from {sorted(PRECISIONS)}")
    for name in plain_precisions:
        if name not in ("float32", "bfloat16"):
            raise SystemExit(f"unknown plain-fit precision {name!r}; choose float32 or bfloat16")
    budgets = [int(e) for e in args.epochs.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    from benchmarks.train import _device
    from zoo.run.precision import amx_in_use, cpu_flags

    device = _device() + (", AMX bfloat16" if amx_in_use(cpu_flags()) else "")
    results = {"cpu": device, "settings": vars(args), "rows": []}
    if args.keep and Path(args.out).exists():
        results["rows"] = json.loads(Path(args.out).read_text())["rows"]
    done = {(r["task"], r["way"], r.get("precision", "float32"), r["epochs"], r["seed"]) for r in results["rows"]}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        for task in tasks:
            data = None
            for epochs in budgets:
                for seed in seeds:
                    runs = [(v, VARIANTS[v], p) for v in variants for p in precisions]
                    runs += [("plain fit", None, p) for p in plain_precisions]
                    for name, extra, precision in runs:
                        if (task, name, precision, epochs, seed) in done:
                            continue
                        if data is None:
                            data = write_task(task, Path(tmp) / task, args.count, args.size, args.test_count)
                        t0 = time.time()
                        policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
                        if extra is None and task in KEYPOINT_TASKS:
                            value = plain_fit_keypoints(data, args.backbone, args.size, epochs, seed, policy)
                            curve = []
                        elif extra is None:
                            value = plain_fit(data, args.model, args.backbone, args.size, epochs, seed, policy)
                            curve = []
                        else:
                            flags = with_budget(extra, epochs)
                            value, curve = recipe(
                                data,
                                args.model,
                                args.backbone,
                                args.size,
                                epochs,
                                seed,
                                [*flags, "--mixed-precision", PRECISIONS[precision]],
                                Path(tmp) / f"run-{task}-{name}-{precision}-{epochs}-{seed}",
                            )
                        measure = "pixel_error" if task in KEYPOINT_TASKS else "iou"
                        row = {
                            "task": task,
                            "way": name,
                            "precision": precision,
                            "epochs": epochs,
                            "seed": seed,
                            measure: round(value, 4),
                            "val_curve": [round(v, 3) if isinstance(v, float) else None for v in curve],
                            "seconds": round(time.time() - t0, 1),
                        }
                        results["rows"].append(row)
                        print(json.dumps(row), flush=True)
                        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    results["seconds"] = round(time.time() - started, 1)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    return 0


def table(results: dict) -> str:
    """Mean and spread of the held-out score per task, budget, way and precision, with the ratio to the
    float32 plain fit (IoU: recipe / plain, higher is better; pixel error: plain / recipe, so above 1 also
    means better)."""
    groups: dict[tuple, list[float]] = {}
    for row in results["rows"]:
        value = row["pixel_error"] if "pixel_error" in row else row["iou"]
        key = (row["task"], row["epochs"], row["way"], row.get("precision", "float32"))
        groups.setdefault(key, []).append(value)
    lines = [
        f"held-out score, mean over seeds [min-max] (n seeds): IoU of the object classes (higher is better) or "
        f"landmark error in px (lower is better); 'vs plain' above 1 means better than the float32 plain fit; "
        f"{results['cpu']}",
        f"{'task':<8} {'epochs':>6}  {'way':<16} {'precision':<9} {'score':>6}  {'range':<15} {'n':>2} {'vs plain':>8}",
    ]
    for (task, epochs, way, precision), values in sorted(groups.items()):
        plain = groups.get((task, epochs, "plain fit", "float32"))
        if plain:
            ratio = np.mean(plain) / np.mean(values) if task in KEYPOINT_TASKS else np.mean(values) / np.mean(plain)
        lines.append(
            f"{task:<8} {epochs:>6}  {way:<16} {precision:<9} {np.mean(values):>6.3f}  "
            f"[{min(values):.3f}-{max(values):.3f}] {len(values):>2} {f'{ratio:.3f}' if plain else '-':>8}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

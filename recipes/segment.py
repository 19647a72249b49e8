"""Fine-tune a segmentation model, evaluate it and export it: the project's main job.

    python -m recipes.segment --dataset synthetic:shapes --model unet --backbone vgg16 \\
        --input-size 128 --batch-size 8 --schedule head:2@1e-3,all:8@1e-4 --out runs/shapes

Datasets: ``synthetic:shapes`` (built in, offline), ``tfds:NAME`` (preset for
oxford_iiit_pet; ``--image-key/--mask-key/--num-classes`` for others) and
``folder:PATH`` (``images/<stem>.png|jpg`` + ``masks/<stem>.png``). Everything the
run produces goes to ``--out`` (see ``zoo.training``); re-running the same command
resumes an unfinished run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from recipes.common import RecipeConfig, restores_keras_policy  # noqa: E402
from recipes.common import bn_momentum_used as _momentum  # noqa: E402

SEGMENTATION_MODELS = ("unet", "fcn8s", "fcn16s", "fcn32s")
MUST_MATCH = ("dataset", "model", "backbone", "input_size", "channels", "num_classes", "binary_masks",
              "ignore_index", "loss", "batch_size", "seed", "schedule", "synthetic_count", "val_fraction",
              "encoder_weights")


@dataclasses.dataclass
class SegmentConfig(RecipeConfig):
    """Every setting of the recipe (flags and ``--config`` JSON use the same names); shared ones in
    ``recipes.common.RecipeConfig``."""

    dataset: str = "synthetic:shapes"
    model: str = "unet"
    backbone: str = "vgg16"
    input_size: str = "128"
    batch_size: int = 8
    num_classes: int | None = None
    binary_masks: bool = False
    ignore_index: int = 255
    resize_masks: bool = False
    skip_check: bool = False
    loss: str = "ce"
    mask_key: str | None = None
    # Chosen by benchmarks.learning (README, "Learning quality"): light augmentation and a 10%
    # validation split learned best on both tasks there; the keypoint recipe keeps the shared defaults.
    augment: str = "light"
    val_fraction: float = 0.1


def build_parser() -> argparse.ArgumentParser:
    from recipes.common import add_distribution_flags, add_training_flags

    d = SegmentConfig()
    p = argparse.ArgumentParser(
        prog="python -m recipes.segment",
        description="Fine-tune a segmentation model (FCN or U-Net on VGG16/ResNet50), evaluate it, export it. "
                    "`python -m recipes.segment check [flags]` scans the dataset and settings without training.",
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    a = p.add_argument
    a("--dataset", help=f"synthetic:shapes | tfds:NAME | folder:PATH (default {d.dataset})")
    a("--model", choices=SEGMENTATION_MODELS, help=f"decoder (default {d.model})")
    a("--backbone", help=f"vgg16 | resnet50 (default {d.backbone})")
    a("--encoder-weights", dest="encoder_weights",
      help="imagenet (store, Keras cache, else download) | auto (imagenet if present locally, else none, said "
           f"plainly) | none | PATH (default {d.encoder_weights})")
    a("--input-size", dest="input_size", help=f"training size H or HxW, multiples of 32 (default {d.input_size})")
    a("--channels", type=int, help="model input channels (default: the data's; 1 for grayscale)")
    a("--batch-size", dest="batch_size", type=int, help=f"global batch, split across replicas (default {d.batch_size})")
    a("--schedule", help="phases WHAT:EPOCHS@LR, e.g. head:2@1e-3,stage4:3@1e-4,all:5@1e-5; WHAT is head "
                         "(decoder only), stageN (stage N onwards + decoder) or all. 'auto' with --epochs E: "
                         "head:E/5@1e-3,all:(rest)@1e-4 with pretrained weights, all:E@3e-4 without (default auto)")
    a("--epochs", type=int, help=f"total epochs of --schedule auto (default {d.epochs})")
    a("--out", help="run directory (default runs/<model>_<backbone>_<dataset name>)")
    a("--resume", action="store_true", help="continue an unfinished run (a plain re-run does the same)")
    a("--overwrite", action="store_true", help="delete an existing run in --out and start again")
    add_distribution_flags(p)
    a("--num-classes", dest="num_classes", type=int, help="classes C (needed for folder/tfds without a preset)")
    a("--binary-masks", dest="binary_masks", action="store_true",
      help="masks are 0/255 (black background, white object): 2 classes")
    a("--ignore-index", dest="ignore_index", type=int,
      help=f"mask value left out of loss and metrics (default {d.ignore_index})")
    a("--resize-masks", dest="resize_masks", action="store_true",
      help="folder: resize a mask whose size differs from its image's (nearest neighbour) instead of refusing")
    a("--skip-check", dest="skip_check", action="store_true",
      help="folder: skip the scan of every file before training (see the `check` command)")
    a("--loss", choices=("ce", "dice", "focal", "ce+dice"), help=f"loss (default {d.loss})")
    a("--seed", type=int, help=f"random seed for data, splits and weights (default {d.seed})")
    a("--steps-per-epoch", dest="steps_per_epoch", type=int,
      help="batches per epoch (default: training examples // batch size)")
    a("--val-fraction", dest="val_fraction", type=float,
      help=f"held-out fraction when the data has no validation split (default {d.val_fraction})")
    a("--image-key", dest="image_key", help="tfds: image feature name (default from the preset, else 'image')")
    a("--mask-key", dest="mask_key", help="tfds: mask feature name (default from the preset)")
    a("--train-split", dest="train_split", help="tfds: training split")
    a("--val-split", dest="val_split", help="tfds: validation split (default: the preset's, else 10%% of train)")
    a("--data-dir", dest="data_dir", help="tfds: data folder (default ~/tensorflow_datasets)")
    a("--synthetic-count", dest="synthetic_count", type=int,
      help=f"synthetic: number of pictures, train + validation (default {d.synthetic_count})")
    add_training_flags(p, d)
    a("--verbose", help="Keras fit verbosity: auto, 0, 1 (bar) or 2 (a line per epoch) (default auto)")
    a("--config", help="JSON file with any of these settings (names with underscores); flags override it")
    a("--debug", action="store_true", help="show tracebacks")
    return p


def _log(message: str) -> None:
    print(f"[segment] {message}", flush=True)


def validate(cfg: SegmentConfig, input_size: tuple[int, int]) -> None:
    """The recipe's own flag checks, before any data is read (``check`` runs them too).

    Raises ValueError naming the flag and the fix.
    """
    cfg.check_common(SEGMENTATION_MODELS)
    if cfg.binary_masks and cfg.num_classes not in (None, 2):
        raise ValueError(f"--binary-masks means 2 classes (background, object) but --num-classes is "
                         f"{cfg.num_classes}; drop one of them")
    classes = 2 if cfg.binary_masks else cfg.num_classes
    if classes is not None:
        check_label_settings(classes, cfg.ignore_index, "--binary-masks" if cfg.binary_masks else "--num-classes")
    elif not 0 <= cfg.ignore_index <= 255:
        check_label_settings(256, cfg.ignore_index, "--ignore-index")


def check_label_settings(num_classes: int, ignore_index: int, origin: str) -> None:
    """Refuses fewer than 2 classes and an ignore index that is one of the classes or does not fit in a
    mask byte. ``origin`` says where the class count came from (for the message)."""
    if num_classes < 2:
        raise ValueError(
            f"{origin} gives {num_classes} class(es): a softmax segmentation model needs at least 2 (background "
            "and object), and with one it learns nothing and reports mIoU 1.0. For object-vs-background masks use "
            "--binary-masks (masks 0/1 or 0/255) or --num-classes 2")
    if not 0 <= ignore_index <= 255:
        raise ValueError(f"--ignore-index {ignore_index}: must be between 0 and 255 (masks are bytes after the "
                         "label lookup); the default 255 is usual")
    if ignore_index < num_classes:
        raise ValueError(
            f"--ignore-index {ignore_index} is one of the {num_classes} classes 0..{num_classes - 1} ({origin}): "
            f"that class would be left out of the loss and the metrics. Use a value of {num_classes} or more "
            "(default 255)")


def load_source(cfg: SegmentConfig, input_size: tuple[int, int], scan: bool = True):
    """The dataset's source (``zoo.data.segmentation``); a folder is scanned first (``check``) unless
    ``scan`` is False or ``--skip-check``. Class count and ignore index are checked against each other."""
    from zoo.data import segmentation as seg

    kind, _, rest = cfg.dataset.partition(":")
    if kind == "synthetic":
        if rest != "shapes":
            raise ValueError(f"unknown synthetic set {rest!r} for segmentation; use synthetic:shapes")
        source = seg.synthetic_shapes(cfg.synthetic_count, input_size, cfg.channels or 3, cfg.seed,
                                      cfg.val_fraction)
    elif kind == "tfds":
        if not rest:
            raise ValueError("--dataset tfds:NAME needs a name, e.g. tfds:oxford_iiit_pet")
        source = seg.tfds_source(rest, num_classes=cfg.num_classes, ignore_index=cfg.ignore_index,
                                 image_key=cfg.image_key, mask_key=cfg.mask_key, train_split=cfg.train_split,
                                 val_split=cfg.val_split, binary_masks=cfg.binary_masks, data_dir=cfg.data_dir)
    elif kind == "folder":
        if scan and not cfg.skip_check:
            from zoo.data.checks import stop_on_errors

            stop_on_errors(_scan_folder(cfg, rest), _log)
        source = seg.folder_source(rest, channels=cfg.channels or _folder_channels(rest),
                                   num_classes=cfg.num_classes, ignore_index=cfg.ignore_index,
                                   binary_masks=cfg.binary_masks, val_fraction=cfg.val_fraction, seed=cfg.seed)
    else:
        raise ValueError(f"--dataset {cfg.dataset!r}: use synthetic:shapes, tfds:NAME or folder:PATH")
    origin = "--binary-masks" if cfg.binary_masks else (
        "--num-classes" if cfg.num_classes is not None else f"the dataset ({source.description})")
    check_label_settings(source.num_classes, cfg.ignore_index, origin)
    return source


def _scan_folder(cfg: SegmentConfig, path: str):
    from zoo.data import checks

    return checks.check_segmentation_folder(
        path, channels=cfg.channels or _folder_channels(path), num_classes=cfg.num_classes,
        ignore_index=cfg.ignore_index, binary_masks=cfg.binary_masks, resize_masks=cfg.resize_masks,
        val_fraction=cfg.val_fraction)


def check_data(cfg: SegmentConfig, input_size: tuple[int, int]):
    """Every problem of ``cfg.dataset`` at once (``zoo.data.checks``): a full file scan for
    folders, then (if it found no error) the same loading training does, so settings it
    refuses are reported too; for TFDS and synthetic sets, that they load and have data in
    both splits."""
    from zoo.data import checks

    kind, _, rest = cfg.dataset.partition(":")
    if kind == "folder":
        report = _scan_folder(cfg, rest)
        if not report.errors:
            checks.add_load_errors(report, lambda: load_source(cfg, input_size, scan=False))
        return report
    return checks.loaded_source_report(load_source(cfg, input_size))


def _folder_channels(path: str) -> int:
    """The model channels for a folder: 1 if its first readable image is gray, else 3."""
    from PIL import Image

    from zoo.data.layout import IMAGE_SUFFIXES

    folder = Path(path).expanduser()
    for sub in ("images", "train/images"):
        if not (folder / sub).is_dir():
            continue
        for candidate in sorted(p for p in (folder / sub).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                with Image.open(candidate) as image:
                    return 1 if image.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "F") else 3
            except Exception:  # broken files are the scan's to report; look at the next one
                continue
    return 3


def pipeline_options(cfg: SegmentConfig, source, input_size: tuple[int, int], channels: int) -> dict:
    """The ``zoo.data.pipeline.segmentation_pipeline`` options training, validation and evaluation
    share (how masks become labels among them)."""
    return dict(table=source.table, binary_masks=source.binary_masks, input_size=input_size, channels=channels,
                batch_size=cfg.batch_size, backbone=cfg.backbone, seed=cfg.seed)


def evaluate(model, dataset, num_classes: int, ignore_index: int, class_names: list[str]) -> dict:
    """Confusion-matrix metrics over a finite dataset: mIoU, per-class IoU, pixel accuracy."""
    import keras
    import tensorflow as tf

    from zoo.losses import iou_report

    metric = keras.metrics.MeanIoU(num_classes, ignore_class=ignore_index, sparse_y_pred=False)
    predict = tf.function(lambda x: model(x, training=False))
    for images, masks in dataset:
        metric.update_state(masks, predict(images))
    return iou_report(metric.total_cm.numpy(), class_names)


@restores_keras_policy
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    checking = bool(argv) and argv[0] == "check"
    args = build_parser().parse_args(argv[1:] if checking else argv)
    from recipes.common import merge_config, open_session, parse_size, run_check

    cfg = merge_config(SegmentConfig(), args, _log)
    input_size = parse_size(cfg.input_size)
    validate(cfg, input_size)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if checking:
        return run_check(cfg, input_size, check_data, _log, need_top=cfg.model.startswith("fcn"))

    session = open_session(cfg, input_size=input_size,
                           must_match=MUST_MATCH, need_top=cfg.model.startswith("fcn"), log=_log)
    with session:  # holds the run's lock until training, evaluation and export are done
        if session.state == "finished":
            return 0
        return _train(cfg, input_size, session)


def _train(cfg: SegmentConfig, input_size: tuple[int, int], session) -> int:
    """Loads the data, builds, trains, evaluates and exports (the run's lock is held)."""
    from recipes.common import check_batch, compile_options, load_best, verbosity, write_run_config

    import keras
    import numpy as np

    import zoo
    from zoo.data.augment import AUGMENT_PRESETS
    from zoo.data.pipeline import segmentation_pipeline
    from zoo.distribute import build_from_spec_under_multiworker, shard_by_data
    from zoo.export import export_model, info_from_config
    from zoo.losses import SegmentationLoss, segmentation_metrics
    from zoo.reporting import plot_curves, plot_segmentation_samples
    from zoo.tasks import NetworkSpec, build_network
    from zoo.training import fit_phases, read_history, write_json_atomic

    strategy, run, phases = session.strategy, session.run, session.phases

    keras.utils.set_random_seed(cfg.seed)
    source = load_source(cfg, input_size)
    channels = cfg.channels or source.channels or 3
    replicas = check_batch(cfg.batch_size, strategy)
    steps = cfg.steps_per_epoch or max(1, source.num_train // cfg.batch_size)
    _log(f"data: {source.description}; {source.num_classes} classes {source.class_names}")
    _log(f"strategy: {type(strategy).__name__} with {replicas} replica(s); global batch {cfg.batch_size}; "
         f"{steps} steps per epoch; schedule {session.schedule}; {cfg.optimizer_config().describe()}; "
         f"BatchNorm momentum {_momentum(cfg, steps):g}; augmentation {cfg.augment}")

    common = pipeline_options(cfg, source, input_size, channels)

    def train_data():  # one per phase (see fit_phases)
        return shard_by_data(segmentation_pipeline(
            source.train, training=True, augment=AUGMENT_PRESETS[cfg.augment],
            num_examples=source.num_train, repeat=True, **common))

    train_ds = train_data()
    val_ds = shard_by_data(segmentation_pipeline(source.val, training=False, num_examples=source.num_val, **common))

    with strategy.scope():
        network = NetworkSpec(cfg.model, {"backbone": cfg.backbone, "num_classes": source.num_classes,
                                          "input_shape": (*input_size, channels)})
        model = build_network(network, session.encoder_weights)
        compile_kwargs = {
            "loss": SegmentationLoss(source.num_classes, cfg.loss, cfg.ignore_index),
            "metrics": segmentation_metrics(source.num_classes, cfg.ignore_index),
            **compile_options(cfg),
        }
    _log(f"model: {model.name}, {model.count_params():,} parameters, input {(*input_size, channels)}")
    write_run_config(session, {
        "input_size": list(input_size), "channels": channels, "num_classes": source.num_classes,
        "class_names": source.class_names, "data": source.description, "num_train": source.num_train,
        "num_val": source.num_val, "steps_per_epoch": steps, "encoder_weights": str(session.encoder_weights),
        "weights_note": session.weights_note, "strategy": type(strategy).__name__, "replicas": replicas,
        "training": cfg.optimizer_config().describe(), "bn_momentum": _momentum(cfg, steps),
        "network": network.to_json()})

    build_from_spec_under_multiworker(model, train_ds.element_spec)
    started = time.time()
    with strategy.scope():
        fit_phases(model, phases, run, compile_kwargs=compile_kwargs, train_data=train_data, val_data=val_ds,
                   optimizer=cfg.optimizer_config(), bn_momentum=cfg.batchnorm_momentum(steps),
                   steps_per_epoch=steps, verbose=verbosity(cfg.verbose), log=_log)
    train_seconds = time.time() - started

    if not session.chief:
        shutil.rmtree(run.root, ignore_errors=True)
        return 0

    used = load_best(model, run)
    report = evaluate(model, val_ds, source.num_classes, cfg.ignore_index, source.class_names)
    history = read_history(run.history)
    plot_curves(history, run.curves, "mean_iou", f"{model.name} on {source.description}")
    raw_val = segmentation_pipeline(source.val.take(6), training=False, preprocess=False, **common)
    images, masks = next(iter(raw_val.unbatch().batch(6)))
    spec = zoo.get_backbone(cfg.backbone)
    preds = np.argmax(model(spec.preprocess(images), training=False), axis=-1)
    plot_segmentation_samples(images.numpy().astype(np.uint8), masks.numpy()[..., 0], preds, run.samples,
                              source.class_names)
    export_model(model, info_from_config(json.loads(run.config.read_text())), "saved_model", run.export,
                 source={"run": str(run.root.resolve()), "weights": used})
    metrics = {**report, "weights": used, "epochs": sum(p.epochs for p in phases), "split": "validation",
               "num_val": source.num_val, "train_seconds_this_invocation": round(train_seconds, 1)}
    write_json_atomic(run.metrics, metrics)  # last: marks the run finished

    _log(f"validation mIoU {report['mean_iou']:.3f}, pixel accuracy {report['pixel_accuracy']:.3f} "
         f"({used} weights); per class: "
         + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in report["per_class_iou"].items()))
    _log(f"run directory: {run.root}")
    print(
        "\nLoad the export with TensorFlow alone:\n"
        "    import numpy as np, tensorflow as tf\n"
        f"    serve = tf.saved_model.load({str(run.export)!r}).signatures['serving_default']\n"
        f"    out = serve(images=tf.zeros((1, 240, 320, {channels}), tf.uint8))   # any size, uint8\n"
        "    out['mask'].shape, out['probabilities'].shape   # (1, 240, 320), (1, 240, 320, "
        f"{source.num_classes})\n"
        f"Other formats: python -m zoo export {shlex.quote(str(run.root))} --format litert|onnx|keras\n"
        f"Run on image files or folders: python -m zoo predict {shlex.quote(str(run.export))} IMAGE_OR_FOLDER... --out DIR\n"
    )
    return 0


def cli(argv: list[str] | None = None) -> int:
    from recipes.common import run_main

    return run_main(main, argv)


if __name__ == "__main__":
    sys.exit(cli())

"""Fine-tune a keypoint model (one heatmap per keypoint), evaluate it and export it.

    python -m recipes.pose --dataset synthetic:faces --model simple_baseline --backbone resnet50 \\
        --input-size 96 --batch-size 16 --out runs/faces

The network ends in convolutions that produce one map per keypoint; the target map
is a Gaussian centred on the keypoint (sub-pixel, unrounded), and the prediction is
where the map peaks, refined below the pixel (``--decode dark`` or ``soft-argmax``).
Same schedule syntax, strategies, run directory and resume as ``recipes.segment``.
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

from recipes.common import RecipeConfig, restores_keras_policy  # noqa: E402
from recipes.common import bn_momentum_used as _momentum  # noqa: E402

POSE_MODELS = ("simple_baseline", "unet")
MUST_MATCH = ("dataset", "model", "backbone", "input_size", "channels", "batch_size", "seed", "schedule",
              "synthetic_count", "val_fraction", "encoder_weights", "sigma", "heatmap_stride")


@dataclasses.dataclass
class PoseConfig(RecipeConfig):
    """Every setting of the recipe (flags and ``--config`` JSON use the same names); shared ones in
    ``recipes.common.RecipeConfig``."""

    dataset: str = "synthetic:faces"
    model: str = "simple_baseline"
    backbone: str = "resnet50"
    input_size: str = "96"
    batch_size: int = 16
    sigma: float = 2.0
    heatmap_stride: int | None = None
    decode: str = "dark"
    flip_test: bool = False
    pck_threshold: float = 0.1
    pck_normalizer: str = "size"
    keypoints_key: str | None = None
    flip_pairs: str | None = None
    num_keypoints: int | None = None
    skip_check: bool = False


def build_parser() -> argparse.ArgumentParser:
    from recipes.common import add_distribution_flags, add_training_flags

    d = PoseConfig()
    p = argparse.ArgumentParser(
        prog="python -m recipes.pose",
        description="Fine-tune a keypoint heatmap model (Simple Baselines or U-Net on ResNet50/VGG16), "
                    "evaluate PCK/NME, export a SavedModel that returns pixel coordinates. "
                    "`python -m recipes.pose check [flags]` scans the dataset and settings without training.",
        argument_default=argparse.SUPPRESS,
    )
    a = p.add_argument
    a("--dataset", help=f"synthetic:faces | tfds:NAME (aflw2k3d, the300w_lp, celeb_a, or generic keys) | "
                        f"folder:PATH (COCO keypoints JSON or CSV) (default {d.dataset})")
    a("--model", choices=POSE_MODELS, help=f"heatmap model (default {d.model})")
    a("--backbone", help=f"resnet50 | vgg16 (default {d.backbone})")
    a("--encoder-weights", dest="encoder_weights",
      help=f"imagenet | auto (imagenet if present locally, else none, said plainly) | none | PATH "
           f"(default {d.encoder_weights})")
    a("--input-size", dest="input_size", help=f"H or HxW, multiples of 32 (default {d.input_size})")
    a("--channels", type=int, help="model input channels (default: the data's)")
    a("--batch-size", dest="batch_size", type=int, help=f"global batch (default {d.batch_size})")
    a("--schedule", help="phases WHAT:EPOCHS@LR (see recipes.segment); 'auto' with --epochs E: "
                         "head:E/5@1e-3,all:rest@1e-4 pretrained, all:E@1e-3 from random weights (default auto)")
    a("--epochs", type=int, help=f"total epochs of --schedule auto (default {d.epochs})")
    a("--out", help="run directory (default runs/<model>_<backbone>_<dataset name>)")
    a("--resume", action="store_true", help="continue an unfinished run (a plain re-run does the same)")
    a("--overwrite", action="store_true", help="delete an existing run in --out and start again")
    add_distribution_flags(p)
    a("--sigma", type=float, help=f"Gaussian sigma of the targets, heatmap pixels (default {d.sigma})")
    a("--heatmap-stride", dest="heatmap_stride", type=int,
      help="input pixels per heatmap pixel: 1, 2, 4, 8, 16 or 32 for simple_baseline (default 4), 1 for unet")
    a("--decode", choices=("argmax", "dark", "soft-argmax"), help=f"sub-pixel decoding (default {d.decode})")
    a("--flip-test", dest="flip_test", action="store_true",
      help="average with the prediction on the mirrored image (evaluation and export)")
    a("--seed", type=int, help=f"random seed (default {d.seed})")
    a("--steps-per-epoch", dest="steps_per_epoch", type=int, help="batches per epoch (default: examples // batch)")
    a("--val-fraction", dest="val_fraction", type=float, help=f"held-out fraction (default {d.val_fraction})")
    a("--pck-threshold", dest="pck_threshold", type=float,
      help=f"PCK threshold as a fraction of the normaliser (default {d.pck_threshold})")
    a("--pck-normalizer", dest="pck_normalizer", choices=("size", "interocular", "pixels"),
      help="size (face/box size, else the keypoints' span), interocular, or pixels (threshold in pixels)")
    a("--image-key", dest="image_key", help="tfds: image feature")
    a("--keypoints-key", dest="keypoints_key", help="tfds: [K, 2] feature of (x, y) normalised to [0, 1]")
    a("--train-split", dest="train_split", help="tfds: training split")
    a("--val-split", dest="val_split", help="tfds: validation split (default: the preset's, else 10%% of train)")
    a("--data-dir", dest="data_dir", help="tfds: data folder")
    a("--num-keypoints", dest="num_keypoints", type=int,
      help="folder: keypoints per annotation expected (default: the names the file declares)")
    a("--skip-check", dest="skip_check", action="store_true",
      help="folder: skip the scan of every file before training (see the `check` command)")
    a("--flip-pairs", dest="flip_pairs", help="left/right keypoint pairs swapped by flips, e.g. 0-1,3-4 "
                                              "(default: from left_*/right_* names or the preset)")
    a("--synthetic-count", dest="synthetic_count", type=int, help=f"synthetic pictures (default {d.synthetic_count})")
    add_training_flags(p, d)
    a("--verbose", help="Keras fit verbosity: auto, 0, 1 or 2")
    a("--config", help="JSON file with any of these settings; flags override it")
    a("--debug", action="store_true", help="show tracebacks")
    return p


def _log(message: str) -> None:
    print(f"[pose] {message}", flush=True)


def _parse_pairs(text: str | None):
    """``"0-1,3-4"`` -> [(0, 1), (3, 4)]; refuses malformed pairs, a keypoint paired with itself or used twice."""
    if not text:
        return None
    pairs, used = [], set()
    for part in str(text).split(","):
        if not part.strip():
            continue
        try:
            pair = tuple(int(v) for v in part.split("-"))
        except ValueError:
            pair = ()
        if len(pair) != 2 or min(pair) < 0:
            raise ValueError(f"--flip-pairs {text!r}: {part.strip()!r} is not a pair of keypoint indices; write "
                             "pairs like 0-1,3-4")
        if pair[0] == pair[1] or used & set(pair):
            raise ValueError(f"--flip-pairs {text!r}: keypoint {pair[0] if pair[0] == pair[1] else sorted(used & set(pair))[0]} "
                             "is paired with itself or appears in two pairs; each keypoint swaps with at most one other")
        used.update(pair)
        pairs.append(pair)
    return pairs


def load_source(cfg: PoseConfig, input_size, scan: bool = True):
    """The dataset's source (``zoo.data.keypoint_sources``); a folder is scanned first (``check``)
    unless ``scan`` is False or ``--skip-check``."""
    from zoo.data import keypoint_sources as ks

    kind, _, rest = cfg.dataset.partition(":")
    if kind == "synthetic":
        if rest != "faces":
            raise ValueError(f"unknown synthetic set {rest!r} for keypoints; use synthetic:faces")
        return ks.synthetic_faces(cfg.synthetic_count, input_size, cfg.channels or 3, cfg.seed, cfg.val_fraction)
    if kind == "tfds":
        if not rest:
            raise ValueError("--dataset tfds:NAME needs a name, e.g. tfds:aflw2k3d")
        return ks.tfds_keypoint_source(rest, data_dir=cfg.data_dir, image_key=cfg.image_key,
                                       keypoints_key=cfg.keypoints_key, val_split=cfg.val_split,
                                       train_split=cfg.train_split)
    if kind == "folder":
        if scan and not cfg.skip_check:
            from zoo.data.checks import stop_on_errors

            stop_on_errors(_scan_folder(cfg, rest), _log)
        return ks.folder_keypoint_source(rest, channels=cfg.channels or 3, val_fraction=cfg.val_fraction,
                                         seed=cfg.seed, flip_pairs=_parse_pairs(cfg.flip_pairs))
    raise ValueError(f"--dataset {cfg.dataset!r}: use synthetic:faces, tfds:NAME or folder:PATH")


def _scan_folder(cfg: PoseConfig, path: str):
    from zoo.data import checks

    return checks.check_keypoint_folder(path, channels=cfg.channels or 3, num_keypoints=cfg.num_keypoints,
                                        val_fraction=cfg.val_fraction)


def check_data(cfg: PoseConfig, input_size):
    """Every problem of ``cfg.dataset`` at once (``zoo.data.checks``): a full scan for folders,
    then (if it found no error) the same loading training does (flip pairs, split sizes), so
    what training refuses is reported too; for TFDS and synthetic sets, that they load and
    have data in both splits."""
    from zoo.data import checks

    kind, _, rest = cfg.dataset.partition(":")
    if kind == "folder":
        report = _scan_folder(cfg, rest)
        if not report.errors:
            checks.add_load_errors(report, lambda: load_source(cfg, input_size, scan=False))
        return report
    return checks.loaded_source_report(load_source(cfg, input_size))


def validate(cfg: PoseConfig, input_size) -> int:
    """The recipe's own flag checks, before any data is read (``check`` runs them too); returns the
    heatmap stride. Raises ValueError naming the flag and the fix."""
    cfg.check_common(POSE_MODELS)
    from zoo.heatmaps import STRIDES

    stride = cfg.heatmap_stride or (4 if cfg.model == "simple_baseline" else 1)
    if cfg.model == "unet" and stride != 1:
        raise ValueError(f"--heatmap-stride {stride}: a U-Net's heatmaps are at the input resolution (stride 1)")
    if stride not in STRIDES:
        raise ValueError(f"--heatmap-stride must be one of {', '.join(map(str, STRIDES))}, got {stride}")
    if cfg.sigma <= 0:
        raise ValueError(f"--sigma must be positive, got {cfg.sigma}")
    _parse_pairs(cfg.flip_pairs)
    if cfg.flip_pairs and not cfg.dataset.startswith("folder:"):
        raise ValueError(f"--flip-pairs is for folder datasets; {cfg.dataset} declares its own left/right pairs")
    return stride


def evaluate_keypoints(model, dataset, *, stride: int, method: str, sigma: float, flip_index, normalizer: str,
                       threshold: float, names, eye_indices, limit: int | None = None,
                       predictors: dict | None = None) -> tuple[dict, dict]:
    """Decodes predictions over an evaluation dataset and scores them in source-image pixels.

    ``predictors`` (decoder -> compiled prediction function), when given, keeps the
    traced functions between calls so per-epoch evaluation does not retrace.

    Returns:
        (report from ``keypoint_report``, arrays for plotting: pixels, true and predicted
        keypoints in the input frame, visibility).
    """
    import numpy as np
    import tensorflow as tf

    from zoo.heatmaps import decode, flip_average, heatmap_to_image
    from zoo.keypoint_metrics import keypoint_report, normalisers

    predict = predictors.get(method) if predictors is not None else None
    if predict is None:
        @tf.function
        def predict(images):
            heatmaps = model(images, training=False)
            if flip_index is not None:
                heatmaps = flip_average(heatmaps, model(tf.reverse(images, axis=[2]), training=False), flip_index)
            coords, _ = decode(heatmaps, method, sigma)
            return heatmap_to_image(coords, stride)

        if predictors is not None:
            predictors[method] = predict  # traced once, reused every epoch

    pred_src, true_src, visible, sizes, frame_pred, frame_true, pixels = [], [], [], [], [], [], []
    for batch in dataset:
        frame = predict(batch["images"]).numpy()  # [B, K, 2] in the input frame
        inverse = np.linalg.inv(batch["matrix"].numpy())  # input frame -> source pixels
        homog = np.concatenate([frame, np.ones_like(frame[..., :1])], -1)
        source = np.einsum("bij,bkj->bki", inverse, homog)[..., :2]
        pred_src.append(source)
        true_src.append(batch["source_keypoints"].numpy())
        visible.append(batch["visible"].numpy())
        sizes.append(batch["norm"].numpy())
        if len(pixels) < 1:
            frame_pred.append(frame)
            frame_true.append(batch["keypoints"].numpy())
            pixels.append(batch["pixels"].numpy())
        if limit and sum(len(p) for p in pred_src) >= limit:
            break
    true = np.concatenate(true_src)
    # the source visibility (flips are off in evaluation, so frame and source keypoints correspond)
    norm = normalisers(normalizer, np.concatenate(sizes), true, eye_indices)
    report = keypoint_report(np.concatenate(pred_src), true, np.concatenate(visible), norm, threshold, list(names))
    plots = {"pixels": np.concatenate(pixels), "pred": np.concatenate(frame_pred),
             "true": np.concatenate(frame_true), "visible": np.concatenate(visible)[: len(pixels[0])]}
    return report, plots


@restores_keras_policy
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    checking = bool(argv) and argv[0] == "check"
    args = build_parser().parse_args(argv[1:] if checking else argv)
    from recipes.common import merge_config, open_session, parse_size, run_check

    cfg = merge_config(PoseConfig(), args, _log)
    input_size = parse_size(cfg.input_size)
    stride = validate(cfg, input_size)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if checking:
        return run_check(cfg, input_size, check_data, _log)

    session = open_session(cfg, input_size=input_size,
                           must_match=MUST_MATCH, need_top=False, log=_log, scratch_lr="1e-3")
    with session:  # holds the run's lock until training, evaluation and export are done
        if session.state == "finished":
            return 0
        return _train(cfg, input_size, stride, session)


def _train(cfg: PoseConfig, input_size: tuple[int, int], stride: int, session) -> int:
    """Loads the data, builds, trains, evaluates and exports (the run's lock is held)."""
    from recipes.common import check_batch, compile_options, load_best, verbosity, write_run_config

    import keras
    import numpy as np

    from zoo.data.keypoints import KEYPOINT_AUGMENT_PRESETS
    from zoo.data.pipeline import keypoint_pipeline
    from zoo.tasks import build_network, keypoint_network
    from zoo.distribute import build_from_spec_under_multiworker, shard_by_data
    from zoo.export import export_model, info_from_config
    from zoo.losses import HeatmapLoss
    from zoo.reporting import plot_curves, plot_keypoint_samples
    from zoo.training import fit_phases, read_history, write_json_atomic

    strategy, run, phases = session.strategy, session.run, session.phases

    keras.utils.set_random_seed(cfg.seed)
    source = load_source(cfg, input_size)
    channels = cfg.channels or source.channels or 3
    count = len(source.keypoint_names)
    replicas = check_batch(cfg.batch_size, strategy)
    steps = cfg.steps_per_epoch or max(1, source.num_train // cfg.batch_size)
    flip_index = source.flip_index
    _log(f"data: {source.description}; {count} keypoints {source.keypoint_names[:8]}"
         f"{' ...' if count > 8 else ''}; flip pairs {[(i, j) for i, j in enumerate(flip_index) if i < j]}")
    _log(f"strategy: {type(strategy).__name__} with {replicas} replica(s); global batch {cfg.batch_size}; "
         f"{steps} steps per epoch; schedule {session.schedule}; {cfg.optimizer_config().describe()}; "
         f"BatchNorm momentum {_momentum(cfg, steps):g}; augmentation {cfg.augment}; heatmaps at stride {stride}, sigma {cfg.sigma}")

    common = dict(input_size=input_size, channels=channels, batch_size=cfg.batch_size, backbone=cfg.backbone,
                  stride=stride, sigma=cfg.sigma, flip_index=flip_index, seed=cfg.seed)

    def train_data():  # one per phase (see fit_phases)
        return shard_by_data(keypoint_pipeline(
            source.train, training=True, augment=KEYPOINT_AUGMENT_PRESETS[cfg.augment],
            num_examples=source.num_train, repeat=True, **common))

    train_ds = train_data()
    val_ds = shard_by_data(keypoint_pipeline(source.val, training=False, num_examples=source.num_val, **common))
    eval_ds = keypoint_pipeline(source.val, training=False, num_examples=source.num_val, for_eval=True, **common)

    with strategy.scope():
        network = keypoint_network(cfg.model, cfg.backbone, count, (*input_size, channels), stride)
        model = build_network(network, session.encoder_weights)
        compile_kwargs = {"loss": HeatmapLoss(), **compile_options(cfg)}
    _log(f"model: {model.name}, {model.count_params():,} parameters, input {(*input_size, channels)}, "
         f"heatmaps {model.output_shape[1:]}")
    write_run_config(session, {
        "input_size": list(input_size), "channels": channels, "keypoint_names": source.keypoint_names,
        "flip_index": flip_index, "heatmap_stride": stride, "data": source.description,
        "num_train": source.num_train, "num_val": source.num_val, "steps_per_epoch": steps,
        "encoder_weights": str(session.encoder_weights), "weights_note": session.weights_note,
        "strategy": type(strategy).__name__, "replicas": replicas,
        "training": cfg.optimizer_config().describe(), "bn_momentum": _momentum(cfg, steps),
        "network": network.to_json()})

    evaluation = dict(stride=stride, method=cfg.decode, sigma=cfg.sigma,
                      flip_index=flip_index if cfg.flip_test else None, normalizer=cfg.pck_normalizer,
                      threshold=cfg.pck_threshold, names=source.keypoint_names, eye_indices=source.eye_indices,
                      predictors={})

    def epoch_metrics() -> dict:
        report, _ = evaluate_keypoints(model, eval_ds, **evaluation)
        keys = {"val_pck": "pck", "val_nme": "nme", "val_mean_pixel_error": "mean_pixel_error"}
        # None (no visible keypoint could be scored) is logged as NaN: CSV and TensorBoard need numbers.
        return {name: float("nan") if report[key] is None else report[key] for name, key in keys.items()}

    build_from_spec_under_multiworker(model, train_ds.element_spec)
    started = time.time()
    with strategy.scope():
        fit_phases(model, phases, run, compile_kwargs=compile_kwargs, train_data=train_data, val_data=val_ds,
                   optimizer=cfg.optimizer_config(), bn_momentum=cfg.batchnorm_momentum(steps),
                   steps_per_epoch=steps, verbose=verbosity(cfg.verbose), log=_log, monitor="val_nme",
                   mode="min", epoch_metrics=epoch_metrics)
    train_seconds = time.time() - started
    if not session.chief:
        shutil.rmtree(run.root, ignore_errors=True)
        return 0

    used = load_best(model, run)
    report, plots = evaluate_keypoints(model, eval_ds, **evaluation)
    decoders = {}
    for method in ("argmax", "dark", "soft-argmax"):
        other, _ = evaluate_keypoints(model, eval_ds, **{**evaluation, "method": method})
        decoders[method] = {"pck": other["pck"], "mean_pixel_error": other["mean_pixel_error"]}
    plot_curves(read_history(run.history), run.curves, "pck", f"{model.name} on {source.description}")
    shown = min(8, len(plots["pixels"]))
    plot_keypoint_samples(plots["pixels"][:shown].astype(np.uint8), plots["true"][:shown], plots["pred"][:shown],
                          plots["visible"][:shown], run.samples, source.keypoint_names)
    export_model(model, info_from_config(json.loads(run.config.read_text())), "saved_model", run.export,
                 source={"run": str(run.root.resolve()), "weights": used})
    metrics = {**report, "decode": cfg.decode, "flip_test": cfg.flip_test, "normalizer": cfg.pck_normalizer,
               "decoders": decoders, "weights": used, "epochs": sum(p.epochs for p in phases),
               "split": "validation", "num_val": source.num_val,
               "train_seconds_this_invocation": round(train_seconds, 1)}
    write_json_atomic(run.metrics, metrics)  # last: marks the run finished
    _log(f"validation PCK@{cfg.pck_threshold:g} ({cfg.pck_normalizer}) {report['pck']:.3f}, NME "
         f"{report['nme']:.4f}, mean pixel error {report['mean_pixel_error']:.2f} px ({used} weights, "
         f"{cfg.decode} decoding{', flip test' if cfg.flip_test else ''})")
    _log(f"run directory: {run.root}")
    print(
        "\nLoad the export with TensorFlow alone:\n"
        "    import tensorflow as tf\n"
        f"    serve = tf.saved_model.load({str(run.export)!r}).signatures['serving_default']\n"
        f"    out = serve(images=tf.zeros((1, 200, 160, {channels}), tf.uint8))   # any size, uint8\n"
        f"    out['keypoints']   # (1, {count}, 2): (x, y) in the image's pixels; out['scores'] (1, {count})\n"
        f"Other formats: python -m zoo export {shlex.quote(str(run.root))} --format litert|onnx|keras\n"
        f"Run on image files or folders: python -m zoo predict {shlex.quote(str(run.export))} IMAGE_OR_FOLDER... --out DIR\n"
    )
    return 0


def cli(argv: list[str] | None = None) -> int:
    from recipes.common import run_main

    return run_main(main, argv)


if __name__ == "__main__":
    sys.exit(cli())

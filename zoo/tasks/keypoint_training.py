"""Training a keypoint model: data sources, pipelines, heatmap loss, evaluation (PCK, NME), plots.

``KeypointTrainer`` is what the recipe driver (``recipes/driver.py``) asks about the
task; the functions around it are also the ``check`` command's. ``settings`` is any object
with the fields of ``KeypointSettings`` (the recipe's ``PoseConfig`` is one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from zoo.heatmaps import DECODINGS, HeatmapCodec
from zoo.tasks.base import NetworkSpec
from zoo.tasks.keypoints import KEYPOINT_MODELS, keypoint_network

MODELS = KEYPOINT_MODELS


class KeypointSettings(Protocol):
    """The settings the keypoint task reads (the flags of ``python -m recipes.pose``)."""

    dataset: str  # synthetic:faces | tfds:NAME | folder:PATH
    model: str  # one of MODELS
    backbone: str
    batch_size: int
    seed: int
    channels: int | None  # None: the data's
    sigma: float  # target Gaussian, heatmap pixels
    heatmap_stride: int | None  # input pixels per heatmap pixel; None: the model's own
    decode: str  # one of zoo.heatmaps.DECODINGS
    flip_test: bool
    eval_tta: str | None  # "flip": a second final evaluation with the flip test (zoo.tta)
    flip_pairs: str | None  # "0-1,3-4"
    pck_threshold: float
    pck_normalizer: str  # one of zoo.keypoint_metrics.NORMALIZERS
    num_keypoints: int | None
    augment: str  # one of zoo.data.keypoints.KEYPOINT_AUGMENT_PRESETS
    val_fraction: float
    synthetic_count: int
    skip_check: bool
    image_key: str | None  # tfds feature names and splits
    keypoints_key: str | None
    train_split: str | None
    val_split: str | None
    data_dir: str | None


def parse_pairs(text: str | None):
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


def codec_of(settings: KeypointSettings) -> HeatmapCodec:
    """The heatmap codec of the settings (stride 4 for simple_baseline, 1 for unet, unless given).
    Its ranges are ``HeatmapCodec``'s own checks; raises ValueError naming the flags."""
    stride = settings.heatmap_stride or (4 if settings.model == "simple_baseline" else 1)
    if settings.model == "unet" and stride != 1:
        raise ValueError(f"--heatmap-stride {stride}: a U-Net's heatmaps are at the input resolution (stride 1)")
    try:
        return HeatmapCodec(stride, float(settings.sigma), settings.decode)
    except ValueError as err:
        raise ValueError(f"--heatmap-stride / --sigma / --decode: {err}") from None


def validate(settings: KeypointSettings) -> None:
    """The keypoint settings' own checks, before any data is read (``check`` runs them too).
    Raises ValueError naming the flag and the fix."""
    codec_of(settings)
    parse_pairs(settings.flip_pairs)
    if settings.flip_pairs and not settings.dataset.startswith("folder:"):
        raise ValueError(f"--flip-pairs is for folder datasets; {settings.dataset} declares its own left/right pairs")
    from zoo.tta import parse_tta

    tta = parse_tta(settings.eval_tta)
    if tta is not None and tta.scales != (1.0,):
        raise ValueError(f"--eval-tta {settings.eval_tta!r}: keypoints take flip only (left/right keypoints swapped, "
                         "heatmaps averaged, as --flip-test); multi-scale views are for segmentation")


def load_source(settings: KeypointSettings, input_size: tuple[int, int], scan: bool = True,
                log: Callable[[str], None] = print):
    """The dataset's source (``zoo.data.keypoint_sources``); a folder is scanned first (``check``)
    unless ``scan`` is False or ``skip_check``."""
    from zoo.data import keypoint_sources as ks

    kind, _, rest = settings.dataset.partition(":")
    if kind == "synthetic":
        if rest != "faces":
            raise ValueError(f"unknown synthetic set {rest!r} for keypoints; use synthetic:faces")
        return ks.synthetic_faces(settings.synthetic_count, input_size, settings.channels or 3, settings.seed,
                                  settings.val_fraction)
    if kind == "tfds":
        if not rest:
            raise ValueError("--dataset tfds:NAME needs a name, e.g. tfds:aflw2k3d")
        return ks.tfds_keypoint_source(rest, data_dir=settings.data_dir, image_key=settings.image_key,
                                       keypoints_key=settings.keypoints_key, val_split=settings.val_split,
                                       train_split=settings.train_split)
    if kind == "folder":
        if scan and not settings.skip_check:
            from zoo.data.checks import stop_on_errors

            stop_on_errors(scan_folder(settings, rest), log)
        return ks.folder_keypoint_source(rest, channels=settings.channels or 3, val_fraction=settings.val_fraction,
                                         seed=settings.seed, flip_pairs=parse_pairs(settings.flip_pairs))
    raise ValueError(f"--dataset {settings.dataset!r}: use synthetic:faces, tfds:NAME or folder:PATH")


def scan_folder(settings: KeypointSettings, path: str):
    """``zoo.data.checks``' scan of a keypoint folder with these settings."""
    from zoo.data import checks

    return checks.check_keypoint_folder(path, channels=settings.channels or 3, num_keypoints=settings.num_keypoints,
                                        val_fraction=settings.val_fraction)


def check_data(settings: KeypointSettings, input_size: tuple[int, int]):
    """Every problem of ``settings.dataset`` at once (``zoo.data.checks.dataset_report``): a full scan
    for folders, then the loading training does; for TFDS and synthetic sets, that they load."""
    from zoo.data.checks import dataset_report

    return dataset_report(settings.dataset, lambda path: scan_folder(settings, path),
                          lambda scan: load_source(settings, input_size, scan=scan))


def evaluate_keypoints(model, dataset, *, codec: HeatmapCodec, flip_index, normalizer: str, threshold: float,
                       names, eye_indices, limit: int | None = None, predictors: dict | None = None
                       ) -> tuple[dict, dict]:
    """Decodes predictions over an evaluation dataset and scores them in source-image pixels.

    ``predictors`` ((decoding, flip test) -> compiled prediction function), when given, keeps the
    traced functions between calls so per-epoch evaluation does not retrace.

    Returns:
        (report from ``keypoint_report``, arrays for plotting: pixels, true and predicted
        keypoints in the input frame, visibility).
    """
    import tensorflow as tf

    from zoo.heatmaps import flip_average
    from zoo.keypoint_metrics import keypoint_report, normalisers

    key = (codec.decoding, flip_index is not None)  # the traced function closes over both
    predict = predictors.get(key) if predictors is not None else None
    if predict is None:
        @tf.function
        def predict(images):
            heatmaps = model(images, training=False)
            if flip_index is not None:
                heatmaps = flip_average(heatmaps, model(tf.reverse(images, axis=[2]), training=False), flip_index)
            return codec.decode(heatmaps)[0]

        if predictors is not None:
            predictors[key] = predict  # traced once, reused every epoch

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


class KeypointTrainer:
    """The keypoint task's part of a recipe run (``recipes.driver.TaskTrainer``); loads the data."""

    monitor, mode, curve_metric = "val_nme", "min", "pck"

    def __init__(self, settings: KeypointSettings, input_size: tuple[int, int], log: Callable[[str], None]):
        self.settings, self.input_size = settings, input_size
        self.codec = codec_of(settings)
        self.source = load_source(settings, input_size, log=log)
        self.channels = settings.channels or self.source.channels or 3
        self.count = len(self.source.keypoint_names)
        self.num_train, self.num_val, self.description = (self.source.num_train, self.source.num_val,
                                                          self.source.description)
        self.common = dict(input_size=input_size, channels=self.channels, batch_size=settings.batch_size,
                           backbone=settings.backbone, codec=self.codec,
                           flip_index=self.source.flip_index, seed=settings.seed)
        self.evaluation = dict(flip_index=self.source.flip_index if settings.flip_test else None,
                               normalizer=settings.pck_normalizer, threshold=settings.pck_threshold,
                               names=self.source.keypoint_names, eye_indices=self.source.eye_indices)
        self.predictors: dict = {}

    def data_line(self) -> str:
        names, flip = self.source.keypoint_names, self.source.flip_index
        return (f"data: {self.description}; {self.count} keypoints {names[:8]}{' ...' if self.count > 8 else ''}; "
                f"flip pairs {[(i, j) for i, j in enumerate(flip) if i < j]}")

    def settings_line(self) -> str:
        return (f"augmentation {self.settings.augment}; heatmaps at stride {self.codec.stride}, "
                f"sigma {self.codec.sigma:g}")

    def network(self) -> NetworkSpec:
        return keypoint_network(self.settings.model, self.settings.backbone, self.count,
                                (*self.input_size, self.channels), self.codec.stride)

    def compile_kwargs(self) -> dict:
        from zoo.losses import HeatmapLoss

        return {"loss": HeatmapLoss()}

    def resolved(self) -> dict:
        return {"input_size": list(self.input_size), "channels": self.channels,
                "keypoint_names": self.source.keypoint_names, "flip_index": self.source.flip_index,
                "heatmap_stride": self.codec.stride, "data": self.description, "num_train": self.num_train,
                "num_val": self.num_val}

    def train_data(self):
        from zoo.data.keypoints import KEYPOINT_AUGMENT_PRESETS
        from zoo.data.pipeline import keypoint_pipeline

        return keypoint_pipeline(self.source.train, training=True, augment=KEYPOINT_AUGMENT_PRESETS[self.settings.augment],
                                 num_examples=self.num_train, repeat=True, **self.common)

    def val_data(self):
        from zoo.data.pipeline import keypoint_pipeline

        return keypoint_pipeline(self.source.val, training=False, num_examples=self.num_val, **self.common)

    def _eval_data(self):
        from zoo.data.pipeline import keypoint_pipeline

        if not hasattr(self, "_eval"):
            self._eval = keypoint_pipeline(self.source.val, training=False, num_examples=self.num_val,
                                           for_eval=True, **self.common)
        return self._eval

    def epoch_metrics(self, model) -> Callable[[], dict]:
        """PCK, NME and pixel error on the validation set after each epoch (logged to history.csv)."""
        def metrics() -> dict:
            report, _ = evaluate_keypoints(model, self._eval_data(), codec=self.codec, predictors=self.predictors,
                                           **self.evaluation)
            keys = {"val_pck": "pck", "val_nme": "nme", "val_mean_pixel_error": "mean_pixel_error"}
            # None (no visible keypoint could be scored) is logged as NaN: CSV and TensorBoard need numbers.
            return {name: float("nan") if report[key] is None else report[key] for name, key in keys.items()}

        return metrics

    def evaluate(self, model, samples: Path) -> dict:
        """Validation report (PCK, NME, pixel errors, every decoding compared); draws ``samples``."""
        import dataclasses

        from zoo.reporting import plot_keypoint_samples

        report, plots = evaluate_keypoints(model, self._eval_data(), codec=self.codec, predictors=self.predictors,
                                           **self.evaluation)
        decodings = {}
        for method in DECODINGS:
            other, _ = evaluate_keypoints(model, self._eval_data(), predictors=self.predictors,
                                          codec=dataclasses.replace(self.codec, decoding=method), **self.evaluation)
            decodings[method] = {"pck": other["pck"], "mean_pixel_error": other["mean_pixel_error"]}
        if self.settings.eval_tta:
            flipped, _ = evaluate_keypoints(model, self._eval_data(), codec=self.codec, predictors=self.predictors,
                                            **{**self.evaluation, "flip_index": self.source.flip_index})
            report["tta"] = {"mode": "flip", **{k: flipped[k] for k in ("pck", "nme", "mean_pixel_error")}}
        shown = min(8, len(plots["pixels"]))
        plot_keypoint_samples(plots["pixels"][:shown].astype(np.uint8), plots["true"][:shown], plots["pred"][:shown],
                              plots["visible"][:shown], samples, self.source.keypoint_names)
        return {**report, "decode": self.codec.decoding, "flip_test": self.settings.flip_test,
                "normalizer": self.settings.pck_normalizer, "decodings": decodings}

    def summary(self, report: dict, weights: str) -> str:
        s = self.settings
        return (f"validation PCK@{s.pck_threshold:g} ({s.pck_normalizer}) {report['pck']:.3f}, NME "
                f"{report['nme']:.4f}, mean pixel error {report['mean_pixel_error']:.2f} px ({weights} weights, "
                f"{self.codec.decoding} decoding{', flip test' if s.flip_test else ''})"
                + (f"; with the flip test: PCK {report['tta']['pck']:.3f}, mean pixel error "
                   f"{report['tta']['mean_pixel_error']:.2f} px" if "tta" in report else ""))

    def usage(self) -> list[str]:
        """The lines that call the export in the closing hint (after ``serve = ...``)."""
        return [f"    out = serve(images=tf.zeros((1, 200, 160, {self.channels}), tf.uint8))   # any size, uint8",
                f"    out['keypoints']   # (1, {self.count}, 2): (x, y) in the image's pixels; out['scores'] "
                f"(1, {self.count})"]



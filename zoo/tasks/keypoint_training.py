"""Training a keypoint model: data sources, pipelines, heatmap loss, evaluation (COCO OKS AP, PCK, NME), plots.

``KeypointTrainer`` is what the recipe driver (``recipes/driver.py``) asks about the
task; the functions around it are also the ``check`` command's. ``settings`` is any object
with the fields of ``KeypointSettings`` (the recipe's ``PoseConfig`` is one).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from zoo.heatmaps import HeatmapCodec
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
    codec: str  # one of zoo.heatmaps.GRIDS: msra | udp
    head: str  # "heatmap" | "simcc" (zoo.simcc)
    flip_test: bool
    eval_tta: str | None  # "flip": a second final evaluation with the flip test (zoo.tta)
    flip_pairs: str | None  # "0-1,3-4"
    region: str | None  # folder: "box" | "image"; None: box when the file gives boxes
    category: str | None  # folder: the COCO category whose keypoints are read (name or id)
    oks_sigmas: str | None  # "0.035" or K comma-separated values; None: the data's (zoo.keypoint_ap)
    eval_boxes: str | None  # folder: a JSON of detections (zoo.data.detections) for a second, detector-box AP
    half_body: float  # probability of zoo.data.keypoints.HalfBody per training example (0: off)
    lower_body: str | None  # "11,12,...": the lower half's keypoint indices (default: by name)
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


def codec_of(settings: KeypointSettings, input_size: tuple[int, int] = (32, 32)):
    """The keypoint codec of the settings: ``zoo.heatmaps.HeatmapCodec`` (stride 4 for simple_baseline,
    1 for unet, unless given) or, with ``--head simcc``, ``zoo.simcc.SimccCodec`` at ``input_size``
    (``--decode dark``, the heatmap default, reads SimCC by argmax). Raises ValueError naming the flags."""
    if settings.head not in ("heatmap", "simcc"):
        raise ValueError(f"--head {settings.head!r}: choose heatmap or simcc")
    if settings.head == "simcc":
        from zoo.simcc import SIMCC_DECODINGS, SimccCodec

        if settings.model != "simple_baseline":
            raise ValueError(f"--head simcc builds on simple_baseline's deconvolutions; --model {settings.model} has "
                             "its own heatmap decoder (use --model simple_baseline, the default)")
        if settings.heatmap_stride is not None or settings.codec != "msra":
            raise ValueError("--heatmap-stride and --codec are for the heatmap head; SimCC classifies coordinates "
                             "in bins of half a pixel")
        decoding = "argmax" if settings.decode == "dark" else settings.decode
        if decoding not in SIMCC_DECODINGS:
            raise ValueError(f"--decode {settings.decode}: SimCC decodes by {' or '.join(SIMCC_DECODINGS)}")
        return SimccCodec(tuple(int(v) for v in input_size), 2.0, float(settings.sigma), decoding)
    stride = settings.heatmap_stride or (4 if settings.model == "simple_baseline" else 1)
    if settings.model == "unet" and stride != 1:
        raise ValueError(f"--heatmap-stride {stride}: a U-Net's heatmaps are at the input resolution (stride 1)")
    try:
        return HeatmapCodec(stride, float(settings.sigma), settings.decode, settings.codec)
    except ValueError as err:
        raise ValueError(f"--heatmap-stride / --sigma / --decode / --codec: {err}") from None


def validate(settings: KeypointSettings) -> None:
    """The keypoint settings' own checks, before any data is read (``check`` runs them too).
    Raises ValueError naming the flag and the fix."""
    codec_of(settings)
    parse_pairs(settings.flip_pairs)
    if settings.flip_pairs and not settings.dataset.startswith("folder:"):
        raise ValueError(f"--flip-pairs is for folder datasets; {settings.dataset} declares its own left/right pairs")
    from zoo.data.keypoint_sources import REGIONS

    if settings.region is not None and settings.region not in REGIONS:
        raise ValueError(f"--region {settings.region!r}: choose box (each annotation's box) or image (the whole "
                         "picture)")
    if not 0.0 <= float(settings.half_body) <= 1.0:
        raise ValueError(f"--half-body {settings.half_body}: a probability between 0 (off) and 1")
    if settings.lower_body and not settings.half_body:
        raise ValueError("--lower-body says which keypoints are the lower half for --half-body; add --half-body 0.3")
    if settings.eval_boxes is not None:
        if not settings.dataset.startswith("folder:"):
            raise ValueError(f"--eval-boxes is for COCO keypoint folders (folder:PATH), not {settings.dataset}")
        if not Path(settings.eval_boxes).is_file():
            raise ValueError(f"--eval-boxes {settings.eval_boxes}: no such file; give COCO detection results for the "
                             "validation pictures (image_id or file_name, bbox, score)")
    if not settings.dataset.startswith("folder:"):
        if settings.region == "box":
            raise ValueError(f"--region box: {settings.dataset} has one object per picture and no boxes; "
                             "--region is for folder datasets with COCO boxes")
        if settings.category is not None:
            raise ValueError(f"--category is for COCO keypoint files (folder:PATH), not {settings.dataset}")
    if settings.oks_sigmas:
        from zoo.keypoint_ap import parse_sigmas

        parse_sigmas(settings.oks_sigmas, len(settings.oks_sigmas.split(",")))  # each value positive
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
                                         seed=settings.seed, flip_pairs=parse_pairs(settings.flip_pairs),
                                         region=settings.region, category=settings.category)
    raise ValueError(f"--dataset {settings.dataset!r}: use synthetic:faces, tfds:NAME or folder:PATH")


def scan_folder(settings: KeypointSettings, path: str):
    """``zoo.data.checks``' scan of a keypoint folder with these settings."""
    from zoo.data import checks

    return checks.check_keypoint_folder(path, channels=settings.channels or 3, num_keypoints=settings.num_keypoints,
                                        val_fraction=settings.val_fraction, category=settings.category,
                                        flip_pairs=bool(settings.flip_pairs),
                                        flips=settings.augment != "none" or settings.flip_test)


def check_data(settings: KeypointSettings, input_size: tuple[int, int]):
    """Every problem of ``settings.dataset`` at once (``zoo.data.checks.dataset_report``): a full scan
    for folders, then the loading training does; for TFDS and synthetic sets, that they load."""
    from zoo.data.checks import dataset_report

    return dataset_report(settings.dataset, lambda path: scan_folder(settings, path),
                          lambda scan: load_source(settings, input_size, scan=scan))


@dataclasses.dataclass(frozen=True)
class OksSettings:
    """How OKS AP is computed: the sigmas, where they came from, and what boxes the crops used."""

    sigmas: list[float]
    sigmas_from: str
    boxes: str  # "ground-truth boxes (enlarged 1.25x)" | "whole pictures"

    def describe(self) -> dict:
        """The ``oks`` entry of metrics.json."""
        return {"sigmas": [round(float(v), 5) for v in self.sigmas], "sigmas_from": self.sigmas_from,
                "boxes": self.boxes, "areas": "the annotation's area, else its box's, else the PCK normaliser "
                                              "squared"}


def predict_split(model, dataset, *, codec, flip_index, limit: int | None = None,
                  predictors: dict | None = None) -> dict[str, np.ndarray]:
    """Runs the model over an evaluation dataset (``keypoint_pipeline(..., for_eval=True)``) and maps
    the decoded keypoints back to the source pictures' pixels.

    ``predictors`` ((decoding, flip test) -> compiled prediction function), when given, keeps the
    traced functions between calls so per-epoch evaluation does not retrace.

    Returns:
        ``pred`` and ``true`` ``[N, K, 2]`` (source pixels), ``scores`` ``[N, K]`` (heatmap peaks),
        ``visible`` ``[N, K]``, ``norm``, ``area``, ``image_id`` ``[N]``, and for plotting the first
        batch's ``pixels`` with ``frame_pred`` and ``frame_true`` (input-frame keypoints).
    """
    import tensorflow as tf

    key = (codec.decoding, flip_index is not None)  # the traced function closes over both
    predict = predictors.get(key) if predictors is not None else None
    if predict is None:
        @tf.function
        def predict(images):
            heatmaps = model(images, training=False)
            if flip_index is not None:
                heatmaps = codec.flip_average(heatmaps, model(tf.reverse(images, axis=[2]), training=False),
                                              flip_index)
            return codec.decode(heatmaps)

        if predictors is not None:
            predictors[key] = predict  # traced once, reused every epoch

    parts: dict[str, list] = {k: [] for k in ("pred", "scores", "true", "visible", "norm", "area", "image_id")}
    first = None
    for batch in dataset:
        frame, score = (t.numpy() for t in predict(batch["images"]))  # [B, K, 2] in the input frame, [B, K]
        inverse = np.linalg.inv(batch["matrix"].numpy())  # input frame -> source pixels
        homog = np.concatenate([frame, np.ones_like(frame[..., :1])], -1)
        parts["pred"].append(np.einsum("bij,bkj->bki", inverse, homog)[..., :2])
        parts["scores"].append(score)
        for name, field in (("true", "source_keypoints"), ("visible", "visible"), ("norm", "norm"),
                            ("area", "area"), ("image_id", "image_id")):
            parts[name].append(batch[field].numpy())
        if first is None:
            first = {"pixels": batch["pixels"].numpy(), "frame_pred": frame, "frame_true": batch["keypoints"].numpy()}
        if limit and sum(len(p) for p in parts["pred"]) >= limit:
            break
    return {**{k: np.concatenate(v) for k, v in parts.items()}, **first}


def evaluate_keypoints(model, dataset, *, codec, flip_index, normalizer: str, threshold: float,
                       names, eye_indices, oks: OksSettings | None = None, limit: int | None = None,
                       predictors: dict | None = None) -> tuple[dict, dict]:
    """Scores ``predict_split``'s answers in source-image pixels: PCK, NME and pixel errors
    (``zoo.keypoint_metrics``) and, with ``oks``, COCO OKS AP (``zoo.keypoint_ap``, pycocotools
    underneath) under ``report["ap"]`` (``AP_KEYS``).

    Returns:
        (report from ``keypoint_report`` plus ``ap`` and ``mean_offset`` (the mean signed error
        (x, y) in source pixels over visible keypoints: a systematic shift shows here), arrays for
        plotting: pixels, true and predicted keypoints in the input frame, visibility).
    """
    from zoo.keypoint_metrics import keypoint_report, normalisers

    out = predict_split(model, dataset, codec=codec, flip_index=flip_index, limit=limit, predictors=predictors)
    true, pred, seen = out["true"], out["pred"], out["visible"]
    # the source visibility (flips are off in evaluation, so frame and source keypoints correspond)
    norm = normalisers(normalizer, out["norm"], true, eye_indices)
    report = keypoint_report(pred, true, seen, norm, threshold, list(names))
    mask = seen > 0
    report["mean_offset"] = ([round(float(v), 4) for v in (pred - true)[mask].mean(0)] if mask.any() else None)
    if oks is not None:
        from zoo.keypoint_ap import oks_ap

        ids = out["image_id"]
        ids = np.where(ids >= 0, ids, ids.max(initial=0) + 1 + np.arange(len(ids)))  # unknown: one picture each
        report["ap"] = oks_ap(pred, out["scores"], true, seen, out["area"], oks.sigmas, ids)
    plots = {"pixels": out["pixels"], "pred": out["frame_pred"], "true": out["frame_true"],
             "visible": seen[: len(out["pixels"])]}
    return report, plots


class KeypointTrainer:
    """The keypoint task's part of a recipe run (``recipes.driver.TaskTrainer``); loads the data."""

    # The best checkpoint is the one with the best COCO OKS AP on the validation split.
    monitor, mode, curve_metric = "val_ap", "max", "ap"

    def __init__(self, settings: KeypointSettings, input_size: tuple[int, int], log: Callable[[str], None]):
        self.settings, self.input_size = settings, input_size
        self.codec = codec_of(settings, input_size)
        self.source = load_source(settings, input_size, log=log)
        self.channels = settings.channels or self.source.channels or 3
        self.count = len(self.source.keypoint_names)
        self.num_train, self.num_val, self.description = (self.source.num_train, self.source.num_val,
                                                          self.source.description)
        self.common = dict(input_size=input_size, channels=self.channels, batch_size=settings.batch_size,
                           backbone=settings.backbone, codec=self.codec,
                           flip_index=self.source.flip_index, seed=settings.seed)
        from zoo.keypoint_ap import resolve_sigmas

        sigmas, sigmas_from = resolve_sigmas(self.source.keypoint_names, self.source.sigmas, settings.oks_sigmas)
        self.oks = OksSettings(sigmas, sigmas_from, "ground-truth boxes (enlarged 1.25x)"
                               if self.source.region == "box" else "whole pictures")
        self.evaluation = dict(flip_index=self.source.flip_index if settings.flip_test else None,
                               normalizer=settings.pck_normalizer, threshold=settings.pck_threshold,
                               names=self.source.keypoint_names, eye_indices=self.source.eye_indices, oks=self.oks)
        self.predictors: dict = {}

    def data_line(self) -> str:
        names, flip = self.source.keypoint_names, self.source.flip_index
        return (f"data: {self.description}; {self.count} keypoints {names[:8]}{' ...' if self.count > 8 else ''}; "
                f"flip pairs {[(i, j) for i, j in enumerate(flip) if i < j]}; the model looks at "
                f"{'each annotation box enlarged 1.25x' if self.source.region == 'box' else 'whole pictures'} "
                f"(--region {self.source.region}); OKS sigmas: {self.oks.sigmas_from}")

    def settings_line(self) -> str:
        half = self.half_body()
        return (f"augmentation {self.settings.augment}"
                + (f", half-body {half.prob:g} (lower half: "
                   f"{[n for n, low in zip(self.source.keypoint_names, half.lower) if low]})" if half else "")
                + f"; {self.codec.describe()}")

    def network(self) -> NetworkSpec:
        return keypoint_network(self.settings.model, self.settings.backbone, self.count,
                                (*self.input_size, self.channels), self.codec.to_info()["heatmap_stride"],
                                head=self.codec.head)

    def compile_kwargs(self) -> dict:
        from zoo.losses import HeatmapLoss, SimccLoss

        return {"loss": SimccLoss(self.codec.bins[0]) if self.codec.head == "simcc" else HeatmapLoss()}

    def resolved(self) -> dict:
        return {"input_size": list(self.input_size), "channels": self.channels,
                "keypoint_names": self.source.keypoint_names, "flip_index": self.source.flip_index,
                **self.codec.to_info(), "data": self.description, "num_train": self.num_train,
                "num_val": self.num_val, "region": self.source.region,
                "skeleton": [list(pair) for pair in self.source.skeleton], "oks_sigmas": self.oks.sigmas}

    def half_body(self):
        """``--half-body``'s ``zoo.data.keypoints.HalfBody`` (None when off); at least 8 labelled keypoints
        (fewer for skeletons of under 16), 2 in the chosen half, as MMPose's defaults for COCO."""
        from zoo.data.keypoints import HalfBody, lower_body_mask

        if not self.settings.half_body:
            return None
        lower = lower_body_mask(self.source.keypoint_names, self.settings.lower_body)
        return HalfBody(float(self.settings.half_body), lower, min_total=min(8, max(4, self.count // 2)))

    def train_data(self):
        from zoo.data.keypoints import KEYPOINT_AUGMENT_PRESETS
        from zoo.data.pipeline import keypoint_pipeline

        return keypoint_pipeline(self.source.train, training=True, augment=KEYPOINT_AUGMENT_PRESETS[self.settings.augment],
                                 num_examples=self.num_train, repeat=True, half_body=self.half_body(), **self.common)

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
            out = {name: float("nan") if report[key] is None else report[key] for name, key in keys.items()}
            out["val_ap"] = report["ap"]["ap"] if report["ap"]["ap"] is not None else float("nan")
            return out

        return metrics

    def evaluate(self, model, samples: Path) -> dict:
        """Validation report (PCK, NME, pixel errors, every decoding compared); draws ``samples``."""
        import dataclasses

        from zoo.reporting import plot_keypoint_samples

        report, plots = evaluate_keypoints(model, self._eval_data(), codec=self.codec, predictors=self.predictors,
                                           **self.evaluation)
        decodings = {}
        for method in self.codec.decodings:
            other, _ = evaluate_keypoints(model, self._eval_data(), predictors=self.predictors,
                                          codec=dataclasses.replace(self.codec, decoding=method), **self.evaluation)
            decodings[method] = {"ap": other["ap"]["ap"], "pck": other["pck"],
                                 "mean_pixel_error": other["mean_pixel_error"]}
        if self.settings.eval_tta:
            flipped, _ = evaluate_keypoints(model, self._eval_data(), codec=self.codec, predictors=self.predictors,
                                            **{**self.evaluation, "flip_index": self.source.flip_index})
            report["tta"] = {"mode": "flip", "ap": flipped["ap"]["ap"],
                             **{k: flipped[k] for k in ("pck", "nme", "mean_pixel_error")}}
        shown = min(8, len(plots["pixels"]))
        plot_keypoint_samples(plots["pixels"][:shown].astype(np.uint8), plots["true"][:shown], plots["pred"][:shown],
                              plots["visible"][:shown], samples, self.source.keypoint_names, self.source.skeleton)
        if self.settings.eval_boxes:
            report["ap_detections"] = self.detection_ap(model)
        return {**report, "oks": self.oks.describe(), "decode": self.codec.decoding,
                "flip_test": self.settings.flip_test, "normalizer": self.settings.pck_normalizer,
                "decodings": decodings}

    def detection_ap(self, model) -> dict:
        """COCO OKS AP of the validation split with ``--eval-boxes``' detections as the boxes: every detection
        on a validation picture is one crop, scored (box score x keypoint score) against every labelled object
        of that picture, as COCO's keypoint benchmark scores detector-based top-down methods."""
        from zoo.data.detections import enlarged_box, read_boxes
        from zoo.data.keypoint_sources import Annotations, files_dataset
        from zoo.data.pipeline import keypoint_pipeline
        from zoo.keypoint_ap import coco_eval, coco_ground_truth, coco_results, detection_scores

        truth = self.source.val_annotations
        if truth is None or self.source.region != "box":
            raise ValueError("--eval-boxes needs a COCO keypoints folder trained on boxes (--region box)")
        boxes = read_boxes(self.settings.eval_boxes)
        pictures = dict(zip(truth.image_ids, truth.paths))
        found = Annotations([], [], [], [], [], truth.names)
        box_scores = []
        for number, path in pictures.items():
            entries = boxes.by_name.get(Path(path).name) or boxes.by_id.get(truth.picture_ids.get(number)) or []
            for _, (x, y, w, h), score in entries:
                found.paths.append(path)
                found.points.append(np.zeros((self.count, 3), np.float32))
                found.boxes.append(enlarged_box(x, y, w, h))
                found.areas.append(w * h)
                found.image_ids.append(number)
                box_scores.append(score)
        points = np.stack(truth.points)
        areas = np.maximum(np.asarray(truth.areas, np.float64), 1.0)  # box-trained: the file's areas or boxes'
        ground_truth = coco_ground_truth(points[..., :2], points[..., 2] > 0, areas, truth.image_ids)
        described = (f"detections from {self.settings.eval_boxes} ({len(found.paths)} boxes on "
                     f"{len(set(found.image_ids))} of {len(pictures)} validation pictures)")
        if not found.paths:
            return {**coco_eval(ground_truth, [], self.oks.sigmas), "boxes": described}
        data = keypoint_pipeline(files_dataset(found, self.channels, False), training=False,
                                 num_examples=len(found.paths), for_eval=True, **self.common)
        out = predict_split(model, data, codec=self.codec, flip_index=self.evaluation["flip_index"],
                            predictors=self.predictors)
        results = coco_results(out["pred"], detection_scores(out["scores"]) * np.asarray(box_scores), out["image_id"])
        return {**coco_eval(ground_truth, results, self.oks.sigmas), "boxes": described}

    def summary(self, report: dict, weights: str) -> str:
        s = self.settings
        ap = report["ap"]["ap"]
        return (f"validation OKS AP {'n/a' if ap is None else format(ap, '.3f')}, "
                f"PCK@{s.pck_threshold:g} ({s.pck_normalizer}) {report['pck']:.3f}, NME "
                f"{report['nme']:.4f}, mean pixel error {report['mean_pixel_error']:.2f} px ({weights} weights, "
                f"{self.codec.decoding} decoding{', flip test' if s.flip_test else ''})"
                + (f"; on --eval-boxes detections: AP {report['ap_detections']['ap'] or 0:.3f}"
                   if "ap_detections" in report else "")
                + (f"; with the flip test: AP {report['tta']['ap'] or 0:.3f}, PCK {report['tta']['pck']:.3f}, mean pixel error "
                   f"{report['tta']['mean_pixel_error']:.2f} px" if "tta" in report else ""))

    def usage(self) -> list[str]:
        """The lines that call the export in the closing hint (after ``serve = ...``)."""
        return [f"    out = serve(images=tf.zeros((1, 200, 160, {self.channels}), tf.uint8))   # any size, uint8",
                f"    out['keypoints']   # (1, {self.count}, 2): (x, y) in the image's pixels; out['scores'] "
                f"(1, {self.count})"]



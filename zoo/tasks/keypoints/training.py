"""Training a keypoint model: data sources, pipelines, heatmap loss, evaluation (COCO OKS AP, PCK, NME), plots.

``KeypointTrainer`` is what the recipe driver (``recipes/driver.py``) asks about the
task; the functions around it are also the ``check`` command's. ``settings`` is any object
with the fields of ``KeypointSettings`` (the recipe's ``PoseConfig`` is one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from zoo.data.spec import DatasetSpec
from zoo.tasks.base import NetworkSpec
from zoo.tasks.keypoints.codecs import codec_from_settings
from zoo.tasks.keypoints.evaluation import OksSettings, evaluate_keypoints, predict_split
from zoo.tasks.keypoints.task import KEYPOINT_MODELS
from zoo.tasks.keypoints.validation import add_to_report, data_problems, half_body_from, parse_pairs, refuse_problems

MODELS = KEYPOINT_MODELS


class KeypointSettings(Protocol):
    """The settings the keypoint task reads (the flags of ``python -m recipes.pose``)."""

    dataset: str  # synthetic:faces | tfds:NAME | folder:PATH | coco:FILE.json
    data: DatasetSpec  # the same, parsed
    model: str  # one of MODELS
    backbone: str
    batch_size: int
    seed: int
    channels: int | None  # None: the data's
    sigma: float  # target Gaussian, heatmap pixels
    heatmap_stride: int | None  # input pixels per heatmap pixel; None: the model's own
    decode: str  # one of zoo.tasks.keypoints.heatmap_codec.DECODINGS
    codec: str  # one of zoo.tasks.keypoints.heatmap_codec.GRIDS: msra | udp
    head: str  # "heatmap" | "simcc" (zoo.tasks.keypoints.simcc_codec)
    flip_test: bool
    eval_tta: str | None  # "flip": a second final evaluation with the flip test (zoo.data.tta)
    flip_pairs: str | None  # "0-1,3-4"
    region: str | None  # folder: "box" | "image"; None: box when the file gives boxes
    category: str | None  # folder: the COCO category whose keypoints are read (name or id)
    oks_sigmas: str | None  # "0.035" or K comma-separated values; None: the data's (zoo.tasks.keypoints.coco_ap)
    eval_boxes: str | None  # folder: a JSON of detections (zoo.tasks.keypoints.boxes) for a second, detector-box AP
    half_body: float  # probability of zoo.tasks.keypoints.geometry.HalfBody per training example (0: off)
    lower_body: str | None  # "11,12,...": the lower half's keypoint indices (default: by name)
    pck_threshold: float
    pck_normalizer: str  # one of zoo.tasks.keypoints.metrics.NORMALIZERS
    num_keypoints: int | None
    augment: str  # one of zoo.tasks.keypoints.geometry.KEYPOINT_AUGMENT_PRESETS
    val_fraction: float
    synthetic_count: int
    skip_check: bool
    image_key: str | None  # tfds feature names and splits
    keypoints_key: str | None
    train_split: str | None
    val_split: str | None
    data_dir: str | None
    preset: str | None  # a shipped keypoint preset's name or a JSON file (zoo.tasks.keypoints.dataset_presets)
    images: str | None  # coco: the pictures' folder (default: found beside the file)
    annotations: str | None  # folder: the annotation file, when the folder holds several


def validate(settings: KeypointSettings) -> None:
    """The keypoint settings' own checks, before any data is read (``check`` runs them too).
    Raises ValueError naming the flag and the fix."""
    codec_from_settings(settings)
    parse_pairs(settings.flip_pairs)
    on_disk = settings.data.kind in ("folder", "coco")
    if settings.data.on_disk and not on_disk:
        raise ValueError(
            f"--dataset {settings.dataset}: keypoints are read from folder:PATH, coco:FILE.json, tfds:NAME or "
            f"synthetic:faces; {settings.data.kind}: layouts are segmentation datasets"
        )
    if settings.flip_pairs and not on_disk:
        raise ValueError(f"--flip-pairs is for folder and coco datasets; {settings.dataset} declares its own pairs")
    if settings.preset is not None:
        if not on_disk:
            raise ValueError(f"--preset says what a keypoint file's points are; {settings.dataset} declares its own")
        from zoo.tasks.keypoints.dataset_presets import load_preset

        load_preset(settings.preset)
    if settings.images is not None and settings.data.kind != "coco":
        raise ValueError(f"--images is for coco:FILE.json (where its pictures are), not {settings.dataset}")
    if settings.annotations is not None and settings.data.kind != "folder":
        raise ValueError(f"--annotations names the annotation file of a folder: dataset, not {settings.dataset}")
    from zoo.tasks.keypoints.sources import REGIONS

    if settings.region is not None and settings.region not in REGIONS:
        raise ValueError(
            f"--region {settings.region!r}: choose box (each annotation's box) or image (the whole picture)"
        )
    if not 0.0 <= float(settings.half_body) <= 1.0:
        raise ValueError(f"--half-body {settings.half_body}: a probability between 0 (off) and 1")
    if settings.lower_body and not settings.half_body:
        raise ValueError("--lower-body says which keypoints are the lower half for --half-body; add --half-body 0.3")
    if settings.eval_boxes is not None:
        if not on_disk:
            raise ValueError(f"--eval-boxes is for COCO keypoint folders (folder:PATH), not {settings.dataset}")
        if not Path(settings.eval_boxes).is_file():
            raise ValueError(
                f"--eval-boxes {settings.eval_boxes}: no such file; give COCO detection results for the "
                "validation pictures (image_id or file_name, bbox, score)"
            )
    if not on_disk:
        if settings.region == "box":
            raise ValueError(
                f"--region box: {settings.dataset} has one object per picture and no boxes; "
                "--region is for folder datasets with COCO boxes"
            )
        if settings.category is not None:
            raise ValueError(f"--category is for COCO keypoint files (folder:PATH), not {settings.dataset}")
    if settings.oks_sigmas:
        from zoo.tasks.keypoints.coco_ap import parse_sigmas

        parse_sigmas(settings.oks_sigmas, len(settings.oks_sigmas.split(",")))  # each value positive
    from zoo.data.tta import parse_tta

    tta = parse_tta(settings.eval_tta)
    if tta is not None and tta.scales != (1.0,):
        raise ValueError(
            f"--eval-tta {settings.eval_tta!r}: keypoints take flip only (left/right keypoints swapped, "
            "heatmaps averaged, as --flip-test); multi-scale views are for segmentation"
        )


def load_source(
    settings: KeypointSettings,
    input_size: tuple[int, int],
    scan: bool = True,
    log: Callable[[str], None] = print,
    notes: list[str] | None = None,
):
    """The dataset's source (``zoo.tasks.keypoints.sources``); a folder is scanned first (``check``)
    unless ``scan`` is False or ``skip_check``, its notes appended to ``notes``."""
    from zoo.tasks.keypoints import sources as ks

    kind, rest = settings.data.kind, settings.data.value
    if kind == "synthetic":
        if rest != "faces":
            raise ValueError(f"unknown synthetic set {rest!r} for keypoints; use synthetic:faces")
        return ks.synthetic_faces(
            settings.synthetic_count, input_size, settings.channels or 3, settings.seed, settings.val_fraction
        )
    if kind == "tfds":
        if not rest:
            raise ValueError("--dataset tfds:NAME needs a name, e.g. tfds:aflw2k3d")
        return ks.tfds_keypoint_source(
            rest,
            data_dir=settings.data_dir,
            image_key=settings.image_key,
            keypoints_key=settings.keypoints_key,
            val_split=settings.val_split,
            train_split=settings.train_split,
        )
    if kind in ("folder", "coco"):
        if scan and not settings.skip_check:
            from zoo.data.checks import stop_on_errors

            found = stop_on_errors(scan_folder(settings, rest), log)
            if notes is not None:
                notes.extend(found)
        options = dict(
            channels=settings.channels or 3,
            val_fraction=settings.val_fraction,
            seed=settings.seed,
            flip_pairs=parse_pairs(settings.flip_pairs),
            region=settings.region,
            category=settings.category,
            preset=load_settings_preset(settings),
        )
        if kind == "coco":
            source = ks.coco_keypoint_source(rest, images=settings.images, val_split=settings.val_split, **options)
        else:
            source = ks.folder_keypoint_source(rest, annotations=settings.annotations, **options)
        if not flips_known(source) and (settings.flip_test or settings.eval_tta):
            raise ValueError(
                "--flip-test / --eval-tta flip need the left/right keypoint pairs, and none is known for "
                f"{settings.dataset}: give --flip-pairs 0-1,... or --preset NAME (or --flip-pairs none if no "
                "keypoint has a side)"
            )
        return source
    raise ValueError(f"--dataset {settings.dataset!r}: use synthetic:faces, tfds:NAME, folder:PATH or coco:FILE.json")


def load_settings_preset(settings: KeypointSettings):
    """The ``KeypointPreset`` of ``--preset`` (None without it)."""
    from zoo.tasks.keypoints.dataset_presets import load_preset

    return None if not settings.preset else load_preset(settings.preset)


def flips_known(source) -> bool:
    """Whether a horizontal flip can be undone: some left/right pair is known, or ``--flip-pairs none`` said
    that no keypoint has a side."""
    return any(i != j for i, j in enumerate(source.flip_index)) or source.no_sides or len(source.flip_index) < 2


def scan_folder(settings: KeypointSettings, path: str):
    """The ``check`` scan of a keypoint folder with these settings (``zoo.tasks.keypoints.checks``)."""
    from zoo.tasks.keypoints.checks import check_keypoint_folder

    return check_keypoint_folder(
        path,
        channels=settings.channels or 3,
        num_keypoints=settings.num_keypoints,
        val_fraction=settings.val_fraction,
        category=settings.category,
        flip_pairs=bool(settings.flip_pairs) or settings.preset is not None,
        flips=settings.augment != "none" or settings.flip_test,
        annotations=settings.annotations,
        coco=settings.data.kind == "coco",
        images=settings.images,
        val_split=settings.val_split,
        preset=settings.preset,
        region=settings.region,
    )


def check_data(settings: KeypointSettings, input_size: tuple[int, int]):
    """Every problem of ``settings.dataset`` at once (``zoo.data.checks.dataset_report``): a full scan
    for folders, then the loading training does; for TFDS and synthetic sets, that they load; then the
    settings against the data (``zoo.tasks.keypoints.validation.data_problems``, which training refuses by)."""
    from zoo.data.checks import dataset_report

    loaded = []

    def load(scan: bool):
        loaded.append(load_source(settings, input_size, scan=scan))
        return loaded[-1]

    report = dataset_report(settings.data, lambda path: scan_folder(settings, path), load)
    if loaded and not report.errors:  # the settings against the data: the rules training refuses by
        add_to_report(report, data_problems(settings, loaded[-1]))
    if loaded and not report.errors:
        report.summary.extend(plan_lines(settings, loaded[-1]))
    return report


def plan_lines(settings: KeypointSettings, source) -> list[str]:
    """What training will do with a loaded source, for ``check``: objects kept and skipped, region, keypoint
    names, flip pairs and whether flips run, visibility counts and the OKS sigmas with their origin."""
    from zoo.tasks.keypoints.coco_ap import resolve_sigmas

    names = source.keypoint_names
    lines = [f"training reads {source.description}"]
    pairs = [(names[i], names[j]) for i, j in enumerate(source.flip_index) if i < j]
    flipping = settings.augment != "none" or settings.flip_test
    lines.append(f"{len(names)} keypoints{f' (preset {source.preset})' if source.preset else ''}: {names[:10]}"
                 + (" ..." if len(names) > 10 else ""))  # fmt: skip
    if pairs:
        lines.append(f"flip pairs ({len(pairs)}): {pairs[:8]}{' ...' if len(pairs) > 8 else ''}")
    elif flips_known(source):
        lines.append("flip pairs: none (--flip-pairs none: no keypoint has a side); flips swap nothing")
    else:
        lines.append(
            "flip pairs: none known, so training turns flips off"
            + (" (--augment none: none asked)" if not flipping else "")
            + "; --flip-pairs 0-1,... or --preset NAME gives them"
        )
    ann = source.val_annotations
    visibility = {}
    for part in (source.train_annotations, ann):
        for flag, count in (getattr(part, "visibility", None) or {}).items():
            visibility[flag] = visibility.get(flag, 0) + count
    if visibility:
        lines.append(
            "keypoint flags (COCO v): "
            + ", ".join(
                f"{word} {visibility.get(flag, 0)}"
                for flag, word in ((0, "unlabelled"), (1, "labelled hidden"), (2, "visible"))
            )
            + " (1 and 2 are both trained on and scored)"
        )
    sigmas, origin = resolve_sigmas(names, source.sigmas, settings.oks_sigmas)
    lines.append(f"OKS sigmas: {origin}")
    lines.extend(f"note: {w}" for w in source.warnings)
    return lines


class KeypointTrainer:
    """The keypoint task's part of a recipe run (``recipes.driver.TaskTrainer``); loads the data."""

    # The best checkpoint is the one with the best COCO OKS AP on the validation split.
    monitor, mode, curve_metric = "val_ap", "max", "ap"

    def __init__(self, settings: KeypointSettings, input_size: tuple[int, int], log: Callable[[str], None]):
        self.settings, self.input_size = settings, input_size
        self.codec = codec_from_settings(settings, input_size)
        self.data_notes: list[str] = []  # the scan's notes on the files (config.json "data_summary")
        self.source = load_source(settings, input_size, log=log, notes=self.data_notes)
        for warning in self.source.warnings:
            log(f"warning: {warning}")
        # what `check` reports about these settings on this data, refused here before anything is built
        refuse_problems(data_problems(settings, self.source), log)
        from zoo.tasks.keypoints.geometry import KEYPOINT_AUGMENT_PRESETS

        self.augment = KEYPOINT_AUGMENT_PRESETS[settings.augment]
        if not flips_known(self.source) and self.augment is not None and self.augment.flip:
            log(
                "warning: no left/right keypoint pairs are known, so flips are turned off (a flip would "
                "mirror the points without swapping them); give --flip-pairs 0-1,... or --preset NAME, or "
                "--flip-pairs none if no keypoint has a side"
            )
            self.augment = dataclasses.replace(self.augment, flip=False)
        self.channels = settings.channels or self.source.channels or 3
        self.count = len(self.source.keypoint_names)
        self.num_train, self.num_val, self.description = (
            self.source.num_train,
            self.source.num_val,
            self.source.description,
        )
        self.common = dict(
            input_size=input_size,
            channels=self.channels,
            batch_size=settings.batch_size,
            backbone=settings.backbone,
            codec=self.codec,
            flip_index=self.source.flip_index,
            seed=settings.seed,
        )
        from zoo.tasks.keypoints.coco_ap import resolve_sigmas

        sigmas, sigmas_from = resolve_sigmas(self.source.keypoint_names, self.source.sigmas, settings.oks_sigmas)
        self.oks = OksSettings(
            sigmas,
            sigmas_from,
            "ground-truth boxes (enlarged 1.25x)" if self.source.region == "box" else "whole pictures",
        )
        self.evaluation = dict(
            flip_index=self.source.flip_index if settings.flip_test else None,
            normalizer=settings.pck_normalizer,
            threshold=settings.pck_threshold,
            names=self.source.keypoint_names,
            eye_indices=self.source.eye_indices,
            oks=self.oks,
        )
        self.predictors: dict = {}

    def data_line(self) -> str:
        names, flip = self.source.keypoint_names, self.source.flip_index
        return (
            f"data: {self.description}; {self.count} keypoints {names[:8]}{' ...' if self.count > 8 else ''}; "
            f"flip pairs {[(i, j) for i, j in enumerate(flip) if i < j]}; the model looks at "
            f"{'each annotation box enlarged 1.25x' if self.source.region == 'box' else 'whole pictures'} "
            f"(--region {self.source.region}); OKS sigmas: {self.oks.sigmas_from}"
        )

    def settings_line(self) -> str:
        half = self.half_body()
        return (
            f"augmentation {self.settings.augment}"
            + (
                f", half-body {half.prob:g} (lower half: "
                f"{[n for n, low in zip(self.source.keypoint_names, half.lower) if low]})"
                if half
                else ""
            )
            + f"; {self.codec.describe()}"
        )

    def network(self) -> NetworkSpec:
        return self.codec.network(
            self.settings.model, self.settings.backbone, self.count, (*self.input_size, self.channels)
        )

    def compile_kwargs(self) -> dict:
        return {"loss": self.codec.loss()}

    def resolved(self) -> dict:
        return {
            "input_size": list(self.input_size),
            "channels": self.channels,
            "keypoint_names": self.source.keypoint_names,
            "flip_index": self.source.flip_index,
            **self.codec.to_info(),
            "data": self.description,
            "num_train": self.num_train,
            "num_val": self.num_val,
            "region": self.source.region,
            "skeleton": [list(pair) for pair in self.source.skeleton],
            "oks_sigmas": self.oks.sigmas,
            "data_summary": self.data_summary(),
        }

    def data_summary(self) -> dict:
        """What the run's report shows about the data (``zoo.run.report``): the objects skipped by reason, what
        reading changed, the scan's notes and the keypoints' COCO visibility flags, both splits together."""
        skipped, visibility = {}, {}
        for part in (self.source.train_annotations, self.source.val_annotations):
            for reason, count in (getattr(part, "skipped", None) or {}).items():
                skipped[reason] = skipped.get(reason, 0) + int(count)
            for flag, count in (getattr(part, "visibility", None) or {}).items():
                visibility[str(flag)] = visibility.get(str(flag), 0) + int(count)
        return {
            "skipped": skipped,
            "warnings": list(self.source.warnings),
            "notes": self.data_notes,
            "visibility": dict(sorted(visibility.items())),
        }

    def half_body(self):
        """``--half-body``'s ``zoo.tasks.keypoints.geometry.HalfBody`` (None when off;
        ``zoo.tasks.keypoints.validation.half_body_from``)."""
        return half_body_from(self.settings, self.source)

    def calibration_pictures(self):
        """A sample of the training pictures (whole, not box crops) at the training size, uint8 ``[N, H, W, C]``
        (``zoo.data.calibration``: what int8 LiteRT exports calibrate on)."""
        from zoo.data.calibration import calibration_pictures

        pictures = (example["image"] for example in self.source.train.shuffle(256, seed=0).as_numpy_iterator())
        return calibration_pictures(pictures, self.input_size, self.channels)

    def train_data(self):
        from zoo.tasks.keypoints.pipeline import keypoint_pipeline

        return keypoint_pipeline(
            self.source.train,
            training=True,
            augment=self.augment,
            num_examples=self.num_train,
            repeat=True,
            half_body=self.half_body(),
            **self.common,
        )

    def val_data(self):
        from zoo.tasks.keypoints.pipeline import keypoint_pipeline

        return keypoint_pipeline(self.source.val, training=False, num_examples=self.num_val, **self.common)

    def _eval_data(self):
        from zoo.tasks.keypoints.pipeline import keypoint_pipeline

        if not hasattr(self, "_eval"):
            self._eval = keypoint_pipeline(
                self.source.val, training=False, num_examples=self.num_val, for_eval=True, **self.common
            )
        return self._eval

    def epoch_metrics(self, model) -> Callable[[], dict]:
        """PCK, NME and pixel error on the validation set after each epoch (logged to history.csv)."""

        def metrics() -> dict:
            report, _ = evaluate_keypoints(
                model, self._eval_data(), codec=self.codec, predictors=self.predictors, **self.evaluation
            )
            keys = {"val_pck": "pck", "val_nme": "nme", "val_mean_pixel_error": "mean_pixel_error"}
            # None (no visible keypoint could be scored) is logged as NaN: CSV and TensorBoard need numbers.
            out = {name: float("nan") if report[key] is None else report[key] for name, key in keys.items()}
            out["val_ap"] = report["ap"]["ap"] if report["ap"]["ap"] is not None else float("nan")
            return out

        return metrics

    def evaluate(self, model, samples: Path) -> dict:
        """Validation report (PCK, NME, pixel errors, every decoding compared); draws ``samples``."""
        import dataclasses

        from zoo.tasks.keypoints.plots import plot_keypoint_samples

        report, plots = evaluate_keypoints(
            model, self._eval_data(), codec=self.codec, predictors=self.predictors, **self.evaluation
        )
        decodings = {}
        for method in self.codec.decodings:
            other, _ = evaluate_keypoints(
                model,
                self._eval_data(),
                predictors=self.predictors,
                codec=dataclasses.replace(self.codec, decoding=method),
                **self.evaluation,
            )
            decodings[method] = {
                "ap": other["ap"]["ap"],
                "pck": other["pck"],
                "mean_pixel_error": other["mean_pixel_error"],
            }
        if self.settings.eval_tta:
            flipped, _ = evaluate_keypoints(
                model,
                self._eval_data(),
                codec=self.codec,
                predictors=self.predictors,
                **{**self.evaluation, "flip_index": self.source.flip_index},
            )
            report["tta"] = {
                "mode": "flip",
                "ap": flipped["ap"]["ap"],
                **{k: flipped[k] for k in ("pck", "nme", "mean_pixel_error")},
            }
        shown = min(8, len(plots["pixels"]))
        plot_keypoint_samples(
            plots["pixels"][:shown].astype(np.uint8),
            plots["true"][:shown],
            plots["pred"][:shown],
            plots["visible"][:shown],
            samples,
            self.source.keypoint_names,
            self.source.skeleton,
        )
        if self.settings.eval_boxes:
            report["ap_detections"] = self.detection_ap(model)
        return {
            **report,
            "oks": self.oks.describe(),
            "decode": self.codec.decoding,
            "flip_test": self.settings.flip_test,
            "normalizer": self.settings.pck_normalizer,
            "decodings": decodings,
        }

    def detection_ap(self, model) -> dict:
        """COCO OKS AP of the validation split with ``--eval-boxes``' detections as the boxes: every detection
        on a validation picture is one crop, scored (box score x keypoint score) against every labelled object
        of that picture, as COCO's keypoint benchmark scores detector-based top-down methods."""
        from zoo.tasks.keypoints.boxes import enlarged_box, read_boxes
        from zoo.tasks.keypoints.coco_ap import coco_eval, coco_ground_truth, coco_results, detection_scores
        from zoo.tasks.keypoints.pipeline import keypoint_pipeline
        from zoo.tasks.keypoints.sources import Annotations, files_dataset

        truth = self.source.val_annotations
        if truth is None or self.source.region != "box":
            raise ValueError("--eval-boxes needs a COCO keypoints folder trained on boxes (--region box)")
        boxes = read_boxes(self.settings.eval_boxes, flag="--eval-boxes")
        pictures = dict(zip(truth.image_ids, truth.paths))
        found = Annotations([], [], [], [], [], truth.names)
        box_scores = []
        for number, path in pictures.items():
            entries = boxes.entries_for(path, truth.picture_ids.get(number))
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
        described = (
            f"detections from {self.settings.eval_boxes} ({len(found.paths)} boxes on "
            f"{len(set(found.image_ids))} of {len(pictures)} validation pictures)"
        )
        if not found.paths:
            return {**coco_eval(ground_truth, [], self.oks.sigmas), "boxes": described}
        data = keypoint_pipeline(
            files_dataset(found, self.channels, False),
            training=False,
            num_examples=len(found.paths),
            for_eval=True,
            **self.common,
        )
        out = predict_split(
            model, data, codec=self.codec, flip_index=self.evaluation["flip_index"], predictors=self.predictors
        )
        results = coco_results(out["pred"], detection_scores(out["scores"]) * np.asarray(box_scores), out["image_id"])
        return {**coco_eval(ground_truth, results, self.oks.sigmas), "boxes": described}

    def summary(self, report: dict, weights: str) -> str:
        s = self.settings
        ap = report["ap"]["ap"]
        return (
            f"validation OKS AP {'n/a' if ap is None else format(ap, '.3f')}, "
            f"PCK@{s.pck_threshold:g} ({s.pck_normalizer}) {report['pck']:.3f}, NME "
            f"{report['nme']:.4f}, mean pixel error {report['mean_pixel_error']:.2f} px ({weights} weights, "
            f"{self.codec.decoding} decoding{', flip test' if s.flip_test else ''})"
            + (
                f"; on --eval-boxes detections: AP {report['ap_detections']['ap'] or 0:.3f}"
                if "ap_detections" in report
                else ""
            )
            + (
                f"; with the flip test: AP {report['tta']['ap'] or 0:.3f}, PCK {report['tta']['pck']:.3f}, mean pixel error "
                f"{report['tta']['mean_pixel_error']:.2f} px"
                if "tta" in report
                else ""
            )
        )

    def usage(self) -> list[str]:
        """The lines that call the export in the closing hint (after ``serve = ...``)."""
        return [
            f"    out = serve(images=tf.zeros((1, 200, 160, {self.channels}), tf.uint8))   # any size, uint8",
            f"    out['keypoints']   # (1, {self.count}, 2): (x, y) in the image's pixels; out['scores'] "
            f"(1, {self.count})",
        ]

"""Training a segmentation model: data sources, pipelines, loss and metrics, evaluation, plots.

``SegmentationTrainer`` is what the recipe driver (``recipes/driver.py``) asks about the
task; the functions around it are also the ``check`` command's. ``settings`` is any object
with the fields of ``SegmentationSettings`` (the recipe's ``SegmentConfig`` is one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from zoo.data.spec import DatasetSpec
from zoo.models.registry import SEGMENTATION, model_choices, model_entry
from zoo.tasks.base import NetworkSpec
from zoo.tasks.segmentation.evaluation import evaluate

MODELS = model_choices(SEGMENTATION)  # --model
DILATED_MODELS = tuple(name for name in MODELS if model_entry(name).output_stride)  # take --output-stride


class SegmentationSettings(Protocol):
    """The settings the segmentation task reads (the flags of ``python -m recipes.segment``)."""

    dataset: str  # synthetic:NAME | tfds:NAME | folder:PATH | a shipped layout (zoo.tasks.segmentation.layouts)
    data: DatasetSpec  # the same, parsed
    model: str  # one of MODELS
    backbone: str
    batch_size: int
    seed: int
    channels: int | None  # None: the data's
    num_classes: int | None  # None: the data's (preset, classes.txt, masks)
    binary_masks: bool
    ignore_index: int
    resize_masks: bool
    loss: str  # one of zoo.tasks.segmentation.losses.LOSSES
    augment: str  # one of zoo.tasks.segmentation.augment.AUGMENT_PRESETS
    val_fraction: float
    synthetic_count: int
    skip_check: bool
    image_key: str | None  # tfds feature names and splits
    mask_key: str | None
    train_split: str | None
    val_split: str | None
    data_dir: str | None
    output_stride: int | None  # pspnet / deeplabv3plus only; None: the builder's default
    train_crop: bool  # train on random crops at the pictures' own scale, validate in tiles
    scale_jitter: str | None  # "LO,HI": crops from the picture rescaled by a random factor (train_crop only)
    eval_tta: str | None  # zoo.data.tta mode of a second final evaluation (None: none)
    reduce_zero_label: bool  # labels 1..C, 0 unlabelled (zoo.tasks.segmentation.labels)
    palette: str | None  # colour masks: a JSON file or "voc"
    label_tolerance: int  # with palette: colours within this distance snap to it
    class_weights: str | None  # "auto" or "w0,w1,..." (None: unweighted)
    ohem_fraction: float  # loss "ohem": the hardest share of pixels per image
    repeat_rare: float | None  # repeat-factor sampling threshold (a share of the pictures); None: off
    crop_max_share: float | None  # train_crop: redraw crops where one class covers more than this share
    preset: str | None  # a shipped preset's name or a JSON file (zoo.tasks.segmentation.dataset_presets)
    images: str | None  # coco: the pictures' folder; mmseg: the image folder under ROOT
    masks: str | None  # mmseg: the mask folder under ROOT
    img_suffix: str | None  # mmseg: what follows the shared name in image file names (found if None)
    mask_suffix: str | None  # mmseg: the same for mask files


def parse_scale_jitter(text: str | None) -> tuple[float, float] | None:
    """``"LO,HI"`` -> (lo, hi) with 0 < lo <= hi; None -> None. Raises ValueError naming the flag."""
    if text is None:
        return None
    try:
        low, high = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"--scale-jitter {text!r}: give LO,HI, e.g. 0.75,1.25") from None
    if not 0 < low <= high:
        raise ValueError(f"--scale-jitter {text!r}: need 0 < LO <= HI, e.g. 0.75,1.25")
    return low, high


def check_ignore_index(ignore_index: int) -> None:
    """Refuses an ignore index outside the label byte (``zoo.tasks.segmentation.labels.MAX_LABEL``)."""
    from zoo.tasks.segmentation.labels import MAX_LABEL

    if not 0 <= ignore_index <= MAX_LABEL:
        raise ValueError(
            f"--ignore-index {ignore_index}: must be between 0 and {MAX_LABEL}, above the classes (labels are "
            f"stored as one byte per pixel); the default {MAX_LABEL} is usual"
        )


def check_label_settings(num_classes: int, ignore_index: int, origin: str) -> None:
    """Refuses fewer than 2 classes, more than ``zoo.tasks.segmentation.labels.MAX_CLASSES`` (labels are one byte
    per pixel, with room for the ignore index), and an ignore index that is one of the classes or does not fit in
    the label byte. ``origin`` says where the class count came from (for the message)."""
    from zoo.tasks.segmentation.labels import MAX_LABEL, check_class_count

    if num_classes < 2:
        raise ValueError(
            f"{origin} gives {num_classes} class(es): a softmax segmentation model needs at least 2 (background "
            "and object), and with one it learns nothing and reports mIoU 1.0. For object-vs-background masks use "
            "--binary-masks (masks 0/1 or 0/255) or --num-classes 2"
        )
    check_class_count(num_classes, origin)
    check_ignore_index(ignore_index)
    if ignore_index < num_classes:
        choice = f"from {num_classes} to {MAX_LABEL}" if num_classes < MAX_LABEL else f"of {MAX_LABEL}"
        raise ValueError(
            f"--ignore-index {ignore_index} is one of the {num_classes} classes 0..{num_classes - 1} ({origin}): "
            f"that class would be left out of the loss and the metrics. Use a value {choice} (default {MAX_LABEL})"
        )


def validate(settings: SegmentationSettings) -> None:
    """The segmentation settings' own checks, before any data is read (``check`` runs them too).
    Raises ValueError naming the flag and the fix."""
    if settings.channels is not None and settings.channels < 1:
        raise ValueError(
            f"--channels must be >= 1, got {settings.channels}: give the model's input channels (1 gray, 3 RGB, "
            "4 RGBA), or leave it out to take the data's"
        )
    if settings.output_stride is not None:
        if settings.model not in DILATED_MODELS:
            raise ValueError(
                f"--output-stride is for {' and '.join(DILATED_MODELS)}; --model {settings.model} runs its "
                "encoder at stride 32 (drop --output-stride)"
            )
        from zoo.models.backbones import BACKBONES

        spec = BACKBONES.get(settings.backbone)
        if settings.output_stride != 32 and spec is not None and not spec.dilatable:
            able = ", ".join(sorted(n for n, b in BACKBONES.items() if b.dilatable))
            raise ValueError(
                f"--output-stride {settings.output_stride} needs a backbone whose last stages can run "
                f"dilated ({able}); --backbone {settings.backbone} runs at 32 only"
            )
    if settings.scale_jitter is not None:
        if not settings.train_crop:
            raise ValueError("--scale-jitter rescales the pictures crops are taken from: add --train-crop")
        parse_scale_jitter(settings.scale_jitter)
    palette = load_settings_palette(settings)
    kind = settings.data.kind
    from zoo.tasks.segmentation.layouts import SHIPPED

    if settings.preset is not None:
        if not settings.data.on_disk:
            raise ValueError(f"--preset says what mask files hold; {settings.dataset} declares its own classes")
        from zoo.tasks.segmentation.dataset_presets import load_preset

        load_preset(settings.preset)
        for flag, value in (("--palette", settings.palette), ("--binary-masks", settings.binary_masks)):
            if value:
                raise ValueError(f"--preset {settings.preset} says how masks become classes: drop {flag}")
    for flag, value, kinds in (
        ("--images", settings.images, ("mmseg", "coco")),
        ("--masks", settings.masks, ("mmseg",)),
        ("--img-suffix", settings.img_suffix, ("mmseg",)),
        ("--mask-suffix", settings.mask_suffix, ("mmseg",)),
    ):
        if value is not None and kind not in kinds:
            raise ValueError(f"{flag} is for {' and '.join(k + ':' for k in kinds)} datasets, not {settings.dataset}")
    if kind in SHIPPED and (settings.palette or settings.binary_masks):
        raise ValueError(f"{kind}: datasets know how their masks map to classes: drop --palette / --binary-masks")
    if settings.reduce_zero_label and settings.data.kind == "synthetic":
        raise ValueError(
            f"--reduce-zero-label is for masks that hold labels 1..C; {settings.dataset} holds 0..C-1: drop the flag"
        )
    if palette is not None and kind != "folder":
        raise ValueError(f"--palette reads colour mask files: it is for folder: datasets, not {settings.dataset}")
    from zoo.tasks.segmentation.labels import LabelEncoding

    LabelEncoding(
        2,
        binary=settings.binary_masks,
        reduce_zero_label=settings.reduce_zero_label,
        palette=palette,
        tolerance=settings.label_tolerance,
    )  # refuses flags that do not go together
    if palette is not None and settings.num_classes not in (None, len(palette.names)):
        raise ValueError(
            f"--palette {settings.palette} names {len(palette.names)} classes but --num-classes is "
            f"{settings.num_classes}; drop --num-classes (the palette decides)"
        )
    if not 0 < settings.ohem_fraction <= 1:
        raise ValueError(f"--ohem-fraction {settings.ohem_fraction}: give a share of the pixels in (0, 1], e.g. 0.25")
    if settings.repeat_rare is not None and not 0 < settings.repeat_rare <= 1:
        raise ValueError(f"--repeat-rare {settings.repeat_rare}: give a share of the pictures in (0, 1], e.g. 0.3")
    if settings.crop_max_share is not None:
        if not 0 < settings.crop_max_share < 1:
            raise ValueError(f"--crop-max-share {settings.crop_max_share}: give a share in (0, 1), e.g. 0.75")
        if not settings.train_crop:
            raise ValueError("--crop-max-share chooses among random crops: add --train-crop, or leave it out")
    from zoo.tasks.segmentation.labels import CLASS_WEIGHT_RULES, parse_class_weights

    if (
        settings.class_weights is not None
        and str(settings.class_weights).lower() not in CLASS_WEIGHT_RULES
        and settings.num_classes is not None
    ):
        parse_class_weights(settings.class_weights, settings.num_classes)
    if settings.binary_masks and settings.num_classes not in (None, 2):
        raise ValueError(
            f"--binary-masks means 2 classes (background, object) but --num-classes is "
            f"{settings.num_classes}; drop one of them"
        )
    classes = 2 if settings.binary_masks else settings.num_classes
    if classes is not None:
        check_label_settings(
            classes, settings.ignore_index, "--binary-masks" if settings.binary_masks else "--num-classes"
        )
    else:
        check_ignore_index(settings.ignore_index)


def load_settings_palette(settings: SegmentationSettings):
    """The ``zoo.tasks.segmentation.labels.Palette`` of ``--palette`` (None without it). Raises ValueError for a bad file."""
    from zoo.tasks.segmentation.labels import load_palette

    return None if not settings.palette else load_palette(settings.palette)


def label_setup(settings: SegmentationSettings, default=None):
    """(class names, ``LabelEncoding``, colours or None) of ``--preset``, else of ``default`` (a layout's preset:
    a shipped name or a ``SegmentationPreset``); None when neither is set (the flags and ``classes.txt`` decide).
    Raises ValueError when the flags disagree with the preset."""
    from zoo.tasks.segmentation.dataset_presets import SegmentationPreset, load_preset
    from zoo.tasks.segmentation.labels import LabelEncoding

    chosen = settings.preset or default
    if chosen is None:
        return None
    preset = chosen if isinstance(chosen, SegmentationPreset) else load_preset(chosen)
    count = len(preset.classes)
    if settings.num_classes not in (None, count):
        raise ValueError(
            f"--num-classes {settings.num_classes} but the preset {preset.name} names {count} classes; drop "
            "--num-classes, or write your own preset (--preset FILE)"
        )
    if settings.reduce_zero_label and preset.values is not None:
        raise ValueError(f"the preset {preset.name} maps mask values to classes itself: drop --reduce-zero-label")
    if settings.reduce_zero_label and not preset.reduce_zero_label:
        raise ValueError(
            f"--reduce-zero-label would shift every class of the preset {preset.name} by one (its names would no "
            'longer fit): drop it, or write your own preset with "reduce_zero_label": true'
        )
    check_label_settings(count, settings.ignore_index, f"the preset {preset.name}")
    if settings.ignore_index in {c for _, c in preset.values or ()}:
        raise ValueError(f"--ignore-index {settings.ignore_index} is one of the preset's classes")
    encoding = LabelEncoding(
        count,
        settings.ignore_index,
        reduce_zero_label=preset.reduce_zero_label,
        mapping=preset.values,
        ignore_values=preset.ignore_values,
        preset=preset.name,
    )
    return list(preset.classes), encoding, [list(c) for c in preset.colours] if preset.colours else None


class UnknownClasses(ValueError):
    """The class count of a dataset is not given (``check`` then suggests one from the values it sees)."""


def layout_labels(settings: SegmentationSettings, layout):
    """``label_setup`` of a shipped layout; a layout without a preset (``mmseg:``) and no ``--preset`` reads its
    masks as class indices: ``--num-classes`` (or ``classes.txt`` in ROOT), ``--reduce-zero-label``, ``--ignore-index``."""
    labels = label_setup(settings, layout.preset)
    if labels is not None:
        return labels
    from zoo.tasks.segmentation.labels import LabelEncoding
    from zoo.tasks.segmentation.layout import folder_class_names

    root = settings.data.path
    if settings.num_classes is None and not (root / "classes.txt").is_file():
        raise UnknownClasses(
            f"{settings.data}: say what the masks hold: --num-classes C (values 0..C-1; 1..C with "
            "--reduce-zero-label), classes.txt in the folder, or --preset NAME|FILE"
        )
    names = folder_class_names(root, settings.num_classes, False)
    check_label_settings(len(names), settings.ignore_index, "--num-classes")
    return names, LabelEncoding(len(names), settings.ignore_index, reduce_zero_label=settings.reduce_zero_label), None


def shipped_layout(settings: SegmentationSettings):
    """The ``zoo.tasks.segmentation.layouts.SegmentationLayout`` of a shipped-layout ``--dataset``."""
    from zoo.tasks.segmentation.layouts import shipped_layout as read

    layout = read(settings.data.kind, settings.data.value, settings)
    pair = {"cityscapes", "cityscapes_trainids"}
    if settings.preset in pair and layout.preset in pair and settings.preset != layout.preset:
        raise ValueError(
            f"--preset {settings.preset} reads {'label ids' if settings.preset == 'cityscapes' else 'train ids'} but "
            f"the masks found are {layout.description.rsplit('*', 1)[-1].rstrip(')')}: drop --preset (the layout "
            "picks the right one)"
        )
    return layout


def load_source(
    settings: SegmentationSettings,
    input_size: tuple[int, int],
    scan: bool = True,
    log: Callable[[str], None] = print,
    notes: list[str] | None = None,
):
    """The dataset's source (``zoo.tasks.segmentation.sources``); a folder is scanned first (``check``) unless
    ``scan`` is False or ``skip_check``, its notes appended to ``notes``. Class count and ignore index are
    checked against each other."""
    from zoo.tasks.segmentation import sources as seg

    kind, rest = settings.data.kind, settings.data.value
    if kind == "synthetic":
        makers = {"shapes": seg.synthetic_shapes, "scenes": seg.synthetic_scenes, "rare": seg.synthetic_rare}
        if rest not in makers:
            raise ValueError(
                f"unknown synthetic set {rest!r} for segmentation; use synthetic:shapes, "
                "synthetic:scenes or synthetic:rare"
            )
        source = makers[rest](
            settings.synthetic_count, input_size, settings.channels or 3, settings.seed, settings.val_fraction
        )
    elif kind == "tfds":
        if not rest:
            raise ValueError("--dataset tfds:NAME needs a name, e.g. tfds:oxford_iiit_pet")
        source = seg.tfds_source(
            rest,
            num_classes=settings.num_classes,
            ignore_index=settings.ignore_index,
            image_key=settings.image_key,
            mask_key=settings.mask_key,
            train_split=settings.train_split,
            val_split=settings.val_split,
            binary_masks=settings.binary_masks,
            data_dir=settings.data_dir,
            reduce_zero_label=settings.reduce_zero_label,
        )
    elif kind == "folder":
        if scan and not settings.skip_check:
            from zoo.data.checks import stop_on_errors

            found = stop_on_errors(scan_folder(settings, rest), log)
            if notes is not None:
                notes.extend(found)
        source = seg.folder_source(
            rest,
            channels=settings.channels or folder_channels(rest),
            num_classes=settings.num_classes,
            ignore_index=settings.ignore_index,
            binary_masks=settings.binary_masks,
            val_fraction=settings.val_fraction,
            seed=settings.seed,
            reduce_zero_label=settings.reduce_zero_label,
            palette=load_settings_palette(settings),
            tolerance=settings.label_tolerance,
            labels=label_setup(settings),
        )
    elif settings.data.on_disk:
        layout = shipped_layout(settings)
        if scan and not settings.skip_check:
            from zoo.data.checks import stop_on_errors

            found = stop_on_errors(scan_folder(settings, rest, layout), log)
            if notes is not None:
                notes.extend(found)
        names, encoding, colours = layout_labels(settings, layout)
        source = seg.layout_source(
            layout, channels=settings.channels or 3, names=names, encoding=encoding, colours=colours
        )
    else:
        raise ValueError(
            f"--dataset {settings.dataset!r}: use synthetic:shapes, synthetic:scenes, tfds:NAME or folder:PATH"
        )
    origin = (
        "--binary-masks"
        if settings.binary_masks
        else ("--num-classes" if settings.num_classes is not None else f"the dataset ({source.description})")
    )
    check_label_settings(source.num_classes, settings.ignore_index, origin)
    from zoo.tasks.segmentation.labels import CLASS_WEIGHT_RULES, parse_class_weights

    if settings.class_weights is not None and str(settings.class_weights).lower() not in CLASS_WEIGHT_RULES:
        parse_class_weights(settings.class_weights, source.num_classes)  # one weight per class
    return source


def scan_folder(settings: SegmentationSettings, path: str, layout=None):
    """The ``check`` scan of a dataset on disk with these settings (``zoo.tasks.segmentation.checks``);
    ``layout``: a shipped layout already listed (else it is listed here)."""
    from zoo.data.checks import DataReport
    from zoo.tasks.segmentation.checks import check_segmentation_folder, check_segmentation_layout

    if settings.data.kind != "folder":
        unknown = None
        try:
            layout = layout or shipped_layout(settings)
            names, encoding, _ = layout_labels(settings, layout)
        except UnknownClasses as err:  # scanned all the same: the values seen suggest the count
            from zoo.tasks.segmentation.labels import LabelEncoding

            unknown, names = str(err), [f"class{i}" for i in range(256)]
            encoding = LabelEncoding(256, settings.ignore_index)
        except ValueError as err:
            report = DataReport(str(settings.data))
            report.add(str(err), "")
            return report
        return check_segmentation_layout(
            layout,
            encoding,
            names,
            channels=settings.channels or 3,
            resize_masks=settings.resize_masks,
            unknown_classes=unknown,
        )
    try:
        labels = label_setup(settings)
    except ValueError as err:
        report = DataReport(str(settings.data))
        report.add(str(err), "")
        return report
    return check_segmentation_folder(
        path,
        channels=settings.channels or folder_channels(path),
        num_classes=settings.num_classes,
        ignore_index=settings.ignore_index,
        binary_masks=settings.binary_masks,
        resize_masks=settings.resize_masks,
        val_fraction=settings.val_fraction,
        seed=settings.seed,
        reduce_zero_label=settings.reduce_zero_label,
        palette=load_settings_palette(settings),
        tolerance=settings.label_tolerance,
        labels=labels,
    )


def check_data(settings: SegmentationSettings, input_size: tuple[int, int]):
    """Every problem of ``settings.dataset`` at once (``zoo.data.checks.dataset_report``): a full scan
    for folders, then the loading training does; for TFDS and synthetic sets, that they load, and the
    class shares of both splits (a folder's scan gives them itself)."""
    from zoo.data.checks import Finding, dataset_report
    from zoo.tasks.segmentation.labels import advice_in_use, statistics_lines, statistics_warnings

    loaded = []

    def load(scan: bool):
        loaded.append(load_source(settings, input_size, scan=scan))
        return loaded[-1]

    report = dataset_report(settings.data, lambda path: scan_folder(settings, path), load)
    if loaded and not settings.data.on_disk and not report.errors:
        source = loaded[-1]
        splits = {
            name: class_statistics(data, source.table, source.binary_masks, source.num_classes, settings.ignore_index)
            for name, data in (("train", source.train), ("val", source.val))
        }
        report.summary.append(f"labels read as {source.labels}")
        report.summary.extend(statistics_lines(splits, source.class_names))
        report.advice.extend(Finding(what, fix, False) for what, fix in statistics_warnings(splits, source.class_names))
    for finding in report.advice:  # advice the settings already follow says so
        finding.fix = advice_in_use(finding.fix, settings.loss, settings.repeat_rare)
    return report


def folder_channels(path: str) -> int:
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


def pipeline_options(settings: SegmentationSettings, source, input_size: tuple[int, int], channels: int) -> dict:
    """The ``zoo.tasks.segmentation.pipeline.segmentation_pipeline`` options training, validation and evaluation
    share (how masks become labels among them)."""
    return dict(
        table=source.table,
        binary_masks=source.binary_masks,
        input_size=input_size,
        channels=channels,
        batch_size=settings.batch_size,
        backbone=settings.backbone,
        seed=settings.seed,
        crop=settings.train_crop,
        ignore_index=settings.ignore_index,
    )


STATS_LIMIT = 5000  # class statistics read at most this many examples per split


def class_statistics(dataset, table, binary_masks: bool, num_classes: int, ignore_index: int, limit: int = STATS_LIMIT):
    """A ``zoo.tasks.segmentation.labels.ClassCounter`` over the masks of raw ``(image, mask)`` examples, read through the
    label table as training reads them (at the pictures' own size; the first ``limit`` examples)."""
    import tensorflow as tf

    from zoo.tasks.segmentation.labels import ClassCounter
    from zoo.tasks.segmentation.pipeline import mask_to_labels

    def counts(image, mask):
        labels = tf.reshape(mask_to_labels(mask, table, binary_masks), [-1])
        inside = tf.boolean_mask(labels, labels < num_classes)
        return (
            tf.math.bincount(inside, minlength=num_classes, maxlength=num_classes, dtype=tf.int64),
            tf.reduce_sum(tf.cast(tf.equal(labels, ignore_index), tf.int64)),
        )

    counter = ClassCounter(num_classes, ignore_index)
    for pixels, ignored in dataset.take(limit).map(counts, num_parallel_calls=tf.data.AUTOTUNE).as_numpy_iterator():
        counter.add_counts(pixels, int(ignored))
    return counter


class SegmentationTrainer:
    """The segmentation task's part of a recipe run (``recipes.driver.TaskTrainer``); loads the data."""

    monitor, mode, curve_metric = "val_mean_iou", "max", "mean_iou"

    def __init__(self, settings: SegmentationSettings, input_size: tuple[int, int], log: Callable[[str], None]):
        self.settings, self.input_size = settings, input_size
        self.data_notes: list[str] = []  # the scan's notes on the files (config.json "data_summary")
        self.data_warnings: list[str] = []  # rare or absent classes
        self.source = load_source(settings, input_size, log=log, notes=self.data_notes)
        self.channels = settings.channels or self.source.channels or 3
        self.options = pipeline_options(settings, self.source, input_size, self.channels)
        self.num_train, self.num_val, self.description = (
            self.source.num_train,
            self.source.num_val,
            self.source.description,
        )
        self.class_stats = self._class_statistics(log)

    def _class_statistics(self, log: Callable[[str], None]) -> dict:
        """Each class's share of pixels and images per split (logged, warned about, kept for config.json)
        and the class weights they give (``--class-weights``)."""
        from zoo.tasks.segmentation.labels import (
            advice_in_use,
            parse_class_weights,
            statistics_lines,
            statistics_warnings,
        )

        source, names = self.source, self.source.class_names
        splits = {
            name: class_statistics(
                data, source.table, source.binary_masks, source.num_classes, self.settings.ignore_index
            )
            for name, data in (("train", source.train), ("val", source.val))
        }
        limited = [f"{n}: first {STATS_LIMIT}" for n, c in splits.items() if c.examples >= STATS_LIMIT]
        log(f"labels: {source.labels}; class shares{' (' + ', '.join(limited) + ' examples)' if limited else ''}:")
        for line in statistics_lines(splits, names):
            log(f"  {line}")
        for what, fix in statistics_warnings(splits, names):
            log(f"warning: {what}; {advice_in_use(fix, self.settings.loss, self.settings.repeat_rare)}")
            self.data_warnings.append(what)
        self.class_weights = parse_class_weights(self.settings.class_weights, source.num_classes, splits["train"])
        if self.class_weights is not None:
            rule = {
                "auto": "the square root of median-frequency balancing of the training pixels",
                "median": "median-frequency balancing of the training pixels, clipped to [0.1, 10]",
            }.get(str(self.settings.class_weights).lower(), "as given")
            log("class weights (" + rule + "): " + ", ".join(f"{n} {w:.3g}" for n, w in zip(names, self.class_weights)))
        self.repeat_factors = None
        if self.settings.repeat_rare is not None:
            from zoo.tasks.segmentation.labels import repeat_factors

            self.repeat_factors = repeat_factors(splits["train"], self.settings.repeat_rare)
            counter = splits["train"]
            log(
                f"repeat-factor sampling (--repeat-rare {self.settings.repeat_rare:g}): pictures with "
                + ", ".join(
                    f"{n} x{f:.2f} ({int(i)} of {counter.examples})"
                    for n, f, i in zip(names, self.repeat_factors, counter.images)
                    if f > 1
                )
                if max(self.repeat_factors) > 1
                else f"repeat-factor sampling (--repeat-rare {self.settings.repeat_rare:g}): every class is in at "
                "least that share of the pictures; nothing is repeated"
            )
        return {name: counter.to_json(names) for name, counter in splits.items()}

    def data_line(self) -> str:
        return f"data: {self.description}; {self.source.num_classes} classes {self.source.class_names}"

    def settings_line(self) -> str:
        crops = ""
        if self.settings.train_crop:
            jitter = f", rescaled by {self.settings.scale_jitter}" if self.settings.scale_jitter else ""
            crops = (
                f"; training on random {self.input_size[0]}x{self.input_size[1]} crops at the pictures' own "
                f"scale{jitter}, validation in tiles of that size"
            )
        return f"augmentation {self.settings.augment}{crops}"

    def network(self) -> NetworkSpec:
        kwargs = {
            "backbone": self.settings.backbone,
            "num_classes": self.source.num_classes,
            "input_shape": (*self.input_size, self.channels),
        }
        if self.settings.model in DILATED_MODELS:  # stored resolved, so a run rebuilds as trained whatever the defaults
            from zoo.models.registry import default_output_stride

            kwargs["output_stride"] = self.settings.output_stride or default_output_stride(
                self.settings.model, self.settings.backbone
            )
        return NetworkSpec(self.settings.model, kwargs)

    def compile_kwargs(self) -> dict:
        from zoo.tasks.segmentation.losses import SegmentationLoss, segmentation_metrics

        classes, ignore = self.source.num_classes, self.settings.ignore_index
        return {
            "loss": SegmentationLoss(
                classes,
                self.settings.loss,
                ignore,
                class_weights=self.class_weights,
                ohem_fraction=self.settings.ohem_fraction,
            ),
            "metrics": segmentation_metrics(classes, ignore),
        }

    def resolved(self) -> dict:
        return {
            "input_size": list(self.input_size),
            "channels": self.channels,
            "num_classes": self.source.num_classes,
            "class_names": self.source.class_names,
            "data": self.description,
            "num_train": self.num_train,
            "num_val": self.num_val,
            "labels": self.source.labels,
            "class_statistics": self.class_stats,
            # what the run's report shows about the data beside the class shares (zoo.run.report): a broken file
            # stops training (the check), so nothing is skipped
            "data_summary": {"skipped": {}, "warnings": self.data_warnings, "notes": self.data_notes},
            "class_colours": self.source.colours,
            "class_weights": self.class_weights,
            "repeat_factors": self.repeat_factors,
        }

    def calibration_pictures(self):
        """A sample of the training pictures at the training size, uint8 ``[N, H, W, C]``
        (``zoo.data.calibration``: what int8 LiteRT exports calibrate on)."""
        from zoo.data.calibration import calibration_pictures

        pictures = (image for image, _ in self.source.train.shuffle(256, seed=0).as_numpy_iterator())
        return calibration_pictures(pictures, self.input_size, self.channels)

    def train_data(self):
        from zoo.tasks.segmentation.augment import AUGMENT_PRESETS
        from zoo.tasks.segmentation.pipeline import segmentation_pipeline

        return segmentation_pipeline(
            self.source.train,
            training=True,
            augment=AUGMENT_PRESETS[self.settings.augment],
            num_examples=self.num_train,
            repeat=True,
            scale_jitter=parse_scale_jitter(self.settings.scale_jitter),
            repeat_factors=self.repeat_factors,
            crop_max_share=self.settings.crop_max_share,
            **self.options,
        )

    def val_data(self):
        from zoo.tasks.segmentation.pipeline import segmentation_pipeline

        if not hasattr(self, "_val"):
            self._val = segmentation_pipeline(
                self.source.val, training=False, num_examples=self.num_val, **self.options
            )
        return self._val

    def epoch_metrics(self, model):
        return None  # Keras' compiled metrics give the validation mIoU

    def evaluate(self, model, samples: Path) -> dict:
        """Validation report (mIoU, per class, pixel accuracy); draws ``samples``."""
        from zoo.models.backbones import get_backbone
        from zoo.tasks.segmentation.pipeline import segmentation_pipeline
        from zoo.tasks.segmentation.plots import plot_confusion, plot_segmentation_samples

        report = evaluate(
            model, self.val_data(), self.source.num_classes, self.settings.ignore_index, self.source.class_names
        )
        plot_confusion(
            report["confusion_matrix"],
            samples.parent / "confusion.png",
            self.source.class_names,
            f"validation confusion matrix, rows sum to 1 (mIoU {report['mean_iou']:.3f})",
        )
        if self.settings.eval_tta:
            with_tta = evaluate(
                model,
                self.val_data(),
                self.source.num_classes,
                self.settings.ignore_index,
                self.source.class_names,
                tta=self.settings.eval_tta,
            )
            report["tta"] = {"mode": self.settings.eval_tta, **with_tta}
        raw = segmentation_pipeline(self.source.val.take(6), training=False, preprocess=False, **self.options)
        images, masks = next(iter(raw.unbatch().batch(6)))
        spec = get_backbone(self.settings.backbone)
        preds = np.argmax(model(spec.preprocess(images), training=False), axis=-1)
        plot_segmentation_samples(
            images.numpy().astype(np.uint8), masks.numpy()[..., 0], preds, samples, self.source.class_names
        )
        return report

    def summary(self, report: dict, weights: str) -> str:
        per_class = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in report["per_class_iou"].items())
        tta = report.get("tta")
        with_tta = (
            (
                f"; with test-time augmentation {tta['mode']}: mIoU {tta['mean_iou']:.3f}, pixel accuracy "
                f"{tta['pixel_accuracy']:.3f}"
            )
            if tta
            else ""
        )
        return (
            f"validation mIoU {report['mean_iou']:.3f}, pixel accuracy {report['pixel_accuracy']:.3f} "
            f"({weights} weights); per class: {per_class}{with_tta}"
        )

    def usage(self) -> list[str]:
        """The lines that call the export in the closing hint (after ``serve = ...``)."""
        return [
            f"    out = serve(images=tf.zeros((1, 240, 320, {self.channels}), tf.uint8))   # any size, uint8",
            "    out['mask'].shape, out['probabilities'].shape   # (1, 240, 320), (1, 240, 320, "
            f"{self.source.num_classes})",
        ]

"""Dataset checks: scan a folder dataset and report every problem at once, before training.

``python -m recipes.segment check ...`` / ``python -m recipes.pose check ...`` print the
report; training runs the same scan on folder datasets before its first step and stops
with the report if it found an error. Each finding names the files (the first few and a
count), what is wrong and how to fix it. Notes (conversions the pipeline makes, such as
grayscale to RGB) are reported but do not stop training.

Files are opened with Pillow and fully decoded, so truncated files are caught; the cost
is one read of the dataset (about 1-2 ms per small PNG pair here).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from zoo.data.label_scan import MaskScan
from zoo.data.labels import LabelEncoding, Palette
from zoo.data.layout import IMAGE_SUFFIXES, folder_class_names, folder_pairs, held_out
from zoo.data.masks import LOSSY_MASK_SUFFIXES, MASK_SUFFIXES, describe_mode

SHOWN = 5  # file names listed per finding


class DatasetError(ValueError):
    """A dataset has problems that stop training; the message is the whole report."""


@dataclasses.dataclass
class Finding:
    what: str
    fix: str
    error: bool
    files: list = dataclasses.field(default_factory=list)

    def line(self, show_all: bool = False) -> str:
        shown = len(self.files) if show_all else SHOWN
        names = ", ".join(str(f) for f in self.files[:shown])
        more = f" and {len(self.files) - shown} more (--show-all names them)" if len(self.files) > shown else ""
        head = "error" if self.error else "note"
        where = f" ({len(self.files)}): {names}{more}" if self.files else ""
        fix = f"\n        {'fix' if self.error else 'so'}: {self.fix}" if self.fix else ""
        return f"  {head}: {self.what}{where}{fix}"


class DataReport:
    """Findings grouped by what is wrong; ``examined`` counts the examples looked at."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.findings: dict[str, Finding] = {}
        self.examined = 0
        self.summary: list[str] = []  # what was found, e.g. how the masks are stored
        # notes on the classes (rare, absent from a split): printed by ``check``; training logs its own
        self.advice: list[Finding] = []

    def add(self, what: str, fix: str, file=None, *, error: bool = True) -> None:
        finding = self.findings.setdefault(what, Finding(what, fix, error))
        if file is not None:
            finding.files.append(file)

    def add_files(self, what: str, fix: str, files, *, error: bool = True) -> None:
        """``add`` for several files at once (none: the finding alone)."""
        finding = self.findings.setdefault(what, Finding(what, fix, error))
        finding.files.extend(files)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings.values() if f.error]

    def text(self, show_all: bool = False) -> str:
        """The report: a head line, what was found, the errors, then the notes (``show_all``: every file)."""
        errors, notes = self.errors, [f for f in self.findings.values() if not f.error]
        head = (f"{self.dataset}: {len(errors)} problem(s) found in {self.examined} example(s)" if errors
                else f"{self.dataset}: no problems found in {self.examined} example(s)")
        return "\n".join([head, *(f"  found: {line}" for line in self.summary), *(f.line(show_all) for f in errors),
                          *(f.line(show_all) for f in notes + self.advice)])

    def raise_if_errors(self) -> None:
        if self.errors:
            raise DatasetError(self.text() + "\n(see all problems at once with the recipe's `check` command)")


def loaded_source_report(source) -> DataReport:
    """For sources that are not scanned file by file (TFDS, synthetic): they loaded, and
    both splits have examples. ``source`` has ``description``, ``num_train``, ``num_val``."""
    report = DataReport(source.description)
    report.examined = source.num_train + source.num_val
    for split, count in (("training", source.num_train), ("validation", source.num_val)):
        if count == 0:
            report.add(f"the {split} split is empty", "choose another split (--train-split/--val-split)")
    return report


def dataset_report(dataset: str, scan_folder, load) -> DataReport:
    """Every problem of a ``--dataset`` at once: for ``folder:PATH``, ``scan_folder(PATH)`` (a full
    file scan) and then, if it found no error, ``load(False)`` (the loading training does, without
    a second scan), so settings that loading refuses are reported too; for TFDS and synthetic sets,
    that ``load(True)`` loads and both splits have examples."""
    kind, _, rest = dataset.partition(":")
    if kind == "folder":
        report = scan_folder(rest)
        if not report.errors:
            add_load_errors(report, lambda: load(False))
        return report
    return loaded_source_report(load(True))


def add_load_errors(report: DataReport, load) -> None:
    """Calls ``load()`` (the loading training does) and adds the ``ValueError`` it raises, if any, to
    ``report`` as an error: ``check`` then refuses exactly what training refuses."""
    try:
        load()
    except ValueError as err:
        report.add(f"training refuses these settings: {err}", "")


def stop_on_errors(report: DataReport, log) -> None:
    """Before training: raises ``DatasetError`` with the whole report if it has errors,
    else logs one line per note (conversions the pipeline makes)."""
    report.raise_if_errors()
    for finding in report.findings.values():
        log(f"data note: {finding.what}" + (f" ({len(finding.files)})" if finding.files else ""))


# ---- images -------------------------------------------------------------------------------------

_BANDS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "I;16B": 1, "F": 1, "LA": 2, "La": 2, "P": 3, "PA": 4, "RGB": 3,
          "RGBA": 4, "RGBa": 4, "RGBX": 4}


def _open(path: Path, report: DataReport, name: str):
    """The decoded Pillow image of ``path``, or None after reporting why it cannot be used."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        report.add("file listed in the annotations does not exist", "add the file or remove its annotation", name)
        return None
    if path.stat().st_size == 0:
        report.add("zero-byte file", "re-copy the file or remove it", name)
        return None
    try:
        image = Image.open(path)
        image.load()  # decodes everything: a truncated file fails here
        return image
    except Image.DecompressionBombError as err:
        report.add(f"images larger than Pillow's safety limit of {Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f} megapixels "
                   "(it refuses them as possible decompression bombs)",
                   "downscale the image or cut it into tiles (each tile an image with its own mask)",
                   f"{name} ({err})")
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        kind = "truncated file" if "truncated" in str(err).lower() else "unreadable image file"
        report.add(kind, "re-export or re-copy the file, or remove it", name)
        return None


def _channels(image, channels: int, report: DataReport, name: str) -> bool:
    """Reports how an image's bands meet the model's ``channels``; False if refused."""
    mode = image.mode
    have = _BANDS.get(mode)
    if have is None or mode == "CMYK":
        report.add(f"images in colour mode {mode!r} cannot be read as {channels}-channel input",
                   "convert them to RGB or grayscale PNG/JPEG", name)
        return False
    if have == channels:
        return True
    if channels == 3 and have in (1, 2, 4):
        what = {1: "grayscale images are repeated into 3 channels",
                2: "gray+alpha images: the alpha is dropped and the gray repeated into 3 channels",
                4: "RGBA images: the alpha channel is dropped"}[have]
        report.add(what, "nothing to do; the pipeline converts them", name, error=False)
        return True
    if channels == 1 and have in (2, 3, 4):
        report.add(f"{have}-channel images are converted to grayscale for the 1-channel model",
                   "nothing to do, or build the model with --channels 3 to use the colour", name, error=False)
        return True
    report.add(f"{have}-channel images cannot fill the model's {channels} input channels",
               f"build the model for them (--channels {have}) or convert the images", name)
    return False


def _unsupported(files, allowed, report: DataReport, what: str) -> list[Path]:
    kept = []
    for path in files:
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in allowed:
            kept.append(path)
        else:
            report.add(f"{what} in an unsupported format ({path.suffix or 'no suffix'})",
                       f"convert to {'/'.join(s.lstrip('.') for s in allowed)} or move the file out", path.name)
    return kept


# ---- segmentation -------------------------------------------------------------------------------

def _segmentation_split(folder: Path, report: DataReport, scan: MaskScan, *, channels: int, resize_masks: bool,
                        held_out: set[str] | None) -> int:
    """Scans one ``images/`` + ``masks/`` folder; masks go to ``scan`` under the split they train in
    (``held_out``: the mask paths of a seeded validation split; None: the folder's own name)."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        report.add(f"{folder} has no images/ and masks/ subfolders",
                   "lay the data out as DIR/images/<stem>.png|jpg and DIR/masks/<stem>.png (or DIR/train, DIR/val)")
        return 0
    prefix = f"{folder.name}/" if folder.name in ("train", "val") else ""
    _nested(images_dir, report, f"{prefix}images/")
    _nested(masks_dir, report, f"{prefix}masks/")
    images = _unsupported(sorted(p for p in images_dir.iterdir() if p.is_file()), IMAGE_SUFFIXES, report, "image")
    masks = _unsupported(sorted(p for p in masks_dir.iterdir() if p.is_file()), MASK_SUFFIXES, report,
                         "mask (masks are PNG, or JPEG read with care)")
    by_stem = defaultdict(list)
    for path in images:
        by_stem[path.stem].append(path)
    for stem, paths in by_stem.items():
        if len(paths) > 1:
            report.add("duplicate image stems (two images for one mask)", "keep one file per stem",
                       ", ".join(f"{prefix}images/{p.name}" for p in paths))
    mask_by_stem = {}
    for path in masks:
        if path.stem in mask_by_stem:
            report.add("duplicate mask stems (two masks for one image)", "keep one mask per stem",
                       f"{prefix}masks/{mask_by_stem[path.stem].name}, {prefix}masks/{path.name}")
        mask_by_stem.setdefault(path.stem, path)
    for stem in sorted(set(mask_by_stem) - set(by_stem)):
        report.add("mask without an image", "add the image or remove the mask", f"{prefix}masks/{mask_by_stem[stem].name}")
    pairs = 0
    for stem, paths in sorted(by_stem.items()):
        image_name = f"{prefix}images/{paths[0].name}"
        if stem not in mask_by_stem:
            report.add("image without a mask", "add masks/<stem>.png or move the image out", image_name)
            continue
        pairs += 1
        image = _open(paths[0], report, image_name)
        mask_path = mask_by_stem[stem]
        mask_name = f"{prefix}masks/{mask_path.name}"
        mask = _open(mask_path, report, mask_name)
        if image is not None:
            _channels(image, channels, report, image_name)
        if mask is None:
            continue
        split = folder.name if held_out is None else ("val" if str(mask_path) in held_out else "train")
        why = scan.add(mask, mask_name, split, mask_path.suffix.lower() in LOSSY_MASK_SUFFIXES)
        if why is not None:
            report.add(f"masks that cannot be read as class indices ({describe_mode(mask.mode)})",
                       f"save masks as single-channel PNGs of class indices, or colours with --palette: {why}",
                       mask_name)
            continue
        if image is not None and image.size != mask.size:
            if resize_masks:
                report.add("masks of another size than their image are resized to it (nearest neighbour)",
                           "nothing to do (--resize-masks)", mask_name, error=False)
            else:
                report.add("image and mask differ in size",
                           "fix the pairs, or pass --resize-masks to resize each mask to its image",
                           f"{image_name} {image.size[0]}x{image.size[1]} vs mask {mask.size[0]}x{mask.size[1]}")
    return pairs


def _nested(folder: Path, report: DataReport, shown: str) -> None:
    """Reports files in sub-folders of ``folder``: the loaders read only the files directly in it."""
    nested = sorted(p for p in folder.rglob("*") if p.is_file() and p.parent != folder
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in nested:
        report.add(f"files in sub-folders of {shown.rstrip('/').split('/')[-1]}/ (only the files directly in it are "
                   "read)", "move them up into the folder itself (or point folder: at the sub-folder, laid out "
                   "the same way)", f"{shown}{path.relative_to(folder).as_posix()}")


def check_segmentation_folder(path: str, *, channels: int, num_classes: int | None, ignore_index: int = 255,
                              binary_masks: bool = False, resize_masks: bool = False,
                              val_fraction: float | None = None, seed: int = 0, reduce_zero_label: bool = False,
                              palette: Palette | None = None, tolerance: int = 0) -> DataReport:
    """Scans ``DIR/images`` + ``DIR/masks`` (or ``DIR/train`` and ``DIR/val``) for every problem, and says
    how the masks are stored, how they are read and each class's share (``zoo.data.label_scan``).

    Args:
        path: the dataset folder.
        channels: the model's input channels (1, 3 or 4).
        num_classes: C (None with ``binary_masks`` or a ``palette``, or with ``classes.txt``).
        ignore_index: the mask value left out of loss and metrics.
        binary_masks: masks are 0/1 or 0/255 (>= 128 is the object).
        resize_masks: a mask of another size is resized to its image (else an error).
        val_fraction, seed: for a folder without train/val, the held-out fraction (checked for size) and the
            seed that picks it (so the class shares are the run's splits).
        reduce_zero_label, palette, tolerance: how mask values become classes (``zoo.data.labels``).

    Returns:
        The report (``raise_if_errors()`` to stop on errors).
    """
    folder = Path(path).expanduser()
    report = DataReport(f"folder:{folder}")
    if not folder.is_dir():
        report.add("the dataset folder does not exist", "check the path after folder:", str(folder))
        return report
    unknown_classes = None
    try:
        names = folder_class_names(folder, num_classes, binary_masks, palette.names if palette else None)
    except ValueError as err:
        unknown_classes = str(err)
        names = [f"class{i}" for i in range(256)]
    try:
        encoding = LabelEncoding(len(names), ignore_index, binary=binary_masks, reduce_zero_label=reduce_zero_label,
                                 palette=palette, tolerance=tolerance)
    except ValueError as err:
        report.add(f"the label flags do not go together: {err}", "")
        return report
    scan = MaskScan(encoding, names, known=unknown_classes is None)
    options = dict(channels=channels, resize_masks=resize_masks)
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        counts = {split: _segmentation_split(folder / split, report, scan, held_out=None, **options)
                  for split in ("train", "val")}
        for split, count in counts.items():
            if count == 0:
                report.add(f"the {split} split has no image/mask pairs", f"add pairs to {folder / split}")
        report.examined = sum(counts.values())
    else:
        held = set()
        try:
            pairs = folder_pairs(folder)
            held = {pairs[i][1] for i in held_out(len(pairs), val_fraction or 0.1, seed)[1]}
        except ValueError:
            pass  # no pairs, or a fraction that leaves nothing: reported below
        report.examined = _segmentation_split(folder, report, scan, held_out=held, **options)
        if report.examined == 0:
            report.add("the dataset is empty (no image/mask pairs)", "add images/<stem> and masks/<stem>.png pairs")
        elif val_fraction is not None and report.examined - max(1, round(report.examined * val_fraction)) < 1:
            report.add(f"a validation split of {val_fraction} leaves no training pairs out of {report.examined}",
                       "add data or lower --val-fraction")
    scan.report(report)
    if unknown_classes is not None and not scan.explains_classes:
        report.add("the classes are not known", unknown_classes)
    return report


# ---- keypoints ----------------------------------------------------------------------------------

def _keypoint_annotations(folder: Path, report: DataReport, prefix: str, category: str | None = None):
    """[(image file name, keypoints [K, 3] with NaN kept, row label)] and the declared names."""
    jsons, csvs = sorted(folder.glob("*.json")), sorted(folder.glob("*.csv"))
    if not (folder / "images").is_dir() or not (jsons or csvs):
        report.add(f"{folder} needs images/ and a COCO keypoints .json or a .csv beside it",
                   "see the README's keypoint folder layout")
        return [], []
    entries = []
    if jsons:
        name = f"{prefix}{jsons[0].name}"
        try:
            data = json.loads(jsons[0].read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            report.add("the COCO JSON cannot be parsed", f"fix the JSON ({err})", name)
            return [], []
        if not isinstance(data, dict):
            report.add("the COCO JSON is not an object with images, annotations and categories",
                       "write a COCO keypoints file: {\"images\": [...], \"annotations\": [...], \"categories\": [...]}",
                       name)
            return [], []
        missing = [f for f in ("images", "annotations", "categories") if f not in data]
        if missing:
            report.add(f"the COCO JSON lacks {missing}", "COCO keypoints files need images, annotations, categories",
                       name)
            return [], []
        not_lists = [f for f in ("images", "annotations", "categories") if not isinstance(data[f], list)]
        if not_lists:
            report.add(f"COCO fields that are not lists: {', '.join(f'{f} is {type(data[f]).__name__}' for f in not_lists)}",
                       "images, annotations and categories must each be a JSON list ([] when empty)", name)
            return [], []
        bad_entries = [f"{f}[{i}]" for f in ("images", "annotations", "categories")
                       for i, entry in enumerate(data[f]) if not isinstance(entry, dict)]
        if bad_entries:
            report.add("COCO entries that are not objects", "every entry of images, annotations and categories is "
                       "a JSON object", f"{name} {', '.join(bad_entries[:SHOWN])}")
            return [], []
        chosen = [c for c in data["categories"]
                  if category is not None and str(category) in (str(c.get("name")), str(c.get("id")))]
        if category is None:
            chosen = [c for c in data["categories"] if c.get("keypoints")] or data["categories"][:1]
        first = chosen[0] if len(chosen) == 1 else {}  # none or several: the loader's error names the fix
        names = first.get("keypoints") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            report.add("the category's keypoints is not a list of names", "write \"keypoints\": [\"nose\", ...]", name)
            return [], []
        if first and not names:
            report.add("the category has no keypoint names", "give the category \"keypoints\": [\"nose\", ...] (one "
                       "name per keypoint, in the annotations' order)",
                       f"{name} category {first.get('name', first.get('id'))!r}")
        files = {}
        for i, image in enumerate(data["images"]):
            lacking = [f for f in ("id", "file_name") if f not in image]
            if lacking:
                report.add(f"COCO images entries without {lacking}", "every image entry needs id and file_name",
                           f"{name} images[{i}]")
            elif not isinstance(image["file_name"], str) or not isinstance(image["id"], (int, str)):
                report.add("COCO images entries whose id is not a number or file_name not a string",
                           "write \"id\": 1, \"file_name\": \"a.jpg\"", f"{name} images[{i}]")
            else:
                files[image["id"]] = image["file_name"]
        for i, ann in enumerate(data["annotations"]):
            record = f"{name} annotations[{i}]" + (f" (id {ann['id']})" if "id" in ann else "")
            lacking = [f for f in ("image_id", "keypoints") if f not in ann]
            if lacking:
                report.add(f"COCO annotations without {lacking}", "every annotation needs image_id and keypoints",
                           record)
                continue
            if not isinstance(ann["image_id"], (int, str)) or ann["image_id"] not in files:
                report.add("COCO annotations whose image_id is not in images", "fix image_id or add the image",
                           f"{record} (image_id {ann['image_id']!r})")
                continue
            if not isinstance(ann["keypoints"], list) or not all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in ann["keypoints"]):
                report.add("COCO keypoints that are not a list of numbers", "write keypoints as [x1, y1, v1, ...]",
                           record)
                continue
            if first and "category_id" in ann and "id" in first and ann["category_id"] != first["id"]:
                continue  # another category's objects
            flat = [math.nan if v is None else v for v in ann["keypoints"]]
            if len(flat) % 3 or (names and len(flat) != 3 * len(names)):
                report.add(f"COCO keypoints lists whose length is not 3 x {len(names) or 'K'} (x, y, v per keypoint"
                           f"{' of the category' if names else ''})",
                           "write x, y, v for every keypoint of the category (v = 0 for unlabelled ones)",
                           f"{record} (length {len(flat)})")
                continue
            if ann.get("iscrowd") or not any(ann["keypoints"][2::3]):
                continue  # crowd regions and objects without a labelled keypoint: training skips them
            kp = np.asarray(flat, np.float64).reshape(-1, 3)
            flags = kp[:, 2]
            if (~np.isin(flags, (0, 1, 2))).any():
                bad = sorted({float(v) for v in flags[~np.isin(flags, (0, 1, 2))]})
                report.add("COCO visibility flags outside 0, 1, 2", "write v = 0 (not labelled), 1 (labelled, "
                           "hidden) or 2 (labelled, visible) after each x, y",
                           f"{record} (flags {[int(v) if v == int(v) else v for v in bad[:4]]})")
                continue
            if "bbox" in ann:
                box = ann["bbox"]
                if not (isinstance(box, list) and len(box) == 4 and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)):
                    report.add("COCO boxes that are not [x, y, width, height]", "write bbox as four numbers in pixels",
                               f"{record} (bbox {box!r})")
                    continue
                if box[2] <= 0 or box[3] <= 0:
                    report.add("COCO boxes of zero or negative size", "give the box its width and height in pixels "
                               "(or drop bbox to train on whole pictures: --region image)",
                               f"{record} (bbox {box})")
                    continue
            entries.append((files[ann["image_id"]], kp, record))
        return entries, names
    name = f"{prefix}{csvs[0].name}"
    with open(csvs[0], newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        report.add("the CSV file is empty", "write a header image,name_x,name_y,... and one row per image", name)
        return [], []
    header = rows[0]
    if len(header) < 3 or (len(header) - 1) % 2:
        report.add("the CSV header is not image,x0,y0,x1,y1,...", "one image column, then x and y per keypoint",
                   name)
        return [], []
    names = [c[:-2] if c.lower().endswith("_x") else f"kp{i}" for i, c in enumerate(header[1::2])]
    mismatched = [f"{x} / {y}" for x, y in zip(header[1::2], header[2::2])
                  if x.lower().endswith("_x") and (not y.lower().endswith("_y") or x[:-2] != y[:-2])]
    if mismatched:
        report.add(f"CSV header columns that do not pair NAME_x with NAME_y: {', '.join(mismatched[:4])}",
                   "write each keypoint as two columns NAME_x,NAME_y in that order", name)
        return [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            report.add(f"CSV rows whose keypoint count differs from the header's {len(names)}",
                       "write x and y (or two empty cells) for every keypoint", f"{name} line {line}")
            continue
        try:
            values = [math.nan if not v.strip() else float(v) for v in row[1:]]
        except ValueError:
            report.add("CSV cells that are not numbers", "write coordinates as numbers (empty = not labelled)",
                       f"{name} line {line}")
            continue
        xy = np.asarray(values, np.float64).reshape(-1, 2)
        empty = np.array([not row[1 + 2 * k].strip() and not row[2 + 2 * k].strip() for k in range(len(xy))])
        visible = (~empty).astype(np.float64)
        xy[empty] = 0.0  # empty cells: not labelled (allowed); NaN written as text stays NaN (an error)
        entries.append((row[0], np.concatenate([xy, visible[:, None]], -1), f"{name} line {line}"))
    return entries, names


def unmatched_sides(names: list[str]) -> list[str]:
    """Keypoint names that say a side (``left_eye``, ``l_hand``, ``knee_r``...) without a keypoint of the
    other side to swap with in a flip (``zoo.data.keypoint_sources.flip_index_from_names``' rule)."""
    from zoo.data.keypoint_sources import _partner, flip_index_from_names

    flip = flip_index_from_names(names)

    def right_side(name: str) -> bool:
        return name.startswith(("right", "r_", "r.")) or name.endswith(("_right", "_r"))

    return [n for i, n in enumerate(names) if flip[i] == i and (_partner(n.lower()) or right_side(n.lower()))]


def check_keypoint_folder(path: str, *, channels: int, num_keypoints: int | None = None,
                          val_fraction: float | None = None, category: str | None = None,
                          flip_pairs: bool = False, flips: bool = True) -> DataReport:
    """Scans a keypoint folder (``images/`` + COCO JSON or CSV; or ``train/`` and ``val/``).

    Reports: missing, unreadable, truncated, zero-byte or unsupported images; channel
    conversions; NaN or infinite coordinates; labelled keypoints outside their image;
    keypoint counts that differ from the declared names (or ``num_keypoints``); COCO
    files with missing fields, visibility flags outside 0-2, boxes of zero size, categories
    without keypoint names (each record named by its index and annotation id); with ``flips``
    (flip augmentation or flip test) and no ``flip_pairs``, keypoint names of one side without a
    partner of the other; empty splits.
    """
    folder = Path(path).expanduser()
    report = DataReport(f"folder:{folder}")
    if not folder.is_dir():
        report.add("the dataset folder does not exist", "check the path after folder:", str(folder))
        return report
    splits = [folder / "train", folder / "val"] if (folder / "train").is_dir() and (folder / "val").is_dir() else [folder]
    declared = num_keypoints
    for split in splits:
        prefix = f"{split.name}/" if split != folder else ""
        entries, names = _keypoint_annotations(split, report, prefix, category)
        declared = declared or (len(names) or None)
        lonely = unmatched_sides(names) if flips and not flip_pairs else []
        if lonely:
            report.add(f"keypoint names that say a side but have no partner of the other side: {', '.join(lonely)}",
                       "flips (the default augmentation) would keep them on their side while mirroring the picture: "
                       "name both sides alike (left_X / right_X), give the pairs with --flip-pairs, or train without "
                       "flips (--augment none)", f"{prefix}annotations")
        if split != folder and not entries:
            report.add(f"the {split.name} split has no annotated images", f"add annotations to {split}")
        images_dir = split / "images"
        if images_dir.is_dir():
            _unsupported(sorted(p for p in images_dir.iterdir() if p.is_file()), IMAGE_SUFFIXES, report, "image")
        opened = {}
        for file_name, kp, label in entries:
            report.examined += 1
            if declared is not None and len(kp) != declared:
                report.add(f"annotations with a keypoint count other than the declared {declared}",
                           "give every annotation all declared keypoints (unlabelled ones invisible)",
                           f"{label} ({len(kp)})")
                continue
            if not np.isfinite(kp[:, :2]).all():
                report.add("NaN or infinite keypoint coordinates",
                           "leave unlabelled keypoints empty (CSV) or at 0,0 with v=0 (COCO)", label)
                continue
            if Path(file_name).suffix.lower() not in IMAGE_SUFFIXES:
                continue  # reported by _unsupported when it exists
            if file_name not in opened:
                image = _open(images_dir / file_name, report, f"{prefix}images/{file_name}")
                opened[file_name] = None if image is None else image.size
                if image is not None:
                    _channels(image, channels, report, f"{prefix}images/{file_name}")
            size = opened[file_name]
            if size is None:
                continue
            shown = kp[:, 2] > 0
            x, y = kp[shown, 0], kp[shown, 1]
            if ((x < 0) | (y < 0) | (x > size[0] - 1) | (y > size[1] - 1)).any():
                report.add("labelled keypoints outside their image",
                           "fix the coordinates, or mark those keypoints not visible (v=0 / empty cells)", label)
    if report.examined == 0 and not report.errors:
        report.add("the dataset is empty (no annotated images)", "add annotations")
    elif len(splits) == 1 and val_fraction is not None and report.examined - max(1, round(report.examined * val_fraction)) < 1:
        report.add(f"a validation split of {val_fraction} leaves no training examples out of {report.examined}",
                   "add data or lower --val-fraction")
    return report

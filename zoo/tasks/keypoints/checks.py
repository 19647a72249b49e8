"""The ``check`` scan of a keypoint folder (``images/`` + a COCO keypoints JSON or a CSV): every broken record
and file at once; the report is ``zoo.data.checks``'."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from zoo.data.checks import SHOWN, DataReport, check_channels, open_image, unsupported_files
from zoo.data.layout import IMAGE_SUFFIXES
from zoo.tasks.keypoints.validation import REPEATED_OBJECT, box_problem, object_key


def _keypoint_annotations(
    folder: Path,
    report: DataReport,
    prefix: str,
    category: str | None = None,
    file: Path | None = None,
    preset: str | None = None,
):
    """[(image file name, keypoints [K, 3] with NaN kept, row label, the box looked at (x0, y0, x1, y1) or None)]
    and the declared names; ``file``: the annotation file (default:
    ``zoo.tasks.keypoints.sources.annotation_file``'s)."""
    from zoo.tasks.keypoints.sources import annotation_file, csv_picture_key, read_json

    if file is None:
        try:
            file = annotation_file(folder)
        except ValueError as err:
            report.add("several annotation files", f"{err}")
            return [], []
    jsons, csvs = ([file], []) if file is not None and file.suffix.lower() == ".json" else ([], [file] if file else [])
    if file is None or (not (folder / "images").is_dir() and prefix != "coco:"):
        report.add(
            f"{folder} needs images/ and a COCO keypoints .json or a .csv beside it",
            "see docs/datasets.md, keypoint folders",
        )
        return [], []
    entries = []
    if jsons:
        name = f"{prefix}{jsons[0].name}"
        try:
            data = read_json(jsons[0])
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            report.add("the COCO JSON cannot be parsed", f"fix the JSON ({err})", name)
            return [], []
        if isinstance(data, list) and data and all(isinstance(r, dict) and "joints" in r for r in data):
            return _joint_records(data, name, report), []
        if not isinstance(data, dict):
            report.add(
                "the COCO JSON is not an object with images, annotations and categories",
                'write a COCO keypoints file: {"images": [...], "annotations": [...], "categories": [...]}',
                name,
            )
            return [], []
        missing = [f for f in ("images", "annotations", "categories") if f not in data]
        if missing:
            report.add(
                f"the COCO JSON lacks {missing}", "COCO keypoints files need images, annotations, categories", name
            )
            return [], []
        not_lists = [f for f in ("images", "annotations", "categories") if not isinstance(data[f], list)]
        if not_lists:
            report.add(
                f"COCO fields that are not lists: {', '.join(f'{f} is {type(data[f]).__name__}' for f in not_lists)}",
                "images, annotations and categories must each be a JSON list ([] when empty)",
                name,
            )
            return [], []
        bad_entries = [
            f"{f}[{i}]"
            for f in ("images", "annotations", "categories")
            for i, entry in enumerate(data[f])
            if not isinstance(entry, dict)
        ]
        if bad_entries:
            report.add(
                "COCO entries that are not objects",
                "every entry of images, annotations and categories is a JSON object",
                f"{name} {', '.join(bad_entries[:SHOWN])}",
            )
            return [], []
        chosen = [
            c
            for c in data["categories"]
            if category is not None and str(category) in (str(c.get("name")), str(c.get("id")))
        ]
        if category is None:
            chosen = [c for c in data["categories"] if c.get("keypoints")] or data["categories"][:1]
        elif str(category).lower() == "all":
            chosen = ([c for c in data["categories"] if c.get("keypoints")] or data["categories"])[:1]
        first = chosen[0] if len(chosen) == 1 else {}  # none or several: the loader's error names the fix
        same = (
            {c.get("id") for c in data["categories"] if c.get("keypoints") or not first.get("keypoints")}
            if category is not None and str(category).lower() == "all"
            else {first.get("id")}
        )
        names = first.get("keypoints") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            report.add("the category's keypoints is not a list of names", 'write "keypoints": ["nose", ...]', name)
            return [], []
        if first and not names and preset:
            report.add(
                f"the category names no keypoints: the preset {preset} names them",
                "nothing to do",
                f"{name} category {first.get('name', first.get('id'))!r}",
                error=False,
            )
        elif first and not names:
            report.add(
                "the category names no keypoints: they are called kp0, kp1, ... and flips stay off",
                "nothing to do; --preset NAME (e.g. 300w, wflw, cofw, aflw) gives names and left/right pairs",
                f"{name} category {first.get('name', first.get('id'))!r}",
                error=False,
            )
        files = {}
        for i, image in enumerate(data["images"]):
            lacking = [f for f in ("id", "file_name") if f not in image]
            if lacking:
                report.add(
                    f"COCO images entries without {lacking}",
                    "every image entry needs id and file_name",
                    f"{name} images[{i}]",
                )
            elif not isinstance(image["file_name"], str) or not isinstance(image["id"], (int, str)):
                report.add(
                    "COCO images entries whose id is not a number or file_name not a string",
                    'write "id": 1, "file_name": "a.jpg"',
                    f"{name} images[{i}]",
                )
            else:
                files[image["id"]] = image["file_name"]
        for i, ann in enumerate(data["annotations"]):
            record = f"{name} annotations[{i}]" + (f" (id {ann['id']})" if "id" in ann else "")
            if first and "category_id" in ann and "id" in first and ann["category_id"] not in same:
                continue  # another category's objects (box-only categories, say): training reads none of them
            lacking = [f for f in ("image_id", "keypoints") if f not in ann]
            if lacking:
                report.add(
                    f"COCO annotations without {lacking}", "every annotation needs image_id and keypoints", record
                )
                continue
            if not isinstance(ann["image_id"], (int, str)) or ann["image_id"] not in files:
                report.add(
                    "COCO annotations whose image_id is not in images",
                    "fix image_id or add the image",
                    f"{record} (image_id {ann['image_id']!r})",
                )
                continue
            if not isinstance(ann["keypoints"], list) or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in ann["keypoints"]
            ):
                report.add(
                    "COCO keypoints that are not a list of numbers", "write keypoints as [x1, y1, v1, ...]", record
                )
                continue
            flat = [math.nan if v is None else v for v in ann["keypoints"]]
            if not flat:
                continue  # "keypoints": []: no labelled keypoint, skipped as training skips it
            if len(flat) % 3 or (names and len(flat) != 3 * len(names)):
                report.add(
                    f"COCO keypoints lists whose length is not 3 x {len(names) or 'K'} (x, y, v per keypoint"
                    f"{' of the category' if names else ''})",
                    "write x, y, v for every keypoint of the category (v = 0 for unlabelled ones)",
                    f"{record} (length {len(flat)})",
                )
                continue
            if ann.get("iscrowd") or not any(ann["keypoints"][2::3]):
                continue  # crowd regions and objects without a labelled keypoint: training skips them
            kp = np.asarray(flat, np.float64).reshape(-1, 3)
            flags = kp[:, 2]
            if (~np.isin(flags, (0, 1, 2))).any():
                bad = sorted({float(v) for v in flags[~np.isin(flags, (0, 1, 2))]})
                report.add(
                    "COCO visibility flags outside 0, 1, 2",
                    "write v = 0 (not labelled), 1 (labelled, hidden) or 2 (labelled, visible) after each x, y",
                    f"{record} (flags {[int(v) if v == int(v) else v for v in bad[:4]]})",
                )
                continue
            if "bbox" in ann:
                box = ann["bbox"]
                if not (
                    isinstance(box, list)
                    and len(box) == 4
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)
                ):
                    report.add(
                        "COCO boxes that are not [x, y, width, height]",
                        "write bbox as four numbers in pixels",
                        f"{record} (bbox {box!r})",
                    )
                    continue
                if box[2] <= 0 or box[3] <= 0:
                    report.add(
                        "COCO boxes of zero or negative size",
                        "give the box its width and height in pixels "
                        "(or drop bbox to train on whole pictures: --region image)",
                        f"{record} (bbox {box})",
                    )
                    continue
            entries.append((files[ann["image_id"]], kp, record, _region(ann)))
        return entries, names
    name = f"{prefix}{csvs[0].name}"
    with open(csvs[0], newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        report.add("the CSV file is empty", "write a header image,name_x,name_y,... and one row per image", name)
        return [], []
    header = rows[0]
    if len(header) < 3 or (len(header) - 1) % 2:
        report.add("the CSV header is not image,x0,y0,x1,y1,...", "one image column, then x and y per keypoint", name)
        return [], []
    names = [c[:-2] if c.lower().endswith("_x") else f"kp{i}" for i, c in enumerate(header[1::2])]
    mismatched = [
        f"{x} / {y}"
        for x, y in zip(header[1::2], header[2::2])
        if x.lower().endswith("_x") and (not y.lower().endswith("_y") or x[:-2] != y[:-2])
    ]
    if mismatched:
        report.add(
            f"CSV header columns that do not pair NAME_x with NAME_y: {', '.join(mismatched[:4])}",
            "write each keypoint as two columns NAME_x,NAME_y in that order",
            name,
        )
        return [], []
    first_rows: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            report.add(
                f"CSV rows whose keypoint count differs from the header's {len(names)}",
                "write x and y (or two empty cells) for every keypoint",
                f"{name} line {line}",
            )
            continue
        try:
            values = [math.nan if not v.strip() else float(v) for v in row[1:]]
        except ValueError:
            report.add(
                "CSV cells that are not numbers",
                "write coordinates as numbers (empty = not labelled)",
                f"{name} line {line}",
            )
            continue
        xy = np.asarray(values, np.float64).reshape(-1, 2)
        empty = np.array([not row[1 + 2 * k].strip() and not row[2 + 2 * k].strip() for k in range(len(xy))])
        visible = (~empty).astype(np.float64)
        xy[empty] = 0.0  # empty cells: not labelled (allowed); NaN written as text stays NaN (an error)
        first = first_rows.setdefault(csv_picture_key(row[0]), line)
        if first != line:  # training's reader refuses it (zoo.tasks.keypoints.sources.csv_repeat_message)
            report.add(
                "CSV rows naming a picture an earlier row named (a row holds one picture's keypoints: the picture "
                "would count twice in training and evaluation)",
                "remove the repeated row (or merge the two)",
                f"{name} line {line} ({row[0]}, first on line {first})",
            )
            continue
        entries.append((row[0], np.concatenate([xy, visible[:, None]], -1), f"{name} line {line}", None))
    return entries, names


def _region(ann: dict):
    """The box a COCO annotation is looked at through (x0, y0, x1, y1), as training reads it: its ``bbox``
    enlarged 1.25x, else its ``center`` and ``scale``; None without either (or when malformed: reported
    elsewhere)."""
    from zoo.tasks.keypoints.boxes import enlarged_box
    from zoo.tasks.keypoints.sources import center_scale_box

    try:
        if ann.get("bbox"):
            return enlarged_box(*(float(v) for v in ann["bbox"]))
        if "center" in ann and "scale" in ann:
            return center_scale_box(ann["center"], ann["scale"])
    except (TypeError, ValueError):
        return None
    return None


def _joint_records(data: list, name: str, report: DataReport) -> list:
    """The entries of mmpose's MPII-style list of records (``image``, ``joints``, ``joints_vis``, ``center``,
    ``scale``), as ``_keypoint_annotations`` gives them (missing joints, at -1 or not visible, unlabelled)."""
    from zoo.tasks.keypoints.sources import center_scale_box, joint_record

    entries = []
    for i, record in enumerate(data):
        label = f"{name} [{i}]"
        try:
            image, kp = joint_record(record)  # training's reading, 0-based pixels
        except (KeyError, TypeError, ValueError) as err:
            what = (
                "joint records whose joints_vis and joints differ in length"
                if "joints_vis" in str(err)
                else "joint records without image, or whose joints are not [[x, y], ...]"
            )
            report.add(what, "fix the record", label)
            continue
        if not kp[:, 2].any():
            continue  # training skips records without a labelled joint
        region = None
        if "center" in record and "scale" in record:
            try:
                region = center_scale_box(record["center"], record["scale"], mpii=True)
            except (TypeError, ValueError):
                region = None
        entries.append((image, kp.astype(np.float64), label, region))
    report.summary.append(
        f"{name}: a list of joint records (mmpose's MPII layout): boxes from each record's center and scale"
    )
    return entries


def unmatched_sides(names: list[str]) -> list[str]:
    """Keypoint names that say a side without a partner (``zoo.tasks.keypoints.sources.unmatched_sides``)."""
    from zoo.tasks.keypoints.sources import unmatched_sides as lonely

    return lonely(names)


def _coco_splits(file: Path, images: str | None, val_split: str | None, report: DataReport) -> list:
    """[(folder, annotation file, pictures' folder, prefix)] of ``coco:FILE.json`` and its validation file."""
    from zoo.data.layout import coco_images_dir
    from zoo.tasks.keypoints.sources import coco_val_file, first_picture, read_json

    if not file.is_file():
        report.add("the annotation file does not exist", "check the path after coco:", str(file))
        return []
    try:
        files = [file] + [f for f in [coco_val_file(file, val_split)] if f is not None]
    except ValueError as err:
        report.add(str(err), "")
        return []
    out = []
    for one in files:
        try:
            first = first_picture(read_json(one))
            if first is None:
                raise KeyError("images")
            out.append((one.parent, one, coco_images_dir(one, images, str(first)), f"{one.name}: "))
        except (KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
            out.append((one.parent, one, one.parent / "images", f"{one.name}: "))  # the scan names what is wrong
        except ValueError as err:
            report.add("the pictures are not found", str(err), one.name)
            return []
    return out


def check_keypoint_folder(
    path: str,
    *,
    channels: int,
    num_keypoints: int | None = None,
    val_fraction: float | None = None,
    category: str | None = None,
    flip_pairs: bool = False,
    flips: bool = True,
    annotations: str | None = None,
    coco: bool = False,
    images: str | None = None,
    val_split: str | None = None,
    preset: str | None = None,
    region: str | None = None,
) -> DataReport:
    """Scans a keypoint folder (``images/`` + COCO JSON or CSV; or ``train/`` and ``val/``).

    Reports: missing, unreadable, truncated, zero-byte or unsupported images; channel
    conversions; NaN or infinite coordinates; labelled keypoints outside their image;
    keypoint counts that differ from the declared names (or ``num_keypoints``); COCO
    files with missing fields, visibility flags outside 0-2, boxes of zero size, categories
    without keypoint names (each record named by its index and annotation id); with ``flips``
    (flip augmentation or flip test) and no ``flip_pairs``, keypoint names of one side without a
    partner of the other; empty splits; a CSV row naming a picture twice, the same object twice; unless
    ``region`` is ``image`` (boxes unused), boxes that miss their keypoints or lie mostly outside their
    picture (``zoo.tasks.keypoints.validation.box_problem``, the rule training refuses by).
    """
    from zoo.tasks.keypoints.sources import annotation_file

    folder = Path(path).expanduser()
    report = DataReport(f"{'coco' if coco else 'folder'}:{folder}")
    if coco:  # a COCO file read where it lies: (annotation file, its pictures' folder) per split
        splits = _coco_splits(folder, images, val_split, report)
        if not splits:
            return report
    elif not folder.is_dir():
        report.add("the dataset folder does not exist", "check the path after folder:", str(folder))
        return report
    else:
        parts = (
            [folder / "train", folder / "val"]
            if (folder / "train").is_dir() and (folder / "val").is_dir()
            else [folder]
        )
        splits = []
        for split in parts:
            try:
                file = annotation_file(split, annotations)
            except ValueError as err:
                report.add("the annotation file is not known", str(err))
                return report
            splits.append((split, file, split / "images", f"{split.name}/" if split != folder else ""))
    declared = num_keypoints
    for split, file, images_dir, prefix in splits:
        entries, names = _keypoint_annotations(split, report, "coco:" if coco else prefix, category, file, preset)
        prefix = "" if coco else prefix
        declared = declared or (len(names) or None)
        lonely = unmatched_sides(names) if flips and not flip_pairs else []
        if lonely:
            report.add(
                f"keypoint names that say a side but have no partner of the other side: {', '.join(lonely)}",
                "flips (the default augmentation) would keep them on their side while mirroring the picture: "
                "name both sides alike (left_X / right_X), give the pairs with --flip-pairs, or train without "
                "flips (--augment none)",
                f"{prefix}annotations",
            )
        if len(splits) > 1 and not entries:
            report.add(
                f"the {file.name if coco else split.name} split has no annotated images", f"add annotations to {file}"
            )
        if images_dir.is_dir() and not coco:  # (COCO's picture folders hold other files' pictures too)
            unsupported_files(sorted(p for p in images_dir.iterdir() if p.is_file()), IMAGE_SUFFIXES, report, "image")
        opened, seen = {}, {}
        for file_name, kp, label, box in entries:
            report.examined += 1
            if declared is not None and len(kp) != declared:
                report.add(
                    f"annotations with a keypoint count other than the declared {declared}",
                    "give every annotation all declared keypoints (unlabelled ones invisible)",
                    f"{label} ({len(kp)})",
                )
                continue
            if not np.isfinite(kp[:, :2]).all():
                report.add(
                    "NaN or infinite keypoint coordinates",
                    "leave unlabelled keypoints empty (CSV) or at 0,0 with v=0 (COCO)",
                    label,
                )
                continue
            key = object_key(file_name, kp)
            if key in seen:
                report.add(*REPEATED_OBJECT, f"{label} repeats {seen[key]}")
                continue
            seen[key] = label
            if Path(file_name).suffix.lower() not in IMAGE_SUFFIXES:
                continue  # reported by _unsupported when it exists
            if file_name not in opened:
                picture = f"{images_dir.name}/{file_name}" if coco else f"{prefix}images/{file_name}"
                image = open_image(images_dir / file_name, report, picture)
                opened[file_name] = None if image is None else image.size
                if image is not None:
                    check_channels(image, channels, report, f"{prefix}images/{file_name}")
            size = opened[file_name]
            if size is None:
                continue
            shown = kp[:, 2] > 0
            x, y = kp[shown, 0], kp[shown, 1]
            if ((x < 0) | (y < 0) | (x > size[0] - 1) | (y > size[1] - 1)).any():
                report.add(
                    "labelled keypoints outside their image",
                    "fix the coordinates, or mark those keypoints not visible (v=0 / empty cells)",
                    label,
                )
            problem = box_problem(box, kp, (size[1], size[0])) if box is not None and region != "image" else None
            if problem is not None:
                report.add(*problem[0], f"{label} ({problem[1]})")
    if report.examined == 0 and not report.errors:
        report.add("the dataset is empty (no annotated images)", "add annotations")
    elif (
        len(splits) == 1
        and val_fraction is not None
        and report.examined - max(1, round(report.examined * val_fraction)) < 1
    ):
        report.add(
            f"a validation split of {val_fraction} leaves no training examples out of {report.examined}",
            "add data or lower --val-fraction",
        )
    return report

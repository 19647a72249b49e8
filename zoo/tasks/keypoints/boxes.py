"""Boxes to look at, from a JSON file: COCO detection results or a COCO annotation file.

Top-down keypoint models answer one object per box. ``python -m zoo predict --boxes`` and the
pose recipe's ``--eval-boxes`` read the boxes with ``read_boxes``; boxes are COCO's
``[x, y, width, height]`` in the picture's pixels.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BOX_ENLARGEMENT = 1.25  # a box is looked at enlarged around its centre, as top-down pose methods do


def enlarged_box(x: float, y: float, w: float, h: float) -> np.ndarray:
    """A COCO box ``(x, y, w, h)`` (pixels) enlarged ``BOX_ENLARGEMENT`` times around its centre, as
    float32 ``[4]`` (x0, y0, x1, y1): the region a top-down model looks at (training, evaluation and
    ``Predictor.predict_boxes`` alike)."""
    cx, cy, half = x + w / 2, y + h / 2, BOX_ENLARGEMENT / 2
    return np.array([cx - half * w, cy - half * h, cx + half * w, cy + half * h], np.float32)


@dataclass
class BoxFile:
    """Boxes per picture from a detections file (``read_boxes``)."""

    by_name: dict  # file name (as written in the file) -> list of (image_id, [x, y, w, h], score)
    by_id: dict  # image_id -> same
    count: int

    def lookup(self, path: Path, stem: str) -> tuple[object, np.ndarray, np.ndarray]:
        """(image_id or None, boxes ``[N, 4]`` (x, y, w, h), scores ``[N]``) of a picture: matched by its
        path below the input folder (``stem`` plus suffix), its file name, or, for COCO's numbered names
        (``000000000139.jpg``), its number."""
        keys = [stem + path.suffix, path.name]
        found = next((self.by_name[k] for k in keys if k in self.by_name), None)
        if found is None and path.stem.isdigit():
            found = self.by_id.get(int(path.stem))
        found = found or []
        return (
            (found[0][0] if found else None),
            np.array([b for _, b, _ in found], np.float64).reshape(-1, 4),
            np.array([sc for _, _, sc in found], np.float64),
        )


def _category_ids(data, category: str) -> set:
    """The ids ``category`` (a name or an id) stands for in a COCO file's ``categories``."""
    found = {
        c.get("id")
        for c in (data or {}).get("categories", [])
        if str(category) in (str(c.get("name")), str(c.get("id")))
    }
    if not found and str(category).lstrip("-").isdigit():
        found = {int(category)}
    return found


def read_boxes(
    path: str | os.PathLike,
    *,
    category: str | None = None,
    min_score: float = 0.0,
    annotations: str | os.PathLike | None = None,
) -> BoxFile:
    """Boxes to look at, from a JSON file: COCO detection results (a list of ``{"image_id" or
    "file_name", "bbox": [x, y, w, h], "score", "category_id"}``) or a COCO annotation file (``images`` with
    ``file_name`` and ``annotations`` with ``bbox``: its boxes with score 1).

    Args:
        category: keep only boxes of this category (name or id; names through the file's or ``annotations``'
            ``categories``); None: every box.
        min_score: keep only boxes scored at least this.
        annotations: a COCO annotation file whose ``images`` map detection results' ``image_id`` to file
            names (as COCO's own tools match results to pictures).

    Raises ValueError naming what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"--boxes {path}: cannot read it as JSON ({err})") from None
    names, reference = {}, None
    if annotations is not None:
        try:
            reference = json.loads(Path(annotations).read_text())
            names = {img["id"]: img.get("file_name") for img in reference["images"]}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"--annotations {annotations}: not a COCO annotation file with images ({err})") from None
    wanted = None
    if category is not None:
        wanted = _category_ids(data if isinstance(data, dict) else reference, category)
        if not wanted:
            raise ValueError(
                f"--box-category {category}: no such category name in {path.name}"
                + ("" if reference else "; give its id, or --annotations FILE for the names")
            )
    if isinstance(data, dict) and "annotations" in data:
        names = {**names, **{img["id"]: img.get("file_name") for img in data.get("images", [])}}
        entries = [{**ann, "score": ann.get("score", 1.0)} for ann in data["annotations"] if not ann.get("iscrowd")]
    elif isinstance(data, list):
        entries = data
    else:
        raise ValueError(
            f"--boxes {path}: expected COCO detection results (a list of objects with bbox and image_id "
            "or file_name) or a COCO annotation file (images and annotations)"
        )
    by_name, by_id = {}, {}
    if wanted is not None:
        entries = [e for e in entries if isinstance(e, dict) and e.get("category_id") in wanted]
    if min_score > 0:
        entries = [e for e in entries if isinstance(e, dict) and float(e.get("score", 1.0)) >= min_score]
    for number, entry in enumerate(entries):
        box = entry.get("bbox") if isinstance(entry, dict) else None
        if not (isinstance(box, (list, tuple)) and len(box) == 4 and box[2] > 0 and box[3] > 0):
            raise ValueError(
                f"--boxes {path}: entry {number} has no bbox [x, y, width, height] with a positive size: {entry!r:.200}"
            )
        image_id = entry.get("image_id")
        name = entry.get("file_name") or names.get(image_id)
        if name is None and image_id is None:
            raise ValueError(f"--boxes {path}: entry {number} names no picture (image_id or file_name)")
        item = (image_id, [float(v) for v in box], float(entry.get("score", 1.0)))
        if name is not None:
            for key in {str(name), Path(str(name)).name}:
                by_name.setdefault(key, []).append(item)
        if image_id is not None:
            by_id.setdefault(image_id, []).append(item)
    return BoxFile(by_name, by_id, len(entries))


def check_boxes_match(box_file: BoxFile, files, where: str) -> int:
    """The number of ``files`` (``(path, stem)`` pairs) the boxes name; ValueError when they name none."""
    matched = sum(1 for path, stem in files if len(box_file.lookup(Path(path), stem)[1]))
    if box_file.count and not matched:
        raise ValueError(
            f"--boxes {where}: its {box_file.count} boxes name none of the {len(files)} pictures (by file name or "
            "COCO number); detection results that carry only image_id need --annotations FILE (the COCO file "
            "whose images give each id its file name)"
        )
    if not box_file.count:
        raise ValueError(f"--boxes {where}: no box is left (check --box-category and --min-box-score)")
    return matched

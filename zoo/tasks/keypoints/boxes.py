"""Boxes to look at, from a JSON file: COCO detection results or a COCO annotation file.

Top-down keypoint models answer one object per box. ``python -m zoo predict --boxes`` and the
pose recipe's ``--eval-boxes`` read the boxes with ``read_boxes``; boxes are COCO's
``[x, y, width, height]`` in the picture's pixels.
"""

from __future__ import annotations

import json
import math
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


def box_values_problem(box) -> str | None:
    """Why a COCO box ``[x, y, width, height]`` (pixels) cannot be looked at, or None: it is not four real
    numbers, one is NaN or infinite, or its width or height is not above 0."""
    if not (isinstance(box, (list, tuple, np.ndarray)) and len(box) == 4):
        return "is not four numbers [x, y, width, height]"
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in box):
        return "holds something other than numbers"
    values = [float(v) for v in box]
    if not all(math.isfinite(v) for v in values):
        return "holds NaN or an infinite value"
    if values[2] <= 0 or values[3] <= 0:
        return "has a width or height that is not above 0"
    return None


def clip_box(box, size: tuple[int, int]) -> np.ndarray | None:
    """A COCO box ``(x, y, width, height)`` clipped to a picture of ``size`` (H, W) pixels, whose pixel edges
    span (0, 0)..(W, H): float64 ``[4]`` (x, y, width, height), or None when no area of it lies in the
    picture. ``predict --boxes`` and ``Predictor.predict_boxes`` look at boxes so clipped: a detector's box
    reaching past the edge frames the part of the object in the picture, as the training boxes (COCO's,
    inside their pictures) do, and a box of any size costs at most the picture's pixels."""
    x, y, w, h = (float(v) for v in box)
    height, width = size
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    if not (x1 > x0 and y1 > y0):
        return None
    return np.array([x0, y0, x1 - x0, y1 - y0], np.float64)


MATCH_RULE = (
    "a box belongs to a picture when its file_name is the picture's path below the input folder or its file "
    "name, or, for pictures named by a COCO number (000000000139.jpg), when its image_id is that number; "
    "detection results that carry only image_id need --annotations FILE (the COCO file whose images give "
    "each id its file_name)"
)


@dataclass
class BoxFile:
    """Boxes per picture from a detections file (``read_boxes``)."""

    by_name: dict  # file name (as written in the file) -> list of (image_id, [x, y, w, h], score)
    by_id: dict  # image_id -> same
    count: int  # boxes kept (after --box-category and --min-box-score)
    total: int | None = None  # boxes in the file before those filters (None: as count)
    filters: str = ""  # the filters that were asked, in words ("" when none)

    def lookup(self, path: Path, stem: str) -> tuple[object, np.ndarray, np.ndarray]:
        """(image_id or None, boxes ``[N, 4]`` (x, y, w, h), scores ``[N]``) of a picture: matched by its
        path below the input folder (``stem`` plus suffix), its file name, or, for COCO's numbered names
        (``000000000139.jpg``), its number (``MATCH_RULE``)."""
        keys = [stem + path.suffix, path.name]
        found = next((self.by_name[k] for k in keys if k in self.by_name), None)
        if found is None and path.stem.isdigit():  # an image_id written as a number or as a string
            found = self.by_id.get(int(path.stem)) or self.by_id.get(str(int(path.stem))) or self.by_id.get(path.stem)
        found = found or []
        return (
            (found[0][0] if found else None),
            np.array([b for _, b, _ in found], np.float64).reshape(-1, 4),
            np.array([sc for _, _, sc in found], np.float64),
        )

    def entries_for(self, file_name: str, image_id=None) -> list:
        """The (image_id, [x, y, w, h], score) entries of a picture known by its ``file_name`` and, where a COCO
        annotation file gives one, its ``image_id`` (``--eval-boxes``: the validation pictures)."""
        return (
            self.by_name.get(Path(file_name).name) or (self.by_id.get(image_id) if image_id is not None else None) or []
        )

    def examples(self, shown: int = 3) -> str:
        """A few of the pictures the file names, for messages: ``'a.png', image_id 5``."""
        names = [repr(n) for n in list(self.by_name)[:shown]]
        ids = [f"image_id {i!r}" for i in list(self.by_id)[: max(0, shown - len(names))]]
        return ", ".join(names + ids) or "none"


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
    flag: str = "--boxes",
) -> BoxFile:
    """Boxes to look at, from a JSON file: COCO detection results (a list of ``{"image_id" or
    "file_name", "bbox": [x, y, w, h], "score", "category_id"}``) or a COCO annotation file (``images`` with
    ``file_name`` and ``annotations`` with ``bbox``: its boxes with score 1).

    Every box is checked here, before any picture is read: four finite numbers, width and height above 0
    (``box_values_problem``); the first that is not is refused with its entry's index.

    Args:
        category: keep only boxes of this category (name or id; names through the file's or ``annotations``'
            ``categories``); None: every box.
        min_score: keep only boxes scored at least this.
        annotations: a COCO annotation file whose ``images`` map detection results' ``image_id`` to file
            names (as COCO's own tools match results to pictures).
        flag: the flag that named the file, for messages (``--boxes``; the pose recipe's ``--eval-boxes``).

    Raises ValueError naming what is wrong."""
    path = Path(path)
    what = f"{flag} {path}"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{what}: cannot read it as JSON ({str(err).splitlines()[0][:200] if str(err) else type(err).__name__}); "
            "give COCO detection results (a JSON list of {file_name or image_id, bbox, score}) or a COCO "
            "annotation file"
        ) from None
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
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        images = data.get("images") if isinstance(data.get("images"), list) else []
        names = {
            **names,
            **{img["id"]: img.get("file_name") for img in images if isinstance(img, dict) and "id" in img},
        }
        entries = [
            {**ann, "score": ann.get("score", 1.0)} if isinstance(ann, dict) else ann
            for ann in data["annotations"]
            if not (isinstance(ann, dict) and ann.get("iscrowd"))
        ]
    elif isinstance(data, list):
        entries = data
    else:
        raise ValueError(
            f"{what}: expected COCO detection results (a list of objects with bbox and image_id "
            "or file_name) or a COCO annotation file (images and annotations), not a JSON "
            f"{type(data).__name__}"
        )
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(
                f"{what}: entry {number} is not an object with bbox and file_name or image_id: {entry!r:.120}"
            )
        problem = box_values_problem(entry.get("bbox"))
        if problem:
            raise ValueError(
                f"{what}: entry {number} has bbox {entry.get('bbox')!r:.120}, which {problem}; write bbox as "
                "[x, y, width, height] in the picture's pixels, finite, width and height above 0"
            )
        score = entry.get("score", 1.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(
                f"{what}: entry {number} has score {score!r:.60}; write a finite number (or leave it out: 1)"
            )
    total = len(entries)
    if wanted is not None:
        entries = [e for e in entries if e.get("category_id") in wanted]
    if min_score > 0:
        entries = [e for e in entries if float(e.get("score", 1.0)) >= min_score]
    filters = " and ".join(
        f for f in (f"--box-category {category}" if category is not None else "",
                    f"--min-box-score {min_score:g}" if min_score > 0 else "") if f
    )  # fmt: skip
    by_name, by_id = {}, {}
    for number, entry in enumerate(entries):
        image_id = entry.get("image_id")
        name = entry.get("file_name") or names.get(image_id)
        if name is None and image_id is None:
            raise ValueError(f"{what}: entry {number} names no picture (image_id or file_name); {MATCH_RULE}")
        item = (image_id, [float(v) for v in entry["bbox"]], float(entry.get("score", 1.0)))
        if name is not None:
            for key in {str(name), Path(str(name)).name}:
                by_name.setdefault(key, []).append(item)
        if image_id is not None:
            by_id.setdefault(image_id, []).append(item)
    return BoxFile(by_name, by_id, len(entries), total, filters)


def check_boxes_match(box_file: BoxFile, files, where: str) -> int:
    """The number of ``files`` (``(path, stem)`` pairs) the boxes name (``BoxFile.lookup``). Raises a
    one-line ValueError, before any picture is read, when the file holds no box, when the filters leave
    none, or when no box names one of the pictures (saying how boxes are matched, ``MATCH_RULE``)."""
    if not box_file.count:
        total = box_file.count if box_file.total is None else box_file.total
        if total and box_file.filters:
            raise ValueError(
                f"--boxes {where}: no box is left of its {total} after {box_file.filters}; lower "
                "--min-box-score or pick another --box-category"
            )
        raise ValueError(
            f"--boxes {where} holds no box (an empty list, or no annotation with a bbox): give COCO detection "
            "results for these pictures, a JSON list of {file_name or image_id, bbox [x, y, width, height], score}"
        )
    matched = sum(1 for path, stem in files if len(box_file.lookup(Path(path), stem)[1]))
    if not matched:
        raise ValueError(
            f"--boxes {where}: none of its {box_file.count} boxes belongs to one of the {len(files)} pictures "
            f"(it names {box_file.examples()}): {MATCH_RULE}; fix the file_name or image_id of the boxes, or "
            "give the pictures they were made for"
        )
    return matched

"""The keypoint settings checked against the data they train on: one set of rules that ``check`` reports and
training enforces before its first step, so that the two cannot drift.

``data_problems(settings, source)`` looks at a loaded ``zoo.tasks.keypoints.sources.KeypointSource`` with the
recipe's settings: the flags that name keypoints (``--flip-pairs``, ``--lower-body`` with ``--half-body``,
``--oks-sigmas``, ``--num-keypoints``), the file a flag names (``--eval-boxes``), and the objects read (boxes that
miss their keypoints or lie mostly outside their picture, the same object twice). ``check_data`` adds what it
finds to the check report (``add_to_report``); the trainer calls ``refuse_problems`` (a one-line ValueError)
before it builds anything. The object rules (``box_problem``, ``object_key``) are also the ``check`` scan's
(``zoo.tasks.keypoints.checks``), which sees the pictures' real sizes.

Importing this module loads neither Keras nor TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from zoo.tasks.keypoints.geometry import HalfBody

# The object rules: what is wrong and the fix, as the check report and training's error say it.
BOX_MISSES = (
    "boxes that miss their object: fewer than half of its labelled keypoints lie in the box enlarged 1.25x "
    "(the crop the model is shown)",
    "fix the bbox ([x, y, width, height] in the picture's pixels, around the object's keypoints), or train on "
    "whole pictures (--region image)",
)
BOX_OUTSIDE = (
    "boxes mostly outside their picture: under a quarter of the box enlarged 1.25x lies in the picture (a box "
    "in other units, or far too large)",
    "fix the bbox ([x, y, width, height] in the picture's pixels), or train on whole pictures (--region image)",
)
REPEATED_OBJECT = (
    "the same object twice: a picture with the same labelled keypoints in two annotations (it would count twice "
    "in training and in AP)",
    "remove the repeated annotation",
)
INSIDE_SHARE = 0.25  # of the looked-at region, inside the picture (BOX_OUTSIDE)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing the settings or the data get wrong: ``what`` (naming the bad value), its ``fix``, the records
    it was found in, and whether it stops training (``error``) or is a note."""

    what: str
    fix: str = ""
    records: tuple[str, ...] = ()
    error: bool = True

    def line(self, shown: int = 3) -> str:
        """The problem in one line (the first ``shown`` records and a count)."""
        where = ""
        if self.records:
            more = f" and {len(self.records) - shown} more" if len(self.records) > shown else ""
            where = f" ({len(self.records)}: {', '.join(self.records[:shown])}{more})"
        return f"{self.what}{where}" + (f"; {self.fix}" if self.fix else "")


def box_problem(region, points, size: tuple[int, int] | None = None) -> tuple[tuple[str, str], str] | None:
    """Whether a training box can frame its object: ``region`` float ``[4]`` (x0, y0, x1, y1), the box enlarged
    1.25x in pixel-edge coordinates (what the model is shown); ``points`` ``[K, >=3]`` (x, y, flag; flag > 0:
    labelled); ``size`` the picture's (height, width) when known.

    Returns None, or ((what, fix), detail): ``BOX_MISSES`` when fewer than half of the labelled keypoints lie in
    the region, ``BOX_OUTSIDE`` when under ``INSIDE_SHARE`` of the region lies in the picture."""
    x0, y0, x1, y1 = (float(v) for v in region)
    if not (x1 > x0 and y1 > y0):
        return None  # no box: the whole picture is looked at
    points = np.asarray(points, np.float64)
    labelled = points[points[:, 2] > 0, :2] if len(points) else np.zeros((0, 2))
    labelled = labelled[np.isfinite(labelled).all(-1)]
    if len(labelled):
        centres = labelled + 0.5  # pixel centres in edge coordinates
        inside = int(((centres >= [x0, y0]) & (centres <= [x1, y1])).all(-1).sum())
        if 2 * inside < len(labelled):
            return BOX_MISSES, f"{inside} of {len(labelled)} labelled keypoints in it"
    if size is not None:
        height, width = size
        overlap = max(0.0, min(x1, width) - max(x0, 0.0)) * max(0.0, min(y1, height) - max(y0, 0.0))
        share = overlap / ((x1 - x0) * (y1 - y0))
        if share < INSIDE_SHARE:
            return BOX_OUTSIDE, f"{share:.0%} of it in the {width} x {height} picture"
    return None


def object_key(picture: str, points) -> tuple:
    """What makes two annotations the same object: the picture and the labelled keypoints (to 1e-3 pixel)."""
    points = np.asarray(points, np.float64)
    labelled = points[:, 2] > 0
    return (str(picture), tuple(labelled.tolist()), tuple(np.round(points[labelled, :2], 3).ravel().tolist()))


def parse_pairs(text: str | None) -> list[tuple[int, int]] | str | None:
    """``"0-1,3-4"`` -> [(0, 1), (3, 4)]; ``"none"`` -> ``"none"`` (no keypoint has a side: flips swap nothing);
    refuses malformed pairs, a keypoint paired with itself or used twice."""
    if not text:
        return None
    if str(text).strip().lower() == "none":
        return "none"
    pairs, used = [], set()
    for part in str(text).split(","):
        if not part.strip():
            continue
        try:
            pair = tuple(int(v) for v in part.split("-"))
        except ValueError:
            pair = ()
        if len(pair) != 2 or min(pair) < 0:
            raise ValueError(
                f"--flip-pairs {text!r}: {part.strip()!r} is not a pair of keypoint indices; write pairs like 0-1,3-4"
            )
        if pair[0] == pair[1] or used & set(pair):
            raise ValueError(
                f"--flip-pairs {text!r}: keypoint {pair[0] if pair[0] == pair[1] else sorted(used & set(pair))[0]} "
                "is paired with itself or appears in two pairs; each keypoint swaps with at most one other"
            )
        used.update(pair)
        pairs.append(pair)
    return pairs


def half_body_from(settings, source) -> HalfBody | None:
    """``--half-body``'s ``zoo.tasks.keypoints.geometry.HalfBody`` for ``source`` (None when off): the lower half
    from ``--lower-body`` (indices or names), else the preset's, else by name; at least 8 labelled keypoints
    (fewer for skeletons of under 16), 2 in the chosen half, as MMPose's defaults for COCO. Raises ValueError
    when the flags name keypoints the data lacks, or when the augmentation could never apply."""
    from zoo.tasks.keypoints.geometry import HalfBody, lower_body_mask

    if not settings.half_body:
        return None
    names = list(source.keypoint_names)
    count = len(names)
    preset_lower = ",".join(str(i) for i in source.lower_body) or None  # --preset's lower half
    lower = lower_body_mask(names, settings.lower_body or preset_lower)
    half = HalfBody(float(settings.half_body), lower, min_total=min(8, max(4, count // 2)))
    halves = (sum(lower), count - sum(lower))
    if count < half.min_total or max(halves) < half.min_half:
        raise ValueError(
            f"--half-body {settings.half_body}: it shows half an object when {half.min_total} of its keypoints are "
            f"labelled and {half.min_half} lie in the half, and these {count} keypoints (lower half {halves[0]}, "
            f"upper {halves[1]}) never allow it; drop --half-body"
        )
    return half


def data_problems(settings, source) -> list[Problem]:
    """Every problem of ``settings`` against a loaded ``source``: the rules ``check`` reports and training
    refuses (module doc). ``settings`` has the fields of ``zoo.tasks.keypoints.training.KeypointSettings``."""
    problems: list[Problem] = []
    for rule in (_count, _flip_pairs, _half_body, _sigmas, _eval_boxes, _objects):
        try:
            problems.extend(rule(settings, source))
        except ValueError as err:
            problems.append(Problem(str(err)))
    return problems


def add_to_report(report, problems: list[Problem]) -> None:
    """Adds ``problems`` to a ``zoo.data.checks.DataReport`` (errors and notes, with their records)."""
    for problem in problems:
        report.add_files(problem.what, problem.fix, list(problem.records), error=problem.error)


def refuse_problems(problems: list[Problem], log: Callable[[str], None]) -> None:
    """Before training: raises one ValueError line naming the first error (and how many more ``check`` lists);
    logs the notes."""
    errors = [p for p in problems if p.error]
    for note in (p for p in problems if not p.error):
        log(f"data note: {note.line()}")
    if errors:
        more = (
            f" (and {len(errors) - 1} more problem(s): the recipe's `check` command lists them)" if errors[1:] else ""
        )
        raise ValueError(errors[0].line() + more)


def _count(settings, source) -> list[Problem]:
    count = len(source.keypoint_names)
    if settings.num_keypoints is not None and settings.num_keypoints != count:
        return [
            Problem(
                f"--num-keypoints {settings.num_keypoints}: {settings.dataset} has {count} keypoints "
                f"{source.keypoint_names[:6]}{' ...' if count > 6 else ''}",
                f"give --num-keypoints {count}, or leave it out",
            )
        ]
    return []


def _flip_pairs(settings, source) -> list[Problem]:
    """``--flip-pairs`` is for keypoints whose names do not say their side: a set whose names pair left and
    right, or whose ``--preset`` gives pairs, has its own pairs and refuses it. Where some names say a side
    without a partner (``check``'s lonely names), the names do not give every pair: ``--flip-pairs`` may add
    the missing ones, keeping the names' pairs."""
    from zoo.tasks.keypoints.dataset_presets import load_preset
    from zoo.tasks.keypoints.sources import flip_index_from_names, unmatched_sides

    given = parse_pairs(settings.flip_pairs)
    if not given:
        return []
    names = list(source.keypoint_names)
    flag = f"--flip-pairs {settings.flip_pairs}"
    preset = load_preset(settings.preset) if settings.preset else None
    if preset is not None and preset.flip_pairs:
        shown = [f"{names[a]}-{names[b]}" for a, b in preset.flip_pairs[:4]]
        return [
            Problem(
                f"{flag}: --preset {preset.name} gives these keypoints' left/right pairs already "
                f"({', '.join(shown)}{' ...' if len(preset.flip_pairs) > 4 else ''})",
                "drop --flip-pairs (or write your own preset with the pairs you want, docs/datasets.md)",
            )
        ]
    by_names = flip_index_from_names(names)
    pairs = [(i, j) for i, j in enumerate(by_names) if i < j]
    if not pairs:
        return []
    shown = ", ".join(f"{names[i]}-{names[j]}" for i, j in pairs[:4]) + (" ..." if len(pairs) > 4 else "")
    lonely = unmatched_sides(names)
    if not lonely:
        return [
            Problem(
                f"{flag}: the keypoint names say their sides and pair them already ({shown}); a set with its own "
                "pairs takes no --flip-pairs",
                "drop --flip-pairs (flips swap the pairs the names give; --augment none trains without flips)",
            )
        ]
    asked = set() if given == "none" else {tuple(sorted(p)) for p in given}
    missing = [(i, j) for i, j in pairs if (i, j) not in asked]
    if missing:
        return [
            Problem(
                f"{flag} breaks the pairs the keypoint names give "
                f"({', '.join(f'{names[i]}-{names[j]}' for i, j in missing[:4])})",
                f"keep them ({', '.join(f'{i}-{j}' for i, j in pairs)}) and add pairs for "
                f"{', '.join(lonely[:4])} (named with a side but without a partner), or rename the keypoints "
                "left_X / right_X",
            )
        ]
    return []


def _half_body(settings, source) -> list[Problem]:
    half_body_from(settings, source)  # ValueError: the lower half the flags name is not in this data
    return []


def _sigmas(settings, source) -> list[Problem]:
    from zoo.tasks.keypoints.coco_ap import resolve_sigmas

    resolve_sigmas(list(source.keypoint_names), source.sigmas, settings.oks_sigmas)
    return []


def _eval_boxes(settings, source) -> list[Problem]:
    """``--eval-boxes``: a boxes file (``zoo.tasks.keypoints.boxes.read_boxes``) naming validation pictures, for a
    run that looks at boxes."""
    from zoo.tasks.keypoints.boxes import read_boxes

    if not settings.eval_boxes:
        return []
    flag = f"--eval-boxes {settings.eval_boxes}"
    truth = source.val_annotations
    if truth is None or source.region != "box":
        return [
            Problem(
                f"{flag}: detections are scored on crops of their boxes, and this run looks at whole pictures "
                f"(--region {source.region})",
                "drop --eval-boxes, or train on the objects' boxes (--region box, a COCO file with bbox)",
            )
        ]
    boxes = read_boxes(settings.eval_boxes, flag="--eval-boxes")
    if not boxes.count:
        return [
            Problem(
                f"{flag} holds no box (an empty list, or no annotation with a bbox)",
                "give COCO detection results for the validation pictures: a JSON list of {file_name or image_id, "
                "bbox, score}",
            )
        ]
    pictures = dict(zip(truth.image_ids, truth.paths))
    matched = sum(1 for number, path in pictures.items() if boxes.entries_for(path, truth.picture_ids.get(number)))
    if not matched:
        shown = ", ".join(repr(Path(p).name) for p in list(pictures.values())[:3])
        return [
            Problem(
                f"{flag}: none of its {boxes.count} boxes belongs to one of the {len(pictures)} validation pictures "
                f"({shown}{' ...' if len(pictures) > 3 else ''}; the boxes name {boxes.examples()})",
                "a box belongs to a validation picture by its file_name, or by its image_id as the COCO file's "
                "images give it; give detections made for the validation split",
            )
        ]
    return []


def _objects(settings, source) -> list[Problem]:
    """The objects read: boxes that cannot frame their object (``box_problem``, with the sizes the file
    declares), and the same object twice (``object_key``)."""
    found: dict[tuple[str, str], list[str]] = {}
    for split in (source.train_annotations, source.val_annotations):
        if split is None:
            continue
        seen: dict[tuple, str] = {}
        for n, (path, points) in enumerate(zip(split.paths, split.points)):
            key = object_key(path, points)
            if key in seen:
                found.setdefault(REPEATED_OBJECT, []).append(f"{split.record(n)} repeats {seen[key]}")
            seen.setdefault(key, split.record(n))
            if source.region == "box" and n < len(split.boxes):
                problem = box_problem(split.boxes[n], points, split.size(n))
                if problem is not None:
                    found.setdefault(problem[0], []).append(f"{split.record(n)} ({problem[1]})")
    return [Problem(what, fix, tuple(records)) for (what, fix), records in found.items()]

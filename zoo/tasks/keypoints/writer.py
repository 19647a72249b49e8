"""What ``python -m zoo predict`` writes for a keypoint export: ``keypoints.json`` (COCO keypoint results:
``image_id``, ``category_id`` 1, ``keypoints`` as ``[x1, y1, s1, ...]`` with ``s`` the keypoint's score,
``score`` their mean, plus the ``file_name`` they came from; ``image_id`` numbers the images of the run, so
map ``file_name`` to your annotation file's ids before running COCO's evaluation) and
``<name>_keypoints.png`` (the points drawn on the image; hollow when the score is below ``min_score``).

Keypoints the model puts outside the picture (in the padding of a letterboxed picture, or beyond the edge
of a box that reaches past it) are clipped to the picture's border, and their indices (0-based) listed in
the result's ``outside``: every coordinate written lies in the picture."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from zoo.tasks.base import palette, rgb


def clip_to_picture(points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``[..., 2]`` (x, y) clipped to a picture of ``size`` (H, W) pixels (centres 0..W-1, 0..H-1):
    (clipped points, bool ``[...]`` True where a point lay outside)."""
    points = np.asarray(points, np.float64)
    high = np.array([size[1] - 1, size[0] - 1], np.float64)
    outside = ((points < 0) | (points > high)).any(-1)
    return np.clip(points, 0.0, high), outside


def write_keypoints(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    names: list[str],
    out: Path,
    stem: str,
    min_score: float,
    skeleton=(),
    boxes=None,
) -> dict:
    """Draws the keypoints on the image into ``<stem>_keypoints.png``; returns its entry.

    Args:
        keypoints: ``[K, 2]`` or, one object per box, ``[N, K, 2]`` (x, y) in the image's pixels.
        scores: ``[K]`` or ``[N, K]``.
        skeleton: 0-based keypoint pairs joined by a line where both scores reach ``min_score``.
        boxes: ``[N, 4]`` (x, y, w, h) drawn as rectangles, or None.
    """
    from PIL import Image, ImageDraw

    base = out / stem
    base.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(rgb(image))
    draw = ImageDraw.Draw(picture)
    radius = max(2.0, min(image.shape[:2]) / 60)
    colours = palette(len(names) + 1)[1:]
    keypoints, scores = np.asarray(keypoints).reshape(-1, len(names), 2), np.asarray(scores).reshape(-1, len(names))
    for x, y, w, h in [] if boxes is None else boxes:
        draw.rectangle([x, y, x + w, y + h], outline=(255, 255, 0))
    for points, values in zip(keypoints, scores):
        for a, b in skeleton:
            if min(values[a], values[b]) >= min_score and np.isfinite(points[[a, b]]).all():
                draw.line([tuple(points[a]), tuple(points[b])], fill=(0, 255, 255), width=max(1, int(radius / 2)))
        _draw_points(draw, points, values, names, colours, radius, min_score, min(image.shape[:2]) >= 128)
    picture.save(f"{base}_keypoints.png")
    return {"drawn": f"{stem}_keypoints.png"}


def _draw_points(draw, keypoints, scores, names, colours, radius, min_score, labels) -> None:
    for k, ((x, y), s) in enumerate(zip(keypoints, scores)):
        if not np.isfinite([x, y]).all():
            continue
        box = [x - radius, y - radius, x + radius, y + radius]
        colour = tuple(int(c) for c in colours[k])
        if s >= min_score:
            draw.ellipse(box, fill=colour, outline=(255, 255, 255))
        else:
            draw.ellipse(box, outline=colour, width=max(1, int(radius / 3)))
        if labels:
            draw.text((x + radius + 1, y - radius), names[k], fill=colour)


@dataclasses.dataclass
class KeypointWriter:
    """``zoo predict``'s writer for keypoint exports: a picture per image and ``keypoints.json``."""

    info: object  # a zoo.tasks.base.ExportInfo
    out: Path
    min_score: float
    results: list = dataclasses.field(default_factory=list)

    def write(self, path: Path, stem: str, image: np.ndarray, outputs: dict, index: int) -> dict:
        points, outside = clip_to_picture(outputs["keypoints"][index], image.shape[:2])
        scores = outputs["scores"][index]
        entry = write_keypoints(
            image,
            points,
            scores,
            self.info.fields.keypoint_names,
            self.out,
            stem,
            self.min_score,
            self.info.fields.skeleton,
        )
        flat = np.concatenate([points, scores[:, None]], axis=1).reshape(-1)
        self.results.append(
            {
                "image_id": len(self.results) + 1,
                "file_name": str(path),
                "category_id": 1,
                "keypoints": [round(float(v), 3) for v in flat],
                "score": round(float(np.mean(scores)), 5),
                "outside": np.flatnonzero(outside).tolist(),
            }
        )
        return entry

    def write_objects(
        self,
        path: Path,
        stem: str,
        image: np.ndarray,
        outputs: dict,
        boxes: np.ndarray,
        box_scores: np.ndarray,
        image_id,
    ) -> dict:
        """One picture's objects (``Predictor.predict_boxes``): all drawn on one picture, one COCO keypoint
        result per box, scored as top-down methods rescore (box score x mean confident keypoint score)."""
        from zoo.tasks.keypoints.coco_ap import detection_scores

        points, outside = clip_to_picture(
            np.asarray(outputs["keypoints"]).reshape(-1, len(self.info.fields.keypoint_names), 2), image.shape[:2]
        )
        scores = outputs["scores"]
        entry = write_keypoints(
            image,
            points,
            scores,
            self.info.fields.keypoint_names,
            self.out,
            stem,
            self.min_score,
            self.info.fields.skeleton,
            boxes,
        )
        rescored = detection_scores(scores) * box_scores if len(points) else np.zeros(0)
        number = image_id if image_id is not None else len({r["file_name"] for r in self.results}) + 1
        for n in range(len(points)):
            flat = np.concatenate([points[n], scores[n][:, None]], axis=1).reshape(-1)
            self.results.append(
                {
                    "image_id": number,
                    "file_name": str(path),
                    "category_id": 1,
                    "bbox": [round(float(v), 2) for v in boxes[n]],
                    "keypoints": [round(float(v), 3) for v in flat],
                    "score": round(float(rescored[n]), 5),
                    "outside": np.flatnonzero(outside[n]).tolist(),
                }
            )
        return {**entry, "objects": len(points)}

    def finish(self, report: dict) -> None:
        (self.out / "keypoints.json").write_text(json.dumps(self.results, indent=1) + "\n")
        report["keypoint_names"] = list(self.info.fields.keypoint_names)

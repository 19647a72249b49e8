"""Writes the built-in keypoint sets as folder datasets (``python -m zoo sample-data``):

- ``faces``: ``DIR/images/<stem>.png`` and ``DIR/keypoints.csv`` with the columns
  ``image, left_eye_x, left_eye_y, ...`` (pixel coordinates, centre of the top-left
  pixel at (0, 0); an empty cell marks a missing point).
- ``faces-coco``: ``DIR/images/<stem>.png``, each picture two faces side by side (``size``
  is one face's; the picture is twice as wide), and ``DIR/keypoints.json`` in COCO's
  keypoints format: one annotation per face with its ``bbox``, ``area`` and keypoints, and
  a ``face`` category with keypoint names and a ``skeleton``: a template for a COCO folder
  with several objects per picture (``--region box``).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from zoo.data.samples import prepare_sample_folder, save_picture
from zoo.tasks.keypoints import synthetic

SAMPLE_KINDS = {
    "faces": "images + a keypoints CSV",
    "faces-coco": "pictures of two faces + a COCO keypoints JSON with boxes and a skeleton (for --region box)",
    "faces-coco-tree": "faces-coco as COCO ships its sets: annotations/faces_{train,val}2017.json + train2017/, val2017/",
    "faces-mmpose": "faces as mmpose ships face sets: annotations/face_landmarks_{train,val}.json naming no "
    'keypoints ("keypoints": []) + images/',
}
FACE_SKELETON = ((1, 2), (1, 3), (2, 3), (3, 4), (3, 5), (4, 5))  # COCO style: 1-based keypoint numbers


def write_samples(
    kind: str,
    folder: str | os.PathLike,
    count: int = 40,
    size: tuple[int, int] = (96, 96),
    channels: int = 3,
    seed: int = 0,
    masks: str = "index",
) -> Path:
    """Writes ``count`` synthetic faces of ``kind`` (``SAMPLE_KINDS``) at ``size`` (H, W) into ``folder``.
    ``masks`` is for segmentation sets and must stay ``"index"``. Raises ValueError as the segmentation
    task's ``write_samples``."""
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"unknown keypoint sample set {kind!r}; choose one of {tuple(SAMPLE_KINDS)}")
    if masks != "index":
        raise ValueError(f"--masks is for segmentation sets (shapes, scenes, rare), not {kind}")
    height, width = size
    if kind in ("faces-coco-tree", "faces-mmpose"):
        return _write_tree(Path(folder), kind, count, height, width, channels, seed)
    folder = prepare_sample_folder(folder, ("keypoints.json", "keypoints.csv"))
    if kind == "faces-coco":
        images, keypoints, sizes = synthetic.make_faces(2 * count, height, width, channels=channels, seed=seed)
        _write_face_pairs(folder, count, height, width, images, keypoints, sizes)
        return folder
    images, keypoints, _ = synthetic.make_faces(count, height, width, channels=channels, seed=seed)
    with open(folder / "keypoints.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *[f"{name}_{axis}" for name in synthetic.FACE_KEYPOINTS for axis in "xy"]])
        for i in range(count):
            name = f"face{i:04d}.png"
            save_picture(images[i], folder / "images" / name)
            cells = []
            for x, y, visible in keypoints[i]:
                cells += [f"{x:.2f}", f"{y:.2f}"] if visible > 0 else ["", ""]
            writer.writerow([name, *cells])
    return folder


def _write_face_pairs(
    folder: Path, count: int, height: int, width: int, images: np.ndarray, keypoints: np.ndarray, sizes: np.ndarray
) -> None:
    """``faces-coco``: ``count`` pictures of two synthetic faces side by side and their COCO keypoints file.
    A face's box is the square of its height around its landmarks' centre (clipped to the picture); its
    area that of the face's ellipse, as COCO's areas are of the object's outline. ``images``, ``keypoints``,
    ``sizes``: ``synthetic.make_faces`` of ``2 * count`` faces."""
    coco = {
        "images": [],
        "annotations": [],
        "categories": [
            {
                "id": 1,
                "name": "face",
                "supercategory": "face",
                "keypoints": list(synthetic.FACE_KEYPOINTS),
                "skeleton": [list(p) for p in FACE_SKELETON],
            }
        ],
    }
    for i in range(count):
        name = f"pair{i:04d}.png"
        save_picture(np.concatenate([images[2 * i], images[2 * i + 1]], axis=1), folder / "images" / name)
        coco["images"].append({"id": i + 1, "file_name": name, "height": height, "width": 2 * width})
        for side in range(2):
            points = keypoints[2 * i + side].copy()
            points[:, 0] += side * width
            half = float(sizes[2 * i + side]) / 2
            cx, cy = points[:, 0].mean(), points[:, 1].mean()
            x0, y0 = max(0.0, cx - half), max(0.0, cy - half)
            x1, y1 = min(2.0 * width, cx + half), min(float(height), cy + half)
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "iscrowd": 0,
                    "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                    "area": round(float(np.pi * 0.78 * half * half), 1),
                    "num_keypoints": len(points),
                    "keypoints": [round(float(v), 2) if k < 2 else 2 for p in points for k, v in enumerate(p)],
                }
            )
    (folder / "keypoints.json").write_text(json.dumps(coco, indent=1) + "\n")


def _write_tree(folder: Path, kind: str, count: int, height: int, width: int, channels: int, seed: int) -> Path:
    """``faces-coco-tree`` (COCO's ``annotations/`` beside ``train2017/`` and ``val2017/``) and ``faces-mmpose``
    (mmpose's ``annotations/`` beside ``images/``, its face files' empty keypoint names): a train file of
    ``count`` pictures and a validation file of a quarter as many (at least 2)."""
    import shutil
    import tempfile

    folder = prepare_sample_folder(folder, ("annotations",), images_dir=None)
    (folder / "annotations").mkdir(exist_ok=True)
    for split, number in (("train", count), ("val", max(2, count // 4))):
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "images").mkdir()
            _write_face_pairs(
                Path(scratch), number, height, width, *synthetic.make_faces(
                    2 * number, height, width, channels=channels, seed=seed + (split == "val")
                )
            )  # fmt: skip
            data = json.loads((Path(scratch) / "keypoints.json").read_text())
            pictures = folder / (f"{split}2017" if kind == "faces-coco-tree" else "images")
            pictures.mkdir(exist_ok=True)
            for image in data["images"]:
                image["file_name"] = f"{split}_{image['file_name']}"
                shutil.move(
                    Path(scratch) / "images" / image["file_name"][len(split) + 1 :], pictures / image["file_name"]
                )
        if kind == "faces-mmpose":
            data["categories"][0].update({"keypoints": [], "skeleton": []})
            name = f"face_landmarks_{split}.json"
        else:
            name = f"faces_{split}2017.json"
        (folder / "annotations" / name).write_text(json.dumps(data, indent=1) + "\n")
    return folder


def sample_dataset(kind: str, folder: str | os.PathLike) -> str:
    """The ``--dataset`` that reads sample set ``kind`` written to ``folder``."""
    if kind == "faces-coco-tree":
        return f"coco:{Path(folder) / 'annotations' / 'faces_train2017.json'}"
    if kind == "faces-mmpose":
        return f"coco:{Path(folder) / 'annotations' / 'face_landmarks_train.json'}"
    return f"folder:{folder}"

"""Writes the built-in synthetic sets as folder datasets (``python -m zoo sample-data``).

The folders have exactly the layout the recipes read with ``--dataset folder:DIR``, so
they serve as a template for one's own data and as offline examples in the guides:

- ``shapes``: ``DIR/images/<stem>.png``, ``DIR/masks/<stem>.png`` (class index per
  pixel, 0 = background) and ``DIR/classes.txt``.
- ``scenes``: the same layout, large pictures of many small shapes of a fixed pixel size
  (``synthetic.make_scenes``), for training on crops (``--train-crop``).
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

from zoo.data import synthetic

KINDS = ("shapes", "scenes", "rare", "faces", "faces-coco")
# How shapes/scenes/rare masks are written: as class indices, or as users' masks often come (``check`` reads
# each and names the flag that trains on it; see zoo.data.labels).
MASK_ENCODINGS = {
    "index": "8-bit gray PNG, class indices 0..3, with classes.txt",
    "indexed": "indexed (palette) PNG in Pascal VOC's colours, a 255 border (ignored) around each object",
    "colour": "RGB PNG, one colour per class (the colours of samples.png), no classes.txt",
    "binary255": "8-bit gray PNG, 0 background and 255 any object, no classes.txt",
    "one-based": "8-bit gray PNG, classes 1..4 and 0 at each object's border (unlabelled)",
    "jpeg": "gray JPEG, classes as levels 0, 85, 170, 255 (damaged near the edges), no classes.txt",
}
SAMPLE_COLOURS = ((0, 0, 0), (230, 25, 75), (60, 180, 75), (0, 130, 200))  # background, circle, square, triangle
FACE_SKELETON = ((1, 2), (1, 3), (2, 3), (3, 4), (3, 5), (4, 5))  # COCO style: 1-based keypoint numbers


def write_sample_folder(kind: str, folder: str | os.PathLike, count: int = 40, size: tuple[int, int] = (96, 96),
                        channels: int = 3, seed: int = 0, masks: str = "index") -> Path:
    """Writes ``count`` synthetic pictures of ``kind`` at ``size`` (H, W) into ``folder``; segmentation masks
    encoded as ``masks`` says (``MASK_ENCODINGS``).

    Raises ValueError for an unknown kind, a bad size or count (``zoo.data.synthetic``
    checks them), or a folder that already holds a dataset (nothing is overwritten).
    """
    from PIL import Image

    if kind not in KINDS:
        raise ValueError(f"unknown sample set {kind!r}; choose one of {KINDS}")
    if masks not in MASK_ENCODINGS:
        raise ValueError(f"unknown mask encoding {masks!r}; choose one of {tuple(MASK_ENCODINGS)}")
    if masks != "index" and kind.startswith("faces"):
        raise ValueError(f"--masks is for segmentation sets (shapes, scenes, rare), not {kind}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; give a new or empty folder for the sample set")
    for existing in (folder / "images", folder / "masks", folder / "keypoints.csv", folder / "classes.txt",
                     folder / "keypoints.json"):
        if existing.is_file() or (existing.is_dir() and any(existing.iterdir())):
            raise ValueError(f"{existing} already exists; choose a new or empty folder")
    height, width = size
    (folder / "images").mkdir(parents=True, exist_ok=True)

    def save(array: np.ndarray, path: Path) -> None:
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)

    if kind in ("shapes", "scenes", "rare"):
        if kind == "scenes":
            images, labels = synthetic.make_scenes(count, height, width, channels=channels, seed=seed)
        else:
            images, labels = synthetic.make_shapes(count, height, width, channels=channels, seed=seed,
                                                   rare=kind == "rare")
        (folder / "masks").mkdir(exist_ok=True)
        stem = {"shapes": "shape", "scenes": "scene", "rare": "shape"}[kind]
        for i in range(count):
            save(images[i], folder / "images" / f"{stem}{i:04d}.png")
            _save_mask(labels[i, ..., 0], folder / "masks" / f"{stem}{i:04d}", masks)
        if masks in ("index", "indexed", "one-based"):
            (folder / "classes.txt").write_text("\n".join(synthetic.SHAPES_CLASSES) + "\n")
        return folder
    if kind == "faces-coco":
        _write_face_pairs(folder, count, height, width, channels, seed, save)
        return folder
    images, keypoints, _ = synthetic.make_faces(count, height, width, channels=channels, seed=seed)
    with open(folder / "keypoints.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *[f"{name}_{axis}" for name in synthetic.FACE_KEYPOINTS for axis in "xy"]])
        for i in range(count):
            name = f"face{i:04d}.png"
            save(images[i], folder / "images" / name)
            cells = []
            for x, y, visible in keypoints[i]:
                cells += [f"{x:.2f}", f"{y:.2f}"] if visible > 0 else ["", ""]
            writer.writerow([name, *cells])
    return folder


def _border(labels: np.ndarray) -> np.ndarray:
    """Pixels next to another class (4-neighbours): the outline VOC marks 255."""
    edge = np.zeros(labels.shape, bool)
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[1:] != labels[:-1]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    return edge


def _save_mask(labels: np.ndarray, stem: Path, encoding: str) -> None:
    """Writes class indices ``[H, W]`` as ``encoding`` (``MASK_ENCODINGS``) to ``stem`` + .png or .jpg."""
    from PIL import Image

    from zoo.data.labels import voc_colormap

    labels = labels.astype(np.uint8)
    if encoding == "index":
        Image.fromarray(labels).save(stem.with_suffix(".png"))
    elif encoding == "indexed":
        image = Image.fromarray(np.where(_border(labels), 255, labels).astype(np.uint8), mode="P")
        image.putpalette(voc_colormap().reshape(-1).tolist())
        image.save(stem.with_suffix(".png"))
    elif encoding == "colour":
        Image.fromarray(np.asarray(SAMPLE_COLOURS, np.uint8)[labels]).save(stem.with_suffix(".png"))
    elif encoding == "binary255":
        Image.fromarray(np.where(labels > 0, 255, 0).astype(np.uint8)).save(stem.with_suffix(".png"))
    elif encoding == "one-based":
        Image.fromarray(np.where(_border(labels), 0, labels + 1).astype(np.uint8)).save(stem.with_suffix(".png"))
    else:  # jpeg
        Image.fromarray((labels * 85).astype(np.uint8)).save(stem.with_suffix(".jpg"), quality=75)


def _write_face_pairs(folder: Path, count: int, height: int, width: int, channels: int, seed: int, save) -> None:
    """``faces-coco``: ``count`` pictures of two synthetic faces side by side and their COCO keypoints file.
    A face's box is the square of its height around its landmarks' centre (clipped to the picture); its
    area that of the face's ellipse, as COCO's areas are of the object's outline."""
    images, keypoints, sizes = synthetic.make_faces(2 * count, height, width, channels=channels, seed=seed)
    coco = {"images": [], "annotations": [],
            "categories": [{"id": 1, "name": "face", "supercategory": "face",
                            "keypoints": list(synthetic.FACE_KEYPOINTS), "skeleton": [list(p) for p in FACE_SKELETON]}]}
    for i in range(count):
        name = f"pair{i:04d}.png"
        save(np.concatenate([images[2 * i], images[2 * i + 1]], axis=1), folder / "images" / name)
        coco["images"].append({"id": i + 1, "file_name": name, "height": height, "width": 2 * width})
        for side in range(2):
            points = keypoints[2 * i + side].copy()
            points[:, 0] += side * width
            half = float(sizes[2 * i + side]) / 2
            cx, cy = points[:, 0].mean(), points[:, 1].mean()
            x0, y0 = max(0.0, cx - half), max(0.0, cy - half)
            x1, y1 = min(2.0 * width, cx + half), min(float(height), cy + half)
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
                "area": round(float(np.pi * 0.78 * half * half), 1), "num_keypoints": len(points),
                "keypoints": [round(float(v), 2) if k < 2 else 2 for p in points for k, v in enumerate(p)]})
    (folder / "keypoints.json").write_text(json.dumps(coco, indent=1) + "\n")

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
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from zoo.data import synthetic

KINDS = ("shapes", "scenes", "faces")


def write_sample_folder(kind: str, folder: str | os.PathLike, count: int = 40, size: tuple[int, int] = (96, 96),
                        channels: int = 3, seed: int = 0) -> Path:
    """Writes ``count`` synthetic pictures of ``kind`` at ``size`` (H, W) into ``folder``.

    Raises ValueError for an unknown kind, a bad size or count (``zoo.data.synthetic``
    checks them), or a folder that already holds a dataset (nothing is overwritten).
    """
    from PIL import Image

    if kind not in KINDS:
        raise ValueError(f"unknown sample set {kind!r}; choose one of {KINDS}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; give a new or empty folder for the sample set")
    for existing in (folder / "images", folder / "masks", folder / "keypoints.csv", folder / "classes.txt"):
        if existing.is_file() or (existing.is_dir() and any(existing.iterdir())):
            raise ValueError(f"{existing} already exists; choose a new or empty folder")
    height, width = size
    (folder / "images").mkdir(parents=True, exist_ok=True)

    def save(array: np.ndarray, path: Path) -> None:
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)

    if kind in ("shapes", "scenes"):
        make = synthetic.make_shapes if kind == "shapes" else synthetic.make_scenes
        images, masks = make(count, height, width, channels=channels, seed=seed)
        (folder / "masks").mkdir(exist_ok=True)
        for i in range(count):
            save(images[i], folder / "images" / f"{kind[:-1]}{i:04d}.png")
            save(masks[i], folder / "masks" / f"{kind[:-1]}{i:04d}.png")
        (folder / "classes.txt").write_text("\n".join(synthetic.SHAPES_CLASSES) + "\n")
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

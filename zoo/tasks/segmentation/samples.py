"""Writes the built-in segmentation sets as folder datasets (``python -m zoo sample-data``).

The folders have exactly the layout ``--dataset folder:DIR`` reads, so they serve as a template for
one's own data and as offline examples in the guides:

- ``shapes``: ``DIR/images/<stem>.png``, ``DIR/masks/<stem>.png`` (class index per
  pixel, 0 = background) and ``DIR/classes.txt``.
- ``scenes``: the same layout, large pictures of many small shapes of a fixed pixel size
  (``synthetic.make_scenes``), for training on crops (``--train-crop``).
- ``rare``: shapes whose triangles cover about 1% of the pixels.

``masks`` writes the masks as users' masks often come (``MASK_ENCODINGS``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zoo.data.samples import prepare_sample_folder, save_picture
from zoo.tasks.segmentation import synthetic

SAMPLE_KINDS = {
    "shapes": "images + class-index masks",
    "scenes": "large images of many small shapes + masks (for --train-crop)",
    "rare": "shapes whose triangles cover about 1% of the pixels",
}
# How shapes/scenes/rare masks are written: as class indices, or as users' masks often come (``check`` reads
# each and names the flag that trains on it; see zoo.tasks.segmentation.labels).
MASK_ENCODINGS = {
    "index": "8-bit gray PNG, class indices 0..3, with classes.txt",
    "indexed": "indexed (palette) PNG in Pascal VOC's colours, a 255 border (ignored) around each object",
    "colour": "RGB PNG, one colour per class (the colours of samples.png), no classes.txt",
    "binary255": "8-bit gray PNG, 0 background and 255 any object, no classes.txt",
    "one-based": "8-bit gray PNG, classes 1..4 and 0 at each object's border (unlabelled)",
    "jpeg": "gray JPEG, classes as levels 0, 85, 170, 255 (damaged near the edges), no classes.txt",
}
SAMPLE_COLOURS = ((0, 0, 0), (230, 25, 75), (60, 180, 75), (0, 130, 200))  # background, circle, square, triangle


def write_samples(
    kind: str,
    folder: str | os.PathLike,
    count: int = 40,
    size: tuple[int, int] | None = None,
    channels: int = 3,
    seed: int = 0,
    masks: str = "index",
) -> Path:
    """Writes ``count`` synthetic pictures of ``kind`` (``SAMPLE_KINDS``) at ``size`` (H, W; default 96x96,
    scenes 384x384) into ``folder``, masks encoded as ``masks`` says (``MASK_ENCODINGS``).

    Raises ValueError for an unknown kind or encoding, a bad size or count (``synthetic`` checks them), or a
    folder that already holds a dataset (nothing is overwritten).
    """
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"unknown segmentation sample set {kind!r}; choose one of {tuple(SAMPLE_KINDS)}")
    if masks not in MASK_ENCODINGS:
        raise ValueError(f"unknown mask encoding {masks!r}; choose one of {tuple(MASK_ENCODINGS)}")
    folder = prepare_sample_folder(folder, ("masks", "classes.txt"))
    height, width = size or ((384, 384) if kind == "scenes" else (96, 96))
    if kind == "scenes":
        images, labels = synthetic.make_scenes(count, height, width, channels=channels, seed=seed)
    else:
        images, labels = synthetic.make_shapes(count, height, width, channels=channels, seed=seed, rare=kind == "rare")
    (folder / "masks").mkdir(exist_ok=True)
    stem = {"shapes": "shape", "scenes": "scene", "rare": "shape"}[kind]
    for i in range(count):
        save_picture(images[i], folder / "images" / f"{stem}{i:04d}.png")
        _save_mask(labels[i, ..., 0], folder / "masks" / f"{stem}{i:04d}", masks)
    if masks in ("index", "indexed", "one-based"):
        (folder / "classes.txt").write_text("\n".join(synthetic.SHAPES_CLASSES) + "\n")
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

    from zoo.tasks.segmentation.labels import voc_colormap

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

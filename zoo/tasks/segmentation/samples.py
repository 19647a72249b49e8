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
    "shapes-mmseg": "shapes as mmsegmentation lays data out: img_dir/{train,val}/*.jpg + ann_dir/{train,val}/*_mask.png",
    "shapes-coco": "shapes as a COCO instances file: images/ + instances_shapes.json (RLE per object, via pycocotools)",
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
    if kind in ("shapes-mmseg", "shapes-coco"):
        if masks != "index":
            raise ValueError(f"--masks is for the folder: sets (shapes, scenes, rare), not {kind}")
        height, width = size or (96, 96)
        images, labels = synthetic.make_shapes(count, height, width, channels=channels, seed=seed)
        writer = _write_mmseg if kind == "shapes-mmseg" else _write_coco
        return writer(Path(folder), images, labels[..., 0])
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


def _write_mmseg(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """``shapes-mmseg``: mmsegmentation's ``img_dir``/``ann_dir`` with ``train``/``val`` subfolders (every fifth
    picture in val), JPEG pictures and ``<name>_mask.png`` class-index masks (suffixes ``mmseg:`` finds)."""
    from PIL import Image

    folder = prepare_sample_folder(folder, ("img_dir", "ann_dir"), images_dir=None)
    for i in range(len(images)):
        split = "val" if i % 5 == 4 else "train"
        picture = images[i] if images.shape[-1] != 1 else images[i, ..., 0]
        (folder / "img_dir" / split).mkdir(parents=True, exist_ok=True)
        (folder / "ann_dir" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(folder / "img_dir" / split / f"shape{i:04d}.jpg", quality=95)
        Image.fromarray(labels[i].astype(np.uint8)).save(folder / "ann_dir" / split / f"shape{i:04d}_mask.png")
    return folder


def _write_coco(folder: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """``shapes-coco``: ``images/`` + ``instances_shapes.json``, each class region of a picture one annotation
    whose segmentation is COCO's compressed RLE (pycocotools)."""
    import json

    from pycocotools import mask as mask_utils

    folder = prepare_sample_folder(folder, ("instances_shapes.json",))
    names = synthetic.SHAPES_CLASSES[1:]
    coco = {
        "images": [],
        "annotations": [],
        "categories": [{"id": k + 1, "name": name, "supercategory": "shape"} for k, name in enumerate(names)],
    }
    for i in range(len(images)):
        name = f"shape{i:04d}.png"
        save_picture(images[i], folder / "images" / name)
        height, width = labels[i].shape
        coco["images"].append({"id": i + 1, "file_name": name, "height": int(height), "width": int(width)})
        for k in range(1, len(names) + 1):
            region = np.asfortranarray((labels[i] == k).astype(np.uint8))
            if not region.any():
                continue
            rle = mask_utils.encode(region)
            x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": k,
                    "iscrowd": 0,
                    "area": float(mask_utils.area(rle)),
                    "bbox": [x, y, w, h],
                    "segmentation": {"size": [int(height), int(width)], "counts": rle["counts"].decode()},
                }
            )
    (folder / "instances_shapes.json").write_text(json.dumps(coco) + "\n")
    return folder


def sample_dataset(kind: str, folder: str | os.PathLike) -> str:
    """The ``--dataset`` that reads sample set ``kind`` written to ``folder``."""
    if kind == "shapes-mmseg":
        return f"mmseg:{folder}"
    if kind == "shapes-coco":
        return f"coco:{Path(folder) / 'instances_shapes.json'}"
    return f"folder:{folder}"

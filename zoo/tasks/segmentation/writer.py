"""What ``python -m zoo predict`` writes for a segmentation export, per picture: ``<name>_mask.png`` (a palette
PNG whose pixel values are the class indices; its colours are the training ``--palette``'s when the run was
trained on colour masks, ``class_colours`` in model.json) and ``<name>_overlay.png`` (every class but 0
tinted in its colour)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from zoo.tasks.base import palette, rgb


def write_segmentation(
    image: np.ndarray, mask: np.ndarray, out: Path, stem: str, colours: np.ndarray, alpha: float = 0.5
) -> dict:
    """Writes ``<stem>_mask.png`` and ``<stem>_overlay.png``; returns the per-class pixel fractions."""
    from PIL import Image

    base = out / stem
    base.parent.mkdir(parents=True, exist_ok=True)
    if colours.shape[0] <= 256:
        png = Image.fromarray(mask.astype(np.uint8), mode="P")
        png.putpalette(colours.reshape(-1).tolist())
    else:  # more classes than a palette holds: 16-bit gray, values = class index
        png = Image.fromarray(mask.astype(np.uint16))
    png.save(f"{base}_mask.png")
    picture = rgb(image).astype(np.float32)
    tint = colours[np.clip(mask, 0, len(colours) - 1)].astype(np.float32)
    blend = np.where((mask > 0)[..., None], (1 - alpha) * picture + alpha * tint, picture)
    Image.fromarray(np.round(blend).astype(np.uint8)).save(f"{base}_overlay.png")
    counts = np.bincount(mask.reshape(-1), minlength=len(colours)) / mask.size
    return {
        "mask": f"{stem}_mask.png",
        "overlay": f"{stem}_overlay.png",
        "class_fractions": [round(float(c), 5) for c in counts],
    }


@dataclasses.dataclass
class SegmentationWriter:
    """``zoo predict``'s writer for segmentation exports (``info``: a ``zoo.tasks.base.ExportInfo``);
    ``save_probabilities``: also ``<stem>_probabilities.npy`` ``[h, w, K]`` in this format
    (``zoo.data.tiling.PROBABILITY_FORMATS``), or None."""

    info: object
    out: Path
    save_probabilities: str | None = None

    def __post_init__(self):
        own = self.info.fields.class_colours
        self.colours = np.asarray(own, np.uint8) if own else palette(len(self.info.fields.classes))

    def write(self, path: Path, stem: str, image: np.ndarray, outputs: dict, index: int) -> dict:
        entry = write_segmentation(image, outputs["mask"][index], self.out, stem, self.colours)
        if self.save_probabilities is not None:
            probs = outputs["probabilities"][index]
            if probs.dtype != np.dtype(self.save_probabilities):  # resize scale: float32 from the export
                probs = (np.round(probs * 255) if self.save_probabilities == "uint8" else probs).astype(
                    self.save_probabilities
                )
            np.save(self.out / f"{stem}_probabilities.npy", probs)
            entry["probabilities"] = f"{stem}_probabilities.npy"
        return entry

    def write_objects(self, path, stem, image, outputs, boxes, box_scores, image_id) -> dict:
        raise ValueError("boxes are for keypoint exports; a segmentation export answers every pixel")

    def finish(self, report: dict) -> None:
        report["classes"] = list(self.info.fields.classes)

"""Folder dataset conventions every task shares: the image files read, and seeded splits (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Image files the folder datasets read (TensorFlow's decoders read these; ``check`` and the loaders agree).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
# Image files ``python -m zoo predict`` reads (with Pillow, which also reads these further formats).
PREDICT_IMAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".gif", ".tif", ".tiff", ".webp")


def split_counts(total: int, val_fraction: float) -> tuple[int, int]:
    """(training, validation) example counts of a ``val_fraction`` split (at least one held out).
    Raises ValueError for a fraction outside (0, 1) or one that leaves no training example."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    val = max(1, int(round(total * val_fraction)))
    if val >= total:
        raise ValueError(
            f"the validation split ({val} of {total} examples at --val-fraction {val_fraction}) leaves no "
            "training data; add data or lower --val-fraction"
        )
    return total - val, val


def held_out(count: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """The seeded split of ``count`` examples: (training indices, validation indices), each sorted."""
    n_train, _ = split_counts(count, val_fraction)
    order = np.random.default_rng(seed).permutation(count)
    return sorted(int(i) for i in order[:n_train]), sorted(int(i) for i in order[n_train:])


def coco_images_dir(path: Path, images: str | None, file_name: str) -> Path:
    """Where a COCO file's pictures are: ``--images`` when it holds ``file_name``, else the first of the JSON's
    folder, its ``images/``, ``images/`` beside the JSON's folder (mmpose's ``annotations/`` + ``images/``) and
    COCO's ``<split>2017/`` (or ``images/<split>2017``) beside ``annotations/`` that holds ``file_name``."""
    given = Path(images).expanduser() if images else None
    if given is not None and (given / file_name).is_file():
        return given
    folder = path.parent
    split = next((part for part in path.stem.split("_") if part[:1].isalpha() and part[-4:].isdigit()), None)
    candidates = [folder, folder / "images", folder.parent / "images"]  # (mmpose: annotations/ beside images/)
    if split:
        candidates += [folder.parent / split, folder.parent / "images" / split, folder / split]
    for candidate in candidates:
        if (candidate / file_name).is_file():
            return candidate
    if given is not None:  # (--images names the training file's pictures; a validation file's are found beside)
        raise ValueError(
            f"coco:{path}: --images {images} does not hold {file_name}, nor does any folder beside the file"
        )
    tried = ", ".join(str(c) for c in candidates)
    raise ValueError(f"coco:{path}: the pictures (e.g. {file_name}) are in none of {tried}; give --images DIR")

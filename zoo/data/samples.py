"""What every task's sample folders share (``python -m zoo sample-data``): a new or empty folder, pictures
saved as PNG. Each task writes its own kinds (``Task.sample_kinds``, ``Task.write_samples``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def prepare_sample_folder(
    folder: str | os.PathLike, entries: tuple[str, ...], images_dir: str | None = "images"
) -> Path:
    """``folder`` with an empty ``images_dir`` in it (None: none); refuses a file, or a folder that already
    holds one of ``entries`` (file names or non-empty sub-folders of a dataset): nothing is overwritten."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file; give a new or empty folder for the sample set")
    for name in (*([images_dir] if images_dir else []), *entries):
        existing = folder / name
        if existing.is_file() or (existing.is_dir() and any(existing.iterdir())):
            raise ValueError(f"{existing} already exists; choose a new or empty folder")
    (folder / (images_dir or "")).mkdir(parents=True, exist_ok=True)
    return folder


def save_picture(array: np.ndarray, path: Path) -> None:
    """Writes uint8 ``[H, W, 1 | 3]`` as a gray or RGB image file (format from the suffix)."""
    from PIL import Image

    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)

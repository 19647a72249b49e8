"""Calibration pictures for int8 exports (``zoo.export.quantize``): a sample of a run's training pictures at
its training size, kept as ``RUN_DIR/calibration.npz``, or read from a folder of image files. NumPy and Pillow
only. Written by hand: the LiteRT converter takes a generator of inputs, and nothing in Keras or TensorFlow
draws one from a run's dataset or a folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

CALIBRATION_FILE = "calibration.npz"
CALIBRATION_COUNT = 64  # pictures (the converter's guide suggests about 100 to 500; measured: docs/exports.md)
CALIBRATION_BYTES = 24 * 2**20  # at most this much in a run directory (fewer pictures for large inputs)


def calibration_pictures(images: Iterable, input_size: tuple[int, int], channels: int, count: int | None = None):
    """Up to ``count`` pictures (default: ``CALIBRATION_COUNT``, fewer where they would pass
    ``CALIBRATION_BYTES``) from ``images`` (uint8 ``[h, w, C]`` arrays or tensors of any size), each resized
    to ``input_size`` (H, W), as uint8 ``[N, H, W, channels]``."""
    from PIL import Image

    from zoo.data.channels import convert_channels_array

    height, width = input_size
    if count is None:
        count = max(1, min(CALIBRATION_COUNT, CALIBRATION_BYTES // (height * width * channels)))
    chosen = []
    for image in images:
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[..., None]
        array = array.astype(np.uint8)
        planes = [
            np.asarray(Image.fromarray(array[..., c]).resize((width, height), Image.BILINEAR))
            for c in range(array.shape[-1])
        ]
        chosen.append(convert_channels_array(np.stack(planes, -1), channels).astype(np.uint8))
        if len(chosen) >= count:
            break
    if not chosen:
        raise ValueError("no calibration pictures: the training split is empty")
    return np.stack(chosen)


def write_calibration(run_root: str | os.PathLike, pictures: np.ndarray) -> Path:
    """``RUN_DIR/calibration.npz``: the pictures ``int8`` exports calibrate on."""
    from zoo.utils.io import atomic_path

    path = Path(run_root) / CALIBRATION_FILE
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, pictures=pictures)
    return path


def read_calibration(source: str | os.PathLike, info, count: int | None = None) -> np.ndarray:
    """Calibration pictures from a run directory (its ``calibration.npz``), an ``.npz`` file, or a folder of
    image files (read as ``info.channels`` channels, resized to ``info.input_size``)."""
    from zoo.data.channels import read_image
    from zoo.data.layout import PREDICT_IMAGE_SUFFIXES

    source = Path(source)
    npz = source / CALIBRATION_FILE if source.is_dir() else source
    if npz.suffix == ".npz" and npz.is_file():
        with np.load(npz) as data:
            return data["pictures"]
    if (source / "config.json").is_file():  # a run folder: its images are plots and samples, not training pictures
        raise FileNotFoundError(
            f"{source}: this run has no {CALIBRATION_FILE} (written by runs since int8 exports); give --calibration "
            "a folder of pictures like the ones the model will see, e.g. some of its training images"
        )
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in PREDICT_IMAGE_SUFFIXES)
        if files:

            def read(path: Path) -> np.ndarray:
                try:
                    return read_image(path, info.channels)
                except ValueError as err:
                    raise ValueError(f"--calibration {path}: {err}; remove it from the folder") from None

            size = tuple(info.input_size)
            return calibration_pictures((read(f) for f in files), size, info.channels, count)
    raise FileNotFoundError(
        f"{source}: no {CALIBRATION_FILE} and no image files; give --calibration a folder of pictures like the "
        "ones the model will see (or re-run the recipe, which writes calibration.npz)"
    )

"""The one mask reader: ``check``, training and evaluation read mask files through it.

TensorFlow's PNG decoder and Pillow disagree on masks (``tf.io.decode_png`` expands an
indexed PNG into its palette colours and keeps only the high byte of a 16-bit PNG), so
a scan with one and training with the other can disagree about every label. Masks are
therefore read here, with Pillow, once (the pipeline caches the result):

- indexed (palette-mode ``P``) PNGs, as Pascal VOC ships them: the indices, not the colours;
- 8-bit gray (``L``) and 1-bit (``1``, read as 0/1): the stored values;
- 16-bit gray (``I;16``, ``I``): the stored values (up to 65535);
- RGB (or opaque RGBA / gray+alpha) masks whose channels are all equal: the gray values;
- colour masks: refused with the reason here; ``zoo.tasks.segmentation.labels`` reads them with a palette
  (``--palette FILE|voc``), and ``check`` says which colours they hold.

JPEG masks are read too (``check`` warns: lossy compression changes values at edges).

Binary masks (``--binary-masks``) may be stored as 0/1 or as 0/255; ``binary_to_01``
decides per mask, the same way in the pipeline and in ``check``: a mask whose values
are all 0 or 1 is taken as it is, any other mask is thresholded at 128 (0/255 and
anti-aliased or JPEG-damaged 0/255 masks).
"""

from __future__ import annotations

import os

import numpy as np

MASK_SUFFIXES = (".png", ".jpg", ".jpeg")
LOSSY_MASK_SUFFIXES = (".jpg", ".jpeg")
MASK_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L")
# Raw values at or above this are folded onto one table entry (always "ignore" or
# out of range): a 16-bit mask can hold 65536 values, the label table has LABEL_SLOTS + 1.
LABEL_SLOTS = 256
BINARY_THRESHOLD = 128  # --binary-masks: a mask that is not all 0/1 reads as the object where its value is >= this


class MaskFormatError(ValueError):
    """A mask file whose format cannot be read as class indices (the message says why and what to do)."""


def describe_mode(mode: str) -> str:
    """A few words for a Pillow mode, for reports."""

    return {
        "1": "1-bit",
        "L": "8-bit gray",
        "P": "indexed (palette)",
        "I": "16/32-bit gray",
        "I;16": "16-bit gray",
        "I;16B": "16-bit gray",
        "I;16L": "16-bit gray",
        "RGB": "RGB colour",
        "RGBA": "RGBA colour",
        "LA": "gray + alpha",
        "PA": "indexed + alpha",
    }.get(mode, f"mode {mode!r}")


def mask_values(image) -> np.ndarray:
    """The class values of an opened (loaded) Pillow mask image as int32 ``[H, W]``.

    Raises:
        MaskFormatError: colour or alpha masks, and 32-bit masks with values outside 0..65535.
    """
    mode = image.mode
    if mode in ("RGB", "RGBA", "LA"):
        bands = np.asarray(image)
        if mode in ("RGBA", "LA") and bands.size and bands[..., -1].min() < 255:
            raise MaskFormatError(
                f"a {describe_mode(mode)} mask with transparent pixels: masks hold one class "
                "index per pixel; save them without transparency"
            )
        colour = bands[..., :3] if mode != "LA" else bands[..., :1]
        if colour.size == 0 or (colour == colour[..., :1]).all():  # gray stored as colour: the gray values
            return colour[..., 0].astype(np.int32)
        raise MaskFormatError(
            f"an {describe_mode(mode)} mask with colours: masks are read as class indices "
            "unless --palette FILE (or --palette voc) says which colour is which class"
        )
    if mode not in MASK_MODES:
        raise MaskFormatError(
            f"a {describe_mode(mode)} mask: masks hold one class index per pixel (8-bit gray, indexed PNG or "
            "16-bit gray), or colours with --palette"
        )
    values = np.asarray(image).astype(np.int32, copy=False)  # mode "1": booleans -> 0/1
    if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
        raise MaskFormatError(
            f"a 32-bit mask with values {int(values.min())}..{int(values.max())}: class indices "
            "must be 0..65535; save masks as 8- or 16-bit PNGs"
        )
    return values


def read_mask(path: str | os.PathLike, encoding=None) -> tuple[np.ndarray, str]:
    """Reads a mask file: (int32 values ``[H, W]``, Pillow mode). With ``encoding`` (a
    ``zoo.tasks.segmentation.labels.LabelEncoding``), the values its label table reads (colours through its palette).

    Raises:
        MaskFormatError: the format cannot be read as class indices (see ``mask_values``).
        OSError, ValueError: the file is missing, truncated or not an image (Pillow's errors).
    """
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return (mask_values(image) if encoding is None else encoding.raw(image)), image.mode


def read_mask_for_pipeline(path, encoding=None) -> np.ndarray:
    """``read_mask`` for ``tf.numpy_function``: int32 ``[H, W, 1]``; ``path`` may be bytes."""
    if isinstance(path, (bytes, np.bytes_)):
        path = path.decode()
    try:
        values, _ = read_mask(path, encoding)
    except Exception as err:  # surfaces in tf.data as InvalidArgumentError: keep the file and reason in it
        raise ValueError(f"mask {path}: {err}") from None
    return values[..., None]


def binary_kind(values: np.ndarray) -> str:
    """How a binary mask is stored: ``"0/1"`` (all values 0 or 1), ``"0/255"`` (all 0 or 255) or
    ``"thresholded"`` (other values: >= 128 is the object)."""
    present = np.unique(values)
    if set(present.tolist()) <= {0, 1}:
        return "0/1"
    if set(present.tolist()) <= {0, 255}:
        return "0/255"
    return "thresholded"


def binary_to_01(mask):
    """0/1 labels of a binary mask tensor (int ``[..., 1]``): taken as is when every value is 0 or 1,
    else thresholded at 128 (0/255 masks)."""
    import tensorflow as tf

    mask = tf.cast(mask, tf.int32)
    return tf.where(tf.reduce_max(mask) <= 1, mask, tf.cast(mask >= BINARY_THRESHOLD, tf.int32))

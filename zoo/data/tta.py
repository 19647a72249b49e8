"""Test-time augmentation (TTA) of segmentation: the mean of the class probabilities over views.

A mode is written ``flip``, ``scales:0.75,1,1.25`` or ``flip+scales:0.75,1,1.25``:

- ``flip``: the picture and its mirror image (left-right); the mirror's answer is mirrored back.
- ``scales:S,...``: the picture resized by each factor (bilinear, antialiased when shrinking),
  run, and its answer resized back to the picture's size. With ``flip`` too, every scale is
  also run mirrored (2 x len(scales) views).

Every view's answer is mapped back exactly to the picture's pixels, and the probabilities
(not the masks) are averaged, so the mask is the argmax of the mean. Two implementations of
the same views: NumPy (``tta_probabilities``: the runtime and ``predict``, whatever the
export's format, no TensorFlow needed) and TensorFlow (``tta_probabilities_tf``: recipe
evaluation with ``--eval-tta`` and TTA baked into an export with ``zoo export --tta``).
Written by hand: Keras and TensorFlow have no test-time augmentation for dense outputs.
Keypoints take ``flip`` only (left/right keypoints swapped: ``zoo.tasks.keypoints.heatmap_codec.flip_average``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

MAX_SCALE = 4.0  # a factor past this is a typo, not a test-time scale


@dataclasses.dataclass(frozen=True)
class TTA:
    """A test-time augmentation mode: ``flip`` and the resize factors ``scales`` (1.0: as is)."""

    flip: bool = False
    scales: tuple[float, ...] = (1.0,)

    def __str__(self) -> str:
        parts = ["flip"] if self.flip else []
        if self.scales != (1.0,):
            parts.append("scales:" + ",".join(f"{s:g}" for s in self.scales))
        return "+".join(parts)

    @property
    def views(self) -> int:
        """Network runs per picture."""
        return len(self.scales) * (2 if self.flip else 1)


def parse_tta(text: str | TTA | None) -> TTA | None:
    """``"flip"``, ``"scales:0.75,1,1.25"``, ``"flip+scales:..."`` -> ``TTA``; None, ``""`` or ``"none"`` ->
    None. Raises ValueError naming the bad part and the form expected."""
    if text is None or isinstance(text, TTA):
        return text
    text = str(text).strip()
    if text.lower() in ("", "none"):
        return None
    form = "write flip, scales:0.75,1,1.25 or flip+scales:0.75,1,1.25"
    flip, scales = False, None
    for part in text.split("+"):
        part = part.strip()
        if part == "flip" and not flip:
            flip = True
        elif part.startswith("scales:") and scales is None:
            try:
                scales = tuple(float(v) for v in part[len("scales:") :].split(","))
            except ValueError:
                raise ValueError(f"tta {text!r}: {part!r} is not a list of numbers; {form}") from None
            bad = [s for s in scales if not 0 < s <= MAX_SCALE]
            if bad or len(set(scales)) != len(scales):
                raise ValueError(
                    f"tta {text!r}: scales must be distinct factors in (0, {MAX_SCALE:g}], got {list(scales)}; {form}"
                )
        else:
            raise ValueError(f"tta {text!r}: {part!r} is not a TTA part (or is repeated); {form}")
    tta = TTA(flip, tuple(sorted(scales)) if scales else (1.0,))
    if not tta.flip and tta.scales == (1.0,):
        return None  # scales:1 alone is no augmentation
    return tta


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``size`` (pixels) times ``scale``, rounded, at least 1 pixel."""
    return tuple(max(1, int(round(side * scale))) for side in size)


def _weights(n_in: int, n_out: int) -> np.ndarray:
    """float32 ``[n_out, n_in]``: triangle-kernel weights, widened when shrinking (antialiasing), half-pixel
    centres: the same kernel as ``zoo.data.resize`` (the exports' resize), in NumPy."""
    inv = n_in / n_out
    width = max(inv, 1.0)
    centres = (np.arange(n_out, dtype=np.float64) + 0.5) * inv
    sources = np.arange(n_in, dtype=np.float64) + 0.5
    w = np.maximum(0.0, 1.0 - np.abs(sources[None, :] - centres[:, None]) / width)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes ``array [B, h, w, C]`` (any numeric dtype) to ``size = (H, W)``: float32 ``[B, H, W, C]``,
    bilinear with antialiasing when shrinking (as the exports resize pictures)."""
    array = np.asarray(array, np.float32)
    height, width = array.shape[1:3]
    if (height, width) == tuple(size):
        return array
    rows, cols = _weights(height, size[0]), _weights(width, size[1])
    return np.einsum("Hh,bhwc,Ww->bHWc", rows, array, cols, optimize=True).astype(np.float32)


def tta_probabilities(run: Callable[[np.ndarray], np.ndarray], images: np.ndarray, tta: TTA | None) -> np.ndarray:
    """The mean probabilities over ``tta``'s views, NumPy.

    Args:
        run: ``uint8 [B, h', w', C] -> float [B, h', w', K]`` probabilities at its input's size, for the
            sizes the scales give (one of them is the pictures' own).
        images: uint8 ``[B, h, w, C]``.
        tta: the views; None runs ``images`` once.

    Returns:
        float32 ``[B, h, w, K]``.
    """
    tta = tta or TTA()
    size = images.shape[1:3]
    total = None
    for scale in tta.scales:
        view = (
            images
            if scale == 1.0
            else np.clip(np.round(resize(images, scaled_size(size, scale))), 0, 255).astype(np.uint8)
        )
        found = np.asarray(run(view), np.float32)
        if tta.flip:
            found = found + np.asarray(run(np.ascontiguousarray(view[:, :, ::-1])), np.float32)[:, :, ::-1]
        found = resize(found, size)
        total = found if total is None else total + found
    return total / tta.views


def tta_probabilities_tf(probabilities: Callable, x, tta: TTA | None):
    """The mean probabilities over ``tta``'s views, TensorFlow (graph-safe; exportable to every format).

    Args:
        probabilities: ``float [B, h', w', C] -> float32 [B, h', w', K]`` at its input's size (the
            network, which must take the scaled sizes: an any-size copy pads to its stride inside).
        x: float ``[B, h, w, C]``: pictures, raw or preprocessed (the resize is linear, so it commutes
            with the backbones' per-channel preprocessing).
        tta: the views; None runs ``x`` once.

    Returns:
        float32 ``[B, h, w, K]``.
    """
    import tensorflow as tf

    from zoo.data.resize import resize_antialiased

    tta = tta or TTA()
    size = tf.shape(x)[1:3]
    total = None
    for scale in tta.scales:
        if scale == 1.0:
            view = x
        else:
            target = tf.maximum(1, tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32))
            view = resize_antialiased(x, (target[0], target[1]))
        found = probabilities(view)
        if tta.flip:
            found = found + tf.reverse(probabilities(tf.reverse(view, axis=[2])), axis=[2])
        if scale != 1.0:
            found = resize_antialiased(found, (size[0], size[1]))
        total = found if total is None else total + found
    return total / float(tta.views)

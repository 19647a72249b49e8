"""Native-scale, tiled segmentation: a large picture in overlapping tiles, blended, in bounded memory.

A fully convolutional network sees a picture at its own pixel scale when the picture is cut
into tiles of the size it was trained at; the tiles' class probabilities are blended back
with a smooth window, so no seams show where tiles meet. Written by hand (NumPy only, no
TensorFlow: every export format's runtime uses it) because neither Keras nor TensorFlow
has an overlapping, blended tiler.

- Tiles ``tile = (th, tw)`` start every ``stride = tile - overlap`` pixels; the last tile of
  a row or column is moved back to end at the picture's edge, so every tile lies inside the
  picture (a picture smaller than a tile is padded by reflection, and the padding cut off).
- Each tile's probabilities are weighted by ``blend_window``: a raised cosine over the
  ``overlap`` pixels at each edge that another tile shares, 1 elsewhere (a picture edge
  keeps weight 1). Every pixel's probabilities are the weighted mean of the tiles covering
  it, so a picture that fits in one tile gets exactly that tile's probabilities.
- Memory is bounded by one row of tiles: tiles are run ``batch_size`` at a time and a row
  of the picture is finished (argmax, and optionally its probabilities, compact) as soon as
  no later tile covers it. A 4000x6000 picture with 21 classes and 512 px tiles holds about
  2 x 512 x 6000 x 21 float32 (0.5 GB) of partial sums, not the 2 GB of the full map.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PROBABILITY_FORMATS = ("uint8", "float16", "float32")  # how --save-probabilities stores them


def tile_origins(size: int, tile: int, stride: int) -> list[int]:
    """Start offsets (pixels) of tiles of ``tile`` every ``stride`` along an axis of ``size``
    (``size >= tile``); the last one ends at ``size``."""
    if size <= tile:
        return [0]
    origins = list(range(0, size - tile, stride))
    return origins + [size - tile]


def _ramp(length: int, overlap: int, start: bool, end: bool) -> np.ndarray:
    """1-D weights: a raised cosine from near 0 to 1 over ``overlap`` pixels at a shared start
    and/or end, 1 elsewhere."""
    weights = np.ones(length, np.float32)
    if overlap > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap, dtype=np.float32) + 0.5) / overlap)
        if start:
            weights[:overlap] = np.minimum(weights[:overlap], rise)
        if end:
            weights[length - overlap :] = np.minimum(weights[length - overlap :], rise[::-1])
    return weights


def blend_window(tile: tuple[int, int], overlap: tuple[int, int], shared: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """The weights ``[th, tw]`` of a tile whose top, bottom, left, right edges are ``shared`` with
    other tiles (``True``) or lie on the picture's edge (``False``)."""
    top, bottom, left, right = shared
    rows = _ramp(tile[0], overlap[0], top, bottom)
    cols = _ramp(tile[1], overlap[1], left, right)
    return np.outer(rows, cols)


def _pad_to(image: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """``image [h, w, C]`` padded by reflection (bottom and right) to at least ``tile``."""
    pad_h, pad_w = max(0, tile[0] - image.shape[0]), max(0, tile[1] - image.shape[1])
    if not (pad_h or pad_w):
        return image
    mode = "reflect" if pad_h < image.shape[0] and pad_w < image.shape[1] else "symmetric"
    while pad_h >= image.shape[0] or pad_w >= image.shape[1]:  # tiny pictures: mirror repeatedly
        grow_h, grow_w = min(pad_h, image.shape[0]), min(pad_w, image.shape[1])
        image = np.pad(image, ((0, grow_h), (0, grow_w), (0, 0)), mode="symmetric")
        pad_h, pad_w = pad_h - grow_h, pad_w - grow_w
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def predict_tiled(
    run: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    tile: tuple[int, int],
    overlap: float | int = 0.25,
    batch_size: int = 4,
    probabilities: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Segments ``image`` at its own scale, tile by tile.

    Args:
        run: ``tiles uint8 [n, th, tw, C] -> probabilities float [n, th, tw, K]``.
        image: uint8 ``[h, w, C]``, any size.
        tile: ``(th, tw)`` pixels, the size ``run`` takes.
        overlap: pixels shared by neighbouring tiles, or a fraction of the tile below 1
            (0.25 by default); at most half a tile.
        batch_size: tiles per ``run`` call.
        probabilities: None (only the mask), or one of ``PROBABILITY_FORMATS`` to also
            return the blended probabilities (``uint8``: ``round(255 p)``).

    Returns:
        ``(mask int32 [h, w], probabilities [h, w, K] or None)``.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected one image [height, width, channels], got shape {list(image.shape)}")
    if probabilities not in (None, *PROBABILITY_FORMATS):
        raise ValueError(f"probabilities must be None or one of {PROBABILITY_FORMATS}, got {probabilities!r}")
    th, tw = int(tile[0]), int(tile[1])
    share = tuple(int(round(overlap * t)) if 0 < overlap < 1 else int(overlap) for t in (th, tw))
    if any(s < 0 or s > t // 2 for s, t in zip(share, (th, tw))):
        raise ValueError(
            f"overlap {overlap!r} gives {share} px on tiles of {th}x{tw}: use 0 to half a tile "
            "(a fraction below 1, or pixels)"
        )
    height, width = image.shape[:2]
    padded = _pad_to(image, (th, tw))
    ys = tile_origins(padded.shape[0], th, th - share[0])
    xs = tile_origins(padded.shape[1], tw, tw - share[1])

    mask = np.zeros((height, width), np.int32)
    kept = None
    acc = weight = None  # partial sums for picture rows [top, top + rows)
    top = 0

    def finish(rows: int) -> None:
        nonlocal kept
        end = min(top + rows, height)
        if end <= top:
            return
        mean = acc[: end - top, :width] / weight[: end - top, :width, None]
        mask[top:end] = np.argmax(mean, axis=-1)
        if probabilities is not None:
            if kept is None:
                kept = np.zeros((height, width, mean.shape[-1]), probabilities)
            kept[top:end] = (np.round(mean * 255) if probabilities == "uint8" else mean).astype(probabilities)

    for row, y in enumerate(ys):
        if acc is not None and y > top:  # rows above y are covered by no later tile: finish them
            done = y - top
            finish(done)
            acc = np.concatenate([acc[done:], np.zeros((done, *acc.shape[1:]), np.float32)])
            weight = np.concatenate([weight[done:], np.zeros((done, weight.shape[1]), np.float32)])
            top = y
        for start in range(0, len(xs), batch_size):
            chunk = xs[start : start + batch_size]
            tiles = np.stack([padded[y : y + th, x : x + tw] for x in chunk])
            scores = np.asarray(run(tiles), np.float32)
            if scores.shape[:3] != (len(chunk), th, tw):
                raise ValueError(f"the model answered tiles [{len(chunk)}, {th}, {tw}] with {list(scores.shape)}")
            if acc is None:
                acc = np.zeros((th, padded.shape[1], scores.shape[-1]), np.float32)
                weight = np.zeros((th, padded.shape[1]), np.float32)
            for x, probs in zip(chunk, scores):
                window = blend_window((th, tw), share, (row > 0, row < len(ys) - 1, x > 0, x < xs[-1]))
                acc[y - top : y - top + th, x : x + tw] += probs * window[..., None]
                weight[y - top : y - top + th, x : x + tw] += window
    finish(acc.shape[0])
    return mask, kept

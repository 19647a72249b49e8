"""Native-scale, tiled segmentation: a large picture in overlapping tiles, blended, in bounded memory.

A fully convolutional network sees a picture at its own pixel scale when the picture is cut
into tiles of the size it was trained at; the tiles' class probabilities are blended back
with a smooth window, so no seams show where tiles meet. Written by hand (NumPy only, no
TensorFlow: every export format's runtime uses it) because neither Keras nor TensorFlow
has an overlapping, blended tiler.

- Tiles ``tile = (th, tw)`` start every ``stride = tile - overlap`` pixels; the last tile of
  a row or column is moved back to end at the picture's edge, so every tile lies inside the
  picture (a picture smaller than a tile is padded by reflection, and the padding cut off).
  Where ``run`` takes any size (``multiple``), the tile is first capped at the picture's size
  rounded up to that multiple, so a tile far larger than the picture costs nothing.
- Each tile's probabilities are weighted by ``blend_window``: a raised cosine over the
  ``overlap`` pixels at each edge that another tile shares, 1 elsewhere (a picture edge
  keeps weight 1). Every pixel's probabilities are the weighted mean of the tiles covering
  it, so a picture that fits in one tile gets exactly that tile's probabilities. The window
  is the outer product of a row and a column ramp, and so are the summed weights: they are
  computed once per axis, and the windows once per edge pattern (at most 16).
- Tiles are run in row-major order, as many per ``run`` call as fit ``call_pixels`` (about
  1M pixels: 4 tiles of 512x512, 256 of 64x64), so small tiles share one call's overhead.
- Memory is bounded by the rows of tiles one call spans: a row of the picture is finished
  (argmax, and optionally its probabilities, compact) as soon as no later tile covers it, so
  the partial sums cover ``th`` rows, ``th + stride`` where a call runs on into the next row
  of tiles (and about one call's pixels more where small tiles fill a call with several
  rows). A 4000x6000 picture with 21 classes and 512 px tiles (16 a row, 4 per call) holds
  512 x 6000 x 21 float32 (0.26 GB) of partial sums, not the 2 GB of the full map.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

import numpy as np

PROBABILITY_FORMATS = ("uint8", "float16", "float32")  # how --save-probabilities stores them
CALL_PIXELS = 4 * 512 * 512  # pixels per ``run`` call when no batch size is given: 4 tiles of 512x512


def _whole(value) -> int | None:
    """``value`` as an int if it is a whole real number (not a bool), else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        return None
    if isinstance(value, Integral):
        return int(value)
    return int(value) if math.isfinite(value) and float(value).is_integer() else None


def check_tile(tile) -> tuple[int, int]:
    """``tile`` (one side, or ``(height, width)``, in pixels) as ``(th, tw)``.

    Raises:
        ValueError: naming the value, unless each side is a whole number of pixels of at least 1.
    """
    sides = [tile, tile] if np.ndim(tile) == 0 and not isinstance(tile, str) else tile
    try:
        sides = [_whole(v) for v in sides] if len(sides) == 2 else [None]
    except TypeError:
        sides = [None]
    if any(v is None or v < 1 for v in sides):
        raise ValueError(
            f"tile {tile!r}: use a positive whole number of pixels (e.g. 512) or (height, width), "
            "or leave it unset for the default"
        )
    return sides[0], sides[1]


def overlap_pixels(overlap: float | int, tile: tuple[int, int]) -> tuple[int, int]:
    """Pixels ``(oh, ow)`` shared by neighbouring tiles of ``tile (th, tw)`` for ``overlap``: a fraction of
    the tile from 0 to 0.5 (below 1), or whole pixels up to half the tile.

    Raises:
        ValueError: naming the value (NaN, negative, a fraction above 0.5, non-whole pixels, or more than
            half a tile) and what to use.
    """
    value = float(overlap) if isinstance(overlap, Real) and not isinstance(overlap, (bool, np.bool_)) else math.nan
    pixels = _whole(overlap) if value >= 1 else None
    if not (0 <= value <= 0.5 or pixels is not None):
        raise ValueError(
            f"overlap {overlap!r}: use a fraction of a tile from 0 to 0.5 (e.g. 0.25) or whole pixels "
            "up to half a tile (e.g. 16)"
        )
    if value < 1:  # a fraction: rounded, at most half the tile (0.5 of an odd side rounds down)
        return tuple(min(int(round(value * t)), t // 2) for t in tile)
    if any(pixels > t // 2 for t in tile):
        raise ValueError(
            f"overlap {overlap!r} gives {pixels} px on tiles of {tile[0]}x{tile[1]}: use 0 to half a tile "
            f"(at most {min(tile) // 2} px, or a fraction up to 0.5)"
        )
    return pixels, pixels


def cap_tile(tile: tuple[int, int], size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """``tile (th, tw)`` capped at the picture's ``size (h, w)`` rounded up to a multiple of ``multiple``
    (pixels): for a network that takes any multiple of it (the SavedModel's ``native`` signature: the
    backbone's divisor, 32), a tile larger than the picture is one tile of the picture, padded no further."""
    return tuple(min(int(t), -(-int(s) // int(multiple)) * int(multiple)) for t, s in zip(tile, size))


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


def _axis_weights(size: int, tile: int, overlap: int, origins: list[int]) -> np.ndarray:
    """The summed 1-D ramps ``[size]`` of the tiles starting at ``origins`` along one axis."""
    total = np.zeros(size, np.float32)
    for k, start in enumerate(origins):
        total[start : start + tile] += _ramp(tile, overlap, k > 0, k < len(origins) - 1)
    return total


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
    tile: int | tuple[int, int],
    overlap: float | int = 0.25,
    batch_size: int | None = None,
    probabilities: str | None = None,
    multiple: int | None = None,
    call_pixels: int = CALL_PIXELS,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Segments ``image`` at its own scale, tile by tile.

    Args:
        run: ``tiles uint8 [n, th, tw, C] -> probabilities float [n, th, tw, K]``.
        image: uint8 ``[h, w, C]``, any size.
        tile: ``(th, tw)`` or one side, pixels: the size ``run`` takes.
        overlap: pixels shared by neighbouring tiles, or a fraction of the tile below 1
            (0.25 by default); at most half a tile.
        batch_size: tiles per ``run`` call; None: as many as fit ``call_pixels``.
        probabilities: None (only the mask), or one of ``PROBABILITY_FORMATS`` to also
            return the blended probabilities (``uint8``: ``round(255 p)``).
        multiple: None when ``run`` takes ``tile`` only; else ``run`` takes any size that is a multiple
            of this (or pads to one itself), and the tile is capped at the picture's size rounded up to
            it (``cap_tile``; the overlap is checked against the tile asked for).
        call_pixels: pixels per ``run`` call (``n x th x tw``) when ``batch_size`` is None; at least one tile.

    Returns:
        ``(mask int32 [h, w], probabilities [h, w, K] or None)``.

    Raises:
        ValueError: a bad ``tile``, ``overlap``, ``batch_size`` or ``probabilities`` (naming the value and
            what to use), or a ``run`` that answers another shape.
    """
    image = np.asarray(image)
    if image.ndim != 3 or 0 in image.shape:
        raise ValueError(f"expected one image [height, width, channels], got shape {list(image.shape)}")
    if probabilities not in (None, *PROBABILITY_FORMATS):
        raise ValueError(f"probabilities must be None or one of {PROBABILITY_FORMATS}, got {probabilities!r}")
    if batch_size is not None and (_whole(batch_size) is None or batch_size < 1):
        raise ValueError(f"batch_size {batch_size!r}: use a positive number of tiles, or None for a pixel budget")
    th, tw = check_tile(tile)
    share = overlap_pixels(overlap, (th, tw))
    height, width = image.shape[:2]
    if multiple is not None:
        th, tw = cap_tile((th, tw), (height, width), multiple)
        share = (min(share[0], th // 2), min(share[1], tw // 2))  # a capped side holds one tile: no overlap
    per_call = int(batch_size) if batch_size is not None else max(1, int(call_pixels) // (th * tw))
    padded = _pad_to(image, (th, tw))
    ys = tile_origins(padded.shape[0], th, th - share[0])
    xs = tile_origins(padded.shape[1], tw, tw - share[1])
    # the blended weights' sums, separable as the windows are: divided out where a row is finished
    row_weight = _axis_weights(padded.shape[0], th, share[0], ys)
    col_weight = _axis_weights(padded.shape[1], tw, share[1], xs)[:width]
    windows = {}  # per edge pattern (top, bottom, left, right shared): [th, tw, 1]

    def window(i: int, j: int) -> np.ndarray:
        key = (i > 0, i < len(ys) - 1, j > 0, j < len(xs) - 1)
        if key not in windows:
            windows[key] = blend_window((th, tw), share, key)[..., None]
        return windows[key]

    order = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    calls = [order[start : start + per_call] for start in range(0, len(order), per_call)]
    # rows of partial sums held: the most any one call spans, from its first tile's row to its last's end
    held = max(ys[chunk[-1][0]] + th - ys[chunk[0][0]] for chunk in calls)

    mask = np.zeros((height, width), np.int32)
    kept = None
    acc = product = None  # acc: partial sums for padded rows [top, top + held); product: one weighted tile
    top = 0

    def finish(end: int) -> None:
        """Picture rows [top, end): no tile left covers them."""
        nonlocal kept
        end = min(end, height)
        if end <= top:
            return
        part = acc[: end - top, :width]
        if probabilities is None:  # the argmax of the weighted sum is the argmax of the weighted mean
            mask[top:end] = np.argmax(part, axis=-1)
            return
        mean = part / np.outer(row_weight[top:end], col_weight)[..., None]
        mask[top:end] = np.argmax(mean, axis=-1)
        if kept is None:
            kept = np.zeros((height, width, mean.shape[-1]), probabilities)
        kept[top:end] = (np.round(mean * 255) if probabilities == "uint8" else mean).astype(probabilities)

    for number, chunk in enumerate(calls):
        tiles = np.stack([padded[ys[i] : ys[i] + th, xs[j] : xs[j] + tw] for i, j in chunk])
        scores = np.asarray(run(tiles), np.float32)
        if (
            scores.ndim != 4
            or scores.shape[:3] != (len(chunk), th, tw)
            or (acc is not None and scores.shape[3] != acc.shape[2])
        ):
            want = f"[{len(chunk)}, {th}, {tw}, {'K' if acc is None else acc.shape[2]}]"
            raise ValueError(f"the model answered tiles {list(tiles.shape)} with {list(scores.shape)}, not {want}")
        if acc is None:
            acc = np.zeros((held, padded.shape[1], scores.shape[-1]), np.float32)
            product = np.empty((th, tw, scores.shape[-1]), np.float32)
        for (i, j), probs in zip(chunk, scores):
            y, x = ys[i] - top, xs[j]
            np.multiply(probs, window(i, j), out=product)
            acc[y : y + th, x : x + tw] += product
        following = ys[calls[number + 1][0][0]] if number + 1 < len(calls) else padded.shape[0]
        if following > top:  # rows above the next tile's are covered by no later tile: finish them
            finish(following)
            done = following - top
            if done < held:
                acc[: held - done] = acc[done:]
                acc[held - done :] = 0
            else:
                acc[:] = 0
            top = following
    return mask, kept

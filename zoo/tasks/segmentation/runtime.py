"""Running a loaded segmentation export beyond its ``serving_default`` (NumPy; no TensorFlow): the picture
at its own scale in blended tiles (``zoo.data.tiling``), and test-time augmentation (``zoo.data.tta``).

``predictor`` is a ``zoo.export.runtime.Predictor``: ``predictor.run(images)`` is the export's
``serving_default`` (the picture resized to the training size and the answer back), and a SavedModel's
``predictor.run.native`` its ``native`` signature (the network at any size).
"""

from __future__ import annotations

import numpy as np

from zoo.data.tiling import cap_tile, check_tile, overlap_pixels, predict_tiled
from zoo.data.tta import parse_tta, resize, tta_probabilities

SCALES = ("resize", "native")  # how a picture meets the network: resized to the training size, or as it is
NATIVE_TILE = 512  # pixels: the smallest default native tile side where the network takes any size


def divisor(info) -> int:
    """The multiple (pixels) the export's network pads its input to: its backbone's total stride (32)."""
    from zoo.models.backbones import get_backbone  # the registry table: NumPy only

    try:
        return int(get_backbone(info.backbone).divisor)
    except ValueError:  # a backbone this version does not know: the stride of all of ours
        return 32


def native_tile(info, any_size: bool | None = None) -> tuple[int, int]:
    """The default native tile ``(height, width)`` in pixels.

    Where the network takes any size (``any_size``; None: a ``native`` signature in ``info.signatures``,
    as a SavedModel has): each side of the training size raised to at least ``NATIVE_TILE`` (512) and
    rounded up to a multiple of the backbone's divisor (32), so 64 px training crops give 512 px tiles.
    Why not the training size, the tiles a ``--train-crop`` run is validated on: speed. A 3000x3000
    picture is 3,969 tiles of 64 px against 64 of 512 px, about the same pixels with a quarter overlap,
    but each small tile pays the network's fixed costs (per layer, and 2x2 features at stride 32):
    batched by pixels alike, 64 px tiles ran up to 1.7x slower on a CPU (docs/exports.md, "Large
    pictures at their own scale"). The price: a 64 px crop-trained U-Net scored held-out scenes a few
    points lower with 512 px tiles (docs/exports.md, "Scenes, crops and TTA, measured"); pass ``tile=``
    the training size for that. Training sizes above 512 keep their size (rounded up to the divisor, which the
    ``native`` signature pads to anyway); pictures smaller than the tile are one tile
    (``zoo.data.tiling.cap_tile``).

    Formats whose signature is fixed at the training size (LiteRT, ONNX, ``.keras``): the training size.
    """
    size = tuple(int(v) for v in info.input_size)
    if any_size is None:
        any_size = "native" in tuple(info.signatures or ())
    if not any_size:
        return size
    step = divisor(info)
    return tuple(-(-max(side, NATIVE_TILE) // step) * step for side in size)


def run(
    predictor,
    images: np.ndarray,
    scale: str | None = None,
    tile=None,
    overlap: float = 0.25,
    tta=None,
    probabilities: str | None = "float32",
) -> dict[str, np.ndarray]:
    """``mask`` int32 ``[B, h, w]`` and ``probabilities`` for uint8 ``images [B, h, w, C]``.

    Args:
        scale: ``"resize"`` (as ``serving_default``) or ``"native"`` (the picture at its own pixel scale in
            overlapping tiles, blended); None: the export's ``scale`` in ``model.json``.
        tile: native tiles ``(height, width)`` or one side, pixels; default ``native_tile``. Other sizes
            need a SavedModel (its ``native`` signature runs any size, padding to the network's stride inside;
            the tile is capped at the picture's size); other formats run the training size only.
        overlap: native: pixels or fraction of a tile (0 to 0.5) shared by neighbouring tiles.
        tta: None or a ``zoo.data.tta`` mode: the mean of the probabilities over its views, each mapped back
            to the picture's pixels; native: applied to each tile.
        probabilities: native: the format of the returned ``probabilities`` (``zoo.data.tiling``), or None
            for the mask alone.
    """
    info = predictor.info
    scale = scale or info.fields.scale
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    tta = parse_tta(tta)
    if scale == "resize" and tta is None:
        return predictor.run(images)
    if scale == "resize":
        if tta.scales == (1.0,):  # serving_default resizes each view to the training size and back
            mean = tta_probabilities(lambda views: predictor.run(views)["probabilities"], images, tta)
        else:  # the views of the picture resized to the training size, the mean resized back
            size = tuple(int(v) for v in info.input_size)
            base = np.clip(np.round(resize(images, size)), 0, 255).astype(np.uint8)
            mean = resize(tta_probabilities(lambda x: any_size(predictor, x), base, tta), images.shape[1:3])
        return {"probabilities": mean, "mask": np.argmax(mean, axis=-1).astype(np.int32)}
    return _native(predictor, images, tile, overlap, tta, probabilities)


def any_size(predictor, images: np.ndarray) -> np.ndarray:
    """Probabilities ``[B, h, w, K]`` of the network at the pictures' own scale, any size: the ``native``
    signature, else ``serving_default`` at the training size, else tiles of it."""
    size = tuple(int(v) for v in predictor.info.input_size)
    native = getattr(predictor.run, "native", None)
    if tuple(images.shape[1:3]) == size:
        return predictor.run(images)["probabilities"]
    if native is not None:
        return native(images)["probabilities"]
    return np.stack(
        [
            predict_tiled(lambda tiles: predictor.run(tiles)["probabilities"], image, size, probabilities="float32")[1]
            for image in images
        ]
    )


def _native(predictor, images: np.ndarray, tile, overlap, tta, probabilities) -> dict[str, np.ndarray]:
    info = predictor.info
    size = tuple(int(v) for v in info.input_size)
    native = getattr(predictor.run, "native", None)
    wanted = native_tile(info, any_size=native is not None) if tile is None else check_tile(tile)
    overlap_pixels(overlap, wanted)  # bad values are refused before any tile runs (ValueError)
    if native is None and wanted != size:
        raise ValueError(
            f"tile {wanted}: this {info.format} export runs tiles of its training size "
            f"{size[0]}x{size[1]} only (its signature resizes anything else); leave tile unset, or "
            "export as saved_model, whose 'native' signature takes any tile"
        )
    multiple = 1 if native is not None else None  # the native signature takes any size (it pads inside)
    used = wanted if multiple is None else cap_tile(wanted, images.shape[1:3], multiple)
    if tta is not None and tta.scales != (1.0,):

        def network(tiles):  # scaled tiles: any size (tiles of tiles without a native signature)
            return any_size(predictor, tiles)
    elif used != size:

        def network(tiles):
            return native(tiles)["probabilities"]
    else:  # at the training size serving_default's resize does nothing

        def network(tiles):
            return predictor.run(tiles)["probabilities"]

    masks, kept = [], []
    for image in images:
        mask, probs = predict_tiled(
            lambda tiles: tta_probabilities(network, tiles, tta),
            image,
            wanted,
            overlap,
            probabilities=probabilities,
            multiple=multiple,
        )
        masks.append(mask)
        kept.append(probs)
    outputs = {"mask": np.stack(masks)}
    if probabilities is not None:
        outputs["probabilities"] = np.stack(kept)
    return outputs

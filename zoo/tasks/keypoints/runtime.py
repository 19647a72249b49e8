"""Running a loaded keypoint export beyond its ``serving_default`` (NumPy; no TensorFlow): the flip test,
and one object per box of a picture, as top-down pose methods answer.

``predictor`` is a ``zoo.export.runtime.Predictor``: ``predictor.run(images)`` is the export's
``serving_default`` (keypoints in the picture's pixels); ``predictor(images, tta=...)`` comes back here.
"""

from __future__ import annotations

import numpy as np

from zoo.data.tta import parse_tta
from zoo.tasks.base import check_pictures
from zoo.tasks.keypoints.boxes import box_values_problem, clip_box, enlarged_box


def run(predictor, images: np.ndarray, tta=None) -> dict[str, np.ndarray]:
    """The export's answers for uint8 ``images [B, h, w, C]``; ``tta`` None or ``flip``: the mean of the
    answers for the picture and for its mirror image, whose keypoints are mirrored back
    (``x -> w - 1 - x``, pixel centres) and left/right swapped (``flip_index``). Coordinates and scores are
    averaged; so are the heatmaps (mirrored back and swapped; exact when the picture needs no letterbox
    padding, else within a pixel). ``zoo export --tta flip`` averages the heatmaps before decoding instead
    (the recipes' flip test)."""
    check_pictures(images)
    tta = parse_tta(tta)
    if tta is None:
        return predictor.run(images)
    if tta.scales != (1.0,):
        raise ValueError(
            f"tta={str(tta)!r}: a keypoint export takes tta='flip' only (multi-scale views are for "
            "exports that answer per pixel)"
        )
    flip = np.asarray(predictor.info.fields.flip_index)
    plain = predictor.run(images)
    mirrored = predictor.run(np.ascontiguousarray(images[:, :, ::-1]))
    back = np.array(mirrored["keypoints"][:, flip], np.float32)
    back[..., 0] = images.shape[2] - 1 - back[..., 0]
    outputs = {
        "keypoints": (plain["keypoints"] + back) / 2,
        "scores": (plain["scores"] + mirrored["scores"][:, flip]) / 2,
    }
    if "heatmaps" in plain:
        outputs["heatmaps"] = (plain["heatmaps"] + mirrored["heatmaps"][:, :, ::-1][..., flip]) / 2
    return outputs


def check_boxes(boxes, size: tuple[int, int]) -> np.ndarray:
    """``boxes`` ``[N, 4]`` (x, y, width, height) as ``predict_boxes`` looks at them: each clipped to the picture
    of ``size`` (H, W) (``zoo.tasks.keypoints.boxes.clip_box``). Refuses, naming the box by its index, a box with
    a NaN or infinite value, a width or height not above 0, or no area inside the picture; nothing is
    cropped before every box has passed."""
    try:
        given = np.asarray(boxes, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"boxes must be numbers [N, 4] (x, y, width, height) in pixels, got {boxes!r:.120}") from None
    if given.size % 4:
        raise ValueError(f"boxes must be [N, 4] (x, y, width, height) in pixels, got shape {list(given.shape)}")
    given = given.reshape(-1, 4)
    clipped = []
    for n, box in enumerate(given):
        problem = box_values_problem(box.tolist())
        if problem:
            fix = "a positive width and height" if "width" in problem else "finite numbers"
            raise ValueError(
                f"box {n} {box.tolist()} {problem}: boxes need {fix} (x, y, width, height in the picture's pixels)"
            )
    for n, box in enumerate(given):
        inside = clip_box(box, size)
        if inside is None:
            raise ValueError(
                f"box {n} {box.tolist()} has no area inside the {size[1]} x {size[0]} picture (x, y, width, "
                "height in its pixels, the picture spanning 0..width, 0..height): give the boxes of this picture, "
                "in its pixels"
            )
        clipped.append(inside)
    return np.stack(clipped) if clipped else np.zeros((0, 4), np.float64)


def _crop_mirrored(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` with whatever lies beyond the picture mirrored in (edge pixels repeated)."""

    def mirror(start: int, stop: int, size: int) -> np.ndarray:
        index = np.arange(start, stop) % (2 * size)
        return np.where(index < size, index, 2 * size - 1 - index)

    return image[mirror(y0, y1, image.shape[0])][:, mirror(x0, x1, image.shape[1])]


def predict_boxes(predictor, image: np.ndarray, boxes, tta=None) -> dict[str, np.ndarray]:
    """One object per box of one picture.

    Each box is clipped to the picture (a box reaching past the edge frames the part of the object inside it,
    as the training boxes do; a box with no area inside is refused), enlarged 1.25x around its centre (what
    ``--region box`` training looked at), cut out of the picture (mirrored beyond its edges, as the training
    warp fills), and run alone (``serving_default`` pads it to the training aspect ratio and resizes it); the
    keypoints come back in the picture's pixels. Every box is checked (``check_boxes``) before any is cut out.

    Args:
        image: uint8 ``[h, w, C]``, at least one pixel high and wide.
        boxes: ``[N, 4]`` (x, y, width, height) in the picture's pixels (COCO's ``bbox``), finite, width and
            height above 0.
        tta: None or ``"flip"``.

    Returns:
        ``keypoints`` float32 ``[N, K, 2]`` (x, y) and ``scores`` float32 ``[N, K]``.

    Raises:
        ValueError: one line naming the picture's or the box's problem (with the box's index).
    """
    info = predictor.info
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != info.channels:
        raise ValueError(
            f"expected one uint8 image [height, width, {info.channels}], got {image.dtype} {list(image.shape)}"
        )
    check_pictures(image[None])
    boxes = check_boxes(boxes, image.shape[:2])
    count = len(info.fields.keypoint_names)
    keypoints, scores = np.zeros((len(boxes), count, 2), np.float32), np.zeros((len(boxes), count), np.float32)
    for n, box in enumerate(boxes):
        region = enlarged_box(*box)
        x0, y0 = (int(np.floor(v)) for v in region[:2])
        x1, y1 = (int(np.ceil(v)) for v in region[2:])
        crop = _crop_mirrored(image, x0, y0, x1, y1)
        out = predictor(crop[None], tta=tta)
        keypoints[n] = out["keypoints"][0] + np.array([x0, y0], np.float32)
        scores[n] = out["scores"][0]
    return {"keypoints": keypoints, "scores": scores}

"""COCO object keypoint similarity (OKS) average precision, computed by ``pycocotools``.

The field compares keypoint models by COCO's OKS AP (AP over OKS thresholds 0.50:0.05:0.95,
AP50, AP75, AR). Here the predictions and the truth of a split are written as a COCO
ground-truth dict and a list of COCO keypoint results, and ``pycocotools.cocoeval.COCOeval``
(the reference implementation) scores them; nothing of the metric is re-implemented.

OKS between a prediction and a true object is the mean, over the object's labelled
keypoints, of ``exp(-d^2 / (2 * area * (2 * sigma_k)^2))``: ``d`` the distance in pixels,
``area`` the object's area in pixels^2 (COCO: its segmentation's area), ``sigma_k`` the
keypoint's spread. Coordinates: any pixel convention, the same for both sides.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

COCO_PERSON_KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# COCO's 17 per-keypoint sigmas (pycocotools' defaults, Ronchi & Perona 2017), in COCO_PERSON_KEYPOINTS order.
COCO_PERSON_SIGMAS = (
    0.026,
    0.025,
    0.025,
    0.035,
    0.035,
    0.079,
    0.079,
    0.072,
    0.072,
    0.062,
    0.062,
    0.107,
    0.107,
    0.087,
    0.087,
    0.089,
    0.089,
)
# For skeletons without sigmas: about COCO's face keypoints' (eyes 0.025, ears 0.035), stated in metrics.json.
UNIFORM_SIGMA = 0.035
AP_KEYS = ("ap", "ap50", "ap75", "ap_medium", "ap_large", "ar", "ar50", "ar75", "ar_medium", "ar_large")


def parse_sigmas(text: str | None, count: int) -> list[float] | None:
    """``--oks-sigmas``: one number for every keypoint, or ``count`` comma-separated numbers."""
    if not text:
        return None
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not v > 0 for v in values) or len(values) not in (1, count):
        raise ValueError(
            f"--oks-sigmas {text!r}: give one positive number, or {count} comma-separated positive "
            "numbers (one per keypoint, in the dataset's order), e.g. 0.035 or COCO's 0.026,0.025,..."
        )
    return values * count if len(values) == 1 else values


def resolve_sigmas(names: list[str], file_sigmas=None, flag: str | None = None) -> tuple[list[float], str]:
    """The OKS sigmas of a skeleton and where they came from.

    In order: ``--oks-sigmas`` (``flag``); the COCO file's category ``sigmas``; COCO's 17 when the
    names are COCO's person keypoints; else ``UNIFORM_SIGMA`` for every keypoint.

    Returns:
        (sigmas ``[K]``, a phrase for metrics.json and the log).
    """
    count = len(names)
    given = parse_sigmas(flag, count)
    if given is not None:
        return given, "--oks-sigmas"
    if file_sigmas is not None:
        values = [float(v) for v in file_sigmas]
        if len(values) != count or any(not v > 0 for v in values):
            raise ValueError(
                f"the COCO file's category 'sigmas' has {len(values)} values for {count} keypoints (or "
                "one is not positive); fix the file or pass --oks-sigmas"
            )
        return values, "the COCO file's category sigmas"
    if tuple(n.lower() for n in names) == COCO_PERSON_KEYPOINTS:
        return list(COCO_PERSON_SIGMAS), "COCO's 17 person-keypoint sigmas"
    return [UNIFORM_SIGMA] * count, (
        f"uniform {UNIFORM_SIGMA:g} (no sigmas known for this skeleton; --oks-sigmas sets them)"
    )


def detection_scores(scores: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """One confidence per predicted object ``[N]`` from keypoint scores ``[N, K]`` (heatmap peaks): the
    mean of the scores above ``threshold`` (all of them when none is), as top-down pose methods rescore
    (times the box's score, 1 for ground-truth boxes). AP ranks the predictions by it."""
    scores = np.clip(np.asarray(scores, np.float64), 0.0, None)
    above = scores > threshold
    mean_above = np.where(above.any(1), (scores * above).sum(1) / np.maximum(above.sum(1), 1), scores.mean(1))
    return mean_above


def coco_ground_truth(true: np.ndarray, visible: np.ndarray, areas: np.ndarray, image_ids=None) -> dict:
    """A COCO keypoints ground-truth dict: one annotation per object.

    Args:
        true: ``[N, K, 2]`` (x, y) pixels; visible: ``[N, K]`` 1 where labelled; areas: ``[N]`` pixels^2.
        image_ids: ``[N]`` the picture of each object (objects of one picture compete for the same
            predictions, as in COCO); default: one picture per object.
    """
    true, visible = np.asarray(true, np.float64), np.asarray(visible) > 0
    image_ids = np.arange(len(true)) if image_ids is None else np.asarray(image_ids)
    annotations = []
    for i in range(len(true)):
        flat = np.concatenate([true[i], 2.0 * visible[i][:, None]], -1)
        flat[~visible[i], :2] = 0.0
        seen = true[i][visible[i]]
        x0, y0 = seen.min(0) if len(seen) else (0.0, 0.0)
        x1, y1 = seen.max(0) if len(seen) else (0.0, 0.0)
        annotations.append(
            {
                "id": i + 1,
                "image_id": int(image_ids[i]),
                "category_id": 1,
                "iscrowd": 0,
                "area": float(areas[i]),
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "num_keypoints": int(visible[i].sum()),
                "keypoints": flat.reshape(-1).tolist(),
            }
        )
    count = true.shape[1]
    return {
        "images": [{"id": int(i)} for i in sorted({int(v) for v in image_ids})],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "object", "keypoints": [f"k{k}" for k in range(count)], "skeleton": []}],
    }


def coco_results(pred: np.ndarray, scores: np.ndarray, image_ids) -> list[dict]:
    """COCO keypoint results: ``pred [N, K, 2]`` pixels, ``scores [N]`` one per object, ``image_ids [N]``."""
    pred = np.asarray(pred, np.float64)
    out = []
    for i in range(len(pred)):
        flat = np.concatenate([pred[i], np.ones_like(pred[i][:, :1])], -1).reshape(-1)
        out.append(
            {"image_id": int(image_ids[i]), "category_id": 1, "keypoints": flat.tolist(), "score": float(scores[i])}
        )
    return out


def coco_eval(ground_truth: dict, results: list[dict], sigmas) -> dict:
    """``COCOeval(iouType="keypoints")`` with ``sigmas`` on a ground-truth dict and results list.

    Returns:
        ``AP_KEYS`` -> float (``None`` where COCO gives -1: no object of that size), as fractions.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    sigmas = np.asarray(sigmas, np.float64)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and table
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        if not results:
            return dict.fromkeys(AP_KEYS, 0.0)
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = sigmas
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {key: (None if value < 0 else float(value)) for key, value in zip(AP_KEYS, evaluator.stats)}


def oks_ap(
    pred: np.ndarray,
    keypoint_scores: np.ndarray,
    true: np.ndarray,
    visible: np.ndarray,
    areas: np.ndarray,
    sigmas,
    image_ids=None,
) -> dict:
    """COCO OKS AP of predictions against the truth (pycocotools underneath).

    Args:
        pred, true: ``[N, K, 2]`` (x, y) in the same pixels.
        keypoint_scores: ``[N, K]`` per-keypoint confidences (rescored per object: ``detection_scores``).
        visible: ``[N, K]`` 1 where the truth is labelled; objects with none are ignored, as COCO does.
        areas: ``[N]`` object areas in pixels^2.
        sigmas: ``[K]`` OKS sigmas.
        image_ids: ``[N]`` pictures (default: one per object).

    Returns:
        ``AP_KEYS`` -> fraction, see ``coco_eval``.
    """
    image_ids = np.arange(len(pred)) if image_ids is None else np.asarray(image_ids)
    if len(sigmas) != np.asarray(pred).shape[1]:
        raise ValueError(f"{len(sigmas)} OKS sigmas for {np.asarray(pred).shape[1]} keypoints")
    return coco_eval(
        coco_ground_truth(true, visible, areas, image_ids),
        coco_results(pred, detection_scores(keypoint_scores), image_ids),
        sigmas,
    )

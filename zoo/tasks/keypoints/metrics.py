"""Keypoint accuracy: PCK, NME and mean pixel error (NumPy, over a whole split).

Errors are Euclidean distances in the source image's pixels between predicted and
true (x, y), over visible keypoints only. A normaliser per example turns them into
fractions: the object's size (face height, box side), the inter-ocular distance, or
1 (a fixed pixel threshold).
"""

from __future__ import annotations

import numpy as np

NORMALIZERS = ("size", "interocular", "pixels")


def normalisers(kind: str, sizes: np.ndarray, true: np.ndarray, eye_indices=None) -> np.ndarray:
    """Per-example normaliser ``[N]`` in pixels.

    Args:
        kind: ``"size"`` (the example's size: face height, box side or keypoint span),
            ``"interocular"`` (distance between the two ``eye_indices`` keypoints) or
            ``"pixels"`` (1: thresholds are in pixels).
        sizes: ``[N]`` sizes in pixels.
        true: ``[N, K, 2]`` true positions.
    """
    if kind == "size":
        return np.asarray(sizes, np.float64)
    if kind == "pixels":
        return np.ones(len(true))
    if kind == "interocular":
        if eye_indices is None:
            raise ValueError(
                "inter-ocular normalisation needs the dataset's two eye keypoints; "
                "use --pck-normalizer size or pixels for this dataset"
            )
        a, b = eye_indices
        return np.linalg.norm(true[:, a] - true[:, b], axis=-1)
    raise ValueError(f"unknown normaliser {kind!r}; choose one of {NORMALIZERS}")


def keypoint_report(
    pred: np.ndarray, true: np.ndarray, visible: np.ndarray, norm: np.ndarray, threshold: float, names: list[str]
) -> dict:
    """PCK at ``threshold`` x normaliser, NME and mean pixel error.

    Args:
        pred, true: ``[N, K, 2]`` in the same pixels.
        visible: ``[N, K]`` 1 where the truth is visible.
        norm: ``[N]`` normaliser in pixels.
        threshold: fraction of the normaliser (e.g. 0.1), or pixels with norm = 1.
        names: K keypoint names.
    """
    errors = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(true, np.float64), axis=-1)  # [N, K]
    mask = np.asarray(visible) > 0
    safe = np.where(np.asarray(norm) > 0, norm, np.nan)[:, None]
    relative = errors / safe
    valid = mask & np.isfinite(relative)
    count = int(valid.sum())
    if count == 0:
        return {"pck": None, "nme": None, "mean_pixel_error": None, "keypoints_evaluated": 0}
    per_keypoint = {}
    for k, name in enumerate(names):
        column = valid[:, k]
        per_keypoint[name] = {
            "pck": float((relative[column, k] <= threshold).mean()) if column.any() else None,
            "mean_pixel_error": float(errors[column, k].mean()) if column.any() else None,
        }
    return {
        "pck": float((relative[valid] <= threshold).mean()),
        "pck_threshold": threshold,
        "nme": float(relative[valid].mean()),
        "mean_pixel_error": float(errors[valid].mean()),
        "median_pixel_error": float(np.median(errors[valid])),
        "keypoints_evaluated": count,
        "per_keypoint": per_keypoint,
    }

"""Scoring a keypoint network on a split, in the source pictures' pixels: COCO OKS AP (pycocotools), PCK, NME
and pixel errors."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class OksSettings:
    """How OKS AP is computed: the sigmas, where they came from, and what boxes the crops used."""

    sigmas: list[float]
    sigmas_from: str
    boxes: str  # "ground-truth boxes (enlarged 1.25x)" | "whole pictures"

    def describe(self) -> dict:
        """The ``oks`` entry of metrics.json."""
        return {
            "sigmas": [round(float(v), 5) for v in self.sigmas],
            "sigmas_from": self.sigmas_from,
            "boxes": self.boxes,
            "areas": "the annotation's area, else its box's, else the PCK normaliser squared",
        }


def predict_split(
    model, dataset, *, codec, flip_index, limit: int | None = None, predictors: dict | None = None
) -> dict[str, np.ndarray]:
    """Runs the model over an evaluation dataset (``keypoint_pipeline(..., for_eval=True)``) and maps
    the decoded keypoints back to the source pictures' pixels.

    ``predictors`` ((decoding, flip test) -> compiled prediction function), when given, keeps the
    traced functions between calls so per-epoch evaluation does not retrace.

    Returns:
        ``pred`` and ``true`` ``[N, K, 2]`` (source pixels), ``scores`` ``[N, K]`` (heatmap peaks),
        ``visible`` ``[N, K]``, ``norm``, ``area``, ``image_id`` ``[N]``, and for plotting the first
        batch's ``pixels`` with ``frame_pred`` and ``frame_true`` (input-frame keypoints).
    """
    import tensorflow as tf

    key = (codec.decoding, flip_index is not None)  # the traced function closes over both
    predict = predictors.get(key) if predictors is not None else None
    if predict is None:

        @tf.function
        def predict(images):
            heatmaps = model(images, training=False)
            if flip_index is not None:
                heatmaps = codec.flip_average(heatmaps, model(tf.reverse(images, axis=[2]), training=False), flip_index)
            return codec.decode(heatmaps)

        if predictors is not None:
            predictors[key] = predict  # traced once, reused every epoch

    parts: dict[str, list] = {k: [] for k in ("pred", "scores", "true", "visible", "norm", "area", "image_id")}
    first = None
    for batch in dataset:
        frame, score = (t.numpy() for t in predict(batch["images"]))  # [B, K, 2] in the input frame, [B, K]
        inverse = np.linalg.inv(batch["matrix"].numpy())  # input frame -> source pixels
        homog = np.concatenate([frame, np.ones_like(frame[..., :1])], -1)
        parts["pred"].append(np.einsum("bij,bkj->bki", inverse, homog)[..., :2])
        parts["scores"].append(score)
        for name, field in (
            ("true", "source_keypoints"),
            ("visible", "visible"),
            ("norm", "norm"),
            ("area", "area"),
            ("image_id", "image_id"),
        ):
            parts[name].append(batch[field].numpy())
        if first is None:
            first = {"pixels": batch["pixels"].numpy(), "frame_pred": frame, "frame_true": batch["keypoints"].numpy()}
        if limit and sum(len(p) for p in parts["pred"]) >= limit:
            break
    return {**{k: np.concatenate(v) for k, v in parts.items()}, **first}


def evaluate_keypoints(
    model,
    dataset,
    *,
    codec,
    flip_index,
    normalizer: str,
    threshold: float,
    names,
    eye_indices,
    oks: OksSettings | None = None,
    limit: int | None = None,
    predictors: dict | None = None,
) -> tuple[dict, dict]:
    """Scores ``predict_split``'s answers in source-image pixels: PCK, NME and pixel errors
    (``zoo.tasks.keypoints.metrics``) and, with ``oks``, COCO OKS AP (``zoo.tasks.keypoints.coco_ap``, pycocotools
    underneath) under ``report["ap"]`` (``AP_KEYS``).

    Returns:
        (report from ``keypoint_report`` plus ``ap`` and ``mean_offset`` (the mean signed error
        (x, y) in source pixels over visible keypoints: a systematic shift shows here), arrays for
        plotting: pixels, true and predicted keypoints in the input frame, visibility).
    """
    from zoo.tasks.keypoints.metrics import keypoint_report, normalisers

    out = predict_split(model, dataset, codec=codec, flip_index=flip_index, limit=limit, predictors=predictors)
    true, pred, seen = out["true"], out["pred"], out["visible"]
    # the source visibility (flips are off in evaluation, so frame and source keypoints correspond)
    norm = normalisers(normalizer, out["norm"], true, eye_indices)
    report = keypoint_report(pred, true, seen, norm, threshold, list(names))
    mask = seen > 0
    report["mean_offset"] = [round(float(v), 4) for v in (pred - true)[mask].mean(0)] if mask.any() else None
    if oks is not None:
        from zoo.tasks.keypoints.coco_ap import oks_ap

        ids = out["image_id"]
        ids = np.where(ids >= 0, ids, ids.max(initial=0) + 1 + np.arange(len(ids)))  # unknown: one picture each
        report["ap"] = oks_ap(pred, out["scores"], true, seen, out["area"], oks.sigmas, ids)
    plots = {
        "pixels": out["pixels"],
        "pred": out["frame_pred"],
        "true": out["frame_true"],
        "visible": seen[: len(out["pixels"])],
    }
    return report, plots

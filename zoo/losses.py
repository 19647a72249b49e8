"""Segmentation losses and metrics that honour an ignore index.

Built on Keras: ``sparse_categorical_crossentropy``, ``dice`` and
``categorical_focal_crossentropy`` do the arithmetic; this module only masks out
ignored pixels and averages per image over the valid ones. Metrics are Keras'
confusion-matrix ``MeanIoU`` (with ``ignore_class``), plus pixel accuracy read from
the same kind of confusion matrix.
"""

from __future__ import annotations

import keras
from keras import ops

LOSSES = ("ce", "dice", "focal", "ce+dice")


@keras.saving.register_keras_serializable(package="zoo")
class SegmentationLoss(keras.losses.Loss):
    """Per-image loss over valid pixels for logits ``[B, H, W, C]`` and labels ``[B, H, W, 1]``.

    Args:
        num_classes: C.
        kind: ``"ce"`` (cross-entropy), ``"dice"`` (soft Dice averaged over the classes
            present in the image's labels; an image with no valid pixel adds 0), ``"focal"``
            (Keras' focal cross-entropy: gamma 2, alpha 0.25) or ``"ce+dice"`` (their sum).
        ignore_index: label whose pixels count for nothing.
    """

    def __init__(self, num_classes: int, kind: str = "ce", ignore_index: int = 255, name: str | None = None,
                 **kwargs):
        if kind not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
        super().__init__(name=name or f"seg_{kind.replace('+', '_')}", **kwargs)
        self.num_classes = int(num_classes)
        self.kind = kind
        self.ignore_index = int(ignore_index)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == 4:
            labels = ops.squeeze(labels, -1)
        valid = ops.cast(ops.not_equal(labels, self.ignore_index), "float32")
        safe = ops.where(valid > 0, labels, ops.zeros_like(labels))
        count = ops.maximum(ops.sum(valid, axis=(1, 2)), 1.0)
        logits = ops.cast(y_pred, "float32")
        total = 0.0
        if self.kind in ("ce", "ce+dice"):
            ce = keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True)
            total = total + ops.sum(ce * valid, axis=(1, 2)) / count
        onehot = ops.one_hot(safe, self.num_classes) * valid[..., None]
        if self.kind in ("dice", "ce+dice"):
            probs = ops.softmax(logits, axis=-1) * valid[..., None]
            dice = keras.losses.dice(onehot, probs, axis=(1, 2))  # [B, C]
            # Keras' dice is 1 for a class absent from an image (0 / epsilon), whatever is predicted: such
            # classes would add a constant floor of (absent classes)/C, so only present classes count.
            present = ops.cast(ops.sum(onehot, axis=(1, 2)) > 0, "float32")
            total = total + ops.sum(dice * present, axis=-1) / ops.maximum(ops.sum(present, axis=-1), 1.0)
        if self.kind == "focal":
            focal = keras.losses.categorical_focal_crossentropy(onehot, logits, from_logits=True)
            total = total + ops.sum(focal * valid, axis=(1, 2)) / count
        return total

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "kind": self.kind,
                "ignore_index": self.ignore_index}


@keras.saving.register_keras_serializable(package="zoo")
class PixelAccuracy(keras.metrics.MeanIoU):
    """Fraction of valid pixels whose argmax class is right (from the confusion matrix)."""

    def __init__(self, num_classes: int, ignore_class: int | None = 255, name: str = "pixel_accuracy", **kwargs):
        kwargs.pop("sparse_y_pred", None)
        super().__init__(num_classes=num_classes, ignore_class=ignore_class, sparse_y_pred=False, name=name,
                         **kwargs)

    def result(self):
        matrix = ops.cast(self.total_cm, "float32")
        return ops.divide_no_nan(ops.trace(matrix), ops.sum(matrix))


def segmentation_metrics(num_classes: int, ignore_index: int = 255) -> list[keras.metrics.Metric]:
    """Dataset-level mean IoU and pixel accuracy for logits, ignore index excluded."""
    return [
        keras.metrics.MeanIoU(num_classes, ignore_class=ignore_index, sparse_y_pred=False, name="mean_iou"),
        PixelAccuracy(num_classes, ignore_class=ignore_index),
    ]


def iou_report(confusion, class_names: list[str]) -> dict:
    """mIoU, per-class IoU and pixel accuracy from a confusion matrix ``[C, C]`` (rows: truth).

    Classes that appear neither in the truth nor in the predictions get IoU None and
    are left out of the mean (as Keras' MeanIoU does).
    """
    import numpy as np

    cm = np.asarray(confusion, np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    per_class = {name: (float(tp[i] / union[i]) if union[i] > 0 else None) for i, name in enumerate(class_names)}
    valid = [v for v in per_class.values() if v is not None]
    return {
        "mean_iou": float(np.mean(valid)) if valid else 0.0,
        "per_class_iou": per_class,
        "pixel_accuracy": float(tp.sum() / cm.sum()) if cm.sum() else 0.0,
        "pixels": int(cm.sum()),
    }


@keras.saving.register_keras_serializable(package="zoo")
class HeatmapLoss(keras.losses.Loss):
    """Mean squared error between predicted and target heatmaps, per keypoint.

    ``call`` returns ``[B, K]`` (0.5 * mean over pixels, as in Simple Baselines), so a
    ``sample_weight`` of shape ``[B, K]`` (1 visible, 0 invisible or out of frame)
    weights each keypoint; the mean is over all B x K entries.
    """

    def __init__(self, name: str = "heatmap_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        diff = ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")
        return 0.5 * ops.mean(ops.square(diff), axis=(1, 2))


class SimccLoss(keras.losses.Loss):
    """KL divergence between SimCC targets and the softmax of the logits, per keypoint (``zoo.simcc``).

    ``y_true`` ``[B, K, bins_x + bins_y]`` holds each axis's target distribution; ``call`` returns ``[B, K]``
    (the mean of the x and y divergences), so a ``sample_weight`` ``[B, K]`` weights each keypoint as
    ``HeatmapLoss`` does. Keras' ``KLDivergence`` takes probabilities over the last axis only, not two
    distributions side by side, hence this class.
    """

    def __init__(self, bins_x: int, name: str = "simcc_kl", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bins_x = int(bins_x)

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        total = 0.0
        for part in (slice(None, self.bins_x), slice(self.bins_x, None)):
            target, logits = y_true[..., part], y_pred[..., part]
            log_p = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
            entropy = ops.where(target > 0, target * ops.log(ops.maximum(target, 1e-12)), 0.0)
            total = total + ops.sum(entropy - target * log_p, axis=-1)
        return 0.5 * total

    def get_config(self) -> dict:
        return {**super().get_config(), "bins_x": self.bins_x}

"""Segmentation losses and metrics that honour an ignore index.

Built on Keras: ``sparse_categorical_crossentropy``, ``dice`` and
``categorical_focal_crossentropy`` do the arithmetic; this module only masks out
ignored pixels and averages per image over the valid ones. The Lovasz-softmax loss
(Berman et al. 2018) is written here: Keras has none. Metrics are Keras'
confusion-matrix ``MeanIoU`` (with ``ignore_class``), plus pixel accuracy read from
the same kind of confusion matrix.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.tasks.segmentation.loss_names import LOSSES


@keras.saving.register_keras_serializable(package="zoo")
class SegmentationLoss(keras.losses.Loss):
    """Per-image loss over valid pixels for logits ``[B, H, W, C]`` and labels ``[B, H, W, 1]``.

    Args:
        num_classes: C.
        kind: ``"ce"`` (cross-entropy), ``"dice"`` (soft Dice averaged over the classes
            present in the image's labels; an image with no valid pixel adds 0), ``"focal"``
            (Keras' focal cross-entropy: gamma 2, alpha 0.25), ``"ce+dice"`` (their sum) or ``"ohem"``
            (online hard example mining: the cross-entropy of the ``ohem_fraction`` of each image's
            valid pixels with the highest loss, averaged over them), ``"lovasz"`` (the Lovasz-softmax
            loss, a convex surrogate of each class's IoU, averaged over the classes present in the
            image's labels) or ``"ce+lovasz"`` (cross-entropy plus Lovasz).
        ignore_index: label whose pixels count for nothing.
        class_weights: C weights, or None. Cross-entropy, focal and OHEM: each pixel's loss times its
            class's weight, averaged over the image's valid pixels (OHEM: the kept ones), as Eigen & Fergus
            weigh it; Dice and Lovasz: the weighted mean of the per-class terms over the classes present.
        ohem_fraction: the share of valid pixels ``"ohem"`` keeps (0 < f <= 1).
    """

    def __init__(
        self,
        num_classes: int,
        kind: str = "ce",
        ignore_index: int = 255,
        name: str | None = None,
        class_weights=None,
        ohem_fraction: float = 0.25,
        **kwargs,
    ):
        if kind not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
        super().__init__(name=name or f"seg_{kind.replace('+', '_')}", **kwargs)
        self.num_classes = int(num_classes)
        self.kind = kind
        self.ignore_index = int(ignore_index)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        if self.class_weights is not None and len(self.class_weights) != self.num_classes:
            raise ValueError(f"class_weights has {len(self.class_weights)} weights for {self.num_classes} classes")
        if not 0 < float(ohem_fraction) <= 1:
            raise ValueError(f"ohem_fraction must be in (0, 1], got {ohem_fraction}")
        self.ohem_fraction = float(ohem_fraction)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == 4:
            labels = ops.squeeze(labels, -1)
        valid = ops.cast(ops.not_equal(labels, self.ignore_index), "float32")
        safe = ops.where(valid > 0, labels, ops.zeros_like(labels))
        count = ops.maximum(ops.sum(valid, axis=(1, 2)), 1.0)
        logits = ops.cast(y_pred, "float32")
        weights = None if self.class_weights is None else ops.convert_to_tensor(self.class_weights, "float32")
        pixel_weight = valid if weights is None else ops.take(weights, safe) * valid  # [B, H, W]
        total = 0.0
        if self.kind in ("ce", "ce+dice", "ohem", "ce+lovasz"):
            ce = keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True) * pixel_weight
            if self.kind == "ohem":
                total = total + self._hardest(ce, valid)
            else:
                total = total + ops.sum(ce, axis=(1, 2)) / count
        onehot = ops.one_hot(safe, self.num_classes) * valid[..., None]
        if self.kind in ("dice", "ce+dice"):
            probs = ops.softmax(logits, axis=-1) * valid[..., None]
            dice = keras.losses.dice(onehot, probs, axis=(1, 2))  # [B, C]
            # Keras' dice is 1 for a class absent from an image (0 / epsilon), whatever is predicted: such
            # classes would add a constant floor of (absent classes)/C, so only present classes count.
            present = ops.cast(ops.sum(onehot, axis=(1, 2)) > 0, "float32")
            if weights is not None:
                present = present * weights
            total = total + ops.sum(dice * present, axis=-1) / ops.maximum(ops.sum(present, axis=-1), 1e-6)
        if self.kind == "focal":
            focal = keras.losses.categorical_focal_crossentropy(onehot, logits, from_logits=True)
            total = total + ops.sum(focal * pixel_weight, axis=(1, 2)) / count
        if self.kind in ("lovasz", "ce+lovasz"):
            total = total + lovasz_softmax(onehot, ops.softmax(logits, axis=-1), valid, weights)
        return total

    def _hardest(self, loss, valid):
        """Mean of the largest ``ohem_fraction`` of each image's valid pixel losses ``[B, H, W]`` -> ``[B]``."""

        batch = ops.shape(loss)[0]
        flat = ops.reshape(ops.where(valid > 0, loss, -1.0), (batch, -1))  # ignored pixels sort last
        pixels = flat.shape[-1]
        if pixels is None:  # a size known only when run: sort every pixel
            top, keep = -ops.sort(-flat, axis=-1), ops.shape(flat)[-1]
        else:
            keep = max(1, int(round(pixels * self.ohem_fraction)))
            top, _ = ops.top_k(flat, keep)
        wanted = ops.maximum(ops.round(ops.sum(valid, axis=(1, 2)) * self.ohem_fraction), 1.0)  # [B]
        rank = ops.cast(ops.arange(keep), "float32")[None, :]
        kept = ops.cast(rank < wanted[:, None], "float32") * ops.cast(top >= 0, "float32")
        return ops.sum(top * kept, axis=-1) / ops.maximum(ops.sum(kept, axis=-1), 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "kind": self.kind,
            "ignore_index": self.ignore_index,
            "class_weights": self.class_weights,
            "ohem_fraction": self.ohem_fraction,
        }


def lovasz_softmax(onehot, probs, valid, weights=None):
    """The Lovasz-softmax loss per image (Berman, Rannen Triki & Blaschko, CVPR 2018).

    For each class, the pixels' errors ``|onehot - probs|`` sorted in decreasing order are weighed by the
    steps of the Jaccard loss along that order (the Lovasz extension of the IoU loss), so the loss's
    gradient is that of the class's IoU; classes absent from an image's labels are left out.

    Args:
        onehot: float ``[B, H, W, C]``, 0 on ignored pixels.
        probs: softmax probabilities ``[B, H, W, C]``.
        valid: float ``[B, H, W]``, 1 where a pixel counts.
        weights: C class weights or None.

    Returns:
        float ``[B]``: the mean over the classes present (weighted by ``weights``).
    """
    batch, classes = ops.shape(onehot)[0], onehot.shape[-1]
    fg = ops.transpose(ops.reshape(onehot, (batch, -1, classes)), (0, 2, 1))  # [B, C, N]
    p = ops.transpose(ops.reshape(probs, (batch, -1, classes)), (0, 2, 1))
    errors = ops.abs(fg - p) * ops.reshape(valid, (batch, 1, -1))  # ignored pixels: error 0, sorted last
    pixels = errors.shape[-1] if errors.shape[-1] is not None else ops.shape(errors)[-1]
    ranked, order = ops.top_k(errors, pixels)
    fg_ranked = ops.stop_gradient(ops.take_along_axis(fg, order, axis=-1))
    total = ops.sum(fg_ranked, axis=-1, keepdims=True)
    intersection = total - ops.cumsum(fg_ranked, axis=-1)
    union = total + ops.cumsum(1.0 - fg_ranked, axis=-1)
    jaccard = 1.0 - intersection / ops.maximum(union, 1e-6)
    steps = ops.concatenate([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], axis=-1)
    per_class = ops.sum(ranked * ops.stop_gradient(steps), axis=-1)  # [B, C]
    present = ops.cast(ops.sum(fg, axis=-1) > 0, "float32")
    if weights is not None:
        present = present * weights
    return ops.sum(per_class * present, axis=-1) / ops.maximum(ops.sum(present, axis=-1), 1e-6)


@keras.saving.register_keras_serializable(package="zoo")
class PixelAccuracy(keras.metrics.MeanIoU):
    """Fraction of valid pixels whose argmax class is right (from the confusion matrix)."""

    def __init__(self, num_classes: int, ignore_class: int | None = 255, name: str = "pixel_accuracy", **kwargs):
        kwargs.pop("sparse_y_pred", None)
        super().__init__(num_classes=num_classes, ignore_class=ignore_class, sparse_y_pred=False, name=name, **kwargs)

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
    """mIoU, per-class IoU, precision and recall, pixel accuracy from a confusion matrix ``[C, C]`` (rows:
    truth, columns: prediction; the matrix itself is kept as ``confusion_matrix``).

    Classes that appear neither in the truth nor in the predictions get IoU None and
    are left out of the mean (as Keras' MeanIoU does); precision is None for a class never
    predicted, recall None for one never in the truth.
    """
    import numpy as np

    cm = np.asarray(confusion, np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(0), cm.sum(1)
    union = predicted + actual - tp

    def ratio(num, den):
        return {name: (float(num[i] / den[i]) if den[i] > 0 else None) for i, name in enumerate(class_names)}

    per_class = ratio(tp, union)
    valid = [v for v in per_class.values() if v is not None]
    return {
        "mean_iou": float(np.mean(valid)) if valid else 0.0,
        "per_class_iou": per_class,
        "per_class_precision": ratio(tp, predicted),
        "per_class_recall": ratio(tp, actual),
        "pixel_accuracy": float(tp.sum() / cm.sum()) if cm.sum() else 0.0,
        "pixels": int(cm.sum()),
        "confusion_matrix": cm.astype(np.int64).tolist(),
    }

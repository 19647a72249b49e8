"""Keypoint losses: per-keypoint terms, so a ``sample_weight`` ``[B, K]`` leaves out unlabelled keypoints."""

from __future__ import annotations

import keras
from keras import ops


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
    """KL divergence between SimCC targets and the softmax of the logits, per keypoint (``zoo.tasks.keypoints.simcc_codec``).

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

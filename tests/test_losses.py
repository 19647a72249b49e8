"""Unit tests for zoo.tasks.segmentation.losses on tiny hand-computed inputs (no models)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.tasks.keypoints.losses import HeatmapLoss
from zoo.tasks.segmentation.losses import LOSSES, PixelAccuracy, SegmentationLoss, iou_report, segmentation_metrics

IGNORE = 255


def _value(loss, y_true, y_pred, **kwargs):
    return float(keras.ops.convert_to_numpy(loss(np.asarray(y_true), np.asarray(y_pred, np.float32), **kwargs)))


def _per_image(loss, y_true, y_pred):
    return keras.ops.convert_to_numpy(loss.call(np.asarray(y_true), np.asarray(y_pred, np.float32)))


def _confident(labels, num_classes, margin=20.0):
    """Logits [..., C]: +margin on the label's class, -margin elsewhere."""
    return np.where(np.eye(num_classes)[labels] > 0, margin, -margin).astype(np.float32)


def _softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _ce(logits, label):
    return -math.log(_softmax(np.asarray(logits, np.float64))[label])


# 1x2x2 masks, two classes, all present.
LABELS = np.array([[[[0], [1]], [[1], [0]]]])
# A mixed prediction: pixels (0,0) and (0,1) confidently right, (1,0) unsure, (1,1) wrong.
LOGITS = np.array([[[[2.0, 0.0], [0.0, 3.0]], [[0.5, 0.0], [0.0, 1.0]]]], np.float32)


# ---------------------------------------------------------------- SegmentationLoss


def test_unknown_kind_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"loss must be one of .*'ce\+dice'.*got 'mse'"):
        SegmentationLoss(2, kind="mse")


def test_config_round_trip_keeps_kind_classes_and_ignore_index():
    loss = SegmentationLoss(3, kind="ce+dice", ignore_index=7)
    again = SegmentationLoss.from_config(loss.get_config())
    assert (again.num_classes, again.kind, again.ignore_index, again.name) == (3, "ce+dice", 7, "seg_ce_dice")


def test_ce_equals_hand_computed_mean_over_non_ignored_pixels():
    labels = np.array([[[[0], [1]], [[IGNORE], [2]]]])
    logits = np.array([[[[2.0, 0.0, 0.0], [1.0, 1.0, 0.0]], [[-40.0, 90.0, 3.0], [0.0, 0.0, 0.0]]]], np.float32)
    # ce(pixel) = -log softmax(logits)[label]: log(1 + 2 e^-2), log(2 + e^-1), log(3); the ignored one drops out.
    expected = (math.log(1 + 2 * math.exp(-2)) + math.log(2 + math.exp(-1)) + math.log(3)) / 3
    assert expected == pytest.approx((_ce([2, 0, 0], 0) + _ce([1, 1, 0], 1) + _ce([0, 0, 0], 2)) / 3)
    assert _value(SegmentationLoss(3, "ce"), labels, logits) == pytest.approx(expected, rel=1e-5)


def test_losses_average_per_image_then_over_the_batch():
    # Image 0 has one valid pixel, image 1 has two: the batch loss is the mean of the two per-image means,
    # not the mean over the three pixels.
    labels = np.array([[[[0], [IGNORE]]], [[[0], [1]]]])
    logits = np.array([[[[1.0, 0.0], [5.0, -5.0]]], [[[0.0, 0.0], [0.0, 2.0]]]], np.float32)
    a, b1, b2 = _ce([1, 0], 0), _ce([0, 0], 0), _ce([0, 2], 1)
    loss = SegmentationLoss(2, "ce")
    np.testing.assert_allclose(_per_image(loss, labels, logits), [a, (b1 + b2) / 2], rtol=1e-5)
    assert _value(loss, labels, logits) == pytest.approx((a + (b1 + b2) / 2) / 2, rel=1e-5)
    assert _value(loss, labels, logits) != pytest.approx((a + b1 + b2) / 3, rel=1e-3)


@pytest.mark.parametrize("kind", LOSSES)
def test_ignored_pixels_with_garbage_logits_change_nothing(kind):
    # Same two valid pixels, once alone (1x1x2) and once next to two ignored pixels with wild logits (1x2x2).
    alone_labels = np.array([[[[0], [1]]]])
    alone_logits = np.array([[[[1.5, -0.5], [0.3, 0.2]]]], np.float32)
    labels = np.array([[[[0], [1]], [[IGNORE], [IGNORE]]]])
    logits = np.array([[[[1.5, -0.5], [0.3, 0.2]], [[-60.0, 80.0], [45.0, -33.0]]]], np.float32)
    loss = SegmentationLoss(2, kind)
    alone = _value(loss, alone_labels, alone_logits)
    assert alone > 0.02  # focal is the smallest (~0.026)
    assert _value(loss, labels, logits) == pytest.approx(alone, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("kind", LOSSES)
def test_ignored_pixels_get_no_gradient(kind):
    labels = np.array([[[[0], [1]], [[IGNORE], [1]]]])
    logits = tf.Variable(LOGITS)
    with tf.GradientTape() as tape:
        value = SegmentationLoss(2, kind, ohem_fraction=1.0)(labels, logits)  # ohem: every pixel kept
    grad = tape.gradient(value, logits).numpy()
    np.testing.assert_array_equal(grad[0, 1, 0], [0.0, 0.0])
    assert np.abs(grad[0, 0]).sum() > 0


def test_custom_ignore_index_is_honoured_and_255_is_then_an_ordinary_label():
    labels = np.array([[[[0], [1]], [[9], [9]]]])
    garbage = np.array([[[[1.5, -0.5], [0.3, 0.2]], [[-60.0, 80.0], [45.0, -33.0]]]], np.float32)
    expected = (_ce([1.5, -0.5], 0) + _ce([0.3, 0.2], 1)) / 2
    assert _value(SegmentationLoss(2, "ce", ignore_index=9), labels, garbage) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kind", ["ce", "dice", "ce+dice", "focal", "lovasz", "ce+lovasz"])
def test_perfect_prediction_is_near_zero_and_a_wrong_one_is_larger(kind):
    loss = SegmentationLoss(2, kind)
    right = _value(loss, LABELS, _confident(LABELS[..., 0], 2))
    wrong = _value(loss, LABELS, _confident(1 - LABELS[..., 0], 2))
    unsure = _value(loss, LABELS, np.zeros((1, 2, 2, 2), np.float32))
    assert right == pytest.approx(0.0, abs=1e-6)
    assert right < unsure < wrong
    if kind in ("dice", "ce+dice"):
        assert _value(SegmentationLoss(2, "dice"), LABELS, _confident(1 - LABELS[..., 0], 2)) == pytest.approx(
            1.0, abs=1e-6
        )


def test_dice_equals_hand_computed_soft_dice_averaged_over_classes():
    # 1x1x2, two classes: pixel 0 is class 0 with softmax p = [p, 1 - p], pixel 1 is class 1 with [q, 1 - q].
    labels = np.array([[[[0], [1]]]])
    logits = np.array([[[[1.0, 0.0], [0.0, 2.0]]]], np.float32)
    p = 1 / (1 + math.exp(-1))
    q = 1 / (1 + math.exp(2))
    eps = keras.config.epsilon()
    dice0 = 1 - 2 * p / (1 + (p + q) + eps)
    dice1 = 1 - 2 * (1 - q) / (1 + (2 - p - q) + eps)
    assert _value(SegmentationLoss(2, "dice"), labels, logits) == pytest.approx((dice0 + dice1) / 2, rel=1e-5)
    assert _value(SegmentationLoss(2, "ce+dice"), labels, logits) == pytest.approx(
        (dice0 + dice1) / 2 + (_ce([1, 0], 0) + _ce([0, 2], 1)) / 2, rel=1e-5
    )


def test_focal_equals_alpha_quarter_gamma_two_and_is_below_ce():
    loss = SegmentationLoss(2, "focal")
    ce = SegmentationLoss(2, "ce")
    # Per pixel: 0.25 * (1 - p)^2 * -log(p), p = softmax probability of the true class.
    probs = _softmax(LOGITS.astype(np.float64))
    p = np.take_along_axis(probs, LABELS, axis=-1)[..., 0]
    expected = np.mean(0.25 * (1 - p) ** 2 * -np.log(p))
    assert _value(loss, LABELS, LOGITS) == pytest.approx(expected, rel=1e-5)
    # A confident correct pixel (p = 0.9): focal is (1 - 0.9)^2 / 4 = 1/400 of ce.
    one = np.array([[[[0]]]])
    logit = np.array([[[[math.log(9.0), 0.0]]]], np.float32)
    assert _value(ce, one, logit) == pytest.approx(-math.log(0.9), rel=1e-5)
    assert _value(loss, one, logit) == pytest.approx(-math.log(0.9) / 400, rel=1e-4)
    # Wrong pixels still cost more than right ones.
    assert _value(loss, LABELS, _confident(1 - LABELS[..., 0], 2, margin=3.0)) > _value(loss, LABELS, LOGITS)


@pytest.mark.parametrize("kind", ["ce", "focal", "dice", "ce+dice", "lovasz", "ce+lovasz"])
def test_an_image_with_every_pixel_ignored_gives_a_finite_constant(kind):
    # The pixel count is clamped to 1, so ce/focal give 0; no class is present, so Dice averages over none
    # and gives 0 too (not NaN, not Keras' 1 - 0 / eps). No gradient either way.
    labels = np.full((1, 2, 2, 1), IGNORE)
    logits = tf.Variable(np.random.default_rng(0).normal(0, 30, (1, 2, 2, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        value = SegmentationLoss(3, kind)(labels, logits)
    assert math.isfinite(float(value))
    assert float(value) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_array_equal(tape.gradient(value, logits).numpy(), 0.0)


def test_dice_perfect_prediction_is_near_zero_when_a_class_is_absent():
    # Three classes, the image only holds classes 0 and 1: the absent class adds nothing (Keras' dice alone
    # gives it 1, a floor of 1/3 here).
    assert _value(SegmentationLoss(3, "dice"), LABELS, _confident(LABELS[..., 0], 3)) == pytest.approx(0.0, abs=1e-6)
    # ... and a wrong prediction of the absent class is paid for through the present classes' Dice.
    wrong = _confident(np.full_like(LABELS[..., 0], 2), 3)
    assert _value(SegmentationLoss(3, "dice"), LABELS, wrong) > 0.9


# ---------------------------------------------------------------- metrics


def test_iou_report_from_a_hand_written_confusion_matrix():
    # rows: truth, columns: prediction; class 2 never appears.
    cm = [[3, 1, 0], [2, 4, 0], [0, 0, 0]]
    report = iou_report(cm, ["bg", "car", "sky"])
    # IoU = tp / (row + column - tp): bg 3 / (4 + 5 - 3) = 1/2, car 4 / (6 + 5 - 4) = 4/7, sky absent -> None.
    assert report["per_class_iou"] == {"bg": pytest.approx(0.5), "car": pytest.approx(4 / 7), "sky": None}
    assert report["mean_iou"] == pytest.approx((0.5 + 4 / 7) / 2)
    assert report["pixel_accuracy"] == pytest.approx(7 / 10)
    assert report["pixels"] == 10


def test_iou_report_counts_a_class_only_predicted_as_zero_iou():
    cm = [[2, 1], [0, 0]]  # class 1 is never true but predicted once: IoU 0 / 1 = 0, and it counts in the mean.
    report = iou_report(cm, ["a", "b"])
    assert report["per_class_iou"] == {"a": pytest.approx(2 / 3), "b": 0.0}
    assert report["mean_iou"] == pytest.approx(1 / 3)
    assert report["pixel_accuracy"] == pytest.approx(2 / 3)


def test_iou_report_of_an_empty_matrix_is_zero_not_nan():
    report = iou_report(np.zeros((2, 2)), ["a", "b"])
    assert report == {
        "mean_iou": 0.0,
        "per_class_iou": {"a": None, "b": None},
        "pixel_accuracy": 0.0,
        "pixels": 0,
        "per_class_precision": {"a": None, "b": None},
        "per_class_recall": {"a": None, "b": None},
        "confusion_matrix": [[0, 0], [0, 0]],
    }


def test_segmentation_metrics_skip_ignored_pixels_and_agree_with_iou_report():
    # 1x2x3, three classes, logits argmax -> prediction; the ignored pixel is predicted wrong on purpose.
    labels = np.array([[[[0], [0], [1]], [[1], [IGNORE], [0]]]])
    predicted = np.array([[[0, 1, 1], [1, 2, 0]]])
    logits = _confident(predicted, 3, margin=2.0)
    mean_iou, accuracy = segmentation_metrics(3)
    assert (mean_iou.name, accuracy.name) == ("mean_iou", "pixel_accuracy")
    assert isinstance(accuracy, PixelAccuracy)
    for metric in (mean_iou, accuracy):
        metric.update_state(labels, logits)
    # Valid pixels: truth 0 -> 0, 0 -> 1, 1 -> 1, 1 -> 1, 0 -> 0; confusion [[2, 1, 0], [0, 2, 0], [0, 0, 0]].
    cm = keras.ops.convert_to_numpy(mean_iou.total_cm)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 0], [0, 0, 0]])
    # IoU: class 0 2 / 3, class 1 2 / 3, class 2 absent (left out of the mean).
    assert float(mean_iou.result()) == pytest.approx(2 / 3, rel=1e-6)
    assert float(accuracy.result()) == pytest.approx(4 / 5, rel=1e-6)
    report = iou_report(cm, ["a", "b", "c"])
    assert report["mean_iou"] == pytest.approx(float(mean_iou.result()), rel=1e-6)
    assert report["pixel_accuracy"] == pytest.approx(float(accuracy.result()), rel=1e-6)


def test_pixel_accuracy_with_nothing_seen_is_zero():
    metric = PixelAccuracy(2)
    metric.update_state(np.full((1, 1, 2, 1), IGNORE), np.zeros((1, 1, 2, 2), np.float32))
    assert float(metric.result()) == 0.0


# ---------------------------------------------------------------- HeatmapLoss


def _heatmaps():
    # B = 2, 2x2 heatmaps, K = 2 keypoints ([B, H, W, K]).
    true = np.zeros((2, 2, 2, 2), np.float32)
    true[0, 0, 0, 0] = 1.0
    true[0, 1, 1, 1] = 1.0
    true[1, 0, 1, 0] = 1.0
    pred = true.copy()
    pred[0, 0, 0, 0] = 0.0  # keypoint 0 of image 0: one pixel off by 1 -> 0.5 * 1/4 = 0.125
    pred[1, :, :, 0] += 0.5  # keypoint 0 of image 1: all four off by 0.5 -> 0.5 * 0.25 = 0.125
    pred[1, :, :, 1] = 9.0  # keypoint 1 of image 1 is invisible; its prediction is garbage: 0.5 * 81 = 40.5
    return true, pred


def test_heatmap_loss_is_half_the_pixel_mean_per_keypoint():
    true, pred = _heatmaps()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(HeatmapLoss().call(true, pred)), [[0.125, 0.0], [0.125, 40.5]], rtol=1e-6
    )
    assert _value(HeatmapLoss(), true, pred) == pytest.approx((0.125 + 0.125 + 40.5) / 4, rel=1e-6)


def test_heatmap_loss_sample_weight_leaves_out_an_invisible_keypoint():
    true, pred = _heatmaps()
    weight = np.array([[1.0, 1.0], [1.0, 0.0]], np.float32)
    # The invisible keypoint's 40.5 is dropped; the mean stays over all B x K = 4 entries.
    assert _value(HeatmapLoss(), true, pred, sample_weight=weight) == pytest.approx(0.25 / 4, rel=1e-6)
    assert _value(HeatmapLoss(), true, true, sample_weight=weight) == 0.0


def test_lovasz_of_hard_predictions_is_one_minus_the_iou_over_the_classes_present():
    """The Lovasz extension equals the IoU loss where the prediction is a set: confident logits give
    1 - IoU per class, averaged over the classes in each image's labels (ignored pixels left out)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, 6, 6, 1))
    labels[0, 0, :3] = IGNORE
    labels[1][labels[1] == 2] = 1  # the second image holds no class 2: it must not count there
    pred = rng.integers(0, 3, (2, 6, 6))
    expected = []
    for b in range(2):
        lab, valid = labels[b, ..., 0], labels[b, ..., 0] != IGNORE
        losses = [
            1 - ((lab == c) & (pred[b] == c) & valid).sum() / (((lab == c) | (pred[b] == c)) & valid).sum()
            for c in range(3)
            if ((lab == c) & valid).any()
        ]
        expected.append(np.mean(losses))
    got = _per_image(SegmentationLoss(3, "lovasz"), labels, _confident(pred, 3, margin=60.0))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert (
        _value(
            SegmentationLoss(3, "lovasz"), labels, _confident(np.where(labels[..., 0] == IGNORE, 0, labels[..., 0]), 3)
        )
        < 1e-6
    )


def test_lovasz_gradient_lowers_the_loss_and_weights_favour_their_class():
    labels = np.array([[[[0], [1]], [[1], [0]]]])
    logits = tf.Variable(np.zeros((1, 2, 2, 2), np.float32))
    loss = SegmentationLoss(2, "ce+lovasz")
    with tf.GradientTape() as tape:
        before = loss(labels, logits)
    logits.assign_sub(0.5 * tape.gradient(before, logits))
    assert float(loss(labels, logits)) < float(before)
    weighted = SegmentationLoss(2, "lovasz", class_weights=[1.0, 3.0])
    # Class 1 wrong, class 0 right: the heavier class-1 weight makes the loss larger than unweighted.
    wrong_one = _confident(np.array([[[0, 0], [0, 0]]]), 2, margin=60.0)
    assert _value(weighted, labels, wrong_one) > _value(SegmentationLoss(2, "lovasz"), labels, wrong_one)


def _reference_lovasz_softmax(probs, labels, ignore=IGNORE, weights=None):
    """Berman et al.'s published Lovasz-softmax (``lovasz_softmax(..., classes="present", per_image=True,
    ignore=...)`` of their ``lovasz_losses.py``), written out in NumPy: per image, ignored pixels dropped; per
    class present in the labels, the errors ``|fg - p|`` sorted in decreasing order dotted with the steps of the
    Jaccard loss along that order (``lovasz_grad``); the mean over those classes (with ``weights``: zoo's
    weighted mean, sum(w l) / sum(w) over the classes present), then over the images."""
    per_image = []
    for p, lab in zip(probs, labels[..., 0]):
        keep = lab.reshape(-1) != ignore
        p, lab = p.reshape(-1, p.shape[-1])[keep], lab.reshape(-1)[keep]
        losses, used = [], []
        for c in range(p.shape[-1]):
            fg = (lab == c).astype(np.float64)
            if fg.sum() == 0:
                continue
            errors = np.abs(fg - p[:, c])
            order = np.argsort(-errors, kind="stable")
            fg_sorted = fg[order]
            intersection = fg_sorted.sum() - np.cumsum(fg_sorted)
            union = fg_sorted.sum() + np.cumsum(1.0 - fg_sorted)
            jaccard = 1.0 - intersection / union
            grad = np.concatenate([jaccard[:1], np.diff(jaccard)])
            losses.append(errors[order] @ grad)
            used.append(1.0 if weights is None else weights[c])
        per_image.append(np.dot(losses, used) / np.sum(used))
    return np.mean(per_image)


@pytest.mark.parametrize("weights", [None, [0.5, 2.0, 1.0]])
def test_lovasz_equals_the_published_formula_on_soft_predictions_with_ignored_pixels(weights):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, (3, 5, 4, 1))
    labels[0, 1:3, 1:3] = IGNORE
    labels[2][labels[2] == 1] = 0  # class 1 absent from the third picture: left out there
    logits = rng.normal(0.0, 2.0, (3, 5, 4, 3)).astype(np.float32)
    probs = _softmax(logits.astype(np.float64))
    want = _reference_lovasz_softmax(probs, labels, weights=weights)
    assert _value(SegmentationLoss(3, "lovasz", class_weights=weights), labels, logits) == pytest.approx(want, rel=1e-5)
    ce = SegmentationLoss(3, "ce", class_weights=weights)
    both = SegmentationLoss(3, "ce+lovasz", class_weights=weights)
    assert _value(both, labels, logits) == pytest.approx(_value(ce, labels, logits) + want, rel=1e-5)

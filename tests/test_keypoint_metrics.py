"""Unit tests for zoo.tasks.keypoints.metrics on 2 examples x 3 keypoints with hand-computed numbers."""

import numpy as np
import pytest

from zoo.tasks.keypoints.metrics import NORMALIZERS, keypoint_report, normalisers

NAMES = ["left_eye", "right_eye", "mouth"]

# Truth [N=2, K=3, 2] as (x, y); eyes are keypoints 0 and 1, 20 px apart in both examples.
TRUE = np.array([[[10.0, 10.0], [30.0, 10.0], [20.0, 30.0]], [[0.0, 0.0], [20.0, 0.0], [10.0, 10.0]]])
# Errors: example 0 -> 5 (3-4-5), 0, 6; example 1 -> 3, 8, and 100 on the invisible mouth.
PRED = TRUE + np.array([[[3.0, 4.0], [0.0, 0.0], [0.0, 6.0]], [[3.0, 0.0], [0.0, -8.0], [60.0, 80.0]]])
VISIBLE = np.array([[1, 1, 1], [1, 1, 0]])
SIZES = np.array([50.0, 40.0])


def test_normalisers_of_each_kind():
    np.testing.assert_array_equal(normalisers("size", SIZES, TRUE), [50.0, 40.0])
    np.testing.assert_array_equal(normalisers("pixels", SIZES, TRUE), [1.0, 1.0])
    np.testing.assert_allclose(normalisers("interocular", SIZES, TRUE, eye_indices=(0, 1)), [20.0, 20.0])
    # Eyes 0 and 2 of example 0: |(10, 10) - (20, 30)| = sqrt(500).
    assert normalisers("interocular", SIZES, TRUE, eye_indices=(0, 2))[0] == pytest.approx(500**0.5)
    assert NORMALIZERS == ("size", "interocular", "pixels")


def test_interocular_without_eye_indices_says_what_to_use():
    with pytest.raises(ValueError, match="needs the dataset's two eye keypoints.*--pck-normalizer size or pixels"):
        normalisers("interocular", SIZES, TRUE)


def test_unknown_normaliser_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown normaliser 'box'.*'size', 'interocular', 'pixels'"):
        normalisers("box", SIZES, TRUE)


def test_report_with_size_normaliser_leaves_out_the_invisible_keypoint():
    report = keypoint_report(PRED, TRUE, VISIBLE, normalisers("size", SIZES, TRUE), 0.11, NAMES)
    # Relative errors of the 5 visible keypoints: 5/50, 0, 6/50 | 3/40, 8/40 = 0.1, 0, 0.12 | 0.075, 0.2.
    assert report["keypoints_evaluated"] == 5
    assert report["pck"] == pytest.approx(3 / 5)
    assert report["pck_threshold"] == 0.11
    assert report["nme"] == pytest.approx((0.1 + 0.0 + 0.12 + 0.075 + 0.2) / 5)
    assert report["mean_pixel_error"] == pytest.approx((5 + 0 + 6 + 3 + 8) / 5)  # 4.4, not 122 / 6
    assert report["median_pixel_error"] == pytest.approx(5.0)
    per = report["per_keypoint"]
    assert per["left_eye"] == {"pck": 1.0, "mean_pixel_error": pytest.approx(4.0)}
    assert per["right_eye"] == {"pck": 0.5, "mean_pixel_error": pytest.approx(4.0)}
    assert per["mouth"] == {"pck": 0.0, "mean_pixel_error": pytest.approx(6.0)}  # only example 0's mouth


def test_report_with_interocular_normaliser():
    norm = normalisers("interocular", SIZES, TRUE, eye_indices=(0, 1))
    report = keypoint_report(PRED, TRUE, VISIBLE, norm, 0.2, NAMES)
    # Relative errors over 20 px: 0.25, 0, 0.3 | 0.15, 0.4 -> within 0.2: two of five.
    assert report["pck"] == pytest.approx(2 / 5)
    assert report["nme"] == pytest.approx((0.25 + 0.0 + 0.3 + 0.15 + 0.4) / 5)
    assert report["mean_pixel_error"] == pytest.approx(4.4)
    assert report["keypoints_evaluated"] == 5


def test_report_with_pixel_threshold():
    report = keypoint_report(PRED, TRUE, VISIBLE, normalisers("pixels", SIZES, TRUE), 5.0, NAMES)
    # Errors 5, 0, 6, 3, 8 px: within 5 px (inclusive): 5, 0, 3.
    assert report["pck"] == pytest.approx(3 / 5)
    assert report["nme"] == pytest.approx(4.4)
    assert report["nme"] == pytest.approx(report["mean_pixel_error"])


def test_pck_threshold_is_inclusive_and_strict_just_below():
    norm = normalisers("pixels", SIZES, TRUE)
    assert keypoint_report(PRED, TRUE, VISIBLE, norm, 6.0, NAMES)["pck"] == pytest.approx(4 / 5)
    assert keypoint_report(PRED, TRUE, VISIBLE, norm, 5.999, NAMES)["pck"] == pytest.approx(3 / 5)


def test_no_visible_keypoint_gives_none_and_zero_count():
    report = keypoint_report(PRED, TRUE, np.zeros((2, 3)), normalisers("size", SIZES, TRUE), 0.1, NAMES)
    assert report == {"pck": None, "nme": None, "mean_pixel_error": None, "keypoints_evaluated": 0}


def test_a_keypoint_never_visible_gets_none_in_per_keypoint():
    visible = VISIBLE.copy()
    visible[:, 2] = 0
    report = keypoint_report(PRED, TRUE, visible, normalisers("size", SIZES, TRUE), 0.11, NAMES)
    assert report["per_keypoint"]["mouth"] == {"pck": None, "mean_pixel_error": None}
    assert report["keypoints_evaluated"] == 4
    assert report["mean_pixel_error"] == pytest.approx((5 + 0 + 3 + 8) / 4)


def test_an_example_with_zero_normaliser_is_left_out_entirely():
    # Current behaviour: a zero normaliser (e.g. both eyes at the same point) drops the whole example,
    # its pixel errors included.
    true = TRUE.copy()
    true[1, 1] = true[1, 0]
    norm = normalisers("interocular", SIZES, true, eye_indices=(0, 1))
    np.testing.assert_allclose(norm, [20.0, 0.0])
    report = keypoint_report(PRED, true, VISIBLE, norm, 0.2, NAMES)
    assert report["keypoints_evaluated"] == 3
    assert report["mean_pixel_error"] == pytest.approx((5 + 0 + 6) / 3)
    assert report["nme"] == pytest.approx((0.25 + 0.0 + 0.3) / 3)

"""Test set-up: quiet TensorFlow, an isolated weights store and Keras cache, one model at a time."""

import gc
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Never touch the user's real store or cache, and never download in tests.
_ISOLATED = tempfile.mkdtemp(prefix="zoo-tests-")
os.environ["ZOO_WEIGHTS_DIR"] = os.path.join(_ISOLATED, "store")
os.environ["KERAS_HOME"] = os.path.join(_ISOLATED, "keras")
os.environ["ZOO_OFFLINE"] = "1"

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    from zoo.utils.keras_internals import keras_state_in_use

    if keras_state_in_use():  # the test made Keras objects: start the next one afresh
        keras.backend.clear_session()
        gc.collect()


@pytest.fixture(scope="session")
def vgg16_notop(tmp_path_factory):
    """A VGG16 no-top weights file in the official layout, random weights; (path, layer -> arrays)."""
    from helpers import randomised_backbone, write_legacy_h5

    path = tmp_path_factory.mktemp("weights") / "vgg16_notop.h5"
    saved = write_legacy_h5(randomised_backbone(keras.applications.VGG16, False, seed=1), path)
    keras.backend.clear_session()
    return path, saved


@pytest.fixture(scope="session")
def gray_run(tmp_path_factory):
    """A finished segmentation run: a 1-channel U-Net/VGG16 at 64x32 on a folder of gray PNGs."""
    from helpers import write_gray_folder

    from recipes import segment

    root = tmp_path_factory.mktemp("gray")
    write_gray_folder(root / "data")
    run = root / "run"
    code = segment.main(
        [
            "--dataset",
            f"folder:{root / 'data'}",
            "--binary-masks",
            "--encoder-weights",
            "none",
            "--input-size",
            "64x32",
            "--schedule",
            "all:2@1e-4",
            "--out",
            str(run),
            "--batch-size",
            "4",
            "--steps-per-epoch",
            "2",
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    return run


@pytest.fixture(scope="session")
def faces_run(tmp_path_factory):
    """A finished keypoint run: Simple Baselines/VGG16 at 64 px on synthetic faces, flip test on, UDP grid
    (the default MSRA grid is the keypoint folder walk's, tests/test_pose_recipe.py)."""
    from recipes import pose

    run = tmp_path_factory.mktemp("faces") / "run"
    code = pose.main(
        [
            "--dataset",
            "synthetic:faces",
            "--model",
            "simple_baseline",
            "--backbone",
            "vgg16",
            "--encoder-weights",
            "none",
            "--input-size",
            "64",
            "--synthetic-count",
            "24",
            "--batch-size",
            "4",
            "--steps-per-epoch",
            "2",
            "--schedule",
            "all:2@1e-3",
            "--out",
            str(run),
            "--verbose",
            "0",
            "--flip-test",
            "--eval-tta",
            "flip",
            "--codec",
            "udp",
        ]
    )
    assert code == 0
    return run

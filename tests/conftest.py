"""Test set-up: quiet TensorFlow, an isolated weights store and Keras cache, one model at a time."""

import fcntl
import gc
import os
import tempfile
from pathlib import Path

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


def _built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` run once for the whole test session: under pytest-xdist the workers share the
    folder, the first builds it under a file lock and the others wait for it, as xdist's docs advise
    (the runs below take 20-25 s each; readers only read them)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    with open(f"{folder}.lock", "w") as lock:  # closing the file releases the lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            folder.mkdir(exist_ok=True)
            build(folder)
            (folder / ".built").touch()
    return folder


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

    def build(root):
        write_gray_folder(root / "data")
        assert segment.main(_gray_flags(root)) == 0

    return _built_once(tmp_path_factory, "gray", build) / "run"


def _gray_flags(root):
    return [
        "--dataset",
        f"folder:{root / 'data'}",
        "--binary-masks",
        "--encoder-weights",
        "none",
        "--input-size",
        "64x32",
        "--schedule",
        "all:2@1e-4",
        "--loss",
        "ce+lovasz",
        "--repeat-rare",
        "0.5",
        "--out",
        str(root / "run"),
        "--batch-size",
        "4",
        "--steps-per-epoch",
        "2",
        "--verbose",
        "0",
    ]


@pytest.fixture(scope="session")
def faces_run(tmp_path_factory):
    """A finished keypoint run: Simple Baselines/VGG16 at 64 px on synthetic faces, flip test on, UDP grid
    (the default MSRA grid is the keypoint folder walk's, tests/test_pose_recipe.py)."""
    from recipes import pose

    def build(root):
        assert pose.main(_faces_flags(root)) == 0

    return _built_once(tmp_path_factory, "faces", build) / "run"


def _faces_flags(root):
    return [
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
        str(root / "run"),
        "--verbose",
        "0",
        "--flip-test",
        "--eval-tta",
        "flip",
        "--codec",
        "udp",
    ]

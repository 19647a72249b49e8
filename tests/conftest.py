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

"""zoo.class_maps: the ImageNet classifier as a fully convolutional network, equal to the classifier."""

import keras
import numpy as np
import pytest
from helpers import randomised_backbone, write_legacy_h5

import zoo


def _classifier_file(constructor, path, seed):
    """A with-top weights file in the official layout, and the same classifier giving logits."""
    model = randomised_backbone(constructor, include_top=True, seed=seed)
    write_legacy_h5(model, path)
    logits = constructor(include_top=True, weights=None, classifier_activation=None)
    logits.set_weights(model.get_weights())
    return logits


@pytest.mark.slow
def test_vgg16_class_maps_equal_the_classifier_at_224_and_slide_over_larger_images(tmp_path):
    classifier = _classifier_file(keras.applications.VGG16, tmp_path / "vgg16_top.h5", seed=3)
    maps = zoo.class_maps("vgg16", encoder_weights=tmp_path / "vgg16_top.h5", activation=None)
    rng = np.random.default_rng(0)
    image = zoo.preprocess_input(rng.uniform(0, 255, (1, 448, 448, 3)).astype("float32"), "vgg16")
    expected = np.asarray(classifier(image[:, :224, :224], training=False))
    got = np.asarray(maps(image[:, :224, :224], training=False))
    assert got.shape == (1, 1, 1, 1000)
    np.testing.assert_allclose(got[:, 0, 0], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    large = np.asarray(maps(image, training=False))
    assert large.shape == (1, 8, 8, 1000)  # one 224 px window every 32 px: (448 - 224) / 32 + 1
    # not the classifier on a 224 px crop: the padded convolutions see past a window's edges
    corner = np.asarray(classifier(image[:, 224:, 224:], training=False))
    assert not np.allclose(large[:, 7, 7], corner, rtol=1e-3)
    probabilities = zoo.class_maps("vgg16", encoder_weights=tmp_path / "vgg16_top.h5")(image, training=False)
    np.testing.assert_allclose(np.asarray(probabilities).sum(-1), 1.0, atol=1e-5)


def test_resnet50_class_maps_average_to_the_classifiers_logits(tmp_path):
    classifier = _classifier_file(keras.applications.ResNet50, tmp_path / "resnet50_top.h5", seed=4)
    maps = zoo.class_maps("resnet50", encoder_weights=tmp_path / "resnet50_top.h5", activation=None)
    image = zoo.preprocess_input(
        np.random.default_rng(1).uniform(0, 255, (2, 224, 224, 3)).astype("float32"), "resnet50"
    )
    got = np.asarray(maps(image, training=False))
    assert got.shape == (2, 7, 7, 1000)
    expected = np.asarray(classifier(image, training=False))
    np.testing.assert_allclose(got.mean(axis=(1, 2)), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert maps(np.zeros((1, 96, 160, 3), "float32")).shape == (1, 3, 5, 1000)  # any multiple of 32


def test_class_maps_refuse_what_cannot_work(tmp_path):
    notop = tmp_path / "resnet50_notop.h5"
    write_legacy_h5(randomised_backbone(keras.applications.ResNet50, include_top=False, seed=5), notop)
    with pytest.raises(ValueError, match=r"no ImageNet classifier.*with-top file resnet50_weights_tf_dim_ordering"):
        zoo.class_maps("resnet50", encoder_weights=notop)
    with pytest.raises(ValueError, match=r"smaller than the classifier's 224x224 window"):
        zoo.class_maps("vgg16", encoder_weights=None, input_shape=(192, 256, 3))
    with pytest.raises(ValueError, match="activation must be one of"):
        zoo.class_maps("vgg16", encoder_weights=None, activation="sigmoid")


def test_class_maps_take_gray_input_and_random_weights():
    maps = zoo.class_maps("vgg16", encoder_weights=None, input_shape=(None, None, 1))
    out = maps(np.zeros((1, 256, 288, 1), "float32"))
    assert out.shape == (1, 2, 3, 1000) and out.dtype == "float32"

"""FPN, LinkNet, PSPNet and DeepLabV3+ on backbones of several families, at any size, exported."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.layers import AdaptiveAveragePool

DECODERS = ["fpn", "linknet", "pspnet", "deeplabv3plus"]


# each decoder on one backbone in the fast suite, on the others with `make test-slow`
PAIRS = [pytest.param(b, n, marks=() if (b, n) in {("fpn", "resnet50"), ("linknet", "vgg16"), ("pspnet", "vgg16"),
                                                    ("deeplabv3plus", "mobilenetv2")} else pytest.mark.slow)
         for b in DECODERS for n in ("vgg16", "resnet50", "mobilenetv2")]


@pytest.mark.parametrize("builder, backbone", PAIRS)
def test_each_decoder_gives_full_resolution_scores_on_gray_input(builder, backbone):
    model = zoo.build(builder, backbone=backbone, num_classes=3, input_shape=(64, 96, 1), encoder_weights=None,
                      activation="softmax")
    out = np.asarray(model(np.random.default_rng(0).normal(size=(1, 64, 96, 1)).astype("float32")))
    assert out.shape == (1, 64, 96, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    zoo.freeze_encoder(model)
    assert not zoo.trainable_parts(model)["stage1"] and zoo.trainable_parts(model)["decoder"]


@pytest.mark.parametrize("builder", DECODERS)
def test_each_decoder_runs_at_sizes_unknown_until_called(builder):
    model = zoo.build(builder, backbone="mobilenetv2", num_classes=2, input_shape=(None, None, 3),
                      encoder_weights=None)
    serve = tf.function(lambda x: model(x, training=False),
                        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    for shape in ((1, 64, 64, 3), (2, 96, 160, 3)):
        got = serve(tf.zeros(shape))
        assert tuple(got.shape) == shape[:3] + (2,)
        np.testing.assert_allclose(got.numpy(), model(np.zeros(shape, "float32")).numpy(), atol=1e-5)


@pytest.mark.parametrize("height, width", [(7, 9), (12, 12), (2, 5)])
def test_adaptive_pooling_equals_keras_bins_and_works_without_known_sizes(height, width):
    x = np.random.default_rng(1).normal(size=(2, height, width, 3)).astype("float32")
    for bins in (1, 2, 3, 6):
        if bins > min(height, width):
            continue
        expected = keras.layers.AdaptiveAveragePooling2D((bins, bins))(x)
        np.testing.assert_allclose(AdaptiveAveragePool(bins)(x), expected, atol=1e-5)
        dynamic = tf.function(AdaptiveAveragePool(bins), input_signature=[tf.TensorSpec([None, None, None, 3])])
        np.testing.assert_allclose(dynamic(x), expected, atol=1e-5)


def test_pspnet_and_deeplab_export_to_onnx_with_the_keras_models_mask(tmp_path):
    from zoo.export import export_model, load, serving_fn

    images = np.random.default_rng(2).integers(0, 256, (2, 45, 70, 3), dtype=np.uint8)
    for builder in ("pspnet", "deeplabv3plus"):
        keras.utils.set_random_seed(4)
        model = zoo.build(builder, backbone="mobilenetv2", num_classes=3, input_shape=(64, 64, 3),
                          encoder_weights=None)
        info = {"model": builder, "backbone": "mobilenetv2", "input_size": [64, 64], "channels": 3,
                "task": "segmentation", "classes": ["a", "b", "c"]}
        expected = {k: v.numpy() for k, v in serving_fn(model, info)(tf.constant(images)).items()}
        got = load(export_model(model, info, "onnx", tmp_path / builder))(images)
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
        assert (got["mask"] == expected["mask"]).mean() >= 0.999


def test_a_pspnet_round_trips_through_a_keras_file(tmp_path):
    model = zoo.pspnet("vgg16", num_classes=2, input_shape=(None, None, 3), encoder_weights=None)
    model.save(tmp_path / "psp.keras")
    loaded = keras.models.load_model(tmp_path / "psp.keras")
    x = np.random.default_rng(3).normal(size=(1, 64, 96, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))

"""Builders: output shapes for every model, backbone and channel count; sizes and errors."""

import numpy as np
import pytest

import zoo
from zoo.models.layers import bilinear_kernel

SEGMENTERS = ["fcn32s", "fcn16s", "fcn8s", "unet"]


# Every builder x backbone with 3 channels; the channel count is handled by the encoder, which all builders
# share, so 1 and 4 channels are checked on one case per output kind in the fast tier (the rest: slow).
FAST_CHANNEL_CASES = {
    ("unet", "vgg16", 1),
    ("unet", "vgg16", 4),
    ("simple_baseline", "resnet50", 1),
    ("fcn8s", "resnet50", 4),
}
SHAPE_CASES = [(b, bb, 3) for b in SEGMENTERS + ["simple_baseline"] for bb in ("vgg16", "resnet50")] + [
    (b, bb, c) if (b, bb, c) in FAST_CHANNEL_CASES else pytest.param(b, bb, c, marks=pytest.mark.slow)
    for b in ("unet", "simple_baseline", "fcn8s")
    for bb in ("vgg16", "resnet50")
    for c in (1, 4)
    if not (b == "fcn8s" and bb == "vgg16")
]


@pytest.mark.parametrize("builder, backbone, channels", SHAPE_CASES)
def test_output_shapes(builder, backbone, channels):
    if builder == "simple_baseline":
        model = zoo.build(
            builder, backbone=backbone, num_keypoints=5, input_shape=(64, 96, channels), encoder_weights=None
        )
        expected = (2, 16, 24, 5)  # stride 4
    else:
        model = zoo.build(
            builder, backbone=backbone, num_classes=3, input_shape=(64, 96, channels), encoder_weights=None
        )
        expected = (2, 64, 96, 3)  # full resolution
    out = model(np.random.rand(2, 64, 96, channels).astype("float32"), training=False)
    assert tuple(out.shape) == expected
    assert out.dtype == "float32"
    assert model.layers[-1].__class__.__name__ in ("Conv2D", "Conv2DTranspose")


def test_dynamic_size_model_accepts_any_multiple_of_32():
    model = zoo.unet("vgg16", num_classes=2, input_shape=(None, None, 1), encoder_weights=None)
    for h, w in [(32, 64), (96, 32)]:
        assert tuple(model(np.zeros((1, h, w, 1), "float32")).shape) == (1, h, w, 2)


def test_activation_softmax_sums_to_one():
    model = zoo.unet("vgg16", num_classes=4, input_shape=(32, 32, 3), encoder_weights=None, activation="softmax")
    probs = np.asarray(model(np.random.rand(1, 32, 32, 3).astype("float32")))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_fcn8s_vgg16_has_the_paper_size():
    model = zoo.fcn8s("vgg16", num_classes=21, input_shape=(None, None, 3), encoder_weights=None)
    # The reference Caffe FCN-8s for PASCAL VOC has about 134.5 million parameters.
    assert abs(model.count_params() - 134.5e6) < 0.1e6
    assert model.get_layer("fc6").kernel.shape == (7, 7, 512, 4096)
    assert model.get_layer("fc7").kernel.shape == (1, 1, 4096, 4096)


def test_fcn_skip_scores_start_at_zero_and_upsampling_is_bilinear():
    model = zoo.fcn8s("resnet50", num_classes=3, input_shape=(64, 64, 3), encoder_weights=None)
    for name in ("score_pool4", "score_pool3"):
        assert not np.any(model.get_layer(name).get_weights()[0])
    np.testing.assert_array_equal(model.get_layer("upscore8").get_weights()[0], bilinear_kernel(16, 3, 3))


def test_bilinear_transposed_convolution_interpolates_a_ramp():
    import keras

    layer = keras.layers.Conv2DTranspose(
        1, 4, strides=2, padding="same", use_bias=False, kernel_initializer=zoo.models.layers.BilinearUpsampling()
    )
    ramp = np.tile(np.arange(8, dtype="float32"), (8, 1))[None, :, :, None]
    out = np.asarray(layer(ramp))[0, 4, :, 0]
    steps = np.diff(out[2:-2])  # away from the zero-padded borders
    np.testing.assert_allclose(steps, 0.5, atol=1e-6)


@pytest.mark.parametrize("builder", ["unet", "fcn8s", "simple_baseline"])
def test_bad_static_size_names_size_divisor_and_neighbours(builder):
    with pytest.raises(ValueError) as err:
        zoo.build(builder, backbone="resnet50", input_shape=(100, 64, 3), encoder_weights=None)
    message = str(err.value)
    assert "height 100" in message and "multiple of 32" in message and "96 or 128" in message


def test_too_small_size_is_refused():
    with pytest.raises(ValueError, match="width 16 .*multiple of 32.*Nearest valid widths: 32"):
        zoo.unet("vgg16", input_shape=(64, 16, 3), encoder_weights=None)


def test_bad_dynamic_size_fails_clearly_at_call_time():
    model = zoo.unet("vgg16", num_classes=2, input_shape=(None, None, 3), encoder_weights=None)
    with pytest.raises(ValueError, match="height 100 .*multiple of 32.*96 or 128"):
        model(np.zeros((1, 100, 64, 3), "float32"))


def test_bad_dynamic_size_fails_clearly_inside_a_graph():
    import tensorflow as tf

    model = zoo.unet("vgg16", num_classes=2, input_shape=(None, None, 3), encoder_weights=None)
    call = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec([None, None, None, 3])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 32 for unet on vgg16"):
        call(tf.zeros((1, 100, 64, 3)))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"backbone": "mobilenet"}, r"unknown backbone 'mobilenet'.*'mobilenetv2'.*'vgg19'"),
        ({"encoder_weights": "/no/such/file.h5"}, r"encoder_weights='/no/such/file.h5'.*existing"),
        ({"encoder_weights": 3}, "encoder_weights must be 'imagenet', None or a path"),
        ({"activation": "relu"}, "activation must be one of"),
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"input_shape": (64, 64)}, r"input_shape must be \(height, width, channels\)"),
        ({"input_shape": (64, 64, 0)}, "channels must be a positive integer"),
        ({"decoder_filters": (64, 32)}, "decoder_filters needs 5"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, pattern):
    args = {"input_shape": (64, 64, 3), "encoder_weights": None, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        zoo.unet(**args)


def test_unknown_builder_name():
    with pytest.raises(ValueError, match=r"unknown model 'segnet'.*'unet'"):
        zoo.build("segnet")


def test_preprocess_is_caffe_for_rgb_and_gray():
    rgb = np.array([[[10.0, 20.0, 30.0]]])
    np.testing.assert_allclose(
        np.asarray(zoo.preprocess_input(rgb, "vgg16")), [[[30 - 103.939, 20 - 116.779, 10 - 123.68]]], rtol=1e-6
    )
    gray = np.full((1, 1, 1), 100.0)
    np.testing.assert_allclose(
        np.asarray(zoo.preprocess_input(gray, "resnet50")), 100 - (103.939 + 116.779 + 123.68) / 3, rtol=1e-6
    )


def test_zoo_dot_a_builders_name_is_that_builder_for_every_entry_of_the_table():
    """One table of builders (zoo/models/registry.py); no module directly under zoo/ takes a builder's name
    (the SimCC codec module once hid the simcc builder)."""
    from pathlib import Path

    from zoo.models.registry import BUILDERS, MODELS, model_choices

    package = Path(zoo.__file__).parent
    for entry in MODELS:
        assert not (package / f"{entry.name}.py").exists() and not (package / entry.name).is_dir(), entry.name
        assert getattr(zoo, entry.name) is entry.builder is BUILDERS[entry.name], entry.name
    assert "simcc" in BUILDERS and "simcc" not in model_choices("keypoints")  # a head: --head simcc
    assert set(model_choices("segmentation")) & set(model_choices("keypoints")) == {"unet"}

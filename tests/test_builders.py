"""Builders: output shapes for every model, backbone and channel count; sizes and errors."""

import numpy as np
import pytest

import zoo
from zoo.models.layers import bilinear_kernel
from zoo.models.registry import MODELS, model_entry

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


def test_dynamic_size_model_takes_multiples_of_32_as_they_are():
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


ODD_BUILDERS = [entry.name for entry in MODELS if not entry.fixed_size]


def _odd_model(builder, input_shape, backbone="mobilenetv2"):
    outputs = model_entry(builder).outputs
    return zoo.build(builder, backbone=backbone, input_shape=input_shape, encoder_weights=None, **{outputs: 3})


def _expected(builder, height, width):
    if model_entry(builder).outputs == "num_keypoints":
        return (1, -(-height // 4), -(-width // 4), 3)  # heatmaps at stride 4 of the picture, rounded up
    return (1, height, width, 3)


@pytest.mark.parametrize("builder", ODD_BUILDERS)
def test_every_builder_takes_an_odd_input_size_fixed_or_unknown(builder):
    """Any input size (docs/builders.md): padded to the stride inside, the output cropped back to the picture."""
    x = np.random.default_rng(0).random((1, 75, 50, 3)).astype("float32")
    fixed = _odd_model(builder, (75, 50, 3))
    assert fixed.get_layer("pad_to_stride") is not None and fixed.layers[-1].name == "crop_to_input"
    assert tuple(fixed(x, training=False).shape) == _expected(builder, 75, 50)
    unknown = _odd_model(builder, (None, None, 3))
    unknown.set_weights(fixed.get_weights())  # the padding layers hold no weights: the same network
    np.testing.assert_allclose(unknown(x, training=False), fixed(x, training=False), atol=1e-5)


def test_a_500x375_picture_gives_a_500x375_output_and_a_multiple_of_32_is_not_padded():
    picture = np.random.default_rng(1).random((1, 375, 500, 3)).astype("float32")
    padded = zoo.unet("mobilenetv2", num_classes=2, input_shape=(None, None, 3), encoder_weights=None)
    assert tuple(padded(picture, training=False).shape) == (1, 375, 500, 2)
    plain = zoo.unet("mobilenetv2", num_classes=2, input_shape=(64, 96, 3), encoder_weights=None)
    assert "pad_to_stride" not in [layer.name for layer in plain.layers]  # a fixed multiple: as before
    plain.set_weights(padded.get_weights())
    x = picture[:, :64, :96]
    np.testing.assert_array_equal(padded(x, training=False), plain(x, training=False))


def test_output_pixels_line_up_with_input_pixels_of_the_reflected_picture():
    """The padded network's answer is the unpadded network's on the picture reflected at the bottom and right
    (numpy's ``reflect``), cut back to the picture: no pixel shifts."""
    model = zoo.unet("mobilenetv2", num_classes=2, input_shape=(None, None, 3), encoder_weights=None)
    plain = zoo.unet("mobilenetv2", num_classes=2, input_shape=(64, 64, 3), encoder_weights=None)
    plain.set_weights(model.get_weights())
    x = np.random.default_rng(2).random((1, 50, 41, 3)).astype("float32")
    reflected = np.pad(x, ((0, 0), (0, 14), (0, 23), (0, 0)), mode="reflect")
    want = np.asarray(plain(reflected, training=False))[:, :50, :41]
    np.testing.assert_allclose(model(x, training=False), want, atol=1e-5)


def test_padding_reflects_and_repeats_on_pictures_smaller_than_the_padding():
    from zoo.models.layers import PadToMultiple, reflect_indices

    np.testing.assert_array_equal(reflect_indices(4, 8), [0, 1, 2, 3, 2, 1, 0, 1])
    np.testing.assert_array_equal(reflect_indices(1, 4), [0, 0, 0, 0])
    row = np.arange(5, dtype="float32").reshape(1, 1, 5, 1)
    padded = np.asarray(PadToMultiple(8)(np.repeat(row, 3, axis=1)))
    assert padded.shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(padded[0, 0, :, 0], [0, 1, 2, 3, 4, 3, 2, 1])
    np.testing.assert_array_equal(padded[0, :, 0, 0], np.zeros(8))
    model = zoo.unet("vgg16", num_classes=2, input_shape=(None, None, 1), encoder_weights=None)
    assert tuple(model(np.zeros((1, 3, 2, 1), "float32")).shape) == (1, 3, 2, 2)  # 3x2 px reflected to 32x32


def test_unknown_odd_sizes_inside_a_graph_keep_their_size():
    import tensorflow as tf

    model = zoo.simple_baseline("mobilenetv2", num_keypoints=2, input_shape=(None, None, 3), encoder_weights=None)
    call = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec([None, None, None, 3])])
    assert tuple(call(tf.zeros((1, 100, 66, 3))).shape) == (1, 25, 17, 2)


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


def test_zoo_models_builds_the_chosen_networks_at_an_odd_fixed_size_and_refuses_bad_choices(capsys):
    """`python -m zoo models --input-size 75x101 --fixed`: each network built for exactly that size answers at it;
    an unknown builder or a malformed size is one line."""
    from zoo.__main__ import main as zoo_main

    argv = ["models", "--input-size", "75x101", "--fixed", "--models", "unet,simple_baseline", "--backbones", "vgg16"]
    assert zoo_main(argv) == 0
    out = capsys.readouterr().out
    assert "(1, 75, 101, 21)" in out and "(1, 19, 26, 17)" in out and "2 of 2 built" in out
    assert zoo_main(["models", "--models", "nope"]) == 2 and "unknown ['nope']" in capsys.readouterr().err
    assert zoo_main(["models", "--input-size", "75x"]) == 2 and "H or HxW" in capsys.readouterr().err

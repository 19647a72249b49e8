"""FPN, LinkNet, PSPNet, DeepLabV3+ and UNet++ on backbones of several families, at any size, exported."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models.layers import AdaptiveAveragePool

DECODERS = ["fpn", "linknet", "pspnet", "deeplabv3plus", "unetplusplus"]


# each decoder on one backbone in the fast suite, on the others with `make test-slow`
PAIRS = [
    pytest.param(
        b,
        n,
        marks=()
        if (b, n)
        in {
            ("fpn", "resnet50"),
            ("linknet", "vgg16"),
            ("pspnet", "vgg16"),
            ("deeplabv3plus", "mobilenetv2"),
            ("unetplusplus", "resnet50"),
        }
        else pytest.mark.slow,
    )
    for b in DECODERS
    for n in ("vgg16", "resnet50", "mobilenetv2")
]


@pytest.mark.parametrize("builder, backbone", PAIRS)
def test_each_decoder_gives_full_resolution_scores_on_gray_input(builder, backbone):
    model = zoo.build(
        builder, backbone=backbone, num_classes=3, input_shape=(64, 96, 1), encoder_weights=None, activation="softmax"
    )
    out = np.asarray(model(np.random.default_rng(0).normal(size=(1, 64, 96, 1)).astype("float32")))
    assert out.shape == (1, 64, 96, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    zoo.freeze_encoder(model)
    assert not zoo.trainable_parts(model)["stage1"] and zoo.trainable_parts(model)["decoder"]


@pytest.mark.parametrize("builder, backbone", [(b, "mobilenetv2") for b in DECODERS] + [("deeplabv3plus", "vgg16")])
def test_each_decoder_runs_at_sizes_unknown_until_called(builder, backbone):
    model = zoo.build(
        builder, backbone=backbone, num_classes=2, input_shape=(None, None, 3), encoder_weights=None
    )  # DeepLabV3+ on VGG16: dilated, at output stride 16
    serve = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)]
    )
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


@pytest.mark.slow
def test_pspnet_and_deeplab_export_to_onnx_with_the_keras_models_mask(tmp_path):
    from zoo.export import export_model, load, serving_fn

    images = np.random.default_rng(2).integers(0, 256, (2, 45, 70, 3), dtype=np.uint8)
    for builder in ("pspnet", "deeplabv3plus"):
        keras.utils.set_random_seed(4)
        model = zoo.build(builder, backbone="mobilenetv2", num_classes=3, input_shape=(64, 64, 3), encoder_weights=None)
        info = {
            "model": builder,
            "backbone": "mobilenetv2",
            "input_size": [64, 64],
            "channels": 3,
            "task": "segmentation",
            "classes": ["a", "b", "c"],
        }
        expected = {k: v.numpy() for k, v in serving_fn(model, info)(tf.constant(images)).items()}
        got = load(export_model(model, info, "onnx", tmp_path / builder))(images)
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
        assert (got["mask"] == expected["mask"]).mean() >= 0.999


def test_a_dilated_pspnet_round_trips_through_a_keras_file(tmp_path):
    model = zoo.pspnet("vgg16", num_classes=2, input_shape=(None, None, 3), encoder_weights=None, output_stride=8)
    assert model.get_layer("block5_conv1").dilation_rate == (2, 2)
    model.save(tmp_path / "psp.keras")
    loaded = keras.models.load_model(tmp_path / "psp.keras")
    x = np.random.default_rng(3).normal(size=(1, 64, 96, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_a_dilated_resnet_sampled_at_its_stride_equals_the_strided_one(tmp_path):
    """The atrous rule: same weights, same sampling of the image, so the dilated map at every
    (32 / output_stride)-th position is the undilated one (ResNet strides with 1x1 convolutions)."""
    from zoo.models.encoder import build_encoder

    x = np.random.default_rng(5).normal(size=(1, 64, 96, 3)).astype("float32")
    strided = build_encoder("resnet50", (64, 96, 3))
    strided_model = keras.Model(strided.inputs, strided.features[32])
    strided_model.save_weights(tmp_path / "resnet50.weights.h5")
    want = np.asarray(strided_model(x))
    for output_stride in (16, 8):
        dilated = build_encoder("resnet50", (64, 96, 3), output_stride=output_stride)
        assert sorted(dilated.features) == [s for s in (2, 4, 8, 16) if s <= output_stride]
        model = keras.Model(dilated.inputs, dilated.features[output_stride])
        model.load_weights(tmp_path / "resnet50.weights.h5")
        got = np.asarray(model(x))
        assert got.shape[1:3] == (64 // output_stride, 96 // output_stride)
        step = 32 // output_stride
        np.testing.assert_allclose(got[:, ::step, ::step], want, rtol=1e-4, atol=1e-5)


def test_deeplab_runs_at_the_papers_stride_where_the_backbone_can_dilate():
    model = zoo.deeplabv3plus("vgg16", num_classes=2, input_shape=(64, 96, 1), encoder_weights=None)
    assert model.get_layer("aspp_1x1_conv").input.shape[1:3] == (4, 6)  # output stride 16
    assert model.get_layer("aspp_rate6_conv").dilation_rate == (6, 6)  # the paper's (6, 12, 18)
    assert model(np.zeros((1, 64, 96, 1), "float32")).shape == (1, 64, 96, 2)
    psp = zoo.pspnet("vgg16", num_classes=2, input_shape=(64, 96, 3), encoder_weights=None, output_stride=8)
    assert psp.get_layer("block5_pool").pool_size == (3, 3) and psp(np.zeros((1, 64, 96, 3))).shape == (1, 64, 96, 2)
    with pytest.raises(
        ValueError, match="output_stride=8 needs a backbone whose last stages can run dilated .*resnet50"
    ):
        zoo.deeplabv3plus("mobilenetv2", num_classes=2, encoder_weights=None, output_stride=8)
    with pytest.raises(ValueError, match="feature_stride=8 with output_stride=16"):
        zoo.pspnet("vgg16", num_classes=2, encoder_weights=None, output_stride=16, feature_stride=8)


def test_unetplusplus_nests_its_skips_where_the_encoder_has_features():
    names = lambda model: {layer.name for layer in model.layers}  # noqa: E731
    vgg = names(zoo.unetplusplus("vgg16", num_classes=2, input_shape=(64, 64, 1), encoder_weights=None))
    assert {
        f"decoder_x{s}_{j}_b_conv"
        for s, depth in ((16, 1), (8, 2), (4, 3), (2, 4), (1, 5))
        for j in range(1, depth + 1)
    } <= vgg  # the full grid: 15 nodes
    convnext = zoo.unetplusplus("convnexttiny", num_classes=2, input_shape=(64, 64, 1), encoder_weights=None)
    assert convnext(np.zeros((1, 64, 64, 1), "float32")).shape == (1, 64, 64, 2)
    held = names(convnext)
    assert "decoder_x4_3_b_conv" in held and "decoder_x2_4_b_conv" in held and "decoder_x1_5_b_conv" in held
    assert "decoder_x2_1_b_conv" not in held  # no stride-2 features in ConvNeXt: only the upsampling node


@pytest.mark.slow  # every builder twice (about 11 s); a U-Net's float32 logits under bfloat16 stay fast (test_benchmark)
def test_every_builder_gives_float32_scores_under_mixed_precision():
    from zoo.models.registry import model_entry

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        for builder in zoo.BUILDERS:
            outputs = {model_entry(builder).outputs: 2}
            activation = {} if builder == "simcc" else {"activation": "sigmoid"}  # logits for a softmax
            model = zoo.build(
                builder,
                backbone="mobilenetv3small",
                input_shape=(64, 64, 2),
                encoder_weights=None,
                **activation,
                **outputs,
            )
            out = model(np.zeros((1, 64, 64, 2), "float32"))
            assert out.dtype == "float32", builder
            assert any(layer.compute_dtype == "bfloat16" for layer in model.layers if layer.weights), builder
    finally:
        keras.mixed_precision.set_global_policy("float32")

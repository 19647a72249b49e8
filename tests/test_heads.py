"""UPerNet and SegFormer's all-MLP head: scores at the input's size (known or not), their layers, the strides
they need, gradients into the encoder, a few training steps, and an ONNX export (slow)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models.decoders.segformer import segformer_decoder
from zoo.models.decoders.upernet import upernet_decoder

HEADS = [("upernet", "resnet50"), ("segformer", "mobilenetv2")]


def _names(model) -> set[str]:
    return {layer.name for layer in model.layers}


@pytest.mark.parametrize("builder, backbone", HEADS)
def test_each_head_gives_full_resolution_probabilities(builder, backbone):
    model = zoo.build(
        builder, backbone=backbone, num_classes=3, input_shape=(64, 64, 3), encoder_weights=None, activation="softmax"
    )
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    out = np.asarray(model(x))
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    assert model.get_layer("logits").output.shape[1:3] == (16, 16)  # scores at stride 4


@pytest.mark.parametrize("builder", ["upernet", "segformer"])
def test_each_head_runs_at_sizes_unknown_until_called(builder):
    model = zoo.build(builder, backbone="mobilenetv2", num_classes=2, input_shape=(None, None, 3), encoder_weights=None)
    serve = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)]
    )
    x = np.random.default_rng(1).normal(size=(1, 64, 96, 3)).astype("float32")
    got = serve(tf.constant(x))
    assert tuple(got.shape) == (1, 64, 96, 2)
    np.testing.assert_allclose(got.numpy(), np.asarray(model(x)), atol=1e-5)


@pytest.mark.parametrize("decoder, what", [(upernet_decoder, "UPerNet"), (segformer_decoder, "SegFormer")])
def test_each_head_refuses_features_without_a_stride_it_needs(decoder, what):
    from zoo.models.encoder import build_encoder

    dilated = build_encoder("vgg16", (64, 64, 3), output_stride=16)  # deepest features at stride 16: no 32
    with pytest.raises(ValueError, match=rf"{what}.* needs encoder features at strides \(4, 8, 16, 32\).*lacks \[32\]"):
        decoder(dilated.features)
    without_4 = {s: keras.Input((64 // s, 64 // s, 8)) for s in (8, 16, 32)}
    with pytest.raises(ValueError, match=r"lacks \[4\]"):
        decoder(without_4)


def test_upernet_pools_four_bins_on_stride_32_and_fuses_four_levels_at_stride_4():
    model = zoo.upernet("mobilenetv2", num_classes=2, input_shape=(64, 64, 3), encoder_weights=None, channels=32)
    names = _names(model)
    for bins in (1, 2, 3, 6):
        pool = model.get_layer(f"upernet_psp_bin{bins}_pool")
        assert pool.input.shape[1:3] == (2, 2) and pool.output.shape[1:3] == (bins, bins)  # stride 32 at 64 px
        assert model.get_layer(f"upernet_psp_bin{bins}_conv").filters == 32
        assert (f"upernet_psp_bin{bins}_bn" in names) == (bins > 1)  # no BatchNorm on a 1x1 map
    assert len(model.get_layer("upernet_psp_concat").input) == 5  # the features and the four bins
    assert {f"upernet_lateral{s}_conv" for s in (4, 8, 16)} <= names and "upernet_lateral32_conv" not in names
    assert {f"upernet_fpn{s}_conv" for s in (4, 8, 16)} <= names and "upernet_fpn32_conv" not in names
    concat = model.get_layer("upernet_concat")
    assert [tuple(t.shape[1:]) for t in concat.input] == [(16, 16, 32)] * 4  # four levels at stride 4
    assert model.get_layer("upernet_fuse_conv").kernel.shape == (3, 3, 128, 32)
    assert model.get_layer("upernet_dropout").rate == 0.1


def test_segformer_projects_each_level_linearly_and_concatenates_deepest_first():
    model = zoo.segformer("mobilenetv2", num_classes=2, input_shape=(64, 64, 3), encoder_weights=None, embed_dim=16)
    for stride in (4, 8, 16, 32):
        linear = model.get_layer(f"segformer_linear{stride}")
        assert linear.kernel_size == (1, 1) and linear.use_bias and linear.activation is keras.activations.linear
        assert linear.output.shape[1:] == (64 // stride, 64 // stride, 16)
    concat = model.get_layer("segformer_concat")
    sources = [t._keras_history.operation.name for t in concat.input]
    assert sources == ["segformer_up32", "segformer_up16", "segformer_up8", "segformer_linear4"]
    assert concat.output.shape[1:] == (16, 16, 64)
    assert model.get_layer("segformer_fuse_conv").kernel.shape == (1, 1, 64, 16)
    assert model.get_layer("segformer_dropout").rate == 0.1


@pytest.mark.parametrize("builder", ["upernet", "segformer"])
def test_gradients_reach_every_weight_and_the_first_encoder_convolution(builder):
    model = zoo.build(builder, backbone="mobilenetv2", num_classes=2, input_shape=(64, 64, 3), encoder_weights=None)
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 64, 64, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_weights)
    missing = [w.path for w, g in zip(model.trainable_weights, grads) if g is None]
    assert not missing
    first = model.get_layer("Conv1").kernel  # MobileNetV2's stem
    assert float(tf.reduce_max(tf.abs(grads[model.trainable_weights.index(first)]))) > 0


def test_segformer_learns_a_square_in_a_few_steps():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.3, size=(4, 64, 64, 3)).astype("float32")
    y = np.zeros((4, 64, 64), "int32")
    for i, (top, left) in enumerate(rng.integers(4, 36, size=(4, 2))):
        y[i, top : top + 24, left : left + 24] = 1
        x[i, top : top + 24, left : left + 24] += 1.0
    # VGG16: its training step traces in a few seconds on a CPU, MobileNet's in 20-40
    model = zoo.segformer("vgg16", num_classes=2, input_shape=(64, 64, 3), encoder_weights=None, embed_dim=32)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses = model.fit(x, y, batch_size=4, epochs=8, verbose=0).history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.slow
def test_both_heads_export_to_onnx_with_the_keras_models_mask(tmp_path):
    from zoo.export import export_model, load, serving_fn

    images = np.random.default_rng(3).integers(0, 256, (2, 45, 70, 3), dtype=np.uint8)
    for builder in ("upernet", "segformer"):
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

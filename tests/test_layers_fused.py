"""FusedBatchNormalization: the same arithmetic as Keras' BatchNormalization in one TensorFlow kernel, used by the
builders on TensorFlow, and Keras' own call wherever the kernel does not apply."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.models.layers import FusedBatchNormalization


def _pair(**kwargs):
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (4, 9, 7, 16)).astype("float32"))
    plain, fused = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    for layer in (plain, fused):
        layer.build(x.shape)
    gamma = np.random.default_rng(1).normal(1.0, 0.2, 16).astype("float32")
    for layer in (plain, fused):
        if layer.scale:
            layer.gamma.assign(gamma)
    return x, plain, fused


def _step(layer, x, upstream, training=True):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(y * upstream)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [y, *grads, layer.moving_mean, layer.moving_variance]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"momentum": 0.9},
        {"momentum": 0.99, "epsilon": 1.001e-5, "synchronized": True},  # ResNet's epsilon; one replica in sync
        {"momentum": 0.9, "scale": False, "center": False},
    ],
)
def test_training_step_equals_keras_batch_normalization(kwargs):
    x, plain, fused = _pair(**kwargs)
    assert fused._fusable(x, True, None)
    upstream = tf.constant(np.random.default_rng(2).normal(0.0, 1.0, x.shape).astype("float32"))
    for _ in range(2):  # the second step starts from the updated moving statistics
        want, got = _step(plain, x, upstream), _step(fused, x, upstream)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=2e-5)
    assert not np.allclose(fused.moving_variance.numpy(), 1.0)  # the statistics moved


def test_keras_call_where_the_kernel_does_not_apply():
    x, plain, fused = _pair(momentum=0.9)
    assert not fused._fusable(x, False, None)  # inference (exports, evaluation)
    fused.trainable = False  # a frozen layer runs in inference mode: bit-identical to Keras
    assert not fused._fusable(x, True, None)
    plain.trainable = False
    np.testing.assert_array_equal(fused(x, training=True).numpy(), plain(x, training=True).numpy())
    small = FusedBatchNormalization(epsilon=1e-5)  # below the kernel's floor (RegNet's epsilon)
    assert not small._fusable(x, True, None)
    assert not fused._fusable(tf.zeros((2, 5, 16)), True, None)  # not 4-D


_TWO_REPLICAS = r"""
import numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras
from zoo.models.layers import FusedBatchNormalization
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = np.random.default_rng(0).normal(2.0, 3.0, (8, 5, 5, 4)).astype("float32")
with strategy.scope():
    plain = keras.layers.BatchNormalization(synchronized=True)
    fused = FusedBatchNormalization(synchronized=True)
    plain.build(x.shape); fused.build(x.shape)
data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).unbatch().batch(8))
batch = next(iter(data))
def step(layer):
    return strategy.gather(strategy.run(lambda b: layer(b, training=True), args=(batch,)), axis=0).numpy()
fusable = strategy.run(lambda b: tf.constant(fused._fusable(b, True, None)), args=(batch,))
assert not any(v.numpy() for v in strategy.experimental_local_results(fusable))
np.testing.assert_allclose(step(fused), step(plain), rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(fused.moving_mean.numpy(), plain.moving_mean.numpy(), rtol=1e-6, atol=1e-6)
print("ok")
"""


def test_synchronized_statistics_across_replicas_stay_keras():
    """Two replicas in sync: the layer keeps Keras' all-reduced statistics (the kernel would use each replica's)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _TWO_REPLICAS], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_builders_fuse_every_batch_norm_and_weights_load_into_plain_keras(tmp_path):
    model = zoo.build("unet", backbone="resnet50", num_classes=3, input_shape=(64, 64, 3), encoder_weights=None)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(type(layer) is FusedBatchNormalization for layer in norms)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert all(type(a) is type(b) for a, b in zip(loaded.layers, model.layers, strict=True))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # A weights file addresses layers by class name: the same file loads into the network with Keras' own
    # BatchNormalization everywhere (as built before the fused layer, or by JAX's encoder), and back.
    plain = keras.models.clone_model(
        model,
        clone_function=lambda layer: (
            keras.layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else layer.__class__
        ).from_config(layer.get_config()),
    )
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in plain.layers)
    model.save_weights(tmp_path / "fused.weights.h5")
    plain.load_weights(tmp_path / "fused.weights.h5")
    np.testing.assert_array_equal(plain.predict(x, verbose=0), model.predict(x, verbose=0))
    plain.save_weights(tmp_path / "plain.weights.h5")
    model.load_weights(tmp_path / "plain.weights.h5")

"""Every model saves as .keras and loads with plain keras.models.load_model, outputs identical."""

import keras
import numpy as np
import pytest

import zoo


@pytest.mark.parametrize(
    "builder, backbone, input_shape",
    [
        ("unet", "vgg16", (None, None, 1)),
        ("fcn8s", "resnet50", (None, None, 3)),
        ("fcn16s", "resnet50", (64, 64, 3)),
        ("simple_baseline", "resnet50", (64, 64, 4)),
    ],
)
def test_keras_round_trip_gives_identical_outputs(tmp_path, builder, backbone, input_shape):
    model = zoo.build(builder, backbone=backbone, input_shape=input_shape, encoder_weights=None)
    zoo.freeze_encoder(model)
    x = np.random.default_rng(0).random((2, 64, 64, input_shape[-1]), dtype="float32")
    expected = np.asarray(model(x, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)
    assert zoo.trainable_parts(loaded) == zoo.trainable_parts(model)

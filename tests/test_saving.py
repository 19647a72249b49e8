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
        pytest.param("fcn16s", "resnet50", (64, 64, 3), marks=pytest.mark.slow),  # fcn8s's path, a static size
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


@pytest.mark.parametrize(
    "imports", ["import keras, zoo", pytest.param("import zoo.models.layers, keras", marks=pytest.mark.slow)]
)
def test_a_fresh_process_loads_a_keras_file_after_the_documented_imports(tmp_path, imports):
    """`import zoo` is light (Keras loads on first use); the custom pieces register as the README says."""
    import subprocess
    import sys

    model = zoo.unet(backbone="vgg16", num_classes=2, input_shape=(32, 32, 1), encoder_weights=None)
    model.save(tmp_path / "model.keras")
    code = (
        f"{imports}\nimport numpy as np\nm = keras.models.load_model({str(tmp_path / 'model.keras')!r})\n"
        "print(m(np.zeros((1, 32, 32, 1), 'float32')).shape)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("(1, 32, 32, 2)")

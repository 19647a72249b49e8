"""The model core under Keras' JAX backend: builders build, predict, train a step and freeze, and
gives the TensorFlow model's outputs from the same weights (the recipes stay on TensorFlow)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import zoo

pytest.importorskip("jax")

FAST = [("deeplabv3plus", "mobilenetv2")]  # the new layers, BatchNorm, separable and atrous convolutions
MORE = [
    ("unet", "vgg16"),
    ("fcn16s", "resnet50"),
    ("simple_baseline", "resnet50"),
    ("pspnet", "mobilenetv2"),
    ("unet", "efficientnetb0"),
    ("fpn", "convnexttiny"),
    ("linknet", "mobilenetv3small"),
    ("deeplabv3plus", "resnet50"),
]  # the last four: cloned graphs, nested stems, features named by inputs, dilation

_UNDER_JAX = r"""
import json, sys
import keras, numpy as np
import zoo
assert keras.backend.backend() == "jax", keras.backend.backend()
cases = json.loads(sys.argv[1])
report = {}
for case in cases:
    name, backbone, folder = case["model"], case["backbone"], case["folder"]
    model = zoo.build(name, backbone=backbone, input_shape=(64, 64, 1), encoder_weights=None, **case["outputs"])
    model.load_weights(f"{folder}/model.weights.h5")
    x = np.load(f"{folder}/x.npy")
    got = np.asarray(model(x, training=False))
    expected = np.load(f"{folder}/y.npy")
    error = float(np.abs(got - expected).max() / (np.abs(expected).max() + 1e-12))
    # one training step with the encoder frozen: the encoder, BatchNorm statistics included, stays bit-identical
    zoo.freeze_encoder(model)
    frozen = {w.path: np.array(w) for layer in model.layers if not layer.trainable for w in layer.weights}
    keras_loss = (keras.losses.MeanSquaredError() if name == "simple_baseline"
                  else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(keras.optimizers.Adam(1e-3), keras_loss)
    target = (np.zeros(got.shape, "float32") if name == "simple_baseline"
              else np.zeros(got.shape[:-1] + (1,), "int32"))
    before = [np.array(w) for w in model.trainable_weights]
    loss = float(model.train_on_batch(x, target))
    moved = any(not np.array_equal(a, np.array(w)) for a, w in zip(before, model.trainable_weights))
    still = all(np.array_equal(frozen[w.path], np.array(w)) for w in model.weights if w.path in frozen)
    report[f"{name}:{backbone}"] = {"shape": list(got.shape), "relative_error": error, "loss": loss,
                                    "trained": moved, "frozen_unchanged": still, "frozen": len(frozen)}
print("REPORT " + json.dumps(report))
"""


@pytest.mark.slow  # the model core on JAX: the fast tier runs no second backend
@pytest.mark.parametrize("models", [FAST, MORE], ids=["fast", "more"])
def test_builders_run_and_train_under_jax_with_the_tensorflow_models_outputs(tmp_path, models):
    cases = []
    rng = np.random.default_rng(0)
    for name, backbone in models:
        outputs = {"num_keypoints": 3} if name == "simple_baseline" else {"num_classes": 3}
        model = zoo.build(name, backbone=backbone, input_shape=(64, 64, 1), encoder_weights=None, **outputs)
        folder = tmp_path / f"{name}_{backbone}"
        folder.mkdir()
        model.save_weights(folder / "model.weights.h5")
        x = rng.normal(0, 50, (2, 64, 64, 1)).astype("float32")
        np.save(folder / "x.npy", x)
        np.save(folder / "y.npy", np.asarray(model(x, training=False)))
        cases.append({"model": name, "backbone": backbone, "folder": str(folder), "outputs": outputs})
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_JAX, json.dumps(cases)], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.split("REPORT ", 1)[1])
    for key, row in report.items():
        assert row["relative_error"] < 1e-4, (key, row)  # the same network on both backends
        assert np.isfinite(row["loss"]) and row["trained"], (key, row)
        assert row["frozen"] > 0 and row["frozen_unchanged"], (key, row)


_PIPELINE_UNDER_JAX = r"""
import numpy as np, tensorflow as tf, keras
from zoo.models.backbones import get_backbone
assert keras.backend.backend() == "jax"
pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 4)).astype("uint8")
for name in ("vgg16", "resnet50v2", "efficientnetv2s", "densenet121"):  # caffe, tf, tf128, torch
    spec = get_backbone(name)
    for channels in (1, 3, 4):
        batch = pixels[..., :channels]
        mapped = next(iter(tf.data.Dataset.from_tensors(batch).map(spec.preprocess))).numpy()
        direct = np.asarray(spec.preprocess(batch))  # Keras' ops on NumPy: JAX arrays
        np.testing.assert_allclose(mapped, direct, rtol=1e-6, atol=1e-5)
print("ok")
"""


def test_the_recipes_tf_data_preprocessing_runs_under_jax():
    """A tf.data pipeline (the recipes' feed) calls a backbone's preprocessing with TensorFlow tensors whatever Keras'
    backend is: under JAX it must not reach for JAX ops (benchmarks.backends trains there)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _PIPELINE_UNDER_JAX], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]

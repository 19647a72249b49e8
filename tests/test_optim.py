"""Learning-rate schedules, BatchNorm momentum and weight averaging do what they say."""

import json

import keras
import numpy as np
import pytest

from zoo.run.optim import OptimizerConfig, WarmupThen, auto_bn_momentum, learning_rate, make_optimizer, set_bn_momentum


def _rates(schedule, steps):
    return np.array([float(keras.ops.convert_to_numpy(schedule(s))) for s in steps])


def test_cosine_warms_up_then_decays_to_the_floor():
    config = OptimizerConfig(lr_schedule="cosine", warmup=0.1, min_lr_ratio=0.01)
    schedule = learning_rate(config, 1e-3, 100)
    rates = _rates(schedule, range(0, 101))
    assert rates[0] == pytest.approx(1e-4, rel=1e-3)  # peak / warm-up steps
    assert rates[10] == pytest.approx(1e-3, rel=1e-3) and rates.max() == pytest.approx(1e-3, rel=1e-3)
    assert np.all(np.diff(rates[:11]) > 0) and np.all(np.diff(rates[10:]) <= 1e-12)
    assert rates[100] == pytest.approx(1e-5, rel=1e-2)


def test_poly_warms_up_then_decays_and_survives_serialisation():
    config = OptimizerConfig(lr_schedule="poly", warmup=5, min_lr_ratio=0.0)
    schedule = learning_rate(config, 2e-3, 50)
    assert isinstance(schedule, WarmupThen)
    rates = _rates(schedule, [0, 4, 5, 27, 50])
    assert rates[0] == pytest.approx(2e-3 / 5, rel=1e-4) and rates[1] == pytest.approx(2e-3, rel=1e-4)
    assert rates[2] == pytest.approx(2e-3, rel=1e-4) and 0 < rates[3] < rates[2] and rates[4] == pytest.approx(0)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    np.testing.assert_allclose(_rates(again, [0, 4, 5, 27, 50]), rates, rtol=1e-6)


def test_constant_and_optimizer_options():
    assert learning_rate(OptimizerConfig(lr_schedule="constant"), 3e-4, 10) == 3e-4
    adamw = make_optimizer(OptimizerConfig(optimizer="adamw", weight_decay=1e-4, clip_norm=1.0, ema=0.9), 1e-3, 10)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(1e-4)
    assert adamw.clipnorm == 1.0 and adamw.use_ema and adamw.ema_momentum == pytest.approx(0.9)
    for bad, words in (
        ({"lr_schedule": "step"}, "--lr-schedule"),
        ({"weight_decay": 1e-4}, "needs --optimizer adamw"),
        ({"ema": 1.5}, "--ema"),
        ({"warmup": -1}, "--warmup"),
        ({"clip_norm": 0}, "--clip-norm"),
    ):
        with pytest.raises(ValueError, match=words):
            OptimizerConfig(**bad)


def test_batchnorm_momentum_follows_the_epoch_length():
    assert auto_bn_momentum(24) == pytest.approx(0.9)  # a small dataset: a 10-step horizon
    assert auto_bn_momentum(400) == pytest.approx(0.975)
    assert auto_bn_momentum(5000) == pytest.approx(0.99)  # Keras' default for long epochs
    import zoo

    model = zoo.unet("resnet50", num_classes=2, input_shape=(64, 64, 3), encoder_weights=None)
    count = set_bn_momentum(model, 0.9)
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert count == len(layers) > 50 and all(layer.momentum == 0.9 for layer in layers)


def test_the_run_logs_the_scheduled_rate_and_its_settings(gray_run):
    """gray_run trains all:2@1e-4 with the defaults: cosine after a warm-up, so the rate at the end of
    epoch 2 is near the floor, below the one at the end of epoch 1."""
    from zoo.run.rundir import read_history

    rates = [row["learning_rate"] for row in read_history(gray_run / "history.csv")]
    assert len(rates) == 2 and rates[1] < rates[0] <= 1e-4 and rates[1] == pytest.approx(1e-6, rel=0.05)
    resolved = json.loads((gray_run / "config.json").read_text())["resolved"]
    assert "cosine learning rate" in resolved["training"] and resolved["bn_momentum"] == pytest.approx(0.9)


def test_ema_weights_are_the_ones_validated_and_kept(tmp_path):
    """With weight averaging, validation scores the averaged weights and the best checkpoint holds
    them; the model trains on its own weights in between (the backup at an epoch's end resumes)."""
    from zoo.run.phases import BestWeights, EMASwap

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(make_optimizer(OptimizerConfig(lr_schedule="constant", ema=0.5), 0.05, 8), "mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(1, keepdims=True)
    seen = {}

    class Capture(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["trained"] = [w.copy() for w in self.model.get_weights()]
            seen["val_loss"] = logs["val_loss"]

    ema = EMASwap()
    path = tmp_path / "best.weights.h5"
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        validation_data=(x, y),
        verbose=0,
        callbacks=[ema, BestWeights(path, "val_loss", "min", None, ema), Capture()],
    )
    averaged = model.get_weights()  # Keras puts the averaged weights in the model when fit ends
    assert not all(np.allclose(a, b) for a, b in zip(averaged, seen["trained"]))
    check = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    check.load_weights(path)
    for got, want in zip(check.get_weights(), averaged):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert float(model.evaluate(x, y, verbose=0)) == pytest.approx(seen["val_loss"], rel=1e-5)

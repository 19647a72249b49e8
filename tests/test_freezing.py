"""Freezing: frozen weights (BatchNorm statistics included) stay bit-identical; schedules unfreeze."""

import keras
import numpy as np
import pytest

import zoo
from zoo.models.freezing import Phase, layer_parts


def _snapshot(model):
    return {
        part: [np.array(w) for layer in layers for w in layer.weights] for part, layers in layer_parts(model).items()
    }


def _changed(before, after):
    return {part: any(not np.array_equal(a, b) for a, b in zip(before[part], after[part])) for part in before}


def _data(size=32, n=8, classes=2):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, size, size, 3)).astype("float32")
    y = rng.integers(0, classes, size=(n, size, size, 1))
    return x, y


LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_frozen_encoder_is_bit_identical_after_training_batchnorm_included():
    keras.utils.set_random_seed(0)
    model = zoo.unet("resnet50", num_classes=2, input_shape=(32, 32, 3), encoder_weights=None, encoder_freeze=True)
    before = _snapshot(model)
    decoder_bn_mean = np.array(model.get_layer("decoder_block1_a_bn").moving_mean)
    model.compile(keras.optimizers.Adam(1e-2), LOSS)
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    changed = _changed(before, _snapshot(model))
    assert changed == {
        "stage1": False,
        "stage2": False,
        "stage3": False,
        "stage4": False,
        "stage5": False,
        "decoder": True,
    }
    # The decoder's BatchNorm statistics did move (training mode); the encoder's are in `before`, unchanged.
    assert not np.array_equal(decoder_bn_mean, np.array(model.get_layer("decoder_block1_a_bn").moving_mean))
    assert not model.get_layer("conv1_bn").trainable


def test_frozen_batchnorm_runs_in_inference_mode():
    model = zoo.unet("resnet50", num_classes=2, input_shape=(32, 32, 3), encoder_weights=None, encoder_freeze=True)
    x, _ = _data(n=2)
    probe = keras.Model(model.input, model.get_layer("conv2_block1_out").output)
    np.testing.assert_array_equal(probe(x, training=True), probe(x, training=False))


def test_set_trainable_by_stage():
    model = zoo.fcn8s("vgg16", num_classes=2, input_shape=(32, 32, 3), encoder_weights=None)
    zoo.set_trainable(model, ["stage4", "stage5", "decoder"])
    assert zoo.trainable_parts(model) == {
        "stage1": False,
        "stage2": False,
        "stage3": False,
        "stage4": True,
        "stage5": True,
        "decoder": True,
    }
    assert model.get_layer("fc6").trainable and not model.get_layer("block3_conv1").trainable
    with pytest.raises(ValueError, match=r"unknown part\(s\) \['stage9'\]"):
        zoo.set_trainable(model, ["stage9"])


@pytest.mark.slow
def test_two_phase_schedule_unfreezes_for_real():
    keras.utils.set_random_seed(0)
    model = zoo.unet("resnet50", num_classes=2, input_shape=(32, 32, 3), encoder_weights=None)
    x, y = _data()
    snapshots = [_snapshot(model)]
    history = zoo.run_schedule(
        model,
        zoo.parse_schedule("head:1@1e-2,stage5:1@1e-2"),
        compile_kwargs={"loss": LOSS, "metrics": ["accuracy"]},
        fit_kwargs={"x": x, "y": y, "batch_size": 4, "verbose": 0},
        on_phase=lambda index, phase: snapshots.append(_snapshot(model)) if index == 1 else None,
    )
    snapshots.append(_snapshot(model))
    first = _changed(snapshots[0], snapshots[1])
    second = _changed(snapshots[1], snapshots[2])
    assert first == {**{f"stage{i}": False for i in range(1, 6)}, "decoder": True}
    assert second == {**{f"stage{i}": False for i in range(1, 5)}, "stage5": True, "decoder": True}
    assert history["epoch"] == [0, 1] and history["phase"] == [0, 1]
    assert len(history["loss"]) == 2 and len(history["accuracy"]) == 2


def test_parse_schedule():
    phases = zoo.parse_schedule("head:2@1e-3, stage4:3@1e-4,all:5@1e-5")
    assert phases == [Phase("head", 2, 1e-3), Phase("stage4", 3, 1e-4), Phase("all", 5, 1e-5)]
    assert phases[1].parts == ("stage4", "stage5", "decoder")
    assert zoo.format_schedule(phases) == "head:2@0.001,stage4:3@0.0001,all:5@1e-05"


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "empty schedule"),
        ("head:2", r"'head:2' does not parse; each phase is WHAT:EPOCHS@LR"),
        ("decoder:2@1e-3", "'decoder:2@1e-3' does not parse"),
        ("head:0@1e-3", "positive whole number of epochs"),
        ("all:1@0", "positive learning rate"),
        ("all:1@1e-3e", "is not a number"),
    ],
)
def test_parse_schedule_errors(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        zoo.parse_schedule(text)

"""The segmentation recipe end to end: schedule, data sources, run directory, export, resume."""

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import zoo
from recipes import segment
from zoo.tasks.segmentation.serving import segmentation_serving_fn

PROJECT = Path(__file__).resolve().parent.parent
FAST = ["--synthetic-count", "24", "--batch-size", "4", "--steps-per-epoch", "2", "--verbose", "0"]


def _history(run):
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def _subprocess_env():
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = str(PROJECT)
    return env


@pytest.mark.slow
def test_two_phase_schedule_keeps_encoder_identical_through_head_then_trains_it(tmp_path, vgg16_notop, capsys):
    path, saved = vgg16_notop
    run = tmp_path / "run"
    code = segment.main(
        [
            "--dataset",
            "synthetic:shapes",
            "--input-size",
            "64",
            "--encoder-weights",
            str(path),
            "--schedule",
            "head:1@1e-3,stage5:1@1e-3",
            "--out",
            str(run),
            *FAST,
            "--verbose",
            "2",  # a log, not a terminal: zoo's line per epoch
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    for line in ("epoch 1/2 (phase 1/2): ", "epoch 2/2 (phase 2/2): ", "evaluating the best weights", "exporting the"):
        assert line in out, out[-3000:]
    assert re.search(r"epoch 2/2 \(phase 2/2\): \d+ s, loss \d\.\d{4}, val_mean_iou \d\.\d{4} \(best", out), out[-3000:]
    model = zoo.unet("vgg16", num_classes=4, input_shape=(64, 64, 3), encoder_weights=None)
    # Only the last finished phase keeps its weights file (tests/test_freezing.py checks a frozen
    # encoder bit for bit through a phase); stages 1-4 were frozen through both phases here.
    assert not (run / "checkpoints" / "phase0.weights.h5").exists()
    model.load_weights(run / "checkpoints" / "phase1.weights.h5")
    for name, arrays in saved.items():
        if name.startswith("block5"):
            continue
        for got, want in zip(model.get_layer(name).get_weights(), arrays):
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert not np.array_equal(model.get_layer("block5_conv3").get_weights()[0], saved["block5_conv3"][0])
    rows = _history(run)
    assert [(r["epoch"], r["phase"]) for r in rows] == [("0", "0"), ("1", "1")]
    for name in ("config.json", "metrics.json", "curves.png", "samples.png", "export/saved_model.pb"):
        assert (run / name).is_file(), name
    assert any((run / "logs").rglob("*tfevents*"))
    config = json.loads((run / "config.json").read_text())
    assert config["settings"]["schedule"] == "head:1@1e-3,stage5:1@1e-3"
    assert "tensorflow" in config["versions"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_class_iou"]) == {"background", "circle", "square", "triangle"}
    assert 0 <= metrics["mean_iou"] <= 1 and 0 <= metrics["pixel_accuracy"] <= 1
    # A finished run is left alone, and the recipe says so.
    before = (run / "metrics.json").read_bytes(), (run / "checkpoints" / "phase1.weights.h5").read_bytes()
    capsys.readouterr()
    assert (
        segment.main(
            [
                "--input-size",
                "64",
                "--encoder-weights",
                str(path),
                "--schedule",
                "head:1@1e-3,stage5:1@1e-3",
                "--out",
                str(run),
                *FAST,
            ]
        )
        == 0
    )
    assert "holds a finished run (metrics.json exists): nothing to do" in capsys.readouterr().out
    assert _history(run) == rows
    assert before == ((run / "metrics.json").read_bytes(), (run / "checkpoints" / "phase1.weights.h5").read_bytes())


@pytest.mark.slow
def test_oxford_pet_under_mock_data_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "0")  # mock_data stands in for the download
    import tensorflow_datasets as tfds

    run = tmp_path / "pets"
    with tfds.testing.mock_data(num_examples=8):
        code = segment.main(
            [
                "--dataset",
                "tfds:oxford_iiit_pet",
                "--model",
                "fcn8s",
                "--backbone",
                "vgg16",
                "--encoder-weights",
                "none",
                "--input-size",
                "64",
                "--schedule",
                "all:1@1e-4",
                "--out",
                str(run),
                "--batch-size",
                "4",
                "--steps-per-epoch",
                "2",
                "--verbose",
                "0",
            ]
        )
    assert code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_class_iou"]) == {"pet", "background", "border"}
    assert metrics["pixels"] > 0  # random mock masks: values other than 1..3 are ignored, the rest counted


def test_folder_of_gray_images_with_0_255_masks_trains_a_one_channel_model(gray_run):
    config = json.loads((gray_run / "config.json").read_text())
    assert config["resolved"]["channels"] == 1
    assert config["resolved"]["class_names"] == ["background", "object"]
    assert config["resolved"]["num_train"] + config["resolved"]["num_val"] == 12  # the 3 BMPs too
    model = zoo.unet("vgg16", num_classes=2, input_shape=(64, 32, 1), encoder_weights=None)
    model.load_weights(gray_run / "checkpoints" / "phase0.weights.h5")
    assert model.get_layer("block1_conv1").get_weights()[0].shape[2] == 1
    rows = _history(gray_run)
    assert len(rows) == 2 and all(np.isfinite(float(r["loss"])) for r in rows)  # --loss ce+lovasz in a real fit
    assert config["settings"]["loss"] == "ce+lovasz"
    factors = config["resolved"]["repeat_factors"]  # --repeat-rare 0.5 from the training split's class counts
    assert len(factors) == 2 and min(factors) >= 1.0


def test_export_in_a_tensorflow_only_process_matches_keras_on_another_size(gray_run, tmp_path):
    model = zoo.unet("vgg16", num_classes=2, input_shape=(64, 32, 1), encoder_weights=None)
    model.load_weights(gray_run / "checkpoints" / "best.weights.h5")
    image = np.random.default_rng(1).integers(0, 256, (2, 75, 51, 1), dtype=np.uint8)  # not the training size
    expected = {k: v.numpy() for k, v in segmentation_serving_fn(model, (64, 32), "vgg16")(image).items()}
    np.save(tmp_path / "image.npy", image)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        serve = tf.saved_model.load({str(gray_run / "export")!r}).signatures["serving_default"]
        out = serve(images=tf.constant(np.load({str(tmp_path / "image.npy")!r})))
        np.save({str(tmp_path / "mask.npy")!r}, out["mask"].numpy())
        np.save({str(tmp_path / "probs.npy")!r}, out["probabilities"].numpy())
        assert "zoo" not in sys.modules
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_subprocess_env(), "PYTHONPATH": ""},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    mask, probs = np.load(tmp_path / "mask.npy"), np.load(tmp_path / "probs.npy")
    assert mask.shape == (2, 75, 51) and mask.dtype == np.int32
    assert probs.shape == (2, 75, 51, 2)
    np.testing.assert_allclose(probs, expected["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(mask, expected["mask"])


def test_bad_flags_give_one_clear_error(tmp_path, capsys):
    code = segment.cli(["--input-size", "100x", "--out", str(tmp_path / "x")])  # any size, but a size
    assert code == 2
    assert "--input-size must be H or HxW" in capsys.readouterr().err
    assert segment.cli(["--crop-max-share", "0.75", "--out", str(tmp_path / "x")]) == 2
    assert "--crop-max-share chooses among random crops: add --train-crop" in capsys.readouterr().err
    assert segment.cli(["--repeat-rare", "2", "--out", str(tmp_path / "x")]) == 2
    assert "--repeat-rare 2.0: give a share of the pictures in (0, 1]" in capsys.readouterr().err
    code = segment.cli(["--schedule", "head:2", "--encoder-weights", "none", "--out", str(tmp_path / "y")])
    assert code == 2
    assert "does not parse" in capsys.readouterr().err
    code = segment.cli(["--model", "unet", "--output-stride", "16", "--out", str(tmp_path / "z")])
    assert code == 2
    assert "--output-stride is for pspnet and deeplabv3plus" in capsys.readouterr().err
    code = segment.cli(
        [
            "--model",
            "deeplabv3plus",
            "--backbone",
            "efficientnetb0",
            "--output-stride",
            "8",
            "--out",
            str(tmp_path / "w"),
        ]
    )
    assert code == 2
    assert "--backbone efficientnetb0 runs at 32 only" in capsys.readouterr().err


AMX = {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}


def test_precision_auto_trains_cpus_in_float32_and_names_the_bfloat16_trade_on_amx(monkeypatch):
    from zoo.run.precision import choose_precision

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert choose_precision("auto", flags={"avx2"}) == ("float32", "auto: CPU without AMX bfloat16 units")
    policy, why = choose_precision("auto", flags=AMX)
    assert policy == "float32" and "--mixed-precision bfloat16 trains about 2.7x faster" in why and "IoU" in why
    assert choose_precision("bfloat16", flags=AMX)[0] == "mixed_bfloat16"
    policy, why = choose_precision("auto", wide_kernels=True, what="fcn8s on vgg16", flags=AMX)
    assert policy == "float32" and "fc6" in why and "fcn8s on vgg16" in why
    assert choose_precision("off", flags=AMX) == ("float32", "")
    assert choose_precision("bfloat16", flags={"avx2"}, wide_kernels=True)[0] == "mixed_bfloat16"
    with pytest.raises(ValueError, match="--mixed-precision off.*ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16"):
        choose_precision("bfloat16", wide_kernels=True, flags=AMX)
    # oneDNN capped below AMX (or switched off): the crashing kernels are not used.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert choose_precision("bfloat16", wide_kernels=True, flags=AMX)[0] == "mixed_bfloat16"
    assert choose_precision("auto", flags=AMX)[0] == "float32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert choose_precision("auto", wide_kernels=True, flags=AMX)[0] == "float32"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert choose_precision("bfloat16", wide_kernels=True, flags=AMX)[0] == "mixed_bfloat16"


def test_bfloat16_fcn_vgg16_on_an_amx_cpu_is_refused_before_the_run_starts(tmp_path, capsys, monkeypatch):
    import zoo.run.precision

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(zoo.run.precision, "cpu_flags", lambda: AMX)
    code = segment.cli(
        [
            "--model",
            "fcn8s",
            "--mixed-precision",
            "bfloat16",
            "--encoder-weights",
            "none",
            "--input-size",
            "64",
            "--out",
            str(tmp_path / "run"),
            *FAST,
        ]
    )
    assert code == 2
    assert "fc6" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_shapes_run_learns(tmp_path):
    """U-Net/VGG16 from random initial weights on synthetic shapes at 64 px.

    Threshold: a model that predicts background everywhere scores mIoU ~0.22 (background IoU
    ~0.88, the three shape classes 0); 0.5 requires the shape classes to be found and told apart.
    """
    run = tmp_path / "learn"
    code = segment.main(
        [
            "--input-size",
            "64",
            "--encoder-weights",
            "none",
            "--schedule",
            "all:6@5e-4",
            "--synthetic-count",
            "600",
            "--batch-size",
            "8",
            "--out",
            str(run),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    ious = [float(r["val_mean_iou"]) for r in _history(run)]
    assert ious[-1] > ious[0] + 0.2 and max(ious) > 0.5, ious


def test_channels_below_one_are_refused_by_the_segmentation_settings():
    from zoo.tasks.segmentation.training import validate

    for channels in (0, -3):
        with pytest.raises(ValueError, match=rf"^--channels must be >= 1, got {channels}: ") as err:
            validate(segment.SegmentConfig(channels=channels))
        assert "\n" not in str(err.value)
    validate(segment.SegmentConfig(channels=1))


def test_train_crop_runs_every_step_and_validates_every_tile_without_running_out(recwarn):
    """Crops repeat for ``steps_per_epoch * epochs`` batches; validation tiles (a flat_map, of unknown length to
    tf.data) have their length, so Keras runs them without "Your input ran out of data"."""
    import keras

    from zoo.tasks.segmentation.pipeline import segmentation_pipeline
    from zoo.tasks.segmentation.sources import synthetic_scenes

    source = synthetic_scenes(16, (64, 64), 3, 0, 0.1)  # one 256x256 scene per split
    options = dict(table=source.table, input_size=(64, 64), channels=3, batch_size=4, backbone="vgg16", crop=True)
    train = segmentation_pipeline(source.train, training=True, num_examples=1, repeat=True, **options)
    val = segmentation_pipeline(source.val, training=False, num_examples=1, **options)
    assert int(val.cardinality()) == 4  # 16 tiles of 64x64 in batches of 4
    assert sum(1 for _ in val) == 4
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(inputs))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255))
    history = model.fit(train, validation_data=val, steps_per_epoch=3, epochs=2, verbose=0)
    assert int(model.optimizer.iterations) == 6 and len(history.history["val_loss"]) == 2
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]


@pytest.mark.slow
def test_train_crop_recipe_run_trains_every_epoch_without_running_out(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.segment",
            "--dataset",
            "synthetic:scenes",
            "--train-crop",
            "--input-size",
            "64",
            "--synthetic-count",
            "16",
            "--epochs",
            "2",
            "--steps-per-epoch",
            "3",
            "--batch-size",
            "2",
            "--encoder-weights",
            "none",
            "--verbose",
            "0",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=_subprocess_env(),
        cwd=PROJECT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ran out of data" not in done.stdout + done.stderr
    assert [row["epoch"] for row in _history(tmp_path / "run")] == ["0", "1"]

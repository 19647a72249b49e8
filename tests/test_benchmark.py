"""The benchmarks' smoke tests (benchmarks/): one tiny model, one size, few steps (the full runs are not in CI)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import train as benchmark


@pytest.mark.slow
def test_benchmark_smoke_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    code = benchmark.main(
        [
            "--models",
            "unet:vgg16",
            "--input-size",
            "32",
            "--batch-size",
            "2",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--options",
            "float16",
            "--sizes",
            "32",
            "--batches",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    assert results["limit_gflops_float32"] > 1
    row = results["models"][0]
    assert row["train_gflop_per_image"] > 0.1  # VGG16 U-Net at 32 px: about 0.3 GFLOP forward, x3
    for key in (
        "in_memory_images_per_s",
        "synthetic / in-memory",
        "png folder / in-memory",
        "recipe (synthetic) / plain keras",
        "export / keras call",
    ):
        assert row[key] > 0, key
    assert 0 < row["fraction_of_limit"] < 1.5
    assert results["scaling"] and (tmp_path / "bench.png").is_file()
    assert "tensorflow" in results["versions"]
    assert results["options"]["ratio_to_default"]["float16"] > 0
    where = results["where_time_goes"]
    assert where["model"] == "unet:vgg16"
    assert 0.5 < where["encoder_share_of_forward_flops"] < 1  # VGG16 U-Net: most FLOPs are the encoder's
    assert where["train_step_encoder_frozen_ms_per_image"] > 0 and where["forward_ms_per_image"] > 0
    assert where["adam_update_ms_per_image"] > 0 and where["trainable_parameters"] > 10_000_000


@pytest.mark.slow
def test_export_benchmark_measures_each_format_in_its_own_process(tmp_path):
    from benchmarks import exports as bench_exports

    out = tmp_path / "bench_exports.json"
    code = bench_exports.main(
        [
            "--model",
            "unet:vgg16",
            "--input-size",
            "32",
            "--image-size",
            "40",
            "--repeats",
            "2",
            "--formats",
            "saved_model,onnx",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = json.loads(out.read_text())["formats"]
    assert set(rows) == {"saved_model", "onnx"}
    for row in rows.values():
        assert 70 < row["megabytes"] < 80  # 19.0M float32 parameters, stored once
        assert row["peak_gb"] >= row["peak_gb_model_built"] > 0.1 and row["export_seconds"] > 0
        assert row["median_ms"] >= row["best_ms"] > 0
    assert rows["saved_model"]["median_vs_first"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("task", ["cars", pytest.param("faces", marks=pytest.mark.slow)])
def test_learning_benchmark_smoke_compares_the_recipes_with_a_plain_fit(tmp_path, capsys, task):
    """One task per run (the keypoint task's smoke run is in the slow suite: the fast suite's budget)."""
    from benchmarks import learning as bench_learning

    out = tmp_path / "learning.json"
    code = bench_learning.main(
        [
            "--tasks",
            task,
            "--epochs",
            "1",
            "--seeds",
            "0",
            "--count",
            "12",
            "--test-count",
            "4",
            "--size",
            "32",
            "--backbone",
            "vgg16",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    rows = {(row["task"], row["way"]): row for row in results["rows"]}
    assert set(rows) == {(task, "default"), (task, "plain fit")}
    for row in rows.values():
        assert row["epochs"] == 1
        if task == "cars":
            assert 0 <= row["iou"] <= 1
        else:  # landmark error in pixels of 80x72 pictures: finite, and not beyond the picture
            assert 0 <= row["pixel_error"] < 110
    assert len(rows[(task, "default")]["val_curve"]) == 1
    printed = capsys.readouterr().out
    assert "vs plain" in printed and task in printed and all(r["precision"] == "float32" for r in rows.values())


def test_the_precision_benchmark_keeps_islands_in_float32_and_measures_their_error(tmp_path, capsys):
    """benchmarks.precision on a tiny U-Net: the float32 islands compute in float32, the rest in bfloat16, the
    weights are the float32 model's, and an island's own gradient error drops (the decoder's in float32)."""
    import keras

    import zoo
    from benchmarks import precision

    def rebuild():
        return zoo.build("unet", backbone="vgg16", num_classes=2, input_shape=(32, 32, 1), encoder_weights=None)

    model = rebuild()
    plain = {layer.name: layer.compute_dtype for layer in precision.mixed_copy(model, (), rebuild).layers}
    assert plain["block1_conv1"] == "bfloat16" and plain["logits"] == "float32"  # as a recipe's run has it
    copy = precision.mixed_copy(model, ("stem", "decoder"), rebuild)
    dtypes = {layer.name: layer.compute_dtype for layer in copy.layers}
    assert dtypes["block1_conv1"] == "float32" and dtypes["block3_conv1"] == "bfloat16"
    decoder = [layer.name for layer in zoo.models.freezing.layer_parts(copy)["decoder"]]
    assert decoder and all(dtypes[name] == "float32" for name in decoder)
    for a, b in zip(model.weights, copy.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    out = tmp_path / "precision.json"
    assert precision.main(["--backbone", "vgg16", "--size", "32", "--batch", "2", "--out", str(out)]) == 0
    rows = {row["policy"]: row for row in json.loads(out.read_text())["rows"]}
    assert rows["bfloat16"]["all"] > 0 and rows["float32, pixels rounded to bfloat16"]["all"] > 0
    assert rows["bfloat16, decoder in float32"]["decoder"] < rows["bfloat16"]["decoder"]
    assert "relative error against float32" in capsys.readouterr().out


def test_the_speed_benchmark_measures_each_model_through_its_recipes_parts(tmp_path):
    """No task is special-cased in benchmarks.train: the recipe whose models hold MODEL gives its parts."""
    subject = benchmark.Subject("simple_baseline:vgg16", 32, 2)
    assert subject.recipe.name == "pose" and subject.info().task == "keypoints"
    model = subject.build()
    x, y, *_ = subject.batch()
    assert x.shape == (2, 32, 32, 3) and y.shape[1:] == tuple(model.output_shape[1:])  # heatmap targets
    assert set(subject.pipelines(tmp_path)) == {"synthetic", "png folder"}
    assert benchmark.Subject("unet:vgg16", 32, 2).info().task == "segmentation"  # unet: first recipe listing it


@pytest.mark.slow
def test_native_benchmark_times_a_picture_in_a_process_of_its_own(tmp_path):
    from benchmarks import native

    out = tmp_path / "native.json"
    assert (
        native.main(
            [
                "--model",
                "unet:mobilenetv3small",
                "--channels",
                "1",
                "--input-size",
                "64",
                "--sizes",
                "100x150",
                "--tile",
                "64",
                "--tta",
                "flip",
                "--compare",
                "200x260",  # the default tile against --tile, side by side (3000x3000 in the real benchmark)
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["comparisons"][0]["ratio"] > 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["height"], r["width"], r["tta"]) for r in rows] == [(100, 150, "flip")]
    assert rows[0]["seconds"] > 0 and 0.1 < rows[0]["peak_gb"] < 20 and out.with_suffix(".png").is_file()


def test_each_benchmark_writes_its_data_and_exports_its_subject_in_the_fast_tier(tmp_path):
    """The parts the slow smoke tests drive, quickly: the learning benchmark's task folders, the native
    benchmark's export, the export benchmark's flags and sizes."""
    from benchmarks import exports, learning, native
    from zoo.export import read_metadata

    shapes = learning.write_task("shapes", tmp_path / "shapes", count=6, size=32, test_count=2)
    faces = learning.write_task("faces", tmp_path / "faces", count=6, size=32, test_count=2)
    objects = learning.write_task("objects", tmp_path / "objects", count=6, size=32, test_count=2)
    assert len(list(Path(shapes["train"]).glob("images/*.png"))) == 6 and shapes["classes"] == 4
    with (
        Image.open(Path(objects["train"]) / "masks" / "0000.png") as mask,
        Image.open(Path(objects["train"]) / "images" / "0000.png") as image,
    ):
        assert image.mode == "L" and set(np.unique(np.asarray(mask))) == {0, 255}  # a user's binary folder
    assert objects["test_images"].shape == (2, 80, 96, 1) and objects["binary"]
    assert learning.with_budget(learning.VARIANTS["lr-1e-3"], 6) == ["--schedule", "all:6@1e-3"]
    assert faces["keypoints"].shape == (6, 5, 3) and (Path(faces["train"]) / "landmarks.csv").is_file()
    args = native.build_parser().parse_args(
        ["--model", "unet:mobilenetv3small", "--input-size", "64", "--classes", "3"]
    )
    export = native._export(args, tmp_path)
    info = read_metadata(export)
    assert info.fields.classes == ("class0", "class1", "class2") and "native" in info.signatures
    assert exports._folder_bytes(export) > 0
    assert exports.build_parser().parse_args([]).formats.split(",") == ["saved_model", "litert", "onnx", "keras"]


def test_the_accelerator_benchmark_times_a_network_and_tabulates(capsys):
    """benchmarks.accelerator on this backend: a finite speed per network, the IoU it scores with, its tables."""
    from benchmarks import accelerator

    row = accelerator.speed("unet:vgg16", "float32", 32, 2, 1, 1)
    assert row["images_per_s"] > 0 and row["finite_loss"] and row["params"] > 0
    assert accelerator.mean_iou(np.array([[0, 1], [1, 2]]), np.array([[0, 1], [2, 2]]), 3) == pytest.approx(0.5)
    runs = [{"task": "objects", "policy": "float32", "iou": v} for v in (0.5, 0.7)]
    text = accelerator.tables({"device": "cpu", "speed": [row], "precision": runs})
    assert "| unet:vgg16 (32 px, batch 2) | float32 |" in text and "| objects | float32 | 2 | 0.600 |" in text


@pytest.mark.slow  # three short fits (about 25 s)
def test_the_accelerator_benchmark_restarts_each_seed_from_scratch():
    """The plain fit's seeds share one compiled network yet start afresh: the same seed twice gives the same run,
    another seed another."""
    from benchmarks import accelerator

    runs = accelerator.precision("objects", "float32", [0, 0, 1], 1, model_name="unet:vgg16", count=16)
    assert [r["seed"] for r in runs] == [0, 0, 1] and all(0 <= r["iou"] <= 1 for r in runs)
    assert runs[0]["last_loss"] == pytest.approx(runs[1]["last_loss"], rel=1e-5)  # weights and Adam restored
    assert runs[2]["last_loss"] != pytest.approx(runs[0]["last_loss"], rel=1e-5)


@pytest.mark.slow  # a SavedModel export and a FLOP count (about 30 s)
def test_the_peers_benchmark_measures_a_side_in_this_process():
    """benchmarks.peers: one side's speed, parameters, FLOPs, output size, SavedModel latency and peak memory."""
    from benchmarks import peers

    row = peers.measure_side("zoo:segformer:keras_hub:mit_b0", 32, 2, 1, 1, "float32")
    assert row["images_per_s"] > 0 and row["params"] > 0 and row["forward_gflops"] > 0
    assert row["output_size"] == [32, 32] and row["export_latency_ms"] > 0 and row["peak_rss_mib"] > 100


def test_the_peers_benchmark_takes_ratios_within_rounds():
    """benchmarks.peers: ratios are zoo / peer within each round, then their median; a failed side is left out."""
    from benchmarks import peers

    side = {"params": 1, "forward_gflops": 1.0, "output_size": [8, 8], "peak_rss_mib": 1.0, "export_latency_ms": 1.0}
    rounds = [
        {"hub-segformer-b0": {"zoo": {**side, "images_per_s": z}, "peer": {**side, "images_per_s": p}}}
        for z, p in ((4.0, 2.0), (3.0, 3.0), (9.0, 3.0))
    ]
    summary = peers.summarise(rounds, "hub-segformer-b0")
    assert summary["speed_ratio"] == 2.0 and summary["speed_ratio_range"] == [1.0, 3.0]  # per round, not of medians
    assert summary["zoo_images_per_s"] == 4.0 and summary["peer_images_per_s"] == 3.0
    rounds[0]["hub-segformer-b0"]["peer"] = {"spec": "hub:segformer:mit_b0", "error": "ImportError: no keras_hub"}
    text = peers.table(
        {"device": "cpu", "size": 8, "batch": 2, "rounds": 3, "summary": [peers.summarise(rounds, "hub-segformer-b0")]}
    )
    assert "| hub-segformer-b0 | 4.00 (3.00-9.00) | 3.00 (3.00-3.00) | 2.00 (1.00-3.00) |" in text  # 2 rounds ratioed


def test_the_profile_charges_each_op_to_its_layer_kind_and_direction(tmp_path):
    """benchmarks.profile: op names from a real trace of a tiny Keras model fall to the layer that owns them."""
    import keras
    import tensorflow as tf

    from benchmarks import profile

    model = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv"), keras.layers.BatchNormalization(name="bn")]
    )
    model.compile(keras.optimizers.Adam(), "mse")
    x, y = np.zeros((2, 16, 16, 3), "float32"), np.ones((2, 14, 14, 4), "float32")
    model.train_on_batch(x, y)
    tf.profiler.experimental.start(str(tmp_path))
    model.train_on_batch(x, y)
    tf.profiler.experimental.stop()
    ops = profile.op_self_times(str(tmp_path))
    layers = {layer.name: type(layer).__name__ for layer in model.layers}
    groups = {profile.group_of(op, layers) for op in ops}
    assert {"Conv2D forward", "Conv2D backward", "BatchNormalization forward", "BatchNormalization backward"} <= groups
    assert "optimizer" in groups and all(op["self_us"] >= 0 for op in ops)

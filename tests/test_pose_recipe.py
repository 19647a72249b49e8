"""The keypoint recipe end to end: data sources, training, metrics, export in pixel coordinates."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from recipes import pose
from zoo.tasks.keypoints import sources as ks
from zoo.tasks.keypoints.heatmap_codec import HeatmapCodec
from zoo.tasks.keypoints.pipeline import keypoint_pipeline
from zoo.tasks.keypoints.serving import keypoint_serving_fn

PROJECT = Path(__file__).resolve().parent.parent


def _history(run):
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def test_faces_run_writes_a_complete_run_directory(faces_run):
    rows = _history(faces_run)
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert all(0.0 <= float(r["val_pck"]) <= 1.0 for r in rows)
    metrics = json.loads((faces_run / "metrics.json").read_text())
    assert set(metrics["per_keypoint"]) == {"left_eye", "right_eye", "nose", "left_mouth", "right_mouth"}
    assert set(metrics["decodings"]) == {"argmax", "dark", "soft-argmax"}
    assert metrics["flip_test"] is True and metrics["keypoints_evaluated"] == 5 * 2  # 2 validation faces (10% of 24)
    assert metrics["tta"]["mode"] == "flip"  # --eval-tta flip; with --flip-test on, the same evaluation again
    assert metrics["tta"]["pck"] == metrics["pck"] and metrics["tta"]["nme"] == metrics["nme"]
    assert 0.0 <= metrics["ap"]["ap"] <= 1.0 and set(metrics["ap"]) >= {"ap", "ap50", "ap75", "ar"}
    assert metrics["oks"]["sigmas_from"].startswith("uniform") and metrics["oks"]["boxes"] == "whole pictures"
    assert all(0.0 <= float(r["val_ap"]) <= 1.0 for r in rows)  # the best checkpoint follows it
    assert all("ap" in d for d in metrics["decodings"].values()) and len(metrics["mean_offset"]) == 2
    for name in ("curves.png", "samples.png", "export/saved_model.pb", "config.json"):
        assert (faces_run / name).is_file(), name


def test_export_returns_keypoints_in_the_input_pixels_of_any_size(faces_run, tmp_path):
    config = json.loads((faces_run / "config.json").read_text())["resolved"]
    model = zoo.simple_baseline(
        "vgg16", num_keypoints=5, input_shape=(64, 64, 3), encoder_weights=None, deconv_filters=(256,) * 3
    )
    model.load_weights(faces_run / "checkpoints" / "best.weights.h5")
    images = np.random.default_rng(0).integers(0, 256, (2, 90, 130, 3), dtype=np.uint8)
    assert json.loads((faces_run / "export" / "model.json").read_text())["codec"] == "udp"
    serve = keypoint_serving_fn(
        model,
        (64, 64),
        "vgg16",
        HeatmapCodec(config["heatmap_stride"], 2.0, "dark", "udp"),
        flip_index=config["flip_index"],
    )
    expected = {k: v.numpy() for k, v in serve(images).items()}
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        serve = tf.saved_model.load({str(faces_run / "export")!r}).signatures["serving_default"]
        out = serve(images=tf.constant(np.load({str(tmp_path / "images.npy")!r})))
        np.save({str(tmp_path / "kp.npy")!r}, out["keypoints"].numpy())
        np.save({str(tmp_path / "scores.npy")!r}, out["scores"].numpy())
        assert "zoo" not in sys.modules
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    keypoints = np.load(tmp_path / "kp.npy")
    assert keypoints.shape == (2, 5, 2) and np.load(tmp_path / "scores.npy").shape == (2, 5)
    np.testing.assert_allclose(keypoints, expected["keypoints"], atol=1e-3)
    # coordinates are in this image's pixels: inside a 130 x 90 frame, not the 64 x 64 one
    assert np.all(keypoints[..., 0] > -1) and np.all(keypoints[..., 0] < 130)
    assert np.all(keypoints[..., 1] > -1) and np.all(keypoints[..., 1] < 90)


def test_export_maps_a_known_heatmap_peak_back_to_input_pixels():
    """A model whose heatmap is a fixed Gaussian: the export must report the image point it stands for."""
    import keras
    import tensorflow as tf

    from zoo.tasks.keypoints.heatmap_codec import encode

    target = np.array([[21.0, 37.0]], np.float32)  # in the 64 x 64 frame
    heat, _ = encode(tf.constant(target), tf.constant([1.0]), (16, 16), 4, 2.0)
    inputs = keras.Input((64, 64, 3))
    pooled = keras.layers.AveragePooling2D(4)(inputs)
    outputs = keras.layers.Lambda(lambda x: x[..., :1] * 0.0 + heat[None])(pooled)
    model = keras.Model(inputs, outputs)
    out = keypoint_serving_fn(model, (64, 64), "vgg16", HeatmapCodec(4, 2.0, "dark"))(
        np.zeros((1, 128, 96, 3), np.uint8)
    )
    # A 128 x 96 (h x w) image is padded to 128 x 128 (16 columns each side), as in training,
    # and shrunk 2x: frame point f is image point (f + 0.5) * 2 - 0.5 - (16, 0).
    expected = (target[0] + 0.5) * 2.0 - 0.5 - np.array([16.0, 0.0])
    np.testing.assert_allclose(out["keypoints"][0, 0], expected, atol=0.15)


@pytest.mark.slow
def test_aflw2k3d_under_mock_data_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "0")  # mock_data stands in for the download
    import tensorflow_datasets as tfds

    run = tmp_path / "aflw"
    with tfds.testing.mock_data(num_examples=8):
        code = pose.main(
            [
                "--dataset",
                "tfds:aflw2k3d",
                "--model",
                "simple_baseline",
                "--backbone",
                "vgg16",
                "--encoder-weights",
                "none",
                "--input-size",
                "64",
                "--batch-size",
                "4",
                "--steps-per-epoch",
                "2",
                "--schedule",
                "all:1@1e-3",
                "--out",
                str(run),
                "--verbose",
                "0",
                "--pck-normalizer",
                "interocular",
            ]
        )
    assert code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["per_keypoint"]) == 68
    config = json.loads((run / "config.json").read_text())["resolved"]
    assert config["flip_index"][36] == 45 and config["flip_index"][0] == 16 and config["flip_index"][30] == 30


@pytest.mark.parametrize("name, count", [("celeb_a", 5), ("the300w_lp", 68)])
def test_other_tfds_presets_read_under_mock_data(name, count, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "0")  # mock_data stands in for the download
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        source = ks.tfds_keypoint_source(
            name, data_dir=None, image_key=None, keypoints_key=None, val_split=None, train_split=None
        )
        example = next(iter(source.train))
    assert example["keypoints"].shape == (count, 3) and example["box"].shape == (4,)
    assert len(source.flip_index) == count and sorted(source.flip_index) == list(range(count))
    assert source.eye_indices is not None


def test_coco_folder_crops_the_box_and_keeps_keypoints_on_their_pixels(tmp_path):
    (tmp_path / "images").mkdir()
    for i in range(5):
        image = np.zeros((120, 160), np.uint8)
        image[50, 70] = 255  # the keypoint "left_hand", inside a box at (40, 30)-(100, 90)
        Image.fromarray(image).save(tmp_path / "images" / f"p{i}.png")
    coco = {
        "images": [{"id": i, "file_name": f"p{i}.png", "width": 160, "height": 120} for i in range(5)],
        "annotations": [
            {"image_id": i, "bbox": [40, 30, 60, 60], "keypoints": [70, 50, 2, 90, 50, 2]} for i in range(5)
        ],
        "categories": [{"keypoints": ["left_hand", "right_hand"]}],
    }
    (tmp_path / "keypoints.json").write_text(json.dumps(coco))
    source = ks.folder_keypoint_source(str(tmp_path), channels=1, val_fraction=0.4, seed=0)
    assert source.flip_index == [1, 0] and source.num_train == 3 and source.num_val == 2
    batch = next(
        iter(
            keypoint_pipeline(
                source.val,
                input_size=(64, 64),
                channels=1,
                batch_size=2,
                backbone="vgg16",
                codec=HeatmapCodec(4, 2.0),
                flip_index=source.flip_index,
                training=False,
                for_eval=True,
            )
        )
    )
    pixels, keypoints = batch["pixels"].numpy(), batch["keypoints"].numpy()
    for b in range(2):
        y, x = np.unravel_index(np.argmax(pixels[b, ..., 0]), (64, 64))
        assert abs(x - keypoints[b, 0, 0]) <= 1 and abs(y - keypoints[b, 0, 1]) <= 1
    # the 60 px box, enlarged 1.25x, fills the 64 px frame: 64 / 75 frame pixels per image pixel
    np.testing.assert_allclose(keypoints[0, 1, 0] - keypoints[0, 0, 0], 20 * 64 / 75, atol=1e-3)


def test_csv_folder_reads_names_and_missing_points(tmp_path):
    (tmp_path / "images").mkdir()
    rows = [["image", "left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y"]]
    for i in range(4):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "images" / f"f{i}.jpg")
        rows.append([f"f{i}.jpg", "10", "12", "" if i == 0 else "20", "" if i == 0 else "12"])
    with open(tmp_path / "points.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    read = ks._read_annotations(tmp_path)
    assert read.names == ["left_eye", "right_eye"] and len(read.paths) == 4 and not read.has_boxes
    assert read.points[0][1, 2] == 0 and read.points[1][1, 2] == 1  # an empty cell is an invisible keypoint
    assert ks.flip_index_from_names(read.names) == [1, 0]


@pytest.mark.slow
def test_a_keypoint_folder_walked_as_a_user_does(tmp_path, capsys):
    """sample-data -> check -> train -> predict -> a TensorFlow-only client: the same keypoints throughout."""
    import tensorflow as tf

    from zoo.__main__ import main as zoo_main

    data, run = tmp_path / "faces", tmp_path / "run"
    assert zoo_main(["sample-data", "faces", str(data), "--count", "12", "--size", "64"]) == 0
    flags = [
        "--dataset",
        f"folder:{data}",
        "--model",
        "simple_baseline",
        "--backbone",
        "vgg16",
        "--encoder-weights",
        "none",
        "--input-size",
        "64",
        "--batch-size",
        "4",
        "--steps-per-epoch",
        "2",
        "--schedule",
        "all:1@1e-3",
        "--verbose",
        "0",
    ]
    assert pose.main(["check", *flags]) == 0
    assert "nothing stops training" in capsys.readouterr().out
    assert pose.main([*flags, "--out", str(run)]) == 0
    predicted = tmp_path / "predicted"
    assert (
        zoo_main(["predict", str(run / "export"), str(data / "images"), "--out", str(predicted), "--no-progress"]) == 0
    )
    results = {Path(r["file_name"]).name: r for r in json.loads((predicted / "keypoints.json").read_text())}
    assert len(results) == 12
    serve = tf.saved_model.load(str(run / "export")).signatures["serving_default"]
    picture = np.asarray(Image.open(data / "images" / "face0003.png"))
    out = serve(images=tf.constant(picture[None]))
    np.testing.assert_allclose(
        np.reshape(results["face0003.png"]["keypoints"], (5, 3))[:, :2], out["keypoints"].numpy()[0], atol=1e-3
    )


@pytest.mark.slow
def test_faces_run_learns(tmp_path):
    """Simple Baseline on ResNet50 from random initial weights, synthetic faces at 96 px.

    Threshold: PCK@0.1 of the face height means within 5-9 px here; the faces' centres
    move +-14 px, so guessing the average landmark positions scores 0.17 (11.7 px mean error).
    0.75 needs real localisation (a default 10-epoch run on 1000 faces reaches about 0.8
    after 3 epochs).
    """
    run = tmp_path / "learn"
    code = pose.main(
        [
            "--dataset",
            "synthetic:faces",
            "--encoder-weights",
            "none",
            "--input-size",
            "96",
            "--synthetic-count",
            "600",
            "--batch-size",
            "16",
            "--schedule",
            "all:6@1e-3",
            "--out",
            str(run),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    pck = [float(r["val_pck"]) for r in _history(run)]
    assert pck[-1] >= pck[0] + 0.15 and pck[-1] > 0.75, pck
    # no gross shift: the mean signed error over the validation keypoints (an earlier pipeline bug gave +2.2 px
    # in x). The chain from targets back to source pixels is exact (tests/test_heatmaps.py, perfect heatmaps:
    # within 0.02 px); what remains is the network's own after 6 epochs from random weights: measured (x, y)
    # (-0.12, +0.24) with Keras' BatchNorm, (+0.01, +0.58), (-0.15, +0.81) and (+0.11, +0.57) with the fused one
    # at seeds 0, 1 and 2 (flips cancel the x part; why y leans positive is open). 1 px still catches that bug.
    metrics = json.loads((run / "metrics.json").read_text())
    assert max(abs(v) for v in metrics["mean_offset"]) < 1.0, metrics["mean_offset"]


@pytest.mark.slow
def test_a_coco_folder_with_a_skeleton_learns_to_a_stated_ap(tmp_path):
    """Two faces per picture from a COCO file (boxes, areas, a skeleton), top-down on the boxes: Simple
    Baselines on ResNet50 from random weights, 64 px, 8 epochs. Measured: OKS AP 0.990 (sigmas: uniform
    0.035), mean offset (0.02, -0.01) px (docs/recipes.md, "Codecs, heads and decodings, measured")."""
    from zoo.__main__ import main as zoo_main

    data, run = tmp_path / "pairs", tmp_path / "run"
    assert zoo_main(["sample-data", "faces-coco", str(data), "--count", "300", "--size", "64", "--seed", "1"]) == 0
    assert (
        pose.main(
            [
                "--dataset",
                f"folder:{data}",
                "--model",
                "simple_baseline",
                "--backbone",
                "resnet50",
                "--encoder-weights",
                "none",
                "--input-size",
                "64",
                "--batch-size",
                "16",
                "--schedule",
                "all:8@1e-3",
                "--out",
                str(run),
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["ap"]["ap"] > 0.8, metrics["ap"]
    assert metrics["oks"]["boxes"].startswith("ground-truth boxes")
    assert max(abs(v) for v in metrics["mean_offset"]) < 0.5, metrics["mean_offset"]

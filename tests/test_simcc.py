"""SimCC (zoo/tasks/keypoints/simcc_codec.py, zoo.models.decoders.simcc, zoo.tasks.keypoints.losses.SimccLoss): coordinates classified in half-pixel
bins, trained and exported like the heatmap head."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from zoo.tasks.keypoints.simcc_codec import SimccCodec


@pytest.mark.parametrize("decoding, bound", [("argmax", 0.25), ("soft-argmax", 0.05)])
def test_simcc_decodes_what_it_encodes(decoding, bound):
    codec = SimccCodec((64, 48), 2.0, 2.0, decoding)
    points = tf.constant([[10.3, 20.8], [30.0, 50.25], [40.7, 33.4]])  # 3 sigma from the borders
    targets, weights = codec.encode(points, tf.ones(3), (64, 48))
    assert targets.shape == (3, 96 + 128) and np.allclose(tf.reduce_sum(targets[:, :96], -1), 1.0)
    found, scores = codec.decode(tf.math.log(targets + 1e-9)[None])
    assert np.abs(found[0].numpy() - points.numpy()).max() <= bound
    assert np.all(scores.numpy() > 0.9)  # as sharp as the targets
    _, outside = codec.encode(tf.constant([[60.0, 5.0]]), tf.ones(1), (64, 48))
    assert outside.numpy().tolist() == [0.0]  # x = 60 is beyond a 48 px wide frame


def test_simcc_flip_mirrors_bins_exactly_and_swaps_left_and_right():
    codec = SimccCodec((32, 40), 2.0, 1.5)
    points = tf.constant([[5.0, 7.0], [30.5, 20.0]])
    mirrored = tf.constant([[39 - 30.5, 20.0], [39 - 5.0, 7.0]])  # x -> W - 1 - x, keypoints 0 and 1 swapped
    plain, _ = codec.encode(points, tf.ones(2), (32, 40))
    flipped, _ = codec.encode(mirrored, tf.ones(2), (32, 40))
    averaged = codec.flip_average(plain[None], flipped[None], [1, 0])
    np.testing.assert_allclose(averaged[0].numpy(), plain.numpy(), atol=1e-6)


def test_simcc_loss_is_least_at_the_target():
    from zoo.tasks.keypoints.losses import SimccLoss

    codec = SimccCodec((32, 32), 2.0, 2.0)
    targets, weights = codec.encode(tf.constant([[10.0, 12.0]]), tf.ones(1), (32, 32))
    loss = SimccLoss(codec.bins[0])
    at_target = float(loss(targets[None], tf.math.log(targets + 1e-12)[None]))
    shifted, _ = codec.encode(tf.constant([[13.0, 12.0]]), tf.ones(1), (32, 32))
    off_target = float(loss(targets[None], tf.math.log(shifted + 1e-12)[None]))
    assert abs(at_target) < 1e-4 and off_target > 0.1


@pytest.mark.slow
def test_a_simcc_run_trains_and_exports_the_same_keypoints_in_every_format(tmp_path):
    from recipes import pose
    from zoo.__main__ import main as zoo_main
    from zoo.export import load

    run = tmp_path / "run"
    assert (
        pose.main(
            [
                "--dataset",
                "synthetic:faces",
                "--head",
                "simcc",
                "--backbone",
                "vgg16",
                "--encoder-weights",
                "none",
                "--input-size",
                "64",
                "--synthetic-count",
                "24",
                "--batch-size",
                "4",
                "--steps-per-epoch",
                "2",
                "--schedule",
                "all:1@1e-3",
                "--decode",
                "soft-argmax",
                "--flip-test",
                "--out",
                str(run),
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["decodings"]) == {"argmax", "soft-argmax"} and 0 <= metrics["ap"]["ap"] <= 1
    info = json.loads((run / "export" / "model.json").read_text())
    assert info["head"] == "simcc" and info["outputs"]["simcc"].startswith("float32 [batch, 5, 256]")
    picture = np.random.default_rng(1).integers(0, 256, (1, 70, 90, 3), dtype=np.uint8)
    reference = load(run / "export")(picture)
    assert reference["keypoints"].shape == (1, 5, 2) and reference["simcc"].shape == (1, 5, 256)
    for fmt in ("onnx", "litert"):
        assert zoo_main(["export", str(run), "--format", fmt]) == 0
        out = load(run / f"export-{fmt}")(picture)
        np.testing.assert_allclose(out["keypoints"], reference["keypoints"], atol=2e-2)
    with pytest.raises(ValueError, match="--head simcc builds on simple_baseline's deconvolutions"):
        pose.main(["--dataset", "synthetic:faces", "--head", "simcc", "--model", "unet", "--out", str(tmp_path / "u")])

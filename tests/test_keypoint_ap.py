"""COCO OKS AP (zoo.tasks.keypoints.coco_ap), COCO keypoint files read as the field writes them (categories,
skeletons, crowds, several objects per picture, --region), and predicting on boxes."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from zoo.tasks.keypoints import sources as ks
from zoo.tasks.keypoints.coco_ap import (
    COCO_PERSON_KEYPOINTS,
    COCO_PERSON_SIGMAS,
    UNIFORM_SIGMA,
    coco_ground_truth,
    coco_results,
    detection_scores,
    oks_ap,
    resolve_sigmas,
)


def _random_split(seed=0, objects=40, k=5):
    rng = np.random.default_rng(seed)
    true = rng.uniform(0, 200, (objects, k, 2))
    visible = (rng.random((objects, k)) > 0.2).astype(np.float32)
    visible[3] = 0  # an object with no labelled keypoint: ignored, as COCO does
    pred = true + rng.normal(0, 1, (objects, 1, 1)) * rng.uniform(0.5, 8, (objects, k, 2))
    scores = rng.uniform(0, 1, (objects, k))
    areas = rng.uniform(300, 12000, objects)
    image_ids = rng.integers(0, 15, objects)  # several objects in some pictures
    return pred, scores, true, visible, areas, image_ids


def test_our_ap_is_pycocotools_run_directly_on_the_same_files(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    pred, scores, true, visible, areas, ids = _random_split()
    sigmas = [0.03, 0.05, 0.07, 0.04, 0.09]
    ours = oks_ap(pred, scores, true, visible, areas, sigmas, ids)
    (tmp_path / "gt.json").write_text(json.dumps(coco_ground_truth(true, visible, areas, ids)))
    (tmp_path / "dt.json").write_text(json.dumps(coco_results(pred, detection_scores(scores), ids)))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "gt.json"))
        evaluator = COCOeval(gt, gt.loadRes(str(tmp_path / "dt.json")), iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = np.array(sigmas)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert ours["ap"] == pytest.approx(evaluator.stats[0]) and ours["ar"] == pytest.approx(evaluator.stats[5])
    assert ours["ap50"] == pytest.approx(evaluator.stats[1]) and 0.05 < ours["ap"] < 0.95


def test_a_hand_checked_case():
    """One object of area 100 px^2, both keypoints (sigma 0.05) off by d: OKS = exp(-d^2 / (2 * 100 * 0.1^2)).
    With OKS 0.72 the prediction counts at thresholds 0.50-0.70 (5 of 10): AP 0.5, AP50 1, AP75 0."""
    d = math.sqrt(-math.log(0.72) * 2 * 100 * 0.1**2)
    true = np.array([[[10.0, 10.0], [30.0, 10.0]]])
    pred = true + np.array([d, 0.0])
    result = oks_ap(pred, np.ones((1, 2)), true, np.ones((1, 2)), np.array([100.0]), [0.05, 0.05])
    assert result["ap"] == pytest.approx(0.5) and result["ap50"] == pytest.approx(1.0) and result["ap75"] == 0.0
    # two objects in one picture, one prediction near the first: recall at OKS 0.5 halves
    both = oks_ap(
        np.concatenate([pred, true]),
        np.array([[0.9, 0.9], [0.1, 0.1]]),
        np.concatenate([true, true + 100]),
        np.ones((2, 2)),
        np.array([100.0, 100.0]),
        [0.05] * 2,
        [7, 7],
    )
    assert both["ar50"] == pytest.approx(0.5)  # the second prediction is far from the second object


def test_sigmas_come_from_the_flag_the_file_coco_or_a_stated_default():
    assert resolve_sigmas(list(COCO_PERSON_KEYPOINTS))[0] == list(COCO_PERSON_SIGMAS)
    values, source = resolve_sigmas(["a", "b"])
    assert values == [UNIFORM_SIGMA] * 2 and "uniform" in source
    assert resolve_sigmas(["a", "b"], [0.1, 0.2]) == ([0.1, 0.2], "the COCO file's category sigmas")
    assert resolve_sigmas(["a", "b"], [0.1, 0.2], "0.04")[0] == [0.04, 0.04]
    with pytest.raises(ValueError, match="--oks-sigmas '0.1,0.2,0.3': give one positive number, or 2"):
        resolve_sigmas(["a", "b"], flag="0.1,0.2,0.3")
    with pytest.raises(ValueError, match="category 'sigmas' has 1 values for 2 keypoints"):
        resolve_sigmas(["a", "b"], [0.1])


def _coco_folder(tmp_path, *, categories=None, extra=(), per_picture=2, pictures=5, boxes=True):
    (tmp_path / "images").mkdir(parents=True)
    annotations = []
    for i in range(pictures):
        Image.fromarray(np.full((60, 120, 3), 40, np.uint8)).save(tmp_path / "images" / f"{i:012d}.jpg")
        for j in range(per_picture):
            ann = {
                "id": len(annotations) + 1,
                "image_id": i,
                "category_id": 1,
                "area": 500.0,
                "keypoints": [10 + 60 * j, 20, 2, 30 + 60 * j, 20, 2, 20 + 60 * j, 40, 1],
            }
            if boxes:
                ann["bbox"] = [5 + 60 * j, 10, 35, 40]
            annotations.append(ann)
    annotations += list(extra)
    coco = {
        "images": [{"id": i, "file_name": f"{i:012d}.jpg", "width": 120, "height": 60} for i in range(pictures)],
        "annotations": annotations,
        "categories": categories
        or [
            {
                "id": 1,
                "name": "critter",
                "keypoints": ["l_ear", "r_ear", "snout"],
                "skeleton": [[1, 3], [2, 3]],
                "sigmas": [0.04, 0.04, 0.03],
            }
        ],
    }
    (tmp_path / "keypoints.json").write_text(json.dumps(coco))
    return tmp_path


def test_a_coco_file_gives_its_skeleton_sigmas_pairs_and_keeps_pictures_whole(tmp_path):
    crowd = {
        "id": 900,
        "image_id": 0,
        "category_id": 1,
        "iscrowd": 1,
        "bbox": [0, 0, 9, 9],
        "area": 81,
        "keypoints": [1, 1, 2] * 3,
    }
    empty = {"id": 901, "image_id": 1, "category_id": 1, "bbox": [0, 0, 9, 9], "area": 81, "keypoints": [0, 0, 0] * 3}
    other = {"id": 902, "image_id": 1, "category_id": 2, "bbox": [0, 0, 9, 9], "area": 81, "keypoints": [1, 1, 2]}
    folder = _coco_folder(
        tmp_path,
        extra=[crowd, empty, other],
        categories=[
            {
                "id": 1,
                "name": "critter",
                "keypoints": ["l_ear", "r_ear", "snout"],
                "skeleton": [[1, 3], [2, 3]],
                "sigmas": [0.04, 0.04, 0.03],
            },
            {"id": 2, "name": "bird", "keypoints": ["beak"]},
        ],
    )
    with pytest.raises(ValueError, match="several categories .*'critter', 'bird'.*--category NAME"):
        ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.4, seed=0)
    source = ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.4, seed=0, category="critter")
    assert source.skeleton == [(0, 2), (1, 2)] and source.sigmas == [0.04, 0.04, 0.03]
    assert source.flip_index == [1, 0, 2] and source.region == "box"
    assert source.num_train == 6 and source.num_val == 4  # 3 and 2 pictures of two objects each
    assert "1 crowd annotations skipped" in source.description
    assert "1 annotations without a labelled keypoint skipped" in source.description
    train_ids = {int(e["image_id"]) for e in source.train}
    val_ids = {int(e["image_id"]) for e in source.val}
    assert not train_ids & val_ids  # a picture's objects stay on one side
    example = next(iter(source.val))
    assert float(example["area"]) == 500.0 and example["box"].numpy()[2] > example["box"].numpy()[0]
    with pytest.raises(ValueError, match="--region image: 5 pictures .* several annotated objects"):
        ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.4, seed=0, category="1", region="image")
    with pytest.raises(ValueError, match="--category 'fish' is not in the file"):
        ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.4, seed=0, category="fish")


def test_region_follows_the_data_and_refuses_boxes_that_are_not_there(tmp_path):
    folder = _coco_folder(tmp_path, per_picture=1, boxes=False)
    assert ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.4, seed=0).region == "image"
    with pytest.raises(ValueError, match="--region box: .* gives no boxes"):
        ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.4, seed=0, region="box")
    assert ks.flip_index_from_names(["eye_L", "eye_R", "Left.x", "leftHand", "rightHand", "nose"]) == [1, 0, 2, 4, 3, 5]


def test_keypoints_in_boxes_land_on_the_pictures_pixels(faces_run):
    """A box whose 1.25x enlargement is the whole picture answers as the picture; the same picture pasted
    into a larger canvas and boxed there answers the same points, moved by the paste's offset."""
    from zoo.export import load

    predictor = load(faces_run / "export")
    size = predictor.info.input_size[0]
    picture = np.random.default_rng(3).integers(0, 256, (size, size, 3), dtype=np.uint8)
    side = size / 1.25
    box = [(size - side) / 2, (size - side) / 2, side, side]
    whole = predictor(picture[None])["keypoints"][0]
    boxed = predictor.predict_boxes(picture, [box])
    np.testing.assert_allclose(boxed["keypoints"][0], whole, atol=1e-3)
    canvas = np.zeros((size + 50, size + 70, 3), np.uint8)
    canvas[20 : 20 + size, 30 : 30 + size] = picture
    moved = predictor.predict_boxes(canvas, [[box[0] + 30, box[1] + 20, side, side], box])
    np.testing.assert_allclose(moved["keypoints"][0], whole + [30, 20], atol=1e-3)
    assert moved["keypoints"].shape == (2, 5, 2) and moved["scores"].shape == (2, 5)
    with pytest.raises(ValueError, match="positive width and height"):
        predictor.predict_boxes(picture, [[0, 0, 0, 5]])


def test_predict_with_a_detections_file_and_the_warning_without_one(faces_run, tmp_path, capsys):
    import shutil

    from zoo.__main__ import main as zoo_main

    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for i in (1, 2):
        Image.fromarray(rng.integers(0, 256, (80, 150, 3), dtype=np.uint8)).save(folder / f"{i:012d}.png")
    detections = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 5, 50, 60], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [80, 10, 40, 50], "score": 0.5},
        {"file_name": "000000000002.png", "bbox": [0, 0, 150, 80], "score": 0.7},
    ]
    (tmp_path / "detections.json").write_text(json.dumps(detections))
    assert (
        zoo_main(
            [
                "predict",
                str(faces_run / "export"),
                str(folder),
                "--out",
                str(tmp_path / "out"),
                "--no-progress",
                "--boxes",
                str(tmp_path / "detections.json"),
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert [r["image_id"] for r in results] == [1, 1, 2]  # the detections' ids; numbered where none is given
    assert len(results) == 3 and all(len(r["keypoints"]) == 15 for r in results)
    xs = np.reshape(results[1]["keypoints"], (5, 3))[:, 0]
    assert (xs > 80 - 0.125 * 40 - 1).all() and (xs < 120 + 0.125 * 40 + 1).all()  # inside the second box's crop
    assert results[0]["score"] <= 0.9
    # a box-trained export (model.json region "box") given whole pictures says so
    boxed = tmp_path / "boxed"
    shutil.copytree(faces_run / "export", boxed)
    info = json.loads((boxed / "model.json").read_text())
    (boxed / "model.json").write_text(json.dumps({**info, "region": "box"}))
    capsys.readouterr()
    assert zoo_main(["predict", str(boxed), str(folder), "--out", str(tmp_path / "whole"), "--no-progress"]) == 0
    assert "trained on crops around each object's box" in capsys.readouterr().err
    assert "warning" in json.loads((tmp_path / "whole" / "predictions.json").read_text())


def test_predict_keeps_the_boxes_asked_for_and_names_pictures_through_annotations(faces_run, tmp_path, capsys):
    """--box-category and --min-box-score filter detection results; results that carry only image_id are
    matched through --annotations and refused without it; every keypoint written lies inside its picture."""
    from zoo.__main__ import main as zoo_main

    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(5)
    sizes = {"a.png": (70, 90), "b.png": (60, 50)}  # (height, width)
    for name, (height, width) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / name)
    annotations = tmp_path / "instances.json"
    annotations.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "a.png", "height": 70, "width": 90},
                   {"id": 8, "file_name": "b.png", "height": 60, "width": 50}],
        "annotations": [],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}],
    }))  # fmt: skip
    detections = [
        {"image_id": 7, "category_id": 1, "bbox": [-10.0, 40.0, 60.0, 50.0], "score": 0.9},  # over the edge
        {"image_id": 7, "category_id": 2, "bbox": [0.0, 0.0, 30.0, 30.0], "score": 0.9},  # a dog
        {"image_id": 8, "category_id": 1, "bbox": [5.0, 5.0, 20.0, 20.0], "score": 0.2},  # scored low
        {"image_id": 8, "category_id": 1, "bbox": [10.0, 10.0, 30.0, 40.0], "score": 0.8},
    ]
    boxes = tmp_path / "detections.json"
    boxes.write_text(json.dumps(detections))
    base = ["predict", str(faces_run / "export"), str(folder), "--no-progress", "--boxes", str(boxes)]
    capsys.readouterr()
    assert zoo_main([*base, "--out", str(tmp_path / "p0")]) == 2  # image_id only: nothing names the pictures
    assert "--annotations FILE" in capsys.readouterr().err
    chosen = ["--annotations", str(annotations), "--box-category", "person", "--min-box-score", "0.5"]
    assert zoo_main([*base, "--out", str(tmp_path / "p1"), *chosen]) == 0
    results = json.loads((tmp_path / "p1" / "keypoints.json").read_text())
    assert [(r["image_id"], r["bbox"]) for r in results] == [
        (7, [-10.0, 40.0, 60.0, 50.0]),
        (8, [10.0, 10.0, 30.0, 40.0]),
    ]
    for result, (height, width) in zip(results, sizes.values(), strict=True):
        xy = np.asarray(result["keypoints"]).reshape(-1, 3)[:, :2]
        assert (xy >= 0).all() and (xy[:, 0] <= width - 1).all() and (xy[:, 1] <= height - 1).all()
        assert isinstance(result["outside"], list)
    assert zoo_main([*base, "--out", str(tmp_path / "p2"), *chosen[:2], "--box-category", "cat"]) == 2
    assert "--box-category cat: no such category name" in capsys.readouterr().err
    assert zoo_main([*base, "--out", str(tmp_path / "p3"), *chosen[:2], "--min-box-score", "0.95"]) == 2
    assert "no box is left" in capsys.readouterr().err


@pytest.mark.parametrize("shift", [(0.5, 0.0), (0.0, -0.5)])
def test_a_constant_half_pixel_shift_shows_in_the_mean_offset(shift):
    """The evaluation's ``mean_offset`` (mean signed error, source pixels) sees a systematic shift of half a
    pixel that PCK and AP hardly notice: a network that answers heatmaps drawn at the truth + shift."""
    import tensorflow as tf

    from zoo.tasks.keypoints.evaluation import OksSettings, evaluate_keypoints
    from zoo.tasks.keypoints.heatmap_codec import HeatmapCodec

    codec = HeatmapCodec(4, 2.0, "dark")
    rng = np.random.default_rng(0)
    true = rng.uniform(12, 52, (6, 3, 2)).astype(np.float32)
    maps = np.stack([codec.encode(tf.constant(t + np.float32(shift)), tf.ones(3), (64, 64))[0] for t in true])
    batch = {
        "images": tf.constant(maps),
        "matrix": tf.eye(3, batch_shape=[6]),
        "source_keypoints": tf.constant(true),
        "visible": tf.ones((6, 3)),
        "norm": tf.fill([6], 40.0),
        "area": tf.fill([6], 1600.0),
        "image_id": tf.constant(np.arange(6)),
        "keypoints": tf.constant(true),
        "pixels": tf.zeros((6, 4, 4, 3)),
    }
    report, _ = evaluate_keypoints(
        lambda x, training=False: x,
        [batch],
        codec=codec,
        flip_index=None,
        normalizer="size",
        threshold=0.1,
        names=["a", "b", "c"],
        eye_indices=None,
        oks=OksSettings([0.035] * 3, "test", "whole pictures"),
    )
    np.testing.assert_allclose(report["mean_offset"], shift, atol=0.05)
    assert report["pck"] == 1.0 and report["ap"]["ap50"] == pytest.approx(1.0)


def test_check_asks_for_a_category_and_then_reads_only_its_objects(tmp_path, capsys):
    from recipes import pose

    bird = {"id": 950, "image_id": 0, "category_id": 2, "bbox": [0, 0, 9, 9], "area": 81, "keypoints": [1, 1, 2]}
    folder = _coco_folder(
        tmp_path,
        extra=[bird],
        categories=[
            {"id": 1, "name": "critter", "keypoints": ["l_ear", "r_ear", "snout"], "skeleton": [[1, 3], [2, 3]]},
            {"id": 2, "name": "bird", "keypoints": ["beak"]},
        ],
    )
    flags = ["check", "--dataset", f"folder:{folder}", "--input-size", "32", "--encoder-weights", "none"]
    assert pose.main(flags) != 0
    assert "--category NAME" in capsys.readouterr().out
    assert pose.main([*flags, "--category", "critter"]) == 0
    out = capsys.readouterr().out
    assert "no problems found in 10 example(s)" in out and "nothing stops training" in out


@pytest.mark.slow
def test_a_coco_folder_run_reports_ap_and_the_same_ap_on_detections_equal_to_its_boxes(tmp_path):
    """faces-coco (two faces per picture): the run reports OKS AP with ground-truth boxes; given the
    annotation file itself as --eval-boxes (its boxes as detections, score 1), the detection AP is the same."""
    from recipes import pose
    from zoo.__main__ import main as zoo_main

    data, run = tmp_path / "pairs", tmp_path / "run"
    assert zoo_main(["sample-data", "faces-coco", str(data), "--count", "10", "--size", "64"]) == 0
    assert (
        pose.main(
            [
                "--dataset",
                f"folder:{data}",
                "--model",
                "simple_baseline",
                "--backbone",
                "mobilenetv2",
                "--encoder-weights",
                "none",
                "--input-size",
                "64",
                "--batch-size",
                "4",
                "--steps-per-epoch",
                "1",
                "--schedule",
                "all:1@1e-3",
                "--out",
                str(run),
                "--verbose",
                "0",
                "--eval-boxes",
                str(data / "keypoints.json"),
                "--half-body",
                "0.5",
                "--lower-body",
                "3,4",
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert json.loads((run / "config.json").read_text())["settings"]["half_body"] == 0.5
    assert metrics["oks"]["boxes"] == "ground-truth boxes (enlarged 1.25x)"
    assert metrics["ap_detections"]["ap"] == pytest.approx(metrics["ap"]["ap"], abs=1e-9)
    assert "2 boxes on 1 of 1 validation pictures" in metrics["ap_detections"]["boxes"]
    info = json.loads((run / "export" / "model.json").read_text())
    assert info["region"] == "box" and info["skeleton"][0] == [0, 1] and info["codec"] == "msra"
    with pytest.raises(ValueError, match="--eval-boxes is for COCO keypoint folders"):
        pose.main(
            ["--dataset", "synthetic:faces", "--eval-boxes", str(data / "keypoints.json"), "--out", str(tmp_path / "x")]
        )


def test_the_saved_models_boxes_signature_answers_as_evaluation_warps_a_box(faces_run):
    """TF-only clients: pictures, boxes and box indices in; the keypoints of each box, in its picture's
    pixels, as the recipe's evaluation computes them (the same affine warp of the enlarged box)."""
    import tensorflow as tf

    import zoo
    from zoo.models.backbones import preprocess_input
    from zoo.tasks.keypoints import geometry
    from zoo.tasks.keypoints.boxes import enlarged_box
    from zoo.tasks.keypoints.heatmap_codec import HeatmapCodec, flip_average

    info = json.loads((faces_run / "export" / "model.json").read_text())
    assert info["signatures"] == ["serving_default", "boxes"]
    signature = tf.saved_model.load(str(faces_run / "export")).signatures["boxes"]
    rng = np.random.default_rng(5)
    pictures = rng.integers(0, 256, (2, 90, 120, 3), dtype=np.uint8)
    boxes = np.array([[10, 5, 50, 60], [70, 30, 45, 40], [-5, 50, 40, 50]], np.float32)
    indices = np.array([0, 1, 1], np.int32)
    out = signature(images=tf.constant(pictures), boxes=tf.constant(boxes), box_indices=tf.constant(indices))
    model = zoo.simple_baseline(
        "vgg16", num_keypoints=5, input_shape=(64, 64, 3), encoder_weights=None, deconv_filters=(256,) * 3
    )
    model.load_weights(faces_run / "checkpoints" / "best.weights.h5")
    codec = HeatmapCodec.from_info(info)
    for m, (box, index) in enumerate(zip(boxes, indices)):
        matrix = geometry.box_to_frame(enlarged_box(*box), (64, 64))
        x = preprocess_input(geometry.warp_image(pictures[index], matrix, (64, 64))[None], "vgg16")
        heatmaps = flip_average(model(x), model(tf.reverse(x, axis=[2])), info["flip_index"])  # flip test on
        frame, scores = codec.decode(heatmaps)
        expected = geometry.transform_points(frame[0], tf.linalg.inv(matrix)).numpy()
        np.testing.assert_allclose(out["keypoints"][m].numpy(), expected, atol=2e-3)
        np.testing.assert_allclose(out["scores"][m].numpy(), scores[0].numpy(), atol=1e-4)


def test_half_body_looks_at_one_half_of_an_object_with_enough_keypoints():
    import tensorflow as tf

    from zoo.tasks.keypoints.coco_ap import COCO_PERSON_KEYPOINTS
    from zoo.tasks.keypoints.geometry import HalfBody, half_body_box, lower_body_mask

    names = list(COCO_PERSON_KEYPOINTS)
    lower = lower_body_mask(names)
    assert lower == tuple(i >= 11 for i in range(17))
    points = tf.constant([[50.0 + 3 * i, 10.0 + 8 * i] for i in range(17)])  # head at the top, feet at the bottom
    seen = tf.ones(17, tf.bool)
    box = tf.constant([0.0, 0.0, 200.0, 200.0])
    halves = set()
    for s in range(12):
        out = half_body_box(box, points, seen, HalfBody(1.0, lower), tf.constant([s, 7], tf.int64)).numpy()
        halves.add(tuple(np.round(out, 2)))
    upper_centre = ((50 + 80) / 2, (10 + 90) / 2)  # keypoints 0..10
    expected_upper = (
        upper_centre[0] - 15.5 * 1.5,
        upper_centre[1] - 40.5 * 1.5,
        upper_centre[0] + 15.5 * 1.5,
        upper_centre[1] + 40.5 * 1.5,
    )
    assert tuple(np.round(expected_upper, 2)) in halves and len(halves) == 2  # upper and lower both drawn
    assert np.array_equal(half_body_box(box, points, seen, HalfBody(0.0, lower), tf.constant([1, 2], tf.int64)), box)
    few = tf.constant([True] * 3 + [False] * 14)  # 3 labelled keypoints: under min_total, the whole box stays
    assert np.array_equal(half_body_box(box, points, few, HalfBody(1.0, lower), tf.constant([1, 2], tf.int64)), box)
    with pytest.raises(ValueError, match="no lower-body keypoints by name; .* --lower-body"):
        lower_body_mask(["left_eye", "right_eye", "nose"])
    assert lower_body_mask(["a", "b", "c"], "2") == (False, False, True)

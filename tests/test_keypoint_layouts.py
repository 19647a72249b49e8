"""Keypoint data as other projects ship it: ``coco:FILE.json`` read where it lies, presets, flips that are
never silently wrong, several annotation files, categories trained as one, and the boxes ``predict`` uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.tasks.keypoints.dataset_presets import load_preset, preset_from_json, preset_names
from zoo.tasks.keypoints.sources import coco_keypoint_source, flip_index_from_names, folder_keypoint_source

SIZE = 64


def _picture(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_coco(
    path: Path,
    images_dir: Path,
    count: int,
    *,
    names=("nose", "left_eye", "right_eye"),
    skeleton=((1, 2), (2, 3)),
    categories=None,
    crowd: bool = True,
    seed: int = 0,
) -> dict:
    """A COCO keypoints file of ``count`` pictures (one object each, plus a crowd region on the first) with
    its pictures written into ``images_dir``."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    categories = categories or [
        {"id": 1, "name": "person", "keypoints": list(names), "skeleton": [list(p) for p in skeleton]}
    ]
    k = len(categories[0]["keypoints"]) or 3
    for i in range(count):
        name = f"{seed:03d}{i:09d}.jpg"
        _picture(images_dir / name, seed * 100 + i)
        images.append({"id": seed * 1000 + i + 1, "file_name": name, "height": SIZE, "width": SIZE})
        points = []
        for j in range(k):
            points += [float(rng.uniform(12, 52)), float(rng.uniform(12, 52)), int(rng.choice([1, 2]) if j else 0)]
        for c, category in enumerate(categories):
            annotations.append({
                "id": len(annotations) + 1, "image_id": images[-1]["id"], "category_id": category["id"],
                "keypoints": points, "num_keypoints": k - 1, "bbox": [8.0 + c, 8.0, 48.0, 48.0], "area": 2304.0,
                "iscrowd": 0,
            })  # fmt: skip
    if crowd:
        annotations.append({
            "id": len(annotations) + 1, "image_id": images[0]["id"], "category_id": categories[0]["id"],
            "keypoints": [0] * 3 * k, "num_keypoints": 0, "bbox": [0, 0, 20, 20], "area": 400.0, "iscrowd": 1,
        })  # fmt: skip
    data = {"images": images, "annotations": annotations, "categories": categories}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return data


def coco_tree(root: Path, **kwargs) -> Path:
    """COCO's own layout: annotations/person_keypoints_{train,val}2017.json beside train2017/ and val2017/."""
    write_coco(root / "annotations" / "person_keypoints_train2017.json", root / "train2017", 6, seed=1, **kwargs)
    write_coco(root / "annotations" / "person_keypoints_val2017.json", root / "val2017", 3, seed=2, **kwargs)
    return root / "annotations" / "person_keypoints_train2017.json"


def test_coco_file_is_read_where_it_lies_with_its_official_validation_file(tmp_path):
    source = coco_keypoint_source(str(coco_tree(tmp_path)), channels=3, val_fraction=0.2, seed=0)
    assert (source.num_train, source.num_val) == (6, 3)  # crowd regions skipped, val from the val file
    assert "2 crowd annotations skipped" in source.description  # one in each file
    assert source.flip_index == [0, 2, 1]
    assert source.region == "box"
    example = next(iter(source.train))
    assert example["image"].shape == (SIZE, SIZE, 3)


def test_coco_pictures_are_found_by_file_name_or_images_flag(tmp_path):
    path = tmp_path / "kp.json"
    write_coco(path, tmp_path / "pictures", 4)
    with pytest.raises(ValueError, match="give --images DIR"):
        coco_keypoint_source(str(path), channels=3, val_fraction=0.25, seed=0)
    source = coco_keypoint_source(str(path), channels=3, val_fraction=0.25, seed=0, images=str(tmp_path / "pictures"))
    assert source.num_train + source.num_val == 4


def test_a_skeleton_with_out_of_range_links_is_dropped_whole_with_a_warning(tmp_path):
    path = coco_tree(tmp_path, skeleton=((1, 2), (2, 3), (16, 17)))
    source = coco_keypoint_source(str(path), channels=3, val_fraction=0.2, seed=0)
    assert source.skeleton == []  # one link outside the keypoints: the skeleton was written for others
    assert any("[16, 17]" in w and "dropped" in w for w in source.warnings)


def test_face_files_without_names_get_generated_names_and_a_preset_gives_pairs(tmp_path):
    folder = tmp_path / "faces"
    write_coco(folder / "face.json", folder / "images", 5, names=(), skeleton=())
    data = json.loads((folder / "face.json").read_text())
    for ann in data["annotations"]:
        ann["keypoints"] = (ann["keypoints"] * 23)[: 3 * 68]
    data["categories"][0]["keypoints"] = []
    (folder / "face.json").write_text(json.dumps(data))
    source = folder_keypoint_source(str(folder), channels=3, val_fraction=0.2, seed=0, region="box")
    assert source.keypoint_names[:2] == ["kp0", "kp1"] and len(source.keypoint_names) == 68
    assert source.flip_index == list(range(68))  # no pairs known: the trainer turns flips off
    with_preset = folder_keypoint_source(
        str(folder), channels=3, val_fraction=0.2, seed=0, region="box", preset=load_preset("300w")
    )
    assert with_preset.flip_index[0] == 16 and with_preset.flip_index[36] == 45
    assert with_preset.keypoint_names[0] == "kpt-0" and with_preset.lower_body == []  # a face: no lower half
    with pytest.raises(ValueError, match="names 17 keypoints but"):
        folder_keypoint_source(str(folder), channels=3, val_fraction=0.2, seed=0, preset=load_preset("coco_person"))


def test_several_json_files_are_refused_until_annotations_names_one(tmp_path):
    folder = tmp_path / "data"
    write_coco(folder / "a.json", folder / "images", 4)
    write_coco(folder / "b.json", folder / "images", 4, seed=3)
    with pytest.raises(ValueError, match="--annotations FILE"):
        folder_keypoint_source(str(folder), channels=3, val_fraction=0.25, seed=0)
    source = folder_keypoint_source(str(folder), channels=3, val_fraction=0.25, seed=0, annotations="b.json")
    assert source.num_train + source.num_val == 4


def test_category_all_trains_categories_with_the_same_keypoints_as_one(tmp_path):
    names = ["L_Eye", "R_Eye", "Nose"]
    categories = [
        {"id": 1, "name": "dog", "keypoints": names, "skeleton": []},
        {"id": 2, "name": "cat", "keypoints": names, "skeleton": []},
    ]
    path = tmp_path / "ap10k" / "train.json"
    write_coco(path, tmp_path / "ap10k" / "images", 4, categories=categories, crowd=False)
    with pytest.raises(ValueError, match="--category all"):
        coco_keypoint_source(str(path), channels=3, val_fraction=0.25, seed=0)
    both = coco_keypoint_source(str(path), channels=3, val_fraction=0.25, seed=0, category="all")
    ap10k = _preset(3, [[0, 1]])
    assert (
        coco_keypoint_source(
            str(path), channels=3, val_fraction=0.25, seed=0, category="all", preset=ap10k
        ).keypoint_names
        == names
    )
    dogs = coco_keypoint_source(str(path), channels=3, val_fraction=0.25, seed=0, category="dog")
    assert both.num_train + both.num_val == 8 and dogs.num_train + dogs.num_val == 4
    assert both.flip_index == [1, 0, 2]  # L_/R_ prefixes pair


def test_side_conventions_pair_by_name():
    assert flip_index_from_names(["eyeL", "eyeR", "nose"]) == [1, 0, 2]
    assert flip_index_from_names(["forelegL1", "forelegR1"]) == [1, 0]
    assert flip_index_from_names(["medial_right_shoulder", "medial_left_shoulder"]) == [1, 0]
    assert flip_index_from_names(["L_F_Paw", "R_F_Paw", "l.hand", "r.hand"]) == [1, 0, 3, 2]
    assert flip_index_from_names(["kp0", "kp1", "lateral", "rear"]) == [0, 1, 2, 3]


def test_every_shipped_preset_loads_and_user_presets_are_checked(tmp_path):
    assert {"coco_person", "crowdpose", "ap10k", "mpii", "300w", "wflw", "cofw", "aflw"} <= set(preset_names())
    counts = {name: len(load_preset(name).keypoints) for name in preset_names()}
    assert counts["coco_person"] == 17 and counts["wflw"] == 98 and counts["300w"] == 68 and counts["crowdpose"] == 14
    coco = load_preset("coco_person")
    assert coco.sigmas[0] == 0.026 and (1, 2) in coco.flip_pairs and coco.lower_body == tuple(range(11, 17))
    with pytest.raises(ValueError, match="at most one other"):
        preset_from_json({"keypoints": ["a", "b", "c"], "flip_pairs": [[0, 1], [1, 2]]}, "mine", "mine")
    with pytest.raises(ValueError, match="3 positive numbers"):
        preset_from_json({"keypoints": ["a", "b", "c"], "sigmas": [0.1]}, "mine", "mine")
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"keypoints": ["a", "b"], "flip_pairs": [[0, 1]]}))
    assert load_preset(str(own)).flip_pairs == ((0, 1),)


def _flags(dataset: str) -> list[str]:
    return [
        "--dataset", dataset, "--model", "simple_baseline", "--backbone", "mobilenetv2", "--encoder-weights", "none",
        "--input-size", "64", "--batch-size", "4", "--steps-per-epoch", "1", "--schedule", "all:1@1e-3",
        "--verbose", "0",
    ]  # fmt: skip


def test_coco_layout_check_says_what_training_will_do(tmp_path, capsys):
    """check names the objects, skipped crowds, region, flips turned off without pairs, visibility and
    sigmas, and refuses the flip test that training refuses (training itself: the slow test below)."""
    from recipes import pose

    path = coco_tree(tmp_path / "coco", names=("kp0", "kp1", "kp2"))
    flags = _flags(f"coco:{path}")
    assert pose.main(["check", *flags]) == 0
    out = capsys.readouterr().out
    assert "6 train / 3 val objects, region box; 2 crowd annotations skipped" in out
    assert "flip pairs: none known, so training turns flips off" in out
    assert "labelled hidden" in out and "visible" in out and "OKS sigmas:" in out
    assert pose.main(["check", *flags, "--flip-test"]) == 2
    assert "--flip-test / --eval-tta flip need the left/right keypoint pairs" in capsys.readouterr().out


@pytest.mark.slow
def test_coco_layout_end_to_end_check_train_predict_with_filtered_boxes(tmp_path, capsys):
    """check says what training will do; flips go off without pairs; predict keeps the boxes asked for,
    matches image_id-only detections through --annotations, refuses a file that names no picture, and
    writes every keypoint inside its picture."""
    from recipes import pose
    from zoo.__main__ import main as zoo_main

    path = coco_tree(tmp_path / "coco", names=("kp0", "kp1", "kp2"))
    flags = _flags(f"coco:{path}")
    assert pose.main(["check", *flags]) == 0
    out = capsys.readouterr().out
    assert "6 train / 3 val objects, region box; 2 crowd annotations skipped" in out
    assert "flip pairs: none known, so training turns flips off" in out
    run = tmp_path / "run"
    assert pose.main([*flags, "--out", str(run)]) == 0
    assert "flips are turned off" in capsys.readouterr().out
    assert pose.main(["check", *flags, "--flip-test"]) == 2  # check refuses what training refuses
    assert "--flip-test / --eval-tta flip need the left/right keypoint pairs" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--flip-test / --eval-tta flip need the left/right keypoint pairs"):
        pose.main([*flags, "--out", str(tmp_path / "r2"), "--flip-test"])

    val = json.loads((tmp_path / "coco" / "annotations" / "person_keypoints_val2017.json").read_text())
    detections = [
        {"image_id": img["id"], "category_id": 1, "bbox": [4.0, 4.0, 56.0, 56.0], "score": 0.9} for img in val["images"]
    ]
    detections += [
        {"image_id": img["id"], "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.9} for img in val["images"]
    ]
    detections += [
        {"image_id": img["id"], "category_id": 1, "bbox": [1, 1, 9, 9], "score": 0.1} for img in val["images"]
    ]
    boxes = tmp_path / "detections.json"
    boxes.write_text(json.dumps(detections))
    predicted = tmp_path / "predicted"
    base = ["predict", str(run / "export"), str(tmp_path / "coco" / "val2017"), "--no-progress", "--boxes", str(boxes)]
    assert zoo_main([*base, "--out", str(tmp_path / "p0")]) == 2  # image_id only: nothing names the pictures
    assert "--annotations FILE" in capsys.readouterr().err
    annotations = str(tmp_path / "coco" / "annotations" / "person_keypoints_val2017.json")
    chosen = ["--annotations", annotations, "--box-category", "person", "--min-box-score", "0.5"]
    assert zoo_main([*base, "--out", str(predicted), *chosen]) == 0
    results = json.loads((predicted / "keypoints.json").read_text())
    assert len(results) == 3 and all(r["bbox"] == [4.0, 4.0, 56.0, 56.0] for r in results)
    for result in results:
        xy = np.asarray(result["keypoints"]).reshape(-1, 3)[:, :2]
        assert (xy >= 0).all() and (xy <= SIZE - 1).all() and isinstance(result["outside"], list)


def test_mpii_joint_records_are_read_with_boxes_from_centre_and_scale(tmp_path):
    """mmpose's MPII files are a list of records with centre and scale instead of boxes; 16 joints take
    the mpii preset's names and pairs."""
    from zoo.tasks.keypoints.checks import check_keypoint_folder

    folder = tmp_path / "mpii"
    records = []
    rng = np.random.default_rng(0)
    for i in range(5):
        _picture(folder / "images" / f"{i:09d}.jpg", i)
        joints = rng.uniform(10, 54, (16, 2)).round(1)
        joints[3] = -1  # MPII marks a missing joint at -1
        records.append({
            "image": f"{i:09d}.jpg", "joints": joints.tolist(), "joints_vis": [1] * 16,
            "center": [32.0, 32.0], "scale": 0.25,
        })  # fmt: skip
    (folder / "mpii_train.json").write_text(json.dumps(records))
    source = folder_keypoint_source(str(folder), channels=3, val_fraction=0.2, seed=0, preset=load_preset("mpii"))
    assert source.region == "box" and source.num_train + source.num_val == 5
    assert source.keypoint_names[0] == "right_ankle" and source.flip_index[0] == 5
    assert source.lower_body == [0, 1, 2, 3, 4, 5, 6]  # the preset's lower half, for --half-body
    box = next(iter(source.train))["box"].numpy()
    # as mmpose reads MPII: the centre to 0-based pixels and 15 x scale lower, the scale 1.25 times larger
    np.testing.assert_allclose(box, [31 - 31.25, 34.75 - 31.25, 31 + 31.25, 34.75 + 31.25])
    points = source.train_annotations.points[0]
    assert points[3, 2] == 0 and points[0, 2] == 1  # the missing joint is unlabelled
    report = check_keypoint_folder(str(folder), channels=3, preset="mpii")
    assert not report.errors, report.text()
    assert "a list of joint records" in report.text()


def test_a_preset_of_another_dataset_is_refused_and_a_foreign_skeleton_dropped(tmp_path):
    """--preset coco_person on a file whose own names pair otherwise (AP-10K's) is refused; a file's skeleton
    with links outside its keypoints (CrowdPose carries COCO's 17-point one) is dropped whole, and the
    preset's is drawn instead."""
    names = ["left_eye", "right_eye", "nose"]
    path = tmp_path / "animals.json"
    write_coco(path, tmp_path / "images", 4, names=names, skeleton=((1, 2), (2, 3), (15, 17)), crowd=False)
    with pytest.raises(ValueError, match="pairs left and right otherwise"):
        coco_keypoint_source(str(path), channels=3, val_fraction=0.25, seed=0, preset=_preset(3, [[1, 2]]))
    source = coco_keypoint_source(str(path), channels=3, val_fraction=0.25, seed=0, preset=_preset(3, [[0, 1]]))
    assert source.keypoint_names == names and source.skeleton == [(0, 2), (1, 2)]  # the preset's skeleton


def _preset(count: int, pairs):
    return preset_from_json(
        {"keypoints": [f"p{i}" for i in range(count)], "flip_pairs": pairs, "skeleton": [[0, 2], [1, 2]]},
        "mine",
        "mine",
    )

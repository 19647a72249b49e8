"""Keypoint edge cases: what ``python -m recipes.pose check`` reports, training refuses alike before its first step
(one validation, ``zoo.tasks.keypoints.validation``); and the boxes ``predict`` is given (matched to pictures,
clipped to them, refused with their index), and runtime calls without pictures."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

SIZE = 32


def _picture(path: Path, seed: int, size=(SIZE, SIZE)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def _coco_folder(root: Path, *, names=("nose", "kp_a", "kp_b"), count=6, change=None, sizes=True) -> Path:
    """A COCO keypoint folder of ``count`` 32 px pictures, one object each (box around its keypoints);
    ``change(data)`` edits the file before it is written."""
    images, annotations = [], []
    for i in range(count):
        name = f"p{i}.png"
        _picture(root / "images" / name, i)
        images.append({"id": i + 1, "file_name": name, **({"height": SIZE, "width": SIZE} if sizes else {})})
        points = [10.0 + i, 10.0, 2, 20.0, 12.0 + i, 2, 15.0, 20.0, 2][: 3 * len(names)]
        annotations.append({
            "id": i + 1, "image_id": i + 1, "category_id": 1, "keypoints": points, "bbox": [6.0, 6.0, 20.0, 20.0],
            "area": 400.0, "iscrowd": 0,
        })  # fmt: skip
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "x", "keypoints": list(names)}],
    }
    if change is not None:
        change(data)
    root.mkdir(parents=True, exist_ok=True)
    (root / "keypoints.json").write_text(json.dumps(data))
    return root


def _csv_folder(root: Path, rows: list[list[str]]) -> Path:
    import csv

    for row in rows:
        if not (root / "images" / row[0]).exists():
            _picture(root / "images" / row[0], len(row[0]))
    with open(root / "points.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["image", "left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y"], *rows])
    return root


def _flags(dataset: str) -> list[str]:
    return [
        "--dataset", dataset, "--model", "simple_baseline", "--backbone", "vgg16", "--encoder-weights", "none",
        "--input-size", str(SIZE), "--synthetic-count", "16", "--batch-size", "2", "--steps-per-epoch", "1",
        "--schedule", "all:1@1e-3", "--verbose", "0",
    ]  # fmt: skip


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _refused_alike(flags: list[str], words: list[str], out: Path, capsys, monkeypatch) -> None:
    """``check`` exits 2 naming ``words``; training raises a one-line ValueError naming them before any network
    is built or trained."""
    import zoo.run.phases
    import zoo.tasks
    from recipes import pose

    capsys.readouterr()
    assert pose.main(["check", *flags]) == 2
    printed = capsys.readouterr().out
    assert all(w in printed for w in words), printed

    def started(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(zoo.tasks, "build_network", started)
    monkeypatch.setattr(zoo.run.phases, "fit_phases", started)
    with pytest.raises(ValueError) as refused:
        pose.main([*flags, "--out", str(out)])
    message = str(refused.value)
    assert all(w in message for w in words), message
    if "\n" in message:  # the check scan's whole report (zoo.data.checks.DatasetError): the problem among it
        assert "see all problems at once" in message
    assert not (out / "history.csv").exists()


def _coco_cases(tmp: Path) -> dict:
    """name -> (dataset, extra flags, words the refusal names)."""
    plain = f"folder:{_coco_folder(tmp / 'plain')}"
    sided = f"folder:{_coco_folder(tmp / 'sided', names=('left_eye', 'right_eye', 'nose'))}"

    def far(data):  # the first object's box far from its keypoints
        data["annotations"][0]["bbox"] = [0.0, 0.0, 4.0, 4.0]

    def huge(data):  # a box a billion pixels wide
        data["annotations"][1]["bbox"] = [6.0, 6.0, 1e9, 20.0]

    def twice(data):  # the same object twice
        data["annotations"].append({**data["annotations"][2], "id": 99})

    val_names = tmp / "val_names.json"
    own_preset = _write(tmp / "preset.json", json.dumps({"keypoints": ["a", "b", "c"], "flip_pairs": [[0, 1]]}))
    return {
        "eval-boxes not JSON": (plain, ["--eval-boxes", _write(tmp / "boxes.txt", "not json")], ["--eval-boxes", "JSON"]),
        "eval-boxes not boxes": (
            plain, ["--eval-boxes", _write(tmp / "dict.json", '{"a": 1}')], ["--eval-boxes", "expected COCO detection"]
        ),
        "eval-boxes empty": (plain, ["--eval-boxes", _write(tmp / "empty.json", "[]")], ["--eval-boxes", "holds no box"]),
        "eval-boxes no validation picture": (
            plain,
            ["--eval-boxes", _write(val_names, json.dumps([{"file_name": "zz.png", "bbox": [1, 1, 9, 9]}]))],
            ["--eval-boxes", "none of its 1 boxes belongs to one of the"],
        ),
        "eval-boxes NaN": (
            plain,
            ["--eval-boxes", _write(tmp / "nan.json", '[{"file_name": "p0.png", "bbox": [1, NaN, 9, 9]}]')],
            ["--eval-boxes", "entry 0", "NaN"],
        ),
        "eval-boxes on whole pictures": (
            plain, ["--region", "image", "--eval-boxes", str(val_names)], ["--eval-boxes", "whole pictures"]
        ),
        "flip-pairs on names with sides": (sided, ["--flip-pairs", "0-1"], ["--flip-pairs 0-1", "pair them already"]),
        "flip-pairs none on names with sides": (sided, ["--flip-pairs", "none"], ["--flip-pairs none", "already"]),
        "flip-pairs with a preset's pairs": (
            plain, ["--preset", own_preset, "--flip-pairs", "1-2"], ["--flip-pairs 1-2", "gives these keypoints"]
        ),
        "half-body without a lower half": (plain, ["--half-body", "0.3"], ["--half-body", "lower"]),
        "lower-body unknown names": (
            plain, ["--half-body", "0.3", "--lower-body", "a,b"], ["--lower-body 'a,b'", "a, b are not among"]
        ),
        "oks-sigmas count": (plain, ["--oks-sigmas", "0.1,0.2"], ["--oks-sigmas '0.1,0.2'", "3 comma-separated"]),
        "box far from its keypoints": (
            f"folder:{_coco_folder(tmp / 'far', change=far)}", [], ["boxes that miss their object", "annotations[0]"]
        ),
        "box a billion pixels wide": (
            f"folder:{_coco_folder(tmp / 'huge', change=huge)}", [], ["mostly outside their picture", "annotations[1]"]
        ),
        "box a billion pixels wide, sizes undeclared": (
            f"folder:{_coco_folder(tmp / 'huge2', change=huge, sizes=False)}", [], ["mostly outside their picture"]
        ),
        "the same object twice": (
            f"folder:{_coco_folder(tmp / 'twice', change=twice)}", [], ["the same object twice", "annotations[6]"]
        ),
    }  # fmt: skip


SYNTHETIC_CASES = {
    "half-body without a lower half": (["--half-body", "0.3"], ["--half-body", "lower-body keypoints"]),
    "lower-body unknown names": (["--half-body", "0.3", "--lower-body", "a,b"], ["--lower-body 'a,b'", "not among"]),
    "lower-body index out of range": (["--half-body", "0.3", "--lower-body", "99"], ["--lower-body '99'", "99 is"]),
    "lower-body leaves no upper half": (["--half-body", "0.3", "--lower-body", "0,1,2,3,4"], ["no upper half"]),
    "oks-sigmas count": (["--oks-sigmas", "0.1,0.2"], ["--oks-sigmas '0.1,0.2'", "5 comma-separated"]),
    "num-keypoints": (["--num-keypoints", "3"], ["--num-keypoints 3", "5 keypoints"]),
}


@pytest.mark.parametrize(
    "case",
    [
        c if c in ("lower-body index out of range", "oks-sigmas count") else pytest.param(c, marks=pytest.mark.slow)
        for c in SYNTHETIC_CASES
    ],
)
def test_keypoint_flags_on_synthetic_faces_are_refused_by_check_and_training_alike(case, tmp_path, capsys, monkeypatch):
    flags, words = SYNTHETIC_CASES[case]
    _refused_alike([*_flags("synthetic:faces"), *flags], words, tmp_path / "run", capsys, monkeypatch)


COCO_CASE_NAMES = [  # the keys of _coco_cases
    "eval-boxes not JSON",
    "eval-boxes not boxes",
    "eval-boxes empty",
    "eval-boxes no validation picture",
    "eval-boxes NaN",
    "eval-boxes on whole pictures",
    "flip-pairs on names with sides",
    "flip-pairs none on names with sides",
    "flip-pairs with a preset's pairs",
    "half-body without a lower half",
    "lower-body unknown names",
    "oks-sigmas count",
    "box far from its keypoints",
    "box a billion pixels wide",
    "box a billion pixels wide, sizes undeclared",
    "the same object twice",
]


# One case of each kind in the fast tier, the rest in the slow one (each runs check and a training start).
COCO_FAST = {
    "eval-boxes not JSON",
    "flip-pairs on names with sides",
    "half-body without a lower half",
    "box far from its keypoints",
    "box a billion pixels wide",
    "the same object twice",
}


@pytest.mark.parametrize(
    "case", [c if c in COCO_FAST else pytest.param(c, marks=pytest.mark.slow) for c in COCO_CASE_NAMES]
)
def test_keypoint_flags_and_records_of_a_coco_folder_are_refused_by_check_and_training_alike(
    case, tmp_path, capsys, monkeypatch
):
    dataset, flags, words = _coco_cases(tmp_path)[case]
    _refused_alike([*_flags(dataset), *flags], words, tmp_path / "run", capsys, monkeypatch)


def test_a_csv_row_naming_a_picture_twice_is_refused_by_check_and_training_alike(tmp_path, capsys, monkeypatch):
    rows = [[f"f{i}.png", "10", "12", "20", "12"] for i in range(6)]
    rows.insert(2, ["./f1.png", "10", "12", "20", "12"])  # line 4 names f1.png again (first on line 3)
    folder = _csv_folder(tmp_path / "faces", rows)
    words = ["points.csv line 4", "first on line 3"]
    _refused_alike(_flags(f"folder:{folder}"), words, tmp_path / "run", capsys, monkeypatch)
    from zoo.tasks.keypoints import sources as ks

    with pytest.raises(ValueError, match="points.csv line 4 names the picture './f1.png' again"):
        ks.folder_keypoint_source(str(folder), channels=3, val_fraction=0.25, seed=0)  # as --skip-check reads it


def test_flip_pairs_may_only_add_what_names_with_a_side_lack(tmp_path, capsys):
    """Names that pair some keypoints and leave one with a side alone: --flip-pairs may pair the rest, keeping
    the names' pairs; breaking them is refused."""
    from recipes import pose

    folder = _coco_folder(tmp_path / "ears", names=("left_eye", "right_eye", "left_ear_tip"))
    flags = _flags(f"folder:{folder}")
    assert pose.main(["check", *flags]) == 2  # left_ear_tip has no partner: flips would keep it on its side
    assert "left_ear_tip" in capsys.readouterr().out
    assert pose.main(["check", *flags, "--flip-pairs", "0-1"]) == 0
    capsys.readouterr()
    assert pose.main(["check", *flags, "--flip-pairs", "0-2"]) == 2
    assert "--flip-pairs 0-2 breaks the pairs the keypoint names give (left_eye-right_eye)" in capsys.readouterr().out


def test_lower_body_takes_indices_or_names():
    from zoo.tasks.keypoints.coco_ap import COCO_PERSON_KEYPOINTS
    from zoo.tasks.keypoints.geometry import lower_body_mask

    names = list(COCO_PERSON_KEYPOINTS)
    by_name = lower_body_mask(names, "left_hip, right_hip,LEFT_KNEE,right_knee,left_ankle,right_ankle")
    assert by_name == lower_body_mask(names, "11,12,13,14,15,16") == lower_body_mask(names)
    with pytest.raises(ValueError, match=r"--lower-body '11,hips': hips is not among the 17 keypoints"):
        lower_body_mask(names, "11,hips")
    with pytest.raises(ValueError, match=r"--lower-body '-1,17': -1, 17 are not among"):
        lower_body_mask(names, "-1,17")


# ---- boxes for predict


@pytest.mark.parametrize(
    "bbox, words",
    [
        ("[1, NaN, 5, 5]", "NaN or an infinite value"),
        ("[1, 2, Infinity, 5]", "NaN or an infinite value"),
        ("[-Infinity, 2, 5, 5]", "NaN or an infinite value"),
        ("[1, 2, 0, 5]", "width or height that is not above 0"),
        ("[1, 2, 5, -3]", "width or height that is not above 0"),
        ('[1, 2, "5", 5]', "other than numbers"),
        ("[1, 2, true, 5]", "other than numbers"),
        ("[1, 2, 5]", "not four numbers"),
        ("null", "not four numbers"),
    ],
)
def test_a_box_that_cannot_be_looked_at_is_refused_with_its_entry_when_read(bbox, words, tmp_path):
    from zoo.tasks.keypoints.boxes import read_boxes

    path = tmp_path / "boxes.json"
    path.write_text(f'[{{"file_name": "a.png", "bbox": [1, 2, 5, 5]}}, {{"file_name": "a.png", "bbox": {bbox}}}]')
    with pytest.raises(ValueError) as refused:
        read_boxes(path)
    message = str(refused.value)
    assert f"--boxes {path}: entry 1 has bbox" in message and words in message and "\n" not in message


@pytest.mark.parametrize(
    "entries, words",
    [
        ([], "holds no box (an empty list"),
        ({"images": [], "annotations": []}, "holds no box"),
        ([{"file_name": "zz.png", "bbox": [1, 1, 5, 5]}], "none of its 1 boxes belongs to one of the 2 pictures"),
        ([{"image_id": 5, "bbox": [1, 1, 5, 5]}], "image_id 5"),  # a COCO id, and the pictures are not numbered
        ([{"image_id": 1, "bbox": [1, 1, 5, 5]}], "none of its 1 boxes"),
    ],
)
def test_boxes_that_match_no_picture_are_refused_saying_how_boxes_are_matched(entries, words, tmp_path):
    from zoo.tasks.keypoints.boxes import check_boxes_match, read_boxes

    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(entries))
    files = [(tmp_path / "pictures" / "a.png", "a"), (tmp_path / "pictures" / "sub" / "b.png", "sub/b")]
    with pytest.raises(ValueError) as refused:
        check_boxes_match(read_boxes(path), files, str(path))
    message = str(refused.value)
    assert words in message and "\n" not in message, message
    if "no box" not in words:  # how boxes are matched to pictures, and the fix
        assert "file_name" in message and "image_id" in message and "--annotations FILE" in message
    matching = [{"file_name": "sub/b.png", "bbox": [1, 1, 5, 5]}, {"image_id": 7, "bbox": [1, 1, 5, 5]}]
    path.write_text(json.dumps(matching))
    assert check_boxes_match(read_boxes(path), files, str(path)) == 1


class _CropEcho:
    """A stand-in for a loaded keypoint export: one keypoint at the centre of whatever crop it is given."""

    def __init__(self):
        self.info = SimpleNamespace(channels=3, fields=SimpleNamespace(keypoint_names=("centre",), flip_index=(0,)))
        self.crops: list[tuple[int, ...]] = []

    def __call__(self, images, tta=None):
        self.crops.append(images.shape)
        height, width = images.shape[1:3]
        return {"keypoints": np.array([[[(width - 1) / 2, (height - 1) / 2]]], np.float32), "scores": np.ones((1, 1))}

    def run(self, images):
        self.crops.append(images.shape)
        return {"keypoints": np.zeros((len(images), 1, 2), np.float32), "scores": np.ones((len(images), 1))}


def test_boxes_are_clipped_to_the_picture_before_any_crop_and_refused_by_index_outside_it():
    from zoo.tasks.keypoints.runtime import predict_boxes

    echo, picture = _CropEcho(), np.zeros((40, 60, 3), np.uint8)
    out = predict_boxes(echo, picture, [[-30.0, -20.0, 1e7, 1e7], [0, 0, 60, 40], [50, 30, 100, 100]])
    assert echo.crops[0] == echo.crops[1] == (1, 50, 76, 3)  # the 1e7 box is the picture, enlarged 1.25x
    np.testing.assert_allclose(out["keypoints"][0], out["keypoints"][1])
    np.testing.assert_allclose(out["keypoints"][2, 0], [55 - 0.5, 35 - 0.5], atol=0.5)  # the corner inside
    for boxes, words in (
        (
            [[0, 0, 10, 10], [-500, -500, 100, 100]],
            "box 1 [-500.0, -500.0, 100.0, 100.0] has no area inside the 60 x 40",
        ),
        ([[60, 0, 10, 10]], "box 0 [60.0, 0.0, 10.0, 10.0] has no area inside"),
        ([[0, 0, 10, 10], [0, float("nan"), 10, 10]], "box 1 [0.0, nan, 10.0, 10.0] holds NaN"),
        ([[0, 0, 10, 10], [0, 0, float("inf"), 10]], "box 1 [0.0, 0.0, inf, 10.0] holds NaN or an infinite"),
        ([[0, 0, 10, 10], [0, 0, 0, 5]], "positive width and height"),
    ):
        echo.crops.clear()
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            predict_boxes(echo, picture, boxes)
        assert echo.crops == []  # refused before any crop is cut or run


def test_runtime_calls_without_pictures_or_pixels_are_refused_in_one_line():
    from zoo.tasks.keypoints.runtime import predict_boxes, run

    echo = _CropEcho()
    for images, words in (
        (np.zeros((0, 32, 32, 3), np.uint8), "holds no picture (batch 0)"),
        (np.zeros((1, 0, 32, 3), np.uint8), "pictures of 0 x 32 pixels"),
        (np.zeros((2, 32, 0, 3), np.uint8), "pictures of 32 x 0 pixels"),
    ):
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            run(echo, images)
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            run(echo, images, tta="flip")
    with pytest.raises(ValueError, match="pictures of 0 x 0 pixels"):
        predict_boxes(echo, np.zeros((0, 0, 3), np.uint8), [[0, 0, 1, 1]])
    assert echo.crops == []


def test_predict_refuses_boxes_that_name_no_picture_before_reading_any_and_clips_the_others(
    faces_run, tmp_path, capsys
):
    from zoo.__main__ import main as zoo_main

    folder = tmp_path / "pictures"
    for name in ("a.png", "b.png"):
        _picture(folder / name, len(name), size=(40, 60))
    base = ["predict", str(faces_run / "export"), str(folder), "--no-progress", "--boxes"]
    for n, (entries, words) in enumerate(
        [
            ([], "holds no box"),
            ([{"file_name": "zz.png", "bbox": [1, 1, 5, 5]}], "a box belongs to a picture when its file_name"),
            ([{"image_id": 3, "bbox": [1, 1, 5, 5]}], "a box belongs to a picture when its file_name"),
            ([{"file_name": "a.png", "bbox": [1, 1, 5, float("nan")]}], "entry 0 has bbox [1, 1, 5, nan]"),
        ]
    ):
        path, out = tmp_path / f"boxes{n}.json", tmp_path / f"out{n}"
        path.write_text(json.dumps(entries))
        capsys.readouterr()
        assert zoo_main([*base, str(path), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
        assert not out.exists()  # refused before any picture is read or anything written
    path = tmp_path / "clipped.json"
    path.write_text(json.dumps([
        {"file_name": "a.png", "bbox": [-5e6, -5e6, 1e7, 1e7]}, {"file_name": "b.png", "bbox": [-500, -500, 100, 100]},
    ]))  # fmt: skip
    capsys.readouterr()
    assert zoo_main([*base, str(path), "--out", str(tmp_path / "clipped")]) == 1  # b.png skipped, a.png written
    assert "skipped" in capsys.readouterr().err
    report = json.loads((tmp_path / "clipped" / "predictions.json").read_text())
    assert (
        "box 0 [-500.0, -500.0, 100.0, 100.0] has no area inside the 60 x 40 picture"
        in report["skipped"][str(folder / "b.png")]
    )
    (result,) = json.loads((tmp_path / "clipped" / "keypoints.json").read_text())
    xy = np.reshape(result["keypoints"], (-1, 3))[:, :2]
    assert Path(result["file_name"]).name == "a.png" and (xy >= 0).all() and (xy <= [59, 39]).all()

"""The catalogue of bad inputs: each is found by the scan, named with its files and a fix,
and stops training before its first step (``check`` command and recipes)."""

import json

import numpy as np
import pytest
from PIL import Image

from recipes import pose, segment
from zoo.data.checks import DatasetError
from zoo.tasks.keypoints.checks import check_keypoint_folder
from zoo.tasks.segmentation.checks import check_segmentation_folder


def _pair(root, stem, size=(40, 32), mode="RGB", mask_values=(0, 1), mask_size=None, suffix=".png"):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    w, h = size
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}[mode]
    pixels = np.random.default_rng(0).integers(0, 255, (h, w, channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(root / "images" / f"{stem}{suffix}")
    mw, mh = mask_size or size
    mask = np.full((mh, mw), mask_values[0], np.uint8)
    mask[: mh // 2] = mask_values[-1]
    Image.fromarray(mask, "L").save(root / "masks" / f"{stem}.png")


def _good(root, count=4, **kwargs):
    for i in range(count):
        _pair(root, f"ok{i}", **kwargs)


def _seg(root, **kwargs):
    options = dict(channels=3, num_classes=2, ignore_index=255)
    options.update(kwargs)
    return check_segmentation_folder(str(root), **options)


def _find(report, words):
    hits = [f for f in report.findings.values() if words in f.what]
    assert hits, report.text()
    return hits[0]


def test_a_clean_folder_has_no_findings(tmp_path):
    _good(tmp_path)
    report = _seg(tmp_path)
    assert not report.findings and report.examined == 4
    assert "no problems found in 4 example(s)" in report.text()


def test_pairing_problems_are_all_reported_at_once(tmp_path):
    _good(tmp_path)
    _pair(tmp_path, "lonely")
    (tmp_path / "masks" / "lonely.png").unlink()  # image without a mask
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "masks" / "orphan.png")  # mask without an image
    _pair(tmp_path, "twin")
    Image.fromarray(np.zeros((32, 40, 3), np.uint8)).save(tmp_path / "images" / "twin.jpg")  # duplicate stem
    report = _seg(tmp_path)
    assert "images/lonely.png" in _find(report, "image without a mask").files
    assert "masks/orphan.png" in _find(report, "mask without an image").files
    assert "images/twin.jpg" in _find(report, "duplicate image stems").files[0]
    assert len(report.errors) == 3
    with pytest.raises(DatasetError, match="3 problem"):
        report.raise_if_errors()


def test_broken_files_are_named(tmp_path):
    _good(tmp_path)
    _pair(tmp_path, "empty")
    (tmp_path / "images" / "empty.png").write_bytes(b"")
    _pair(tmp_path, "cut")
    data = (tmp_path / "images" / "cut.png").read_bytes()
    (tmp_path / "images" / "cut.png").write_bytes(data[: len(data) // 2])
    _pair(tmp_path, "junk")
    (tmp_path / "images" / "junk.png").write_bytes(b"this is not an image at all" * 10)
    (tmp_path / "images" / "scan.tiff").write_bytes(b"II*\x00")
    report = _seg(tmp_path)
    assert _find(report, "zero-byte").files == ["images/empty.png"]
    assert _find(report, "truncated").files == ["images/cut.png"]
    assert _find(report, "unreadable").files == ["images/junk.png"]
    assert _find(report, "unsupported format (.tiff)").files == ["scan.tiff"]


def test_size_mismatch_is_refused_unless_resizing_is_asked(tmp_path):
    _good(tmp_path)
    _pair(tmp_path, "big", mask_size=(80, 64))
    finding = _find(_seg(tmp_path), "differ in size")
    assert (
        finding.error and "images/big.png 40x32 vs mask 80x64" in finding.files[0] and "--resize-masks" in finding.fix
    )
    note = _find(_seg(tmp_path, resize_masks=True), "resized")
    assert not note.error


def test_mask_values_out_of_range_and_binary_masks(tmp_path):
    _good(tmp_path)
    _pair(tmp_path, "seven", mask_values=(0, 7))
    _pair(tmp_path, "ignored", mask_values=(0, 255))  # the ignore index is allowed
    finding = _find(_seg(tmp_path), "outside 0..1")
    assert finding.files == ["masks/seven.png (values [7])"]

    binary = tmp_path / "binary"
    _good(binary, mask_values=(0, 255))
    assert "--binary-masks" in _find(_seg(binary), "look like binary masks").fix
    assert not _seg(binary, binary_masks=True, num_classes=None).findings


def test_channel_conversions_are_said_and_impossible_ones_refused(tmp_path):
    _good(tmp_path)
    _pair(tmp_path, "gray", mode="L")
    _pair(tmp_path, "alpha", mode="RGBA")
    report = _seg(tmp_path)
    assert not report.errors
    assert _find(report, "grayscale images are repeated").files == ["images/gray.png"]
    assert _find(report, "RGBA images").files == ["images/alpha.png"]
    refused = _find(_seg(tmp_path, channels=4), "cannot fill the model's 4 input channels")
    assert refused.error and "images/gray.png" in refused.files


def test_empty_data_and_too_large_validation_split(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    assert _find(_seg(tmp_path), "dataset is empty").error
    _pair(tmp_path, "only")
    assert _find(_seg(tmp_path, val_fraction=0.5), "leaves no training pairs").error
    split = tmp_path / "split"
    _good(split / "train")
    (split / "val" / "images").mkdir(parents=True)
    (split / "val" / "masks").mkdir()
    assert _find(_seg(split), "val split has no image/mask pairs").error


def _faces(root, rows, header="image,nose_x,nose_y,mouth_x,mouth_y", size=(40, 30)):
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name in {r.split(",")[0] for r in rows}:
        if name.endswith(".png"):
            Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(root / "images" / name)
    (root / "points.csv").write_text("\n".join([header, *rows]) + "\n")


def test_keypoint_problems_in_a_csv_folder(tmp_path):
    _faces(
        tmp_path,
        [
            "a.png,10,10,20,12",
            "b.png,10,10,,",
            "c.png,50,10,20,12",
            "d.png,nan,3,4,5",
            "e.png,1,2,3",
            "f.png,x,1,2,3",
            "missing.png,1,1,2,2",
        ],
    )
    (tmp_path / "images" / "missing.png").unlink()
    report = check_keypoint_folder(str(tmp_path), channels=3)
    assert _find(report, "outside their image").files == ["points.csv line 4"]
    assert _find(report, "NaN or infinite").files == ["points.csv line 5"]
    assert _find(report, "keypoint count differs").files == ["points.csv line 6"]
    assert _find(report, "not numbers").files == ["points.csv line 7"]
    assert _find(report, "does not exist").files == ["images/missing.png"]
    assert len(report.errors) == 5  # b.png (empty cells = not labelled) is fine
    declared = check_keypoint_folder(str(tmp_path), channels=3, num_keypoints=3)
    assert "declared 3" in _find(declared, "keypoint count other than").what
    _faces(tmp_path / "swapped", ["a.png,10,10,20,12"], header="image,nose_x,mouth_y,mouth_x,nose_y")
    swapped = check_keypoint_folder(str(tmp_path / "swapped"), channels=3)
    assert _find(swapped, "do not pair NAME_x with NAME_y: nose_x / mouth_y").files == ["points.csv"]
    _faces(tmp_path / "sided", ["a.png,10,10,20,12"], header="image,nose_x,nose_y,left_eye_x,left_eye_y")
    assert "left_eye" in _find(check_keypoint_folder(str(tmp_path / "sided"), channels=3), "no partner").what


def test_keypoint_problems_in_a_coco_folder(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"file_name": "b.png"}],
        "categories": [{"keypoints": ["nose", "mouth"]}],
        "annotations": [
            {"image_id": 1, "keypoints": [5, 5, 2, 6, 6, 2]},
            {"image_id": 1},
            {"image_id": 1, "keypoints": [5, 5, 2]},
            {"image_id": 9, "keypoints": [5, 5, 2, 6, 6, 2]},
        ],
    }
    (tmp_path / "person_keypoints.json").write_text(json.dumps(coco))
    report = check_keypoint_folder(str(tmp_path), channels=3)
    assert _find(report, "images entries without ['id']").files == ["person_keypoints.json images[1]"]
    assert _find(report, "annotations without ['keypoints']").files == ["person_keypoints.json annotations[1]"]
    assert _find(report, "length is not 3 x 2").files == ["person_keypoints.json annotations[2] (length 3)"]
    assert _find(report, "image_id is not in images").files == ["person_keypoints.json annotations[3] (image_id 9)"]
    (tmp_path / "person_keypoints.json").write_text(json.dumps({"images": []}))
    assert "lacks ['annotations', 'categories']" in check_keypoint_folder(str(tmp_path), channels=3).text()


def test_keypoint_check_names_every_broken_coco_record_by_its_annotation_id(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    names = ["nose", "left_eye", "right_eye", "left_ear"]
    good = [5, 5, 2, 6, 6, 2, 8, 6, 2, 4, 7, 1]
    annotations = [
        {"id": 10, "image_id": 1, "category_id": 1, "keypoints": good, "bbox": [1, 1, 20, 20]},
        {"id": 11, "image_id": 1, "category_id": 1, "keypoints": good[:9], "bbox": [1, 1, 20, 20]},
        {"id": 12, "image_id": 2, "category_id": 1, "keypoints": good, "bbox": [1, 1, 20, 20]},
        {"id": 13, "image_id": 1, "category_id": 1, "keypoints": good, "bbox": [1, 1, 0, 20]},
        {"id": 14, "image_id": 1, "category_id": 1, "keypoints": good[:-1] + [3], "bbox": [1, 1, 20, 20]},
    ]
    annotations += [{**annotations[1], "id": 20 + i} for i in range(6)]  # more than a finding shows by default
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "gone.png"}],
        "categories": [{"id": 1, "name": "face", "keypoints": names}, {"id": 2, "name": "hand"}],
        "annotations": annotations,
    }
    (tmp_path / "faces.json").write_text(json.dumps(coco))
    report = check_keypoint_folder(str(tmp_path), channels=3)
    assert _find(report, "length is not 3 x 4").files[0] == "faces.json annotations[1] (id 11) (length 9)"
    assert _find(report, "does not exist").files == ["images/gone.png"]
    assert _find(report, "zero or negative size").files == ["faces.json annotations[3] (id 13) (bbox [1, 1, 0, 20])"]
    assert _find(report, "visibility flags outside 0, 1, 2").files == ["faces.json annotations[4] (id 14) (flags [3])"]
    lonely = _find(report, "no partner of the other side")
    assert "left_ear" in lonely.what and "left_eye" not in lonely.what and "--flip-pairs" in lonely.fix
    assert not [f for f in report.findings.values() if "no partner" in f.what] or not check_keypoint_folder(
        str(tmp_path), channels=3, flips=False
    ).findings.get(lonely.what)
    hand = check_keypoint_folder(str(tmp_path), channels=3, category="hand")
    named = _find(hand, "names no keypoints: they are called kp0, kp1")  # a note: mmpose's face files do so
    assert named.files == ["faces.json category 'hand'"] and not named.error
    flags = ["--dataset", f"folder:{tmp_path}", "--input-size", "64", "--encoder-weights", "none"]
    assert pose.main(["check", *flags]) == 2
    assert "(id 25)" not in capsys.readouterr().out
    assert pose.main(["check", *flags, "--show-all"]) == 2
    assert "(id 25)" in capsys.readouterr().out


def test_check_command_prints_everything_and_training_stops_before_its_first_step(tmp_path, capsys):
    _good(tmp_path / "data")
    _pair(tmp_path / "data", "seven", mask_values=(0, 7))
    (tmp_path / "data" / "masks" / "ok0.png").unlink()
    flags = [
        "--dataset",
        f"folder:{tmp_path / 'data'}",
        "--num-classes",
        "2",
        "--input-size",
        "32",
        "--encoder-weights",
        "none",
        "--out",
        str(tmp_path / "run"),
    ]
    assert segment.main(["check", *flags]) == 2
    printed = capsys.readouterr().out
    assert "2 problem(s)" in printed and "images/ok0.png" in printed and "masks/seven.png (values [7])" in printed
    with pytest.raises(DatasetError, match="image without a mask"):
        segment.main(flags)
    assert not (tmp_path / "run" / "checkpoints").exists()  # stopped before training
    (tmp_path / "data" / "masks" / "seven.png").unlink()
    (tmp_path / "data" / "images" / "seven.png").unlink()
    (tmp_path / "data" / "images" / "ok0.png").unlink()
    assert segment.main(["check", *flags]) == 0
    assert "no problems found in 3 example(s)" in capsys.readouterr().out
    odd = [f if f != "32" else "40x57" for f in flags]  # segmentation: any size, the network pads inside
    assert segment.main(["check", *odd]) == 0
    capsys.readouterr()


def test_pose_check_command_and_bad_flags(tmp_path, capsys):
    _faces(tmp_path / "faces", ["a.png,10,10,20,12", "b.png,1,1,90,2"])
    flags = ["--dataset", f"folder:{tmp_path / 'faces'}", "--input-size", "64", "--encoder-weights", "none"]
    assert pose.main(["check", *flags]) == 2
    assert "outside their image (1): points.csv line 3" in capsys.readouterr().out
    with pytest.raises(ValueError, match="multiple of 32"):
        pose.main(["check", *flags[:2], "--input-size", "70"])
    with pytest.raises(ValueError, match="schedule"):
        pose.main(["check", *flags, "--schedule", "all:two@1e-3"])
    with pytest.raises(ValueError, match="unknown backbone"):
        segment.main(["check", "--backbone", "vgg11"])


def test_tfds_names_keys_splits_and_offline_data_are_explained(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from zoo.data.tfds import resolve_splits
    from zoo.tasks.segmentation.sources import tfds_source

    args = dict(
        num_classes=None,
        ignore_index=255,
        image_key=None,
        mask_key=None,
        train_split=None,
        val_split=None,
        binary_masks=False,
        data_dir=str(tmp_path),
    )
    with pytest.raises(ValueError, match=r"unknown TFDS dataset 'oxford_iiit_pets'; did you mean \['oxford_iiit_pet'"):
        tfds_source("oxford_iiit_pets", **{**args, "num_classes": 3})
    with pytest.raises(RuntimeError, match=r"'oxford_iiit_pet' is not prepared.*tfds build oxford_iiit_pet"):
        tfds_source("oxford_iiit_pet", **args)  # ZOO_OFFLINE=1 in the tests: fails at once, no download tried
    monkeypatch.setenv("ZOO_OFFLINE", "0")
    with (
        tfds.testing.mock_data(num_examples=4),
        pytest.raises(ValueError, match=r"has no feature 'mask'; its features are \[.*'segmentation_mask'"),
    ):
        tfds_source("oxford_iiit_pet", **{**args, "mask_key": "mask"})

    class Prepared:  # what resolve_splits reads of a prepared builder
        name, info = "pets", type("Info", (), {"splits": {"train": 1, "test": 1}})()

    with pytest.raises(ValueError, match=r"no split 'valid' for validation; its splits are \['test', 'train'\]"):
        resolve_splits(Prepared, "train", "valid")
    with pytest.raises(ValueError, match=r"no split 'training' for training"):
        resolve_splits(Prepared, "training", "test")
    assert resolve_splits(Prepared, "train", "validation") == ("train[:90%]", "train[90%:]")
    assert resolve_splits(Prepared, "train[:80%]+test", "test") == ("train[:80%]+test", "test")


def test_classes_txt_names_the_classes_and_must_agree_with_the_flags(tmp_path):
    from zoo.tasks.segmentation.layout import folder_class_names

    (tmp_path / "classes.txt").write_text("background\ncar\n\nroad\n")
    assert folder_class_names(tmp_path, None, False) == ["background", "car", "road"]
    assert folder_class_names(tmp_path, 3, False) == ["background", "car", "road"]
    with pytest.raises(ValueError, match="names 3 classes but --num-classes is 4"):
        folder_class_names(tmp_path, 4, False)
    with pytest.raises(ValueError, match="--binary-masks means 2"):
        folder_class_names(tmp_path, None, True)
    (tmp_path / "classes.txt").unlink()
    assert folder_class_names(tmp_path, None, True) == ["background", "object"]
    assert folder_class_names(tmp_path, 2, False) == ["class0", "class1"]
    with pytest.raises(ValueError, match="pass --num-classes, add classes.txt"):
        folder_class_names(tmp_path, None, False)


# ---- bounded reports: one finding per cause, not a line per class or value --------------------------


def _class_masks(root, values=(0, 1, 2, 3), count=6, dtype=np.uint8):
    """Pairs whose masks hold ``values`` in horizontal bands (16-bit PNGs with ``dtype`` uint16)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        Image.fromarray(np.full((32, 40, 3), 90, np.uint8)).save(root / "images" / f"p{i}.png")
        mask = np.zeros((32, 40), dtype)
        for band, value in enumerate(values):
            mask[band * 32 // len(values) :] = value
        Image.fromarray(mask).save(root / "masks" / f"p{i}.png")


def test_binary_masks_that_hold_class_indices_are_one_finding_with_the_fix(tmp_path, capsys):
    _class_masks(tmp_path / "data")
    report = _seg(tmp_path / "data", binary_masks=True, num_classes=None)
    finding = _find(report, "--binary-masks, but masks hold values other than 0/1 or 0/255")
    assert finding.error and "0, 1, 2, 3" in finding.what and len(finding.files) == 6
    assert "drop --binary-masks and pass --num-classes 4" in finding.fix
    flags = ["--dataset", f"folder:{tmp_path / 'data'}", "--binary-masks", "--encoder-weights", "none"]
    assert segment.main(["check", *flags, "--input-size", "32", "--out", str(tmp_path / "run")]) == 2
    printed = capsys.readouterr().out
    assert len(printed.splitlines()) <= 10, printed  # not a line per class 0..255
    # mixed: 0/255 masks are read; a 0..3 mask among them is named alone
    mixed = tmp_path / "mixed"
    _good(mixed, mask_values=(0, 255))
    _pair(mixed, "classes", mask_values=(0, 3))
    assert _find(_seg(mixed, binary_masks=True, num_classes=None), "other than 0/1").files == [
        "masks/classes.png (values 0, 3)"
    ]


def test_class_shares_of_many_classes_are_bounded(tmp_path):
    _class_masks(tmp_path, values=tuple(range(30)))
    report = _seg(tmp_path, num_classes=200)
    text = report.text()
    assert len(text.splitlines()) < 40, text
    assert "classes 20..199 (180 more)" in text and "170 absent" in text
    assert "and 158 more" in text  # the absent classes, by name: the first 12


def test_classes_txt_that_disagrees_with_binary_masks_is_said_as_such(tmp_path):
    _class_masks(tmp_path)
    (tmp_path / "classes.txt").write_text("background\ncar\nroad\nsky\n")
    report = _seg(tmp_path, binary_masks=True, num_classes=None)
    assert any("names 4 classes but --binary-masks means 2" in f.what for f in report.errors), report.text()
    assert not any("the classes are not known" in f.what for f in report.findings.values())


def test_more_classes_than_a_label_byte_holds_are_refused_alike_and_never_advised(tmp_path, capsys):
    flags = ["--dataset", "synthetic:shapes", "--encoder-weights", "none", "--input-size", "32"]
    for extra in (["--num-classes", "1000"], ["--num-classes", "1000", "--ignore-index", "1000"]):
        for command in (["check"], []):
            assert segment.cli([*command, *flags, *extra, "--out", str(tmp_path / "r")]) == 2
            err = capsys.readouterr().err.strip()
            assert "at most 255" in err and len(err.splitlines()) == 1, err
    assert segment.cli(["check", *flags, "--num-classes", "3", "--ignore-index", "1"]) == 2
    assert "Use a value from 3 to 255" in capsys.readouterr().err
    _class_masks(tmp_path / "named")
    (tmp_path / "named" / "classes.txt").write_text("\n".join(f"c{i}" for i in range(300)))
    errors = [f.what for f in _seg(tmp_path / "named", num_classes=None).errors]
    assert any("classes.txt gives 300 classes: at most 255" in what for what in errors), errors
    # 16-bit masks: values above 255 are named, and no flag the training would refuse is advised
    _class_masks(tmp_path / "wide", values=(0, 1, 300), dtype=np.uint16)
    for options in (dict(num_classes=2), dict(num_classes=None)):
        text = _seg(tmp_path / "wide", **options).text()
        assert "300" in text and "at most 255 classes" in text, text
        assert "--ignore-index 300" not in text and "--num-classes 301" not in text, text

"""Segmentation datasets as other projects ship them (``zoo.tasks.segmentation.layouts``): each kind read from a
small copy of its real layout written here, its pairs and splits, the preset that reads its masks, the class
index at known pixels, the problems pairing finds, and ``check`` end to end; presets, gray palettes and the
mask-value advice of ``check``."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recipes import segment
from recipes.segment import SegmentConfig
from zoo.tasks.segmentation import training
from zoo.tasks.segmentation.dataset_presets import load_preset, preset_from_json
from zoo.tasks.segmentation.labels import LabelEncoding, load_palette, voc_colormap
from zoo.tasks.segmentation.layouts import find_suffixes

W, H = 48, 40  # every picture and mask here


def _picture(path, size=(W, H)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(len(path.name)).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(path)


def _mask(path, values, mode="L"):
    """A mask file of ``values`` (uint8 [H, W]); mode "P" with the VOC colour map, as VOC ships them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(values, np.uint8), "L")
    if mode == "P":
        image = image.convert("P")
        image.putpalette(voc_colormap().reshape(-1).tolist())
        image.putdata(np.asarray(values, np.uint8).reshape(-1).tolist())
    image.save(path)


def _regions(*boxes, background=0):
    """uint8 [H, W]: ``background`` with each (value, top, bottom, left, right) box painted in order."""
    mask = np.full((H, W), background, np.uint8)
    for value, top, bottom, left, right in boxes:
        mask[top:bottom, left:right] = value
    return mask


def _settings(dataset, **flags):
    return SegmentConfig(dataset=dataset, **flags)


def _layout(dataset, **flags):
    return training.shipped_layout(_settings(dataset, **flags))


def _classes(layout, key, **flags):
    """The class indices training reads from the mask ``key`` of ``layout`` (label_setup's encoding)."""
    names, encoding, _ = training.label_setup(_settings("folder:x", **flags), layout.preset)
    return encoding.labels(encoding.raw(layout.open_mask(key)))


def _stems(pairs, suffix=".jpg"):
    return [Path(image).name[: -len(suffix)] for image, _ in pairs]


def _find(report, words, error=True):
    hits = [f for f in report.findings.values() if words in f.what and f.error == error]
    assert hits, report.text()
    return hits[0]


# ---- Pascal VOC ---------------------------------------------------------------------------------------------


VOC_STEMS = ("2007_000032", "2007_000039", "2007_000063")


def _voc(root, train_lines, val_lines=("2007_000063",)):
    """VOCdevkit/VOC2012 under ``root``: JPEGs, indexed masks (a person, 15, inside a 255 border), split files."""
    voc = root / "VOCdevkit" / "VOC2012"
    person = _regions((255, 9, 27, 9, 31), (15, 10, 26, 10, 30))
    for stem in VOC_STEMS:
        _picture(voc / "JPEGImages" / f"{stem}.jpg")
        _mask(voc / "SegmentationClass" / f"{stem}.png", person, "P")
    splits = voc / "ImageSets" / "Segmentation"
    splits.mkdir(parents=True)
    (splits / "train.txt").write_text("".join(f"{line}\n" for line in train_lines))
    (splits / "val.txt").write_text("".join(f"{line}\n" for line in val_lines))
    return voc


def test_voc_pairs_splits_problems_and_class_indices(tmp_path):
    voc = _voc(tmp_path, [*VOC_STEMS, "2007_999999"])  # the validation picture in train.txt too; one missing
    layout = _layout(f"voc:{tmp_path}")  # the folder above VOCdevkit
    assert layout.preset == "voc" and layout.description.startswith(f"voc:{voc} (train.txt")
    assert _stems(layout.train) == ["2007_000032", "2007_000039"] and _stems(layout.val) == ["2007_000063"]
    assert [mask for _, mask in layout.train] == [str(voc / "SegmentationClass" / f"{s}.png") for s in VOC_STEMS[:2]]
    assert layout.problems == [
        ("train.txt with SegmentationClass/ names a picture that is missing", "add it to JPEGImages/", "2007_999999")
    ]
    assert layout.notes == [("1 validation pictures left out of training", "train.txt with SegmentationClass/")]
    classes = _classes(layout, layout.train[0][1])
    assert (classes[15, 20], classes[0, 0], classes[9, 20], classes[26, 30]) == (15, 0, 255, 255)

    report = training.scan_folder(_settings(f"voc:{tmp_path}"), str(tmp_path))
    assert _find(report, "names a picture that is missing").files == ["2007_999999"]
    assert report.examined == 3 and "indexed masks' palette: the VOC colour map (3)" in report.text()

    with pytest.raises(ValueError, match="no split file 'trainval'.*train, val"):
        _layout(f"voc:{voc}", train_split="trainval")
    with pytest.raises(ValueError, match="no JPEGImages/ and ImageSets/"):
        _layout(f"voc:{tmp_path / 'VOCdevkit' / 'VOC2012' / 'JPEGImages'}")


def test_voc_trainaug_reads_sbd_masks_named_by_paths(tmp_path):
    voc = _voc(tmp_path, VOC_STEMS[:2])
    for stem in VOC_STEMS[:2]:
        _mask(voc / "SegmentationClassAug" / f"{stem}.png", _regions((7, 0, 20, 0, W)))  # SBD: plain class indices
    (voc / "ImageSets" / "Segmentation" / "trainaug.txt").write_text(
        "".join(f"/JPEGImages/{s}.jpg /SegmentationClassAug/{s}.png\n" for s in VOC_STEMS[:2])
    )
    plain = _layout(f"voc:{voc}")
    assert ("SBD's augmented masks are here: --train-split trainaug trains on them", str(voc)) in plain.notes
    aug = _layout(f"voc:{voc}", train_split="trainaug")
    assert not aug.problems and _stems(aug.train) == list(VOC_STEMS[:2])
    assert all("SegmentationClassAug" in mask for _, mask in aug.train)
    assert all("SegmentationClass/" in mask for _, mask in aug.val)
    assert _classes(aug, aug.train[0][1])[5, 5] == 7 and "trainaug.txt with SegmentationClassAug/" in aug.description


# ---- ADE20K -------------------------------------------------------------------------------------------------


def test_ade20k_reduces_zero_label_and_reports_unpaired_files(tmp_path):
    ade = tmp_path / "ADEChallengeData2016"
    scene = _regions((1, 0, 20, 0, W), (150, 30, H, 0, 10))  # 0 (other objects) below row 20 elsewhere
    for split, stems in (("training", ("00000001", "00000002")), ("validation", ("00000001",))):
        for stem in stems:
            name = f"ADE_{'train' if split == 'training' else 'val'}_{stem}"
            _picture(ade / "images" / split / f"{name}.jpg")
            _mask(ade / "annotations" / split / f"{name}.png", scene)
    _picture(ade / "images" / "training" / "ADE_train_00000003.jpg")  # no annotation
    layout = _layout(f"ade20k:{tmp_path}")
    assert layout.preset == "ade20k" and layout.description == f"ade20k:{ade} (training / validation)"
    assert _stems(layout.train) == ["ADE_train_00000001", "ADE_train_00000002"]
    assert _stems(layout.val) == ["ADE_val_00000001"]
    assert layout.problems == [
        (
            "image without a mask",
            f"add ADE_train_00000003.png to {ade / 'annotations' / 'training'}",
            "training/ADE_train_00000003",
        )
    ]
    classes = _classes(layout, layout.train[0][1])
    assert (classes[0, 0], classes[25, 20], classes[35, 5]) == (0, 255, 149)  # 1 -> wall, 0 ignored, 150 -> 149

    (ade / "images" / "training" / "ADE_train_00000003.jpg").unlink()
    report = training.scan_folder(_settings(f"ade20k:{tmp_path}"), str(tmp_path))
    assert not report.errors, report.text()
    read_as = "labels read as class indices 1..150, 0 unlabelled and ignored (--reduce-zero-label) (preset ade20k)"
    assert read_as in report.text()
    assert "read as unlabelled" in _find(report, "value 0 covers", error=False).what


# ---- Cityscapes ---------------------------------------------------------------------------------------------


def _cityscapes(root, suffix="_gtFine_labelIds.png", mask=None):
    """leftImg8bit/ + gtFine/ as shipped: labelIds (road 7, sidewalk 8, car 26, out of roi 3, unlabeled 0),
    with the colour and instance PNGs beside them."""
    mask = (
        _regions((7, 20, H, 0, W), (8, 20, H, 0, 8), (26, 24, 34, 20, 36), (3, 36, H, 0, W)) if mask is None else mask
    )
    cities = {"train": ("aachen", ("000000_000019", "000001_000019")), "val": ("frankfurt", ("000000_000294",))}
    for split, (city, frames) in cities.items():
        for frame in frames:
            name = f"{city}_{frame}"
            _picture(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png")
            gt = root / "gtFine" / split / city
            _mask(gt / f"{name}{suffix}", mask)
            Image.new("RGB", (W, H), (128, 64, 128)).save(gt / f"{name}_gtFine_color.png")
            Image.fromarray(np.full((H, W), 26001, np.uint16)).save(gt / f"{name}_gtFine_instanceIds.png")


def test_cityscapes_label_ids_map_to_train_classes(tmp_path):
    _cityscapes(tmp_path / "cityscapes")
    layout = _layout(f"cityscapes:{tmp_path}")
    assert layout.preset == "cityscapes" and "*_gtFine_labelIds.png" in layout.description
    assert _stems(layout.train, "_leftImg8bit.png") == ["aachen_000000_000019", "aachen_000001_000019"]
    assert _stems(layout.val, "_leftImg8bit.png") == ["frankfurt_000000_000294"]
    assert not layout.problems and all(mask.endswith("_gtFine_labelIds.png") for _, mask in layout.train + layout.val)
    classes = _classes(layout, layout.val[0][1])
    assert (classes[30, 40], classes[30, 4], classes[28, 25], classes[38, 5], classes[0, 0]) == (0, 1, 13, 255, 255)
    report = training.scan_folder(_settings(f"cityscapes:{tmp_path}"), str(tmp_path))
    assert not report.findings, report.text()  # void ids 0 and 3 are ignored, never "unknown"
    assert "19 stored values mapped to 19 classes (preset cityscapes), every other value ignored" in report.text()

    with pytest.raises(ValueError, match="--num-classes 20 but the preset cityscapes names 19 classes"):
        training.label_setup(_settings("folder:x", num_classes=20), layout.preset)
    with pytest.raises(ValueError, match="maps mask values to classes itself: drop --reduce-zero-label"):
        training.label_setup(_settings("folder:x", reduce_zero_label=True), layout.preset)


def test_cityscapes_train_ids_when_label_ids_are_absent(tmp_path):
    _cityscapes(tmp_path, "_gtFine_labelTrainIds.png", _regions((0, 20, H, 0, W), (13, 24, 34, 20, 36), background=255))
    layout = _layout(f"cityscapes:{tmp_path}")
    assert layout.preset == "cityscapes_trainids" and "*_gtFine_labelTrainIds.png" in layout.description
    classes = _classes(layout, layout.train[1][1])
    assert (classes[30, 5], classes[28, 25], classes[0, 0]) == (0, 13, 255)
    with pytest.raises(ValueError, match="leftImg8bit/test/ is missing"):
        _layout(f"cityscapes:{tmp_path}", val_split="test")


# ---- CamVid -------------------------------------------------------------------------------------------------


def test_camvid_void_eleven_is_ignored(tmp_path):
    camvid = tmp_path / "CamVid"
    street = _regions((3, 20, H, 0, W), (8, 22, 30, 10, 20), (11, 36, H, 0, W))  # sky 0 above
    splits = {"train": ("0001TP_006690", "0001TP_006720"), "val": ("0016E5_07959",), "test": ("0001TP_008550",)}
    for split, stems in splits.items():
        for stem in stems:
            _picture(camvid / split / f"{stem}.png")
            _mask(camvid / f"{split}annot" / f"{stem}.png", street)
    layout = _layout(f"camvid:{tmp_path}")
    assert layout.preset == "camvid" and _stems(layout.val, ".png") == ["0016E5_07959"]
    assert _stems(layout.train, ".png") == ["0001TP_006690", "0001TP_006720"] and not layout.problems
    classes = _classes(layout, layout.train[0][1])
    assert (classes[0, 0], classes[25, 5], classes[25, 15], classes[38, 5]) == (0, 3, 8, 255)
    report = training.scan_folder(_settings(f"camvid:{tmp_path}"), str(tmp_path))
    assert not report.findings, report.text()
    assert "class indices 0..10, values [11] void (preset camvid)" in report.text()
    test = _layout(f"camvid:{camvid}", val_split="test")
    assert _stems(test.val, ".png") == ["0001TP_008550"]


# ---- mmsegmentation's folders -------------------------------------------------------------------------------


def test_mmseg_train_val_subfolders_report_an_image_without_a_mask(tmp_path):
    for split, stems in (("train", ("ADE_train_00000001", "ADE_train_00000002")), ("val", ("ADE_val_00000001",))):
        for stem in stems:
            _picture(tmp_path / "img_dir" / split / f"{stem}.jpg")
    for name in ("train/ADE_train_00000001", "val/ADE_val_00000001"):
        _mask(tmp_path / "ann_dir" / f"{name}.png", _regions((2, 0, 10, 0, W)))
    layout = _layout(f"mmseg:{tmp_path}", num_classes=3)
    assert layout.description == f"mmseg:{tmp_path} (img_dir/*.jpg + ann_dir/*.png, train / val)"
    assert _stems(layout.train) == ["ADE_train_00000001"] and _stems(layout.val) == ["ADE_val_00000001"]
    assert layout.problems == [
        (
            "image without a mask",
            f"add ADE_train_00000002.png to {tmp_path / 'ann_dir' / 'train'}",
            "train/ADE_train_00000002",
        )
    ]
    report = training.scan_folder(_settings(f"mmseg:{tmp_path}", num_classes=3), str(tmp_path))
    assert _find(report, "image without a mask").files == ["train/ADE_train_00000002"]


def test_mmseg_split_files_and_suffix_pairs(tmp_path):
    stems = ["aachen_000000_000019", "aachen_000001_000019", "bremen_000000_000019", "bremen_000001_000019"]
    for stem in stems:
        _picture(tmp_path / "images" / f"{stem}_leftImg8bit.png")
        _mask(tmp_path / "labels" / f"{stem}_gtFine_labelTrainIds.png", _regions((13, 0, 10, 0, 10), background=0))
    (tmp_path / "train.txt").write_text("aachen_000000_000019\naachen_000001_000019\nbremen_000000_000019\nulm_1\n")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "val.txt").write_text("bremen_000001_000019\n")
    flags = dict(
        train_split="train", val_split="splits/val.txt", preset="cityscapes_trainids"
    )  # (as mmseg: under ROOT)
    layout = _layout(f"mmseg:{tmp_path}", **flags)
    assert layout.description == (
        f"mmseg:{tmp_path} (images/*_leftImg8bit.png + labels/*_gtFine_labelTrainIds.png, "
        "split files train / splits/val.txt)"
    )
    assert _stems(layout.train, "_leftImg8bit.png") == stems[:3]
    assert _stems(layout.val, "_leftImg8bit.png") == stems[3:]
    assert all(mask.endswith("_gtFine_labelTrainIds.png") for _, mask in layout.train + layout.val)
    assert layout.problems == [
        ("the train split file names a picture without an image/mask pair", "fix the split file", "ulm_1")
    ]
    assert layout.preset is None  # the --preset flag decides
    classes = _classes(layout, layout.train[0][1], preset="cityscapes_trainids")
    assert (classes[5, 5], classes[20, 20]) == (13, 0)

    seeded = _layout(f"mmseg:{tmp_path}", img_suffix="_leftImg8bit.png", mask_suffix="_gtFine_labelTrainIds.png")
    assert len(seeded.train) == 3 and len(seeded.val) == 1 and "seeded 0.1 held out" in seeded.description
    with pytest.raises(ValueError, match="--val-split nowhere: no such split file"):
        _layout(f"mmseg:{tmp_path}", train_split="train", val_split="nowhere")


def test_mmseg_without_a_preset_reads_the_flags(tmp_path):
    """A layout that names no preset (mmseg:) reads its masks by --num-classes and --reduce-zero-label."""
    for stem in ("a", "b", "c"):
        _picture(tmp_path / "img_dir" / f"{stem}.jpg")
        _mask(tmp_path / "ann_dir" / f"{stem}.png", _regions((1, 0, 10, 0, W), (4, 10, 20, 0, W)))
    report = training.scan_folder(_settings(f"mmseg:{tmp_path}", num_classes=4, reduce_zero_label=True), "")
    assert not report.errors, report.text()
    assert "class indices 1..4, 0 unlabelled and ignored (--reduce-zero-label)" in report.text()
    report = training.scan_folder(_settings(f"mmseg:{tmp_path}", num_classes=3), "")
    assert "mask values outside 0..2 that are not the ignore index 255: [4]" in report.text()
    report = training.scan_folder(_settings(f"mmseg:{tmp_path}"), "")
    assert "pass --num-classes 5" in _find(report, "the classes are not known").fix  # suggested from the values
    (tmp_path / "classes.txt").write_text("background\nroad\ncar\nsky\nvoid\n")
    report = training.scan_folder(_settings(f"mmseg:{tmp_path}"), "")
    assert not report.findings and "class 4 void" in report.text(), report.text()


def test_find_suffixes():
    assert find_suffixes(["a.jpg", "b.jpg"], ["a.png", "b.png"]) == (".jpg", ".png")
    city = ["aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000019"]  # gtFine's frames: all 000019
    assert find_suffixes([f"{c}_leftImg8bit.png" for c in city], [f"{c}_gtFine_labelTrainIds.png" for c in city]) == (
        "_leftImg8bit.png",
        "_gtFine_labelTrainIds.png",
    )
    assert find_suffixes(["x_rgb.png", "y_rgb.png"], ["x_rgb_mask.png", "y_rgb_mask.png"], img_suffix=".png") == (
        ".png",
        "_mask.png",
    )
    assert find_suffixes(["x.tif.png"], ["x.png"], ".tif.png", ".png") == (".tif.png", ".png")  # given: kept
    # the suffix pair that pairs as many names but leaves a picture out is not chosen
    images = ["train/ADE_train_00000001.jpg", "train/ADE_train_00000002.jpg", "val/ADE_val_00000001.jpg"]
    assert find_suffixes(images, ["train/ADE_train_00000001.png", "val/ADE_val_00000001.png"]) == (".jpg", ".png")
    with pytest.raises(ValueError, match="give --img-suffix and --mask-suffix"):
        find_suffixes(["a.jpg", "b.jpg"], ["c.png", "d.png"])


# ---- COCO ---------------------------------------------------------------------------------------------------


def _uncompressed_rle(mask):
    """COCO's crowd RLE: run lengths of the column-major pixels, starting with a run of zeros."""
    flat = np.asarray(mask, np.uint8).reshape(-1, order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    return {"counts": ([0] if flat[0] else []) + runs, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _compressed_rle(mask):
    from pycocotools import mask as coco_mask

    rle = coco_mask.encode(np.asfortranarray(np.asarray(mask, np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _box(top, bottom, left, right):
    mask = np.zeros((H, W), np.uint8)
    mask[top:bottom, left:right] = 1
    return mask


def _ann(ann_id, image_id, category_id, segmentation, area, crowd=0):
    return dict(
        id=ann_id, image_id=image_id, category_id=category_id, segmentation=segmentation, area=area, iscrowd=crowd
    )


def _coco(root):
    """annotations/instances_{train,val}2017.json with train2017/ and val2017/ beside: category ids 1, 3 and 18
    (declared out of order), a polygon person, a small RLE car listed before it, a crowd RLE region, a dog
    polygon, an empty segmentation, polygons of 2 points (COCO has a few) and a picture that is missing."""
    categories = [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
    person = [[4.0, 4.0, 40.0, 4.0, 40.0, 36.0, 4.0, 36.0]]
    car = [[1.0, 1.0, 2.0, 2.0], [24.0, 24.0, 44.0, 24.0, 44.0, 36.0, 24.0, 36.0]]  # a 2-point polygon and a box
    train = {
        "images": [
            {"id": 1, "file_name": "000000000001.jpg", "width": W, "height": H},
            {"id": 2, "file_name": "000000000002.jpg", "width": W, "height": H},
            {"id": 4, "file_name": "000000000004.jpg", "width": W, "height": H},
        ],
        "categories": categories,
        "annotations": [
            _ann(10, 1, 3, _compressed_rle(_box(10, 20, 10, 20)), 100.0),
            _ann(11, 1, 1, person, 1152.0),
            _ann(12, 1, 1, _uncompressed_rle(_box(30, H, 30, W)), 180.0, crowd=1),
            _ann(13, 2, 18, [[0.0, 0.0, 20.0, 0.0, 20.0, 20.0, 0.0, 20.0]], 400.0),
            _ann(14, 2, 1, [], 0.0),
            _ann(15, 2, 1, [[30.0, 30.0, 34.0, 34.0]], 0.0),
            _ann(16, 2, 3, car, 240.0),
        ],
    }
    val = {
        "images": [{"id": 3, "file_name": "000000000003.jpg", "width": W, "height": H}],
        "categories": categories,
        "annotations": [_ann(20, 3, 3, _compressed_rle(_box(0, 10, 0, 10)), 100.0)],
    }
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(train))
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(val))
    for name in ("000000000001.jpg", "000000000002.jpg"):
        _picture(root / "train2017" / name)
    _picture(root / "val2017" / "000000000003.jpg")
    return root / "annotations" / "instances_train2017.json"


def test_coco_polygons_rle_and_crowd_regions_become_class_masks(tmp_path):
    path = _coco(tmp_path)
    layout = _layout(f"coco:{path}")
    assert layout.preset.classes == ("background", "person", "car", "dog") and layout.preset.ignore_values == (255,)
    assert layout.description == (
        f"coco:{path} (3 categories + background, instances_train2017.json / instances_val2017.json, "
        "crowd regions ignored)"
    )
    assert _stems(layout.train) == ["000000000001", "000000000002"] and _stems(layout.val) == ["000000000003"]
    assert all(image.startswith(str(tmp_path / "train2017")) for image, _ in layout.train)
    assert layout.problems == [
        ("picture listed in the file is missing", f"add it to {tmp_path / 'train2017'}", "000000000004.jpg")
    ]
    one = _classes(layout, layout.train[0][1])
    assert one.shape == (H, W)
    assert one[15, 15] == 2  # the small car on top of the larger person, though listed first
    assert (one[6, 6], one[33, 35], one[38, 44], one[1, 1], one[38, 2]) == (1, 1, 255, 0, 0)  # crowd: 255 off objects
    two = _classes(layout, layout.train[1][1])  # polygons of 2 points are left out, not an error
    assert (two[5, 5], two[22, 22], two[30, 30], two[32, 32], two[38, 30]) == (3, 0, 2, 2, 0)
    assert _classes(layout, layout.val[0][1])[5, 5] == 2

    report = training.scan_folder(_settings(f"coco:{path}"), str(path))
    assert _find(report, "picture listed in the file is missing").files == ["000000000004.jpg"]
    assert report.examined == 3 and "(mask drawn from its annotations)" not in report.text()

    _picture(tmp_path / "train2017" / "000000000004.jpg")
    source = training.load_source(_settings(f"coco:{path}"), (32, 32), scan=False)  # what training reads
    assert (source.num_train, source.num_val, source.class_names) == (3, 1, ["background", "person", "car", "dog"])
    image, mask = next(iter(source.train))
    assert image.shape == (H, W, 3) and mask.shape == (H, W, 1)
    assert np.array_equal(source.table[mask.numpy()[..., 0]], one) and "preset instances_train2017" in source.labels

    from zoo.tasks.segmentation.polygons import CocoMasks

    broken = json.loads(path.read_text())
    broken["annotations"][0]["segmentation"] = {"counts": 5, "size": [H, W]}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="annotation 10's segmentation cannot be read"):
        CocoMasks(tmp_path / "broken.json").mask(1)

    (tmp_path / "annotations" / "instances_val2017.json").unlink()
    seeded = _layout(f"coco:{path}", images=str(tmp_path / "train2017"))
    assert len(seeded.train) == 2 and len(seeded.val) == 1 and "seeded 0.1 held out" in seeded.description


# ---- labelme ------------------------------------------------------------------------------------------------


def _labelme(path, image_path, shapes):
    data = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": None}
    data.update(imageHeight=H, imageWidth=W)
    path.write_text(json.dumps(data))


def _shape(label, kind, points):
    return {"label": label, "points": points, "group_id": None, "shape_type": kind, "flags": {}}


def test_labelme_polygons_rectangles_and_ignored_shapes(tmp_path):
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncat\ndog\n")
    shapes = [
        _shape("cat", "polygon", [[2, 2], [30, 2], [30, 30], [2, 30]]),
        _shape("dog", "rectangle", [[40, 35], [20, 20]]),  # drawn over the cat (later shapes on top)
        _shape("__ignore__", "polygon", [[36, 2], [46, 2], [46, 12], [36, 12]]),
        _shape("cat", "line", [[0, 39], [47, 39]]),  # no area: left out
    ]
    for stem in ("a", "b", "c"):
        _picture(tmp_path / f"{stem}.jpg")
    _labelme(tmp_path / "a.json", "a.jpg", shapes)
    _labelme(tmp_path / "b.json", "../elsewhere/b.jpg", shapes[:1])  # the picture beside it is found
    _labelme(tmp_path / "c.json", "c.jpg", [])
    _labelme(tmp_path / "d.json", "d.jpg", [])  # no picture
    layout = _layout(f"labelme:{tmp_path}")
    assert layout.preset.classes == ("background", "cat", "dog") and layout.preset.ignore_values == (255,)
    assert layout.description == f"labelme:{tmp_path} (3 classes, seeded 0.1 held out)"
    assert sorted(_stems(layout.train + layout.val)) == ["a", "b", "c"] and len(layout.val) == 1
    assert layout.problems == [
        (
            "labelme files whose picture is missing (imagePath)",
            "put the picture beside the JSON (labelme's embedded imageData is not read)",
            "d.json",
        )
    ]
    a = _classes(layout, str(tmp_path / "a.json"))
    assert (a[5, 5], a[25, 25], a[33, 38], a[5, 40], a[39, 10], a[38, 45]) == (1, 2, 2, 255, 0, 0)
    assert _classes(layout, str(tmp_path / "b.json"))[25, 25] == 1

    (tmp_path / "d.json").unlink()
    report = training.scan_folder(_settings(f"labelme:{tmp_path}"), str(tmp_path))
    assert not report.errors, report.text()
    assert "line shapes (no area) left out of the masks" in report.text()


def test_labelme_files_that_are_not_json_are_reported_and_other_json_files_left_alone(tmp_path):
    for stem in ("a", "b"):
        _picture(tmp_path / f"{stem}.jpg")
        _labelme(tmp_path / f"{stem}.json", f"{stem}.jpg", [_shape("cat", "polygon", [[2, 2], [30, 2], [30, 30]])])
    _picture(tmp_path / "c.jpg")
    (tmp_path / "c.json").write_text('{"shapes": [')  # truncated
    (tmp_path / "meta.json").write_text('["cat"]')  # not a labelme file: left alone
    for listed in (False, True):
        if listed:
            (tmp_path / "labels.txt").write_text("cat\n")
        layout = _layout(f"labelme:{tmp_path}")
        assert len(layout.train) + len(layout.val) == 2 and layout.preset.classes == ("background", "cat")
        assert [(what, item.split(" ")[0]) for what, _, item in layout.problems] == [
            ("labelme files that are not JSON", "c.json")
        ], listed


def test_labelme_classes_without_a_list_and_unknown_labels(tmp_path):
    _picture(tmp_path / "train" / "a.jpg")
    _picture(tmp_path / "val" / "b.jpg")
    _labelme(tmp_path / "train" / "a.json", "a.jpg", [_shape("zebra", "polygon", [[0, 0], [9, 0], [9, 9]])])
    _labelme(tmp_path / "val" / "b.json", "b.jpg", [_shape("ant", "circle", [[20, 20], [25, 20]])])
    layout = _layout(f"labelme:{tmp_path}")
    assert layout.preset.classes == ("background", "ant", "zebra") and "train/ / val/" in layout.description
    assert _stems(layout.train) == ["a"] and _stems(layout.val) == ["b"]
    b = _classes(layout, layout.val[0][1])
    assert (b[20, 20], b[20, 24], b[20, 27]) == (1, 1, 0)
    (tmp_path / "labels.txt").write_text("_background_\nzebra\n")
    report = training.scan_folder(_settings(f"labelme:{tmp_path}"), str(tmp_path))
    assert "label 'ant' is not one of the classes" in "".join(_find(report, "masks that cannot be read").files)


# ---- presets and palettes -----------------------------------------------------------------------------------


def test_shipped_presets_load_and_bad_preset_files_are_named(tmp_path):
    cityscapes = load_preset("Cityscapes")
    assert len(cityscapes.classes) == 19 and dict(cityscapes.values)[26] == 13 and 3 in cityscapes.ignore_values
    assert len(load_preset("ade20k").classes) == 150 and load_preset("ade20k").reduce_zero_label
    assert load_preset("camvid").ignore_values == (11,) and len(load_preset("voc").colours) == 21
    with pytest.raises(ValueError, match=r"classes \['sidewalk'\] have no stored value"):
        preset_from_json({"classes": ["road", "sidewalk"], "values": {"7": 0}}, "mine.json", "mine")
    with pytest.raises(ValueError, match=r"unknown fields \['colors', 'ignore'\]"):
        preset_from_json({"classes": ["a", "b"], "colors": [], "ignore": [0]}, "mine.json", "mine")
    with pytest.raises(ValueError, match=r"values \[0\] are both ignored and mapped"):
        preset_from_json({"classes": ["a", "b"], "values": {"0": 0, "1": 1}, "ignore_values": [0]}, "m", "m")
    with pytest.raises(ValueError, match="not both"):
        preset_from_json({"classes": ["a", "b"], "values": {"1": 0, "2": 1}, "reduce_zero_label": True}, "m", "m")
    with pytest.raises(ValueError, match=r"class of value 9: 2 is not a whole number in 0..1"):
        preset_from_json({"classes": ["a", "b"], "values": {"9": 2}}, "m", "m")
    mine = tmp_path / "roads.json"
    mine.write_text(
        json.dumps({"classes": ["road", "car"], "values": {"7": 0, "26": 1, "27": 1}, "ignore_values": [0]})
    )
    preset = load_preset(str(mine))
    assert (preset.name, preset.values, preset.origin) == ("roads", ((7, 0), (26, 1), (27, 1)), str(mine))
    with pytest.raises(ValueError, match="neither a shipped segmentation preset"):
        load_preset(str(tmp_path / "none.json"))


def test_a_gray_palette_may_ignore_several_levels(tmp_path):
    path = tmp_path / "gray.json"
    path.write_text(json.dumps({"background": 10, "crack": 200, "__ignore__": [0, 5]}))
    palette = load_palette(str(path))
    assert palette.names == ("background", "crack") and palette.ignore == ((0,), (5,))
    encoding = LabelEncoding(2, palette=palette)
    assert encoding.labels(np.array([0, 5, 10, 200])).tolist() == [255, 255, 0, 1]
    path.write_text(json.dumps({"background": 10, "crack": 200, "__ignore__": 0}))
    assert load_palette(str(path)).ignore == ((0,),)
    path.write_text(json.dumps({"background": [0, 0, 0], "crack": [255, 0, 0], "__ignore__": [[1, 2, 3], [4, 5, 6]]}))
    assert load_palette(str(path)).ignore == ((1, 2, 3), (4, 5, 6))
    path.write_text(json.dumps({"background": 10, "crack": 200, "__ignore__": [0, 10]}))
    with pytest.raises(ValueError, match="have the same colour"):
        load_palette(str(path))


# ---- check, end to end --------------------------------------------------------------------------------------


def _camvid_folder(root, classes=True):
    """folder:PATH with CamVid's values: 0..10 classes and 11 void, on 4 pairs."""
    for i in range(4):
        _picture(root / "images" / f"f{i}.png")
        _mask(root / "masks" / f"f{i}.png", np.arange(W * H).reshape(H, W) % 12)
    if classes:
        (root / "classes.txt").write_text("\n".join(load_preset("camvid").classes) + "\n")


def test_camvid_like_folder_advice(tmp_path, capsys):
    _camvid_folder(tmp_path / "data")
    check = training.scan_folder(_settings(f"folder:{tmp_path / 'data'}", num_classes=11), str(tmp_path / "data"))
    fix = _find(check, "mask values outside 0..10 that are not the ignore index 255: [11]").fix
    assert "pass --ignore-index 11" in fix and "--num-classes 12" in fix and "--reduce-zero-label" not in fix

    reduced = training.scan_folder(
        _settings(f"folder:{tmp_path / 'data'}", num_classes=11, reduce_zero_label=True), str(tmp_path / "data")
    )
    assert not reduced.errors, reduced.text()
    note = _find(reduced, "value 0 covers 8.3% of the pixels and is read as unlabelled", error=False)
    assert "drop --reduce-zero-label" in note.fix

    (tmp_path / "data" / "classes.txt").unlink()
    flags = ["--dataset", f"folder:{tmp_path / 'data'}", "--input-size", "32", "--encoder-weights", "none"]
    assert segment.main(["check", *flags]) == 2
    printed = capsys.readouterr().out
    assert "the classes are not known" in printed and "labels: the class count is not known" in printed
    assert "the masks hold 12 values (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11): pass --num-classes 12" in printed
    assert "or --num-classes 11 --ignore-index 11 if 11 (8.3% of the pixels) marks void" in printed
    assert "class255" not in printed and "class 12" not in printed  # no class table for an unknown count


def test_value_and_class_count_advice():
    from collections import Counter

    from zoo.tasks.segmentation.label_scan import class_count_advice, value_advice

    one_to_c = Counter({1: 50, 2: 30, 3: 20})
    assert value_advice(one_to_c, [3], 3) == (
        "the masks hold 1..3 and no 0: pass --reduce-zero-label (1..3 become classes 0..2); otherwise --num-classes 4"
    )
    several = value_advice(Counter({0: 10, 1: 10, 7: 5, 9: 5}), [7, 9], 2)
    assert several == (
        "if the values up to 9 are classes, pass --num-classes 10; if 9 alone marks void pixels, "
        "--num-classes 9 --ignore-index 9"
    )
    assert class_count_advice(one_to_c, 255).startswith(
        "the masks hold 3 values (1, 2, 3): pass --num-classes 4, or --num-classes 3 --reduce-zero-label if 0 marks"
    )
    gaps = class_count_advice(Counter({0: 90, 2: 5, 5: 5, 255: 3}), 255)
    assert "pass --num-classes 6" in gaps and "(3 of the values 0..5 never occur)" in gaps and "255" not in gaps
    assert class_count_advice(Counter({255: 10}), 255).startswith("the masks hold no value but the ignore index")


def test_an_empty_folder_without_a_class_count_asks_for_one(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    report = training.scan_folder(_settings(f"folder:{tmp_path}"), str(tmp_path))
    assert "pass --num-classes, add classes.txt" in _find(report, "the classes are not known").fix


def test_check_command_on_a_voc_layout(tmp_path, capsys):
    _voc(tmp_path, VOC_STEMS[:2])
    flags = ["--dataset", f"voc:{tmp_path}", "--input-size", "32", "--encoder-weights", "none"]
    with pytest.raises(ValueError, match="voc: datasets know how their masks map to classes: drop --palette"):
        segment.main(["check", *flags, "--palette", "voc"])
    with pytest.raises(ValueError, match="--img-suffix is for mmseg: datasets, not voc:"):
        segment.main(["check", *flags, "--img-suffix", ".jpg"])
    with pytest.raises(ValueError, match="--preset says what mask files hold; synthetic:shapes declares its own"):
        segment.main(["check", "--dataset", "synthetic:shapes", "--preset", "voc", *flags[2:]])
    assert segment.main(["check", *flags]) == 0
    printed = capsys.readouterr().out
    assert "no problems found in 3 example(s)" in printed
    assert "labels read as class indices 0..20, values [255] void (preset voc)" in printed
    assert "class 15 person" in printed and "nothing stops training with these settings" in printed


def test_mmseg_pseudo_dataset_layout_with_its_split_folder(tmp_path):
    """mmsegmentation's own test set: imgs/<n>_img.jpg + gts/<n>_gt.png, splits/train.txt and val.txt."""
    for n in range(5):
        _picture(tmp_path / "imgs" / f"{n:05d}_img.jpg")
        _mask(tmp_path / "gts" / f"{n:05d}_gt.png", _regions((1, 0, 10, 0, W)))
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("00000\n00001\n00002\n")
    (tmp_path / "splits" / "val.txt").write_text("00003\n00004\n")
    layout = _layout(f"mmseg:{tmp_path}")
    assert _stems(layout.train, "_img.jpg") == ["00000", "00001", "00002"]
    assert _stems(layout.val, "_img.jpg") == ["00003", "00004"] and not layout.problems
    assert "imgs/*_img.jpg + gts/*_gt.png" in layout.description


def test_values_a_value_map_does_not_list_are_a_note_not_an_error(tmp_path):
    """Cityscapes' table ignores every id it does not map: an id outside it (here 34) is said, not refused."""
    _cityscapes(tmp_path, mask=_regions((7, 20, H, 0, W), (34, 0, 4, 0, 4)))
    report = training.scan_folder(_settings(f"cityscapes:{tmp_path}"), str(tmp_path))
    assert not report.errors, report.text()
    assert _find(report, "does not map to a class, read as ignored: [34]", error=False)


def test_review_cases_gtfine_mixed_masks_voc_aug_and_refused_flags(tmp_path):
    """Cityscapes' gtFine keeps colour, instance, label-id and train-id masks side by side: the train ids are
    paired, never the colours; mmsegmentation's VOC aug.txt reads SBD's masks; --reduce-zero-label with a preset
    that does not reduce is refused; --preset cityscapes on train-id masks is refused."""
    city = ["aachen_000000_000019", "bochum_000000_000019"]
    masks = [f"{c}_gtFine_{kind}.png" for c in city for kind in ("color", "instanceIds", "labelIds", "labelTrainIds")]
    assert find_suffixes([f"{c}_leftImg8bit.png" for c in city], masks) == (
        "_leftImg8bit.png",
        "_gtFine_labelTrainIds.png",
    )
    voc = _voc(tmp_path / "voc", VOC_STEMS[:2])
    for stem in VOC_STEMS[:2]:
        _mask(voc / "SegmentationClassAug" / f"{stem}.png", _regions((7, 0, 20, 0, W)))
    (voc / "ImageSets" / "Segmentation" / "aug.txt").write_text("".join(f"{s}\n" for s in VOC_STEMS[:2]))
    aug = _layout(f"voc:{voc}", train_split="aug")
    assert not aug.problems and all("SegmentationClassAug" in mask for _, mask in aug.train)
    with pytest.raises(ValueError, match="would shift every class of the preset voc"):
        training.label_setup(_settings("folder:x", reduce_zero_label=True), "voc")
    _cityscapes(tmp_path / "cs", "_gtFine_labelTrainIds.png", _regions((0, 20, H, 0, W), background=255))
    with pytest.raises(ValueError, match="--preset cityscapes reads label ids"):
        _layout(f"cityscapes:{tmp_path / 'cs'}", preset="cityscapes")


def test_review_cases_labelme_windows_paths_four_corner_rectangles_and_coco_without_segmentation(tmp_path):
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncat\n")
    (tmp_path / "shots").mkdir()
    _picture(tmp_path / "shots" / "a.jpg")
    rectangle = _shape("cat", "rectangle", [[2, 2], [20, 2], [20, 10], [2, 10]])  # newer labelme: four corners
    (tmp_path / "json").mkdir()
    _labelme(tmp_path / "json" / "a.json", "..\\shots\\a.jpg", [rectangle])  # written on Windows
    _picture(tmp_path / "b.jpg")
    _labelme(tmp_path / "b.json", "C:\\data\\b.jpg", [rectangle])
    layout = _layout(f"labelme:{tmp_path}")
    found = {Path(image).name for image, _ in layout.train + layout.val}
    assert {"a.jpg", "b.jpg"} <= found, layout.problems  # ..\shots\a.jpg relative; C:\data\b.jpg: the name beside
    key = next(key for image, key in layout.train + layout.val if image.endswith("b.jpg"))
    classes = _classes(layout, key)
    assert classes[5, 10] == 1 and classes[30, 30] == 0
    boxes_only = tmp_path / "detections.json"
    boxes_only.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "b.jpg", "height": H, "width": W}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}],
    }))  # fmt: skip
    with pytest.raises(ValueError, match="has a segmentation"):
        _layout(f"coco:{boxes_only}")
    with pytest.raises(ValueError, match="--val-split val: no such file"):
        _layout(f"coco:{boxes_only}", val_split="val")

"""Labels as people have them: palettes, colour/indexed/0-255/1..C/JPEG masks read by one rule in ``check`` and
training, class statistics and weights, OHEM, and per-class precision and recall."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from zoo.tasks import write_sample_folder
from zoo.tasks.segmentation.checks import check_segmentation_folder
from zoo.tasks.segmentation.labels import (
    UNKNOWN,
    ClassCounter,
    LabelEncoding,
    auto_class_weights,
    load_palette,
    parse_class_weights,
    voc_colormap,
    voc_palette,
)
from zoo.tasks.segmentation.samples import SAMPLE_COLOURS

COLOURS = {"background": [0, 0, 0], "circle": [230, 25, 75], "square": [60, 180, 75], "triangle": [0, 130, 200]}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The same 24 shapes pictures with their masks written in each encoding of ``sample-data --masks``."""
    root = tmp_path_factory.mktemp("encodings")
    for encoding in ("index", "indexed", "colour", "binary255", "one-based", "jpeg"):
        write_sample_folder("shapes", root / encoding, count=24, size=(48, 48), masks=encoding)
    (root / "colour.json").write_text(json.dumps(COLOURS))
    (root / "levels.json").write_text(json.dumps({"background": 0, "circle": 85, "square": 170, "triangle": 255}))
    return root


def _check(folder, **options):
    settings = dict(channels=3, num_classes=None, ignore_index=255)
    settings.update(options)
    return check_segmentation_folder(str(folder), **settings)


def _only_error(report, words):
    assert [f.what for f in report.errors if words in f.what] and len(report.errors) == 1, report.text()
    return report.errors[0]


def test_voc_colour_map_and_palette():
    colours = voc_colormap()
    assert colours[1].tolist() == [128, 0, 0] and colours[15].tolist() == [192, 128, 128]
    assert colours[255].tolist() == [224, 224, 192]
    palette = voc_palette()
    assert len(palette.names) == 21 and palette.names[15] == "person" and palette.ignore == ((224, 224, 192),)


def test_palette_files_are_read_in_class_order_and_bad_ones_are_refused(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"road": [128, 64, 128], "car": [0, 0, 142], "__ignore__": [[255, 255, 255]]}))
    palette = load_palette(str(path))
    assert palette.names == ("road", "car") and palette.colours[1] == (0, 0, 142) and palette.bands == 3
    assert palette.ignore == ((255, 255, 255),)
    path.write_text(json.dumps({"background": 0, "crack": 255}))
    assert load_palette(str(path)).bands == 1
    for bad, words in (
        ({"a": [0, 0, 0], "b": 255}, "mixes"),
        ({"a": [0, 0, 0], "b": [0, 0, 0]}, "same colour"),
        ({"a": [0, 0, 300]}, "outside 0-255"),
        ({"a": "red"}, "not a colour"),
        ([1, 2], "write an object"),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=words):
            load_palette(str(path))
    with pytest.raises(ValueError, match="no such file"):
        load_palette(str(tmp_path / "missing.json"))


def test_encodings_map_values_and_colours_to_classes():
    palette = load_palette("voc")
    encoding = LabelEncoding(21, palette=palette, tolerance=10)
    rgb = np.array([[[128, 0, 0], [130, 5, 3], [224, 224, 192], [50, 50, 250]]], np.uint8)
    classes, unknown, snapped = encoding.colour_classes(rgb)
    assert classes.tolist() == [[1, 1, 255, UNKNOWN]] and snapped == 1 and list(unknown.values()) == [1]
    assert encoding.labels(classes).tolist() == [[1, 1, 255, 255]]
    exact = LabelEncoding(21, palette=palette)
    assert exact.colour_classes(rgb)[0].tolist() == [[1, UNKNOWN, 255, UNKNOWN]]
    reduced = LabelEncoding(3, reduce_zero_label=True)
    assert reduced.labels(np.array([0, 1, 2, 3, 4, 255])).tolist() == [255, 0, 1, 2, 255, 255]
    binary = LabelEncoding(2, binary=True)
    assert binary.labels(np.array([0, 255, 200, 10])).tolist() == [0, 1, 1, 0]
    assert binary.labels(np.array([0, 1])).tolist() == [0, 1]
    with pytest.raises(ValueError, match="--label-tolerance"):
        LabelEncoding(3, tolerance=5)
    with pytest.raises(ValueError, match="--palette gives each colour its class"):
        LabelEncoding(3, palette=palette, reduce_zero_label=True)


def test_check_names_colour_masks_and_prints_a_palette_to_start_from(folders):
    error = _only_error(_check(folders / "colour"), "masks are RGB colour with 4 colours")
    assert "--palette FILE" in error.fix and len(error.files) == 24
    start = json.loads(error.fix[error.fix.index("{") :])
    assert list(start.values())[0] == [0, 0, 0] and {tuple(c) for c in start.values()} == set(SAMPLE_COLOURS)
    fixed = _check(folders / "colour", palette=load_palette(str(folders / "colour.json")))
    assert not fixed.errors, fixed.text()
    assert any("colours of the palette" in line for line in fixed.summary)


def test_check_suggests_palette_voc_for_voc_coloured_masks(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    colours = voc_colormap()
    for i in range(3):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "images" / f"a{i}.png")
        labels = np.zeros((16, 16), np.uint8)
        labels[4:10, 4:10] = 15
        labels[3, 3:11] = 255
        Image.fromarray(colours[labels]).save(tmp_path / "masks" / f"a{i}.png")
    error = _only_error(_check(tmp_path), "masks are RGB colour")
    assert "--palette voc" in error.fix
    fixed = _check(tmp_path, palette=voc_palette())
    assert not fixed.errors, fixed.text()
    assert "ignored pixels" in fixed.text() and "person" in fixed.text()


def test_check_names_indexed_masks_their_palette_and_the_ignored_border(folders):
    report = _check(folders / "indexed")
    assert not report.errors, report.text()
    text = report.text()
    assert "indexed (palette) (24)" in text and "the VOC colour map (24)" in text
    assert "ignored pixels: train" in text and "class 3 triangle" in text


def test_check_names_0_255_masks_and_the_flag(folders):
    error = _only_error(_check(folders / "binary255"), "look like binary masks")
    assert "--binary-masks" in error.fix
    assert not _check(folders / "binary255", binary_masks=True).errors


def test_check_names_one_based_labels_and_the_flag(folders):
    error = _only_error(_check(folders / "one-based", num_classes=4), "outside 0..3")
    # value 0 is present: never --reduce-zero-label (it would ignore a class 0 and shift the rest, as CamVid's
    # sky); the value past the classes is void (--ignore-index) or one more class
    assert "--ignore-index 4" in error.fix and "--num-classes 5" in error.fix
    assert "--reduce-zero-label" not in error.fix
    fixed = _check(folders / "one-based", num_classes=4, reduce_zero_label=True)
    assert not fixed.errors, fixed.text()


def test_check_names_jpeg_damage_and_a_palette_with_a_tolerance(folders):
    error = _only_error(_check(folders / "jpeg"), "JPEG compression")
    assert "--label-tolerance" in error.fix
    start = json.loads(error.fix[error.fix.index("{") :])
    assert list(start.values()) == [0, 85, 170, 255]
    fixed = _check(folders / "jpeg", palette=load_palette(str(folders / "levels.json")), tolerance=40)
    assert not fixed.errors, fixed.text()
    assert "were near a palette level" in fixed.text() and "JPEG masks" in fixed.text()


@pytest.mark.parametrize(
    "encoding,options,agree",
    [
        ("indexed", {}, 0.85),
        ("colour", {"palette": "colour.json"}, 1.0),
        ("binary255", {"binary": True}, 1.0),
        ("one-based", {"reduce_zero_label": True}, 0.85),
        ("jpeg", {"palette": "levels.json", "tolerance": 40}, 0.97),
    ],
)
def test_training_reads_each_encoding_as_the_index_masks(folders, encoding, options, agree):
    """The pipeline's labels of each encoding equal the index masks' (bar the ignored borders and JPEG damage)."""
    from zoo.tasks.segmentation.pipeline import mask_to_labels
    from zoo.tasks.segmentation.sources import folder_source

    def labels(name, **kw):
        if "palette" in kw:
            kw["palette"] = load_palette(str(folders / kw["palette"]))
        binary = kw.pop("binary", False)
        source = folder_source(
            str(folders / name),
            channels=3,
            num_classes=None if binary or "palette" in kw else 4,
            ignore_index=255,
            binary_masks=binary,
            val_fraction=0.25,
            seed=0,
            **kw,
        )
        return np.stack([mask_to_labels(m, source.table, binary).numpy()[..., 0] for _, m in source.train]), source

    truth, _ = labels("index")
    got, source = labels(encoding, **options)
    if options.get("binary"):
        truth = (truth > 0).astype(truth.dtype)
    labelled = got != 255
    assert labelled.mean() > 0.9
    assert (got[labelled] == truth[labelled]).mean() >= agree
    if encoding == "colour":
        assert source.class_names == list(COLOURS)


def test_class_counts_of_check_and_of_training_agree_and_weights_follow_the_median_frequency_rule(folders):
    from zoo.tasks.segmentation.sources import folder_source
    from zoo.tasks.segmentation.training import class_statistics

    report = _check(folders / "indexed", num_classes=4, val_fraction=0.25, seed=0)
    line = [s for s in report.summary if s.startswith("class 3 triangle")][0]
    source = folder_source(
        str(folders / "indexed"),
        channels=3,
        num_classes=4,
        ignore_index=255,
        binary_masks=False,
        val_fraction=0.25,
        seed=0,
    )
    train = class_statistics(source.train, source.table, False, 4, 255)
    assert f"{train.images[3]}/{train.examples} images" in line
    assert f"{100 * train.share()[3]:5.1f}% px" in line
    counter = ClassCounter(3)
    counter.add(np.array([0] * 80 + [1] * 19 + [2] * 1 + [255] * 7))
    assert counter.ignored == 7 and counter.images.tolist() == [1, 1, 1]
    assert auto_class_weights(counter, 1.0) == pytest.approx([0.19 / 0.80, 1.0, 10.0], rel=1e-3)  # 19 clipped
    assert auto_class_weights(counter) == pytest.approx([(0.19 / 0.80) ** 0.5, 1.0, 19**0.5], rel=1e-3)
    assert parse_class_weights("median", 3, counter) == auto_class_weights(counter, 1.0)
    assert parse_class_weights("auto", 3, counter) == auto_class_weights(counter, 0.5)
    assert parse_class_weights("1,2,3", 3) == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="3 classes"):
        parse_class_weights("1,2", 3)
    with pytest.raises(ValueError, match="not all 0"):
        parse_class_weights("0,0,0", 3)


def test_class_weights_and_ohem_in_the_loss():
    import keras

    from zoo.tasks.segmentation.losses import SegmentationLoss

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    labels = rng.integers(0, 3, (2, 4, 4, 1))
    labels[0, 0, 0, 0] = 255
    ce = keras.losses.sparse_categorical_crossentropy(
        np.where(labels == 255, 0, labels)[..., 0], logits, from_logits=True
    ).numpy()
    valid = labels[..., 0] != 255
    weights = np.array([0.5, 1.0, 4.0])
    loss = SegmentationLoss(3, "ce", class_weights=weights.tolist())
    expected = [
        (ce[b] * weights[np.where(valid[b], labels[b, ..., 0], 0)] * valid[b]).sum() / valid[b].sum() for b in range(2)
    ]
    np.testing.assert_allclose(loss.call(labels, logits).numpy(), expected, rtol=1e-5)
    ohem = SegmentationLoss(3, "ohem", ohem_fraction=0.25)
    expected = [np.sort(ce[b][valid[b]])[::-1][: int(round(valid[b].sum() * 0.25))].mean() for b in range(2)]
    np.testing.assert_allclose(ohem.call(labels, logits).numpy(), expected, rtol=1e-5)
    restored = SegmentationLoss.from_config(SegmentationLoss(3, "dice", class_weights=[1, 2, 3]).get_config())
    assert restored.class_weights == [1.0, 2.0, 3.0] and restored.kind == "dice"
    np.testing.assert_allclose(
        SegmentationLoss(3, "dice", class_weights=[1, 1, 1]).call(labels, logits),
        SegmentationLoss(3, "dice").call(labels, logits),
        rtol=1e-5,
    )


def test_iou_report_gives_precision_recall_and_the_matrix():
    from zoo.tasks.segmentation.losses import iou_report

    report = iou_report([[8, 2], [1, 3]], ["bg", "thing"])
    assert report["per_class_precision"] == pytest.approx({"bg": 8 / 9, "thing": 3 / 5})
    assert report["per_class_recall"] == pytest.approx({"bg": 0.8, "thing": 0.75})
    assert report["confusion_matrix"] == [[8, 2], [1, 3]]


def test_the_guides_check_outputs_are_what_check_prints(tmp_path, monkeypatch, capsys):
    """Guide 1 shows real ``check`` output: the text blocks after its check commands are what check prints now."""
    import re
    from pathlib import Path

    from recipes import segment

    guide = (Path(__file__).resolve().parent.parent / "docs" / "1-segment-your-folder.md").read_text()
    shown = re.findall(r"^```text\n(.*?)^```", guide, re.S | re.M)
    monkeypatch.chdir(tmp_path)
    write_sample_folder("shapes", "data/colour", count=40, size=(64, 64), masks="colour")
    write_sample_folder("rare", "data/rare", count=40, size=(64, 64))
    Path("data/colour-palette.json").write_text(json.dumps(COLOURS))
    flags = ["--input-size", "64", "--encoder-weights", "none"]
    runs = [
        (["--dataset", "folder:data/colour"], 2),
        (["--dataset", "folder:data/colour", "--palette", "data/colour-palette.json"], 0),
        (["--dataset", "folder:data/rare"], 0),
    ]
    for (args, code), text in zip(runs, shown):
        assert segment.main(["check", *args, *flags]) == code
        printed = capsys.readouterr().out.splitlines()
        for line in text.splitlines():
            if not line.startswith("check said no"):
                assert line.replace("[segment] ", "") in [p.replace("[segment] ", "") for p in printed], (line, printed)


@pytest.mark.slow
def test_a_colour_folder_trains_with_its_palette_weights_and_ohem_and_predicts_in_its_colours(folders, tmp_path):
    """The user's walk: colour masks, --palette, --class-weights auto, --loss ohem; the run keeps the class
    statistics and weights, writes confusion.png and per-class precision/recall; predict draws the classes in
    the palette's colours."""
    from recipes import segment
    from zoo.predict import predict_files

    run = tmp_path / "run"
    assert (
        segment.main(
            [
                "--dataset",
                f"folder:{folders / 'colour'}",
                "--palette",
                str(folders / "colour.json"),
                "--class-weights",
                "auto",
                "--loss",
                "ohem",
                "--model",
                "unet",
                "--backbone",
                "vgg16",
                "--encoder-weights",
                "none",
                "--input-size",
                "32",
                "--batch-size",
                "4",
                "--schedule",
                "all:1@1e-3",
                "--steps-per-epoch",
                "1",
                "--val-fraction",
                "0.25",
                "--out",
                str(run),
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    resolved = json.loads((run / "config.json").read_text())["resolved"]
    assert resolved["class_names"] == list(COLOURS) and "palette" in resolved["labels"]
    train = resolved["class_statistics"]["train"]
    assert train["examples"] == 18 and sum(c["pixels"] for c in train["classes"].values()) == 18 * 48 * 48
    shares = [train["classes"][name]["pixel_share"] for name in COLOURS]
    median = float(np.median(shares))
    assert resolved["class_weights"] == pytest.approx(
        [float(np.clip((median / s) ** 0.5, 0.1, 10)) for s in shares], rel=1e-3
    )
    assert resolved["class_colours"] == list(COLOURS.values())
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_class_precision"]) == set(COLOURS) == set(metrics["per_class_recall"])
    assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["pixels"] == 6 * 32 * 32
    assert (run / "confusion.png").stat().st_size > 1000
    info = json.loads((run / "export" / "model.json").read_text())
    assert info["class_colours"] == list(COLOURS.values())
    predict_files(
        str(run / "export"), [str(folders / "colour" / "images" / "shape0000.png")], str(tmp_path / "p"), progress=False
    )
    with Image.open(tmp_path / "p" / "shape0000_mask.png") as mask:
        assert mask.mode == "P" and mask.getpalette()[:12] == sum(COLOURS.values(), [])


def test_check_refuses_class_weights_of_the_wrong_count_and_label_flags_that_clash(folders, capsys):
    from recipes import segment

    flags = ["--dataset", f"folder:{folders / 'index'}", "--input-size", "32", "--encoder-weights", "none"]
    assert segment.main(["check", *flags, "--class-weights", "1,2"]) == 2
    assert "2 weights for 4 classes" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--label-tolerance 5 snaps colours to a palette"):
        segment.main(["check", *flags, "--label-tolerance", "5"])
    with pytest.raises(ValueError, match="--reduce-zero-label is for masks that hold labels 1..C"):
        segment.main(["check", "--dataset", "synthetic:shapes", "--reduce-zero-label", "--input-size", "32"])
    with pytest.raises(ValueError, match="--palette reads colour mask files"):
        segment.main(["check", "--dataset", "synthetic:shapes", "--palette", "voc", "--input-size", "32"])


@pytest.mark.slow
def test_the_rare_class_setting_check_recommends_reaches_its_iou_and_ohem_helps_too(tmp_path):
    """synthetic:rare (triangles on about 1% of the pixels), U-Net on VGG16 from random weights, the demo's budget
    (1000 pictures, 6 epochs), the same seed: what check recommends (``RARE_ADVICE``: --loss ce+lovasz) brings the
    triangle's IoU to at least 0.40 and well above plain cross-entropy, and --loss ohem raises it too, neither
    losing mIoU (docs/performance.md, "Rare classes"; about 25 minutes here)."""
    from zoo.tasks.segmentation.labels import RARE_ADVICE

    assert "--loss ce+lovasz" in RARE_ADVICE
    from recipes import segment

    def run(name, *extra):
        out = tmp_path / name
        assert (
            segment.main(
                [
                    "--dataset",
                    "synthetic:rare",
                    "--model",
                    "unet",
                    "--backbone",
                    "vgg16",
                    "--encoder-weights",
                    "none",
                    "--input-size",
                    "64",
                    "--synthetic-count",
                    "1000",
                    "--batch-size",
                    "8",
                    "--epochs",
                    "6",
                    "--seed",
                    "0",
                    "--out",
                    str(out),
                    "--verbose",
                    "0",
                    *extra,
                ]
            )
            == 0
        )
        return json.loads((out / "metrics.json").read_text())

    plain, lovasz, ohem = run("plain"), run("lovasz", "--loss", "ce+lovasz"), run("ohem", "--loss", "ohem")
    assert lovasz["per_class_iou"]["triangle"] >= 0.40
    assert lovasz["per_class_iou"]["triangle"] > plain["per_class_iou"]["triangle"] + 0.1
    assert ohem["per_class_iou"]["triangle"] > plain["per_class_iou"]["triangle"] + 0.03
    for better in (lovasz, ohem):
        assert better["mean_iou"] > plain["mean_iou"] - 0.01


def test_absent_classes_of_a_large_preset_are_listed_in_short():
    from zoo.tasks.segmentation.labels import ClassCounter, statistics_warnings

    names = [f"c{i}" for i in range(150)]
    counter = ClassCounter(150)
    counter.add(np.array([[0, 1], [1, 0]]))
    (what, fix), (val_what, _) = statistics_warnings({"train": counter, "val": counter}, names)
    assert what == "classes absent from the training split: " + ", ".join(names[2:14]) + " and 136 more"
    assert "(or the preset)" in fix and val_what.endswith("and 136 more (their IoU cannot be measured)")


def test_repeat_factor_sampling_shows_pictures_of_a_rare_class_more_often():
    """--repeat-rare T: a class in a share f < T of the pictures gets factor sqrt(T / f); a pass over the data
    shows each picture max-factor times (the fraction by chance), others once; the ignore index counts for nothing."""
    import tensorflow as tf

    from zoo.tasks.segmentation.labels import repeat_factors
    from zoo.tasks.segmentation.pipeline import _repeated_by_class

    masks = np.zeros((100, 4, 4, 1), np.uint8)
    masks[:4, 0, 0] = 2  # class 2 in 4% of the pictures
    masks[:50, 3, 3] = 1  # class 1 in half
    masks[60:, 2, 2] = 255
    counter = ClassCounter(3)
    for m in masks:
        counter.add(m)
    factors = repeat_factors(counter, 0.36)
    assert factors == [1.0, 1.0, 3.0]  # sqrt(0.36 / 0.04); class 1 (0.5 > 0.36) and background stay at 1
    with pytest.raises(ValueError, match="--repeat-rare 0: give a share"):
        repeat_factors(counter, 0)
    ds = _repeated_by_class(tf.data.Dataset.from_tensor_slices((np.zeros((100, 4, 4, 1), np.uint8), masks)), factors, 0)
    seen = [int((m.numpy() == 2).any()) for _ in range(2) for _, m in ds]
    assert seen.count(1) == 2 * 4 * 3 and seen.count(0) == 2 * 96
    halves = _repeated_by_class(
        tf.data.Dataset.from_tensor_slices((np.zeros((100, 4, 4, 1), np.uint8), masks)), [1.0, 1.0, 1.5], 0
    )
    rare = sum(int((m.numpy() == 2).any()) for _ in range(25) for _, m in halves)
    assert 100 * 1.5 * 0.75 < rare < 100 * 1.5 * 1.25  # 4 pictures x 25 passes x 1.5 on average


def test_check_recommends_the_measured_rare_class_setting_and_repeat_factor_sampling():
    """A class under 1% of the pixels gets RARE_ADVICE (the loss measured best); one in under 10% of the pictures
    gets --repeat-rare; check and training print the same warnings (one function)."""
    from zoo.tasks.segmentation.labels import statistics_warnings

    counter = ClassCounter(3)
    for i in range(100):
        mask = np.zeros((10, 10), np.uint8)
        mask[:5] = 1
        if i < 4:
            mask[0, 0] = 2  # 4 pictures, 4 pixels of 10,000
        counter.add(mask)
    warnings = dict(statistics_warnings({"train": counter}, ["background", "road", "sign"]))
    assert warnings["classes under 1% of the training pixels: sign 0.04%"].startswith("train with --loss ce+lovasz")
    assert "--repeat-rare 0.3" in warnings["classes in under 10% of the training pictures: sign in 4 of 100"]
    from zoo.tasks.segmentation.labels import advice_in_use

    # a run that already follows the advice is told so, not told to do it again
    rare, few = warnings.values()
    assert advice_in_use(rare, "ce+lovasz", None).startswith("--loss ce+lovasz is in use")
    assert advice_in_use(rare, "ce", None) == rare
    assert advice_in_use(few, "ce", 0.5) == "--repeat-rare 0.5 is in use"


def test_class_lines_and_rare_classes_of_a_large_preset_are_bounded():
    from zoo.tasks.segmentation.labels import ClassCounter, statistics_lines, statistics_warnings

    names = [f"c{i}" for i in range(150)]
    counter = ClassCounter(150)
    labels = np.zeros(10_000, np.int64)
    labels[: 150 * 5] = np.repeat(np.arange(150), 5)  # 149 classes on 0.05% of the pixels each
    counter.add(labels)
    lines = statistics_lines({"train": counter, "val": counter}, names)
    assert len(lines) == 21 and lines[0].startswith("class 0 c0")  # 20 classes, then one line for the rest
    assert (
        lines[-1] == "classes 20..149 (130 more): train 0.1%..0.1% px each, 0 absent; val 0.1%..0.1% px each, 0 absent"
    )
    rare = dict(statistics_warnings({"train": counter}, names))
    what = next(w for w in rare if w.startswith("classes under 1%"))
    assert what.endswith("and 137 more") and len(what) < 300


def test_advice_for_values_beyond_the_classes_never_names_a_setting_training_refuses():
    from collections import Counter

    from zoo.tasks.segmentation.label_scan import class_count_advice, value_advice

    def refused(text):
        return [int(n) for n in re.findall(r"--(?:num-classes|ignore-index) (\d+)", text) if int(n) > 255]

    assert "--ignore-index 254; if it is a class, --num-classes 255" in value_advice(
        Counter({0: 90, 254: 10}), [254], 2
    )
    every = Counter(dict.fromkeys(range(256), 10))
    for advice in (
        value_advice(every, list(range(2, 256)), 2),
        value_advice(Counter({0: 5, 255: 5}), [255], 2),
        value_advice(Counter({1: 5, 255: 5}), [255], 255),
        value_advice(Counter({0: 5, 300: 5}), [300], 2),
        class_count_advice(every, 1000),
        class_count_advice(Counter({0: 5, 1: 5, 70000: 5}), 255),
    ):
        assert not refused(advice), advice
    assert "--num-classes 255 --ignore-index 255" in class_count_advice(every, 1000)
    assert "save the masks with class indices 0..254" in value_advice(Counter({0: 5, 300: 5}), [300], 2)

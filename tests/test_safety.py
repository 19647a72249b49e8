"""Nothing lost, nothing silently wrong: run folders, locks, config files, one mask reader,
settings check and training agree on, and one clear line instead of a traceback."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recipes import pose, segment
from recipes.session import Session, prepare_run_dir, write_run_config
from recipes.settings import ACTION_KEYS, merge_config
from zoo.run.rundir import RunDir
from zoo.run.safety import RunInUseError, RunLock, check_out_folder, is_run_folder

PROJECT = Path(__file__).resolve().parent.parent
TINY = [
    "--encoder-weights",
    "none",
    "--input-size",
    "32",
    "--batch-size",
    "2",
    "--steps-per-epoch",
    "1",
    "--schedule",
    "all:1@1e-3",
    "--verbose",
    "0",
    "--synthetic-count",
    "8",
]


def _cli(recipe, args, capsys):
    code = recipe.cli(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _one_line_error(text):
    assert "Traceback" not in text, text
    return [line for line in text.splitlines() if line.startswith("error: ")]


# ---- one mask reader ---------------------------------------------------------------------------

VOC_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0, 0, 0] * 252 + [224, 224, 192]


def _mask_folder(root: Path, masks: list[np.ndarray], save) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i, mask in enumerate(masks):
        Image.fromarray(rng.integers(0, 255, (*mask.shape, 3), dtype=np.uint8)).save(root / "images" / f"m{i}.png")
        save(mask, root / "masks" / f"m{i}.png")


def _labels_delivered(cfg_args: list[str], size) -> np.ndarray:
    """The masks the recipe's validation pipeline delivers (same options as training), in file order."""
    from recipes.driver import build_parser
    from zoo.tasks.segmentation import training as segmentation_training
    from zoo.tasks.segmentation.pipeline import segmentation_pipeline

    cfg = merge_config(segment.SegmentConfig(), build_parser(segment.RECIPE).parse_args(cfg_args))
    source = segmentation_training.load_source(cfg, size)
    options = segmentation_training.pipeline_options(cfg, source, size, source.channels)
    val = segmentation_pipeline(source.val, training=False, num_examples=source.num_val, **options)
    train = segmentation_pipeline(source.train, training=False, num_examples=source.num_train, **options)
    return np.concatenate([m.numpy()[..., 0] for ds in (train, val) for _, m in ds])


def _square_masks(values, count=4, size=(32, 32)):
    out = []
    for i in range(count):
        mask = np.full(size, values[0], np.int64)
        mask[: size[0] // 2, : size[1] // 2] = values[1 + i % (len(values) - 1)]
        mask[-2:, -2:] = values[-1]
        out.append(mask)
    return out


def _split_folder(tmp_path, name, masks, save):
    """Masks in train/ and val/ halves so file order is known; returns the folder."""
    root = tmp_path / name
    _mask_folder(root / "train", masks[:2], save)
    _mask_folder(root / "val", masks[2:], save)
    return root


def _save_palette(mask, path):
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette(VOC_PALETTE)
    image.save(path)


def test_palette_masks_are_read_as_their_indices_by_check_and_training(tmp_path, capsys):
    masks = _square_masks([0, 1, 2, 255])
    root = _split_folder(tmp_path, "voc", masks, _save_palette)
    assert Image.open(root / "train" / "masks" / "m0.png").mode == "P"
    args = ["--dataset", f"folder:{root}", "--num-classes", "3", "--input-size", "32", "--encoder-weights", "none"]
    got = _labels_delivered(args, (32, 32))
    np.testing.assert_array_equal(got, np.stack(masks))  # indices, not gray levels of the colours
    code, out = _cli(segment, ["check", *args], capsys)
    assert code == 0 and "masks stored as indexed (palette) (4)" in out, out


def test_16_bit_masks_are_read_as_their_values(tmp_path, capsys):
    masks = _square_masks([0, 1, 2, 3])
    root = _split_folder(tmp_path, "deep", masks, lambda m, p: Image.fromarray(m.astype(np.uint16)).save(p))
    assert Image.open(root / "train" / "masks" / "m0.png").mode.startswith("I")
    args = ["--dataset", f"folder:{root}", "--num-classes", "4", "--encoder-weights", "none"]
    np.testing.assert_array_equal(_labels_delivered(args, (32, 32)), np.stack(masks))
    # A value beyond the classes: check names it; training without the check reads it as ignored.
    big = _square_masks([0, 1, 300])
    root = _split_folder(tmp_path, "big", big, lambda m, p: Image.fromarray(m.astype(np.uint16)).save(p))
    code, out = _cli(
        segment, ["check", "--dataset", f"folder:{root}", "--num-classes", "2", "--encoder-weights", "none"], capsys
    )
    assert code == 2 and "values [300]" in out, out
    got = _labels_delivered(["--dataset", f"folder:{root}", "--num-classes", "2", "--skip-check"], (32, 32))
    np.testing.assert_array_equal(got, np.where(np.stack(big) == 300, 255, np.stack(big)))


def test_binary_masks_are_accepted_as_0_1_and_as_0_255(tmp_path, capsys):
    objects = [np.zeros((32, 32), np.uint8) for _ in range(4)]
    for i, mask in enumerate(objects):
        mask[i : i + 6, 2:9] = 1
    stored = [objects[0], objects[1] * 255, objects[2], objects[3] * 255]  # both ways, in one folder
    root = _split_folder(tmp_path, "cars", stored, lambda m, p: Image.fromarray(m).save(p))
    args = ["--dataset", f"folder:{root}", "--binary-masks", "--encoder-weights", "none"]
    np.testing.assert_array_equal(_labels_delivered(args, (32, 32)), np.stack(objects))
    code, out = _cli(segment, ["check", *args], capsys)
    assert code == 0 and "binary masks stored as 0/1 (2), 0/255 (2)" in out, out


@pytest.mark.slow
def test_a_palette_folder_trains_and_evaluates_its_classes(tmp_path):
    """The whole recipe on indexed masks: a few steps, then evaluation counts every labelled pixel
    (read as gray levels, every object pixel became "ignore": mIoU 0.009 and a plausible exit 0)."""
    masks = _square_masks([0, 1, 2, 255], count=8, size=(32, 32))
    for i, mask in enumerate(masks):
        mask[:16, :16] = 1 + i % 2  # classes 1 and 2 in every split; the 2x2 corner stays 255 (ignored)
    root = tmp_path / "voc"
    _mask_folder(root, masks, _save_palette)
    run = tmp_path / "run"
    code = segment.main(
        ["--dataset", f"folder:{root}", "--num-classes", "3", "--out", str(run), "--val-fraction", "0.25", *TINY]
    )
    assert code == 0
    report = json.loads((run / "metrics.json").read_text())
    assert report["num_val"] == 2 and report["pixels"] == 2 * (32 * 32 - 4), report
    # On to what the user does next: predict with the export on the folder's own pictures.
    from zoo.__main__ import main as zoo_main

    assert (
        zoo_main(
            ["predict", str(run / "export"), str(root / "images"), "--out", str(tmp_path / "pred"), "--no-progress"]
        )
        == 0
    )
    written = sorted((tmp_path / "pred").glob("*_mask.png"))
    assert len(written) == 8
    for path in written:
        with Image.open(path) as mask:
            assert mask.mode == "P" and mask.size == (32, 32) and set(np.unique(np.asarray(mask))) <= {0, 1, 2}


# ---- labels and settings: check and training refuse the same --------------------------------------


def test_one_class_and_an_ignore_index_among_the_classes_are_refused(tmp_path, capsys):
    for extra, words in (
        (["--num-classes", "1"], "needs at least 2"),
        (["--num-classes", "3", "--ignore-index", "1"], "is one of the 3 classes"),
        (["--num-classes", "3", "--ignore-index", "300"], "between 0 and 255"),
        (["--binary-masks", "--ignore-index", "1"], "is one of the 2 classes"),
    ):
        for command in (["check"], []):
            code, out = _cli(
                segment,
                [*command, "--dataset", "synthetic:shapes", *extra, *TINY, "--out", str(tmp_path / "r")],
                capsys,
            )
            assert code == 2 and words in out, (extra, out)
            assert _one_line_error(out)
    assert not (tmp_path / "r").exists()
    # classes.txt with a single name, even with --skip-check.
    root = tmp_path / "one"
    _mask_folder(root, _square_masks([0, 0]), lambda m, p: Image.fromarray(m.astype(np.uint8)).save(p))
    (root / "classes.txt").write_text("car\n")
    code, out = _cli(
        segment, ["--dataset", f"folder:{root}", "--skip-check", *TINY, "--out", str(tmp_path / "r")], capsys
    )
    assert code == 2 and "needs at least 2" in out, out


def test_check_refuses_what_training_refuses(tmp_path, capsys):
    code, out = _cli(segment, ["check", "--dataset", "synthetic:shapes", "--val-fraction", "0"], capsys)
    assert code == 2 and "--val-fraction" in out, out
    root = tmp_path / "folder"
    _mask_folder(root, _square_masks([0, 1]), lambda m, p: Image.fromarray(m.astype(np.uint8)).save(p))
    code, out = _cli(
        segment, ["check", "--dataset", f"folder:{root}", "--num-classes", "2", "--val-fraction", "0"], capsys
    )
    assert code == 2 and "training refuses these settings" in out and "--val-fraction" in out, out
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not a weights file")
    code, out = _cli(segment, ["check", "--dataset", "synthetic:shapes", "--encoder-weights", str(junk)], capsys)
    assert code == 2 and f"--encoder-weights {junk} cannot be used" in out, out
    code, out = _cli(segment, ["check", "--dataset", "synthetic:shapes", "--encoder-weights", "imagenet"], capsys)
    assert code == 2 and "ZOO_OFFLINE=1 forbids the download" in out, out  # the tests run offline
    # Keypoints: flip pairs outside the keypoints, malformed or repeated.
    faces = tmp_path / "faces"
    from zoo.tasks import write_sample_folder

    write_sample_folder("faces", faces, count=6, size=(32, 32))
    code, out = _cli(
        pose, ["check", "--dataset", f"folder:{faces}", "--flip-pairs", "0-9", "--encoder-weights", "none"], capsys
    )
    assert code == 2 and "outside the 5 keypoints" in out, out
    for pairs, words in (("0-1-2", "not a pair"), ("0-1,1-2", "appears in two pairs"), ("3-3", "with itself")):
        code, out = _cli(pose, ["check", "--dataset", f"folder:{faces}", "--flip-pairs", pairs], capsys)
        assert code == 2 and words in out, (pairs, out)


def test_nested_sub_folders_are_named_not_skipped(tmp_path):
    from zoo.tasks.segmentation.checks import check_segmentation_folder

    root = tmp_path / "d"
    _mask_folder(root, _square_masks([0, 1]), lambda m, p: Image.fromarray(m.astype(np.uint8)).save(p))
    (root / "images" / "more").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images" / "more" / "x.png")
    report = check_segmentation_folder(str(root), channels=3, num_classes=2)
    finding = next(f for f in report.errors if "sub-folders of images/" in f.what)
    assert finding.files == ["images/more/x.png"]


# ---- run folders: only runs are replaced, actions never come from a file -------------------------


def test_overwrite_never_deletes_what_is_not_a_run(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    _mask_folder(data, _square_masks([0, 1]), lambda m, p: Image.fromarray(m.astype(np.uint8)).save(p))
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    for out in (data, data / "runs" / "x"):
        code, text = _cli(
            segment,
            ["--dataset", f"folder:{data}", "--num-classes", "2", "--out", str(out), "--overwrite", *TINY],
            capsys,
        )
        assert code == 2 and "the dataset folder" in text, text
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"precious")
    code, text = _cli(segment, ["--dataset", "synthetic:shapes", "--out", str(other), "--overwrite", *TINY], capsys)
    assert code == 2 and "holds files that are not part of a run (holiday.jpg)" in text, text
    assert (other / "holiday.jpg").read_bytes() == b"precious"
    monkeypatch.chdir(other)
    code, text = _cli(segment, ["--dataset", "synthetic:shapes", "--out", ".", "--overwrite", *TINY], capsys)
    assert code == 2 and "is the current folder" in text, text
    assert (other / "holiday.jpg").is_file()


def test_out_that_is_a_file_or_cannot_be_written_is_one_line_before_any_model(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, text = _cli(segment, ["--dataset", "synthetic:shapes", "--out", str(blocker), *TINY], capsys)
    assert code == 2 and "is a file, not a folder" in text and _one_line_error(text), text
    code, text = _cli(segment, ["--dataset", "synthetic:shapes", "--out", str(blocker / "run"), *TINY], capsys)
    assert code == 2 and "cannot write the run directory" in text and _one_line_error(text), text
    assert "model:" not in text  # refused before the model was built


def test_a_runs_config_json_never_overwrites_or_retrains(gray_run, tmp_path, capsys):
    config = json.loads((gray_run / "config.json").read_text())
    assert not set(ACTION_KEYS[:2]) & set(config["settings"])  # overwrite/resume are not stored
    config["settings"].update(overwrite=True, resume=True, out=str(tmp_path / "elsewhere"))  # an older run's file
    reused = tmp_path / "config.json"
    reused.write_text(json.dumps(config))
    metrics = (gray_run / "metrics.json").read_bytes()
    code, text = _cli(segment, ["--config", str(reused), "--out", str(gray_run)], capsys)
    assert code == 0 and "are not used" in text and "nothing to do" in text, text
    assert (gray_run / "metrics.json").read_bytes() == metrics and not (tmp_path / "elsewhere").exists()
    # A finished run asked for again with other settings: refused, naming them.
    code, text = _cli(segment, ["--config", str(reused), "--out", str(gray_run), "--schedule", "all:3@1e-4"], capsys)
    assert code == 2 and "finished run trained with other settings (schedule: 'all:2@1e-4' -> 'all:3@1e-4')" in text
    # A settings file of one's own may not hold actions.
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"overwrite": True, "epochs": 3}))
    code, text = _cli(segment, ["--config", str(own)], capsys)
    assert code == 2 and "overwrite are not read from a config file" in text, text


@pytest.mark.parametrize(
    "content, words",
    [
        ("[1, 2]", "holds a JSON list"),
        ('{"epochs": "ten"}', "setting 'epochs' must be int, got \"ten\""),
        ('{"batch_size": true}', "setting 'batch_size' must be int"),
        ('{"augment": 3}', "setting 'augment' must be str"),
        ('{"augment": "no"}', "--augment 'no': choose one of"),
        ('{"val_fraction": null}', "setting 'val_fraction' must be float"),
        ('{"settings": [1]}', "'settings' must be an object (a mapping) of settings"),
        ("epochs: 3", "cannot read it as JSON"),  # YAML in a .json file: the hint names the suffix
    ],
)
def test_config_values_of_the_wrong_type_are_named(tmp_path, capsys, content, words):
    path = tmp_path / "c.json"
    path.write_text(content)
    code, text = _cli(segment, ["--config", str(path)], capsys)
    assert code == 2 and words in text and _one_line_error(text), text


@pytest.mark.parametrize(
    "content, words",
    [
        ("- 1\n- 2\n", "holds a YAML list"),
        ("epochs: ten\n", "setting 'epochs' must be int, got \"ten\""),
        ("batch_size: true\n", "setting 'batch_size' must be int"),
        ("epochs: [1\n", "cannot read it as YAML"),
        ("overwrite: true\n", "overwrite are not read from a config file"),
        ("augment: no\n", "--augment 'no': choose one of"),  # YAML 1.2: no is a string, then checked as one
    ],
)
def test_yaml_config_errors_are_the_json_ones(tmp_path, capsys, content, words):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    code, text = _cli(segment, ["--config", str(path)], capsys)
    assert code == 2 and words in text and _one_line_error(text), text


def test_resuming_with_other_settings_records_them_in_config_json(tmp_path):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    settings = {"model": "unet", "steps_per_epoch": 4, "augment": "default", "verbose": "0"}
    (run.root / "config.json").write_text(
        json.dumps({"settings": settings, "resolved": {"steps_per_epoch": 4}, "versions": {}})
    )
    logged = []
    new = {**settings, "steps_per_epoch": 9, "augment": "none", "verbose": "2"}
    assert prepare_run_dir(run, new, ("model",), False, False, logged.append) == "resume"
    assert any("steps_per_epoch: 4 -> 9" in line and "augment: 'default' -> 'none'" in line for line in logged), logged
    session = Session(None, True, run, None, "", "", [], "resume", new)
    write_run_config(session, {"steps_per_epoch": 9})
    config = json.loads(run.config.read_text())
    assert config["settings"]["steps_per_epoch"] == 9 and config["settings"]["augment"] == "none"
    assert config["settings"]["verbose"] == "0"  # how it printed is not a change of the run
    assert config["resolved"]["steps_per_epoch"] == 9
    change = config["changes"][-1]
    assert change["settings"] == {"steps_per_epoch": [4, 9], "augment": ["default", "none"]}
    assert change["resolved"] == {"steps_per_epoch": [4, 9], "precision": [None, "float32"]}
    with pytest.raises(ValueError, match="other settings \\(model: 'unet' -> 'fcn8s'\\)"):
        prepare_run_dir(run, {**new, "model": "fcn8s"}, ("model",), False, False, logged.append)


def test_a_run_whose_auto_schedule_resolved_otherwise_is_told_how_to_keep_it(tmp_path):
    """--schedule auto from random weights was all:E@3e-4 before issue 31: re-running such a run's command now
    resolves to all:E@1e-3, and the refusal says so with the --schedule that keeps the run as it was."""
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.config.write_text(json.dumps({"settings": {"model": "unet", "schedule": "all:6@3e-4"}, "resolved": {}}))
    with pytest.raises(ValueError, match="--schedule auto now resolves to 'all:6@1e-3'.*add --schedule all:6@3e-4"):
        prepare_run_dir(run, {"model": "unet", "schedule": "all:6@1e-3"}, ("schedule",), False, False, print, "auto")


def test_is_run_folder_and_out_checks(tmp_path, gray_run):
    assert is_run_folder(gray_run)
    empty = tmp_path / "empty"
    empty.mkdir()
    check_out_folder(empty)  # an empty folder is fine
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text('{"name": "my app"}')
    assert not is_run_folder(fake)
    with pytest.raises(ValueError, match="not a run's"):
        check_out_folder(fake)


# ---- one process per run -----------------------------------------------------------------------

_HOLD = (
    "import sys, time; sys.path.insert(0, {project!r}); from zoo.run.safety import RunLock; "
    "lock = RunLock(sys.argv[1], print).acquire(); print('held', flush=True); time.sleep(120)"
)


def _holder(folder):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD.format(project=str(PROJECT)), str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_a_run_in_use_is_refused_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "run"
    proc = _holder(run)
    try:
        started = time.monotonic()
        code, text = _cli(segment, ["--dataset", "synthetic:shapes", "--out", str(run), *TINY], capsys)
        assert code == 2 and f"is in use by process {proc.pid}" in text and _one_line_error(text), text
        assert time.monotonic() - started < 60  # at once, not after building anything
        assert not (run / "history.csv").exists()
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_message(tmp_path):
    run = tmp_path / "run"
    proc = _holder(run)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    said = []
    lock = RunLock(run, said.append).acquire()
    try:
        assert said and f"taking over the lock left by process {proc.pid}" in said[0], said
        with pytest.raises(RunInUseError, match=f"process {os.getpid()}"):
            RunLock(run).acquire()  # held now, also against this process's own second attempt
    finally:
        lock.release()
    said.clear()
    RunLock(run, said.append).acquire().release()
    assert not said  # a clean release leaves nothing to take over


# ---- one line, not a traceback -----------------------------------------------------------------


def test_a_broken_first_image_is_reported_not_a_traceback(tmp_path, capsys):
    root = tmp_path / "d"
    _mask_folder(root, _square_masks([0, 1]), lambda m, p: Image.fromarray(m.astype(np.uint8)).save(p))
    (root / "images" / "0000.png").write_bytes(b"")  # sorted first
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "masks" / "0000.png")
    (root / "images" / "0001.txt").write_text("notes")
    code, text = _cli(segment, ["check", "--dataset", f"folder:{root}", "--num-classes", "2"], capsys)
    assert code == 2 and "zero-byte file" in text and "unsupported format (.txt)" in text
    assert "Traceback" not in text


def test_an_image_over_pillows_limit_is_reported(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from zoo.tasks.segmentation.checks import check_segmentation_folder

    root = tmp_path / "d"
    _mask_folder(
        root, _square_masks([0, 1], size=(40, 40)), lambda m, p: PILImage.fromarray(m.astype(np.uint8)).save(p)
    )
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 500)  # 40x40 = 1600 > 2 x 500: a "bomb" here
    report = check_segmentation_folder(str(root), channels=3, num_classes=2)
    assert any("safety limit" in f.what for f in report.errors), report.text()


def test_coco_files_of_the_wrong_shape_are_reported(tmp_path, capsys):
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    for content, words in (
        ({"images": None, "annotations": [], "categories": []}, "images is NoneType"),
        ([1, 2], "not an object"),
        ({"images": [{"id": 1, "file_name": 3}], "annotations": [], "categories": [{}]}, "file_name not a string"),
        (
            {
                "images": [{"id": 1, "file_name": "a.png"}],
                "annotations": [{"image_id": 1, "keypoints": "x"}],
                "categories": [],
            },
            "not a list of numbers",
        ),
    ):
        (root / "k.json").write_text(json.dumps(content))
        code, text = _cli(pose, ["check", "--dataset", f"folder:{root}", "--encoder-weights", "none"], capsys)
        assert code == 2 and words in text and "Traceback" not in text, (content, text)
        # The loader itself (--skip-check) answers with one line too.
        code, text = _cli(
            pose, ["--dataset", f"folder:{root}", "--skip-check", "--out", str(tmp_path / "r"), *TINY], capsys
        )
        assert code == 2 and _one_line_error(text), text


def test_zoo_commands_answer_bad_paths_in_one_line(gray_run, tmp_path, capsys):
    from zoo.__main__ import main

    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["sample-data", "shapes", str(target)]) == 2
    assert "is a file" in capsys.readouterr().err
    spaced = tmp_path / "my data"
    assert main(["sample-data", "shapes", str(spaced), "--count", "2", "--size", "32"]) == 0
    said = capsys.readouterr().out
    assert shlex.split(said.split("--dataset ", 1)[1])[0] == f"folder:{spaced}"  # quoted for a shell
    images = tmp_path / "pics"
    images.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(images / "a.png")
    export = gray_run / "export"
    assert main(["predict", str(export), str(images), "--out", str(target)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["predict", str(export), str(images), "--out", str(images)]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert main(["predict", str(export), str(images / "a.png"), "--out", str(target / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_a_foreign_saved_model_with_a_copied_model_json_is_refused(gray_run, tmp_path, capsys):
    import tensorflow as tf

    from zoo.__main__ import main

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": 2 * x}

    foreign = tmp_path / "foreign"
    module = Doubler()
    tf.saved_model.save(module, str(foreign), signatures={"serving_default": module.__call__})
    (foreign / "model.json").write_text((gray_run / "export" / "model.json").read_text())
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(image)
    assert main(["predict", str(foreign), str(image), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "does not look like an export of this project" in err and "Traceback" not in err, err


def test_an_unfinished_run_exports_with_a_warning(gray_run, tmp_path):
    import shutil

    from zoo.__main__ import _unfinished_warning

    assert _unfinished_warning(str(gray_run)) is None
    copy = tmp_path / "copy"
    shutil.copytree(gray_run, copy, ignore=shutil.ignore_patterns("metrics.json", "export*"))
    assert "has not finished training" in _unfinished_warning(str(copy))
    lock = RunLock(copy).acquire()
    try:
        assert "a training process is working on it now" in _unfinished_warning(str(copy))
    finally:
        lock.release()


# ---- what a run leaves -------------------------------------------------------------------------


def test_run_files_are_readable_and_weights_are_stored_once_each(gray_run):
    import zoo

    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "metrics.json", "curves.png", "samples.png", "checkpoints/best.weights.h5"):
        assert (gray_run / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    # One phase file (the last), best, no backup; none holds the optimizer's state.
    assert sorted(p.name for p in (gray_run / "checkpoints").iterdir()) == ["best.weights.h5", "phase0.weights.h5"]
    model = zoo.unet("vgg16", num_classes=2, input_shape=(64, 32, 1), encoder_weights=None)
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    for name in ("best.weights.h5", "phase0.weights.h5"):
        assert (gray_run / "checkpoints" / name).stat().st_size < 1.05 * weight_bytes, name


def test_check_refuses_bfloat16_where_training_would_crash_on_it(tmp_path, capsys, monkeypatch):
    """FCN-VGG16's fc6 in bfloat16 on an AMX CPU: training refuses it (zoo.run.precision); check says so too."""
    from zoo.run import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: {"amx_bf16", "amx_tile"})
    args = ["--dataset", "synthetic:shapes", "--model", "fcn8s", "--mixed-precision", "bfloat16", *TINY]
    code, out = _cli(segment, ["check", *args], capsys)
    assert code == 2 and "training refuses these settings: --mixed-precision bfloat16 with fcn8s on vgg16" in out, out
    code, out = _cli(segment, [*args, "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and _one_line_error(out)[0].startswith("error: --mixed-precision bfloat16 with fcn8s"), out
    assert not (tmp_path / "r" / "history.csv").exists()


def test_print_config_writes_what_config_reads_back_in_yaml_and_json(tmp_path, capsys):
    """--print-config: every setting (flags and --config merged and checked), no training, exit 0; the text read
    back by --config gives the same settings; YAML 1.2 scalars (off stays a string, 1e-3 is a float)."""
    mine = tmp_path / "mine.yml"
    mine.write_text("dataset: synthetic:shapes\nmixed_precision: off\nclip_norm: 1e-3\ninput_size: 64x48\n")
    code, text = _cli(segment, ["--config", str(mine), "--epochs", "3", "--print-config"], capsys)
    assert code == 0 and "# Settings for --config" in text and "\nout:" not in text and "resume" not in text
    printed = tmp_path / "printed.yaml"
    printed.write_text(text)
    code, as_json = _cli(segment, ["--config", str(printed), "--print-config", "json"], capsys)
    values = json.loads(as_json)
    assert code == 0 and values["mixed_precision"] == "off" and values["clip_norm"] == 0.001
    assert values["epochs"] == 3 and values["input_size"] == "64x48" and values["dataset"] == "synthetic:shapes"
    back = tmp_path / "back.json"
    back.write_text(as_json)
    code, again = _cli(segment, ["--config", str(back), "--print-config", "json"], capsys)
    assert code == 0 and json.loads(again) == values
    code, text = _cli(segment, ["--config", str(mine), "--batch-size", "0", "--print-config"], capsys)
    assert code == 2 and _one_line_error(text), text  # the same checks as training before printing

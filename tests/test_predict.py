"""python -m zoo export / predict: files and folders, a corrupt file skipped, the outputs written."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from zoo.__main__ import main
from zoo.export import load
from zoo.predict import predict_files


def _folder_with_one_corrupt_file(root):
    rng = np.random.default_rng(3)
    (root / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (50, 70), np.uint8), mode="L").save(root / "gray.png")
    Image.fromarray(rng.integers(0, 256, (64, 48, 3), np.uint8)).save(root / "colour.jpg")
    Image.fromarray(rng.integers(0, 256, (50, 70, 4), np.uint8)).save(root / "sub" / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (33, 21), np.uint8), mode="L").save(root / "sub" / "small.bmp")
    good = (root / "gray.png").read_bytes()
    (root / "broken.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not an image, not looked at")
    return ["gray", "colour", "sub/rgba", "sub/small"]


def test_predict_segmentation_on_a_folder_with_a_corrupt_file(gray_run, tmp_path, capsys):
    stems = _folder_with_one_corrupt_file(tmp_path / "images")
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(gray_run / "export"),
            str(tmp_path / "images"),
            "--out",
            str(out),
            "--batch-size",
            "2",
            "--no-progress",
        ]
    )
    assert code == 1  # finished, but some files were skipped
    printed = capsys.readouterr()
    assert "4 image(s) written" in printed.out and "2 skipped" in printed.out
    assert "broken.png" in printed.err and "empty.jpg" in printed.err
    report = json.loads((out / "predictions.json").read_text())
    assert sorted(report["skipped"]) == sorted(str(tmp_path / "images" / n) for n in ("broken.png", "empty.jpg"))
    assert len(report["images"]) == 4 and report["classes"] == ["background", "object"]
    predictor = load(gray_run / "export")
    for stem in stems:
        mask = np.asarray(Image.open(out / f"{stem}_mask.png"))
        overlay = np.asarray(Image.open(out / f"{stem}_overlay.png"))
        assert overlay.shape == (*mask.shape, 3)
        assert set(np.unique(mask)) <= {0, 1}
    original = np.asarray(Image.open(tmp_path / "images" / "gray.png"))[None, ..., None]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "gray_mask.png")), predictor(original)["mask"][0])


def test_predict_keypoints_writes_coco_results_and_drawings(faces_run, tmp_path, capsys):
    rng = np.random.default_rng(4)
    files = []
    for name, shape in (("a.png", (90, 130, 3)), ("b.png", (160, 160, 3))):
        Image.fromarray(rng.integers(0, 256, shape, np.uint8)).save(tmp_path / name)
        files.append(str(tmp_path / name))
    out = tmp_path / "out"
    assert main(["predict", str(faces_run / "export"), *files, "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "keypoints.json").read_text())
    assert [r["file_name"] for r in results] == files
    for result in results:
        assert result["category_id"] == 1 and len(result["keypoints"]) == 5 * 3 and result["score"] >= 0
    expected = load(faces_run / "export")(np.asarray(Image.open(files[0]))[None])
    np.testing.assert_allclose(np.reshape(results[0]["keypoints"], (5, 3))[:, :2], expected["keypoints"][0], atol=1e-3)
    assert Image.open(out / "b_keypoints.png").size == (160, 160)


def test_keypoint_flip_tta_swaps_left_and_right_on_a_symmetric_picture(faces_run, tmp_path):
    """A picture equal to its mirror image: with flip TTA the left eye is the mirrored right eye (and so on)
    exactly, which holds only when the mirrored answer's left/right keypoints are swapped back."""
    predictor = load(faces_run / "export")
    flip = np.asarray(predictor.info.fields.flip_index)
    half = np.random.default_rng(9).integers(0, 256, (1, 80, 48, 3), np.uint8)
    image = np.concatenate([half, half[:, :, ::-1]], axis=2)  # 80x96, symmetric
    found = predictor(image, tta="flip")
    mirrored = found["keypoints"][0, flip] * [-1, 1] + [image.shape[2] - 1, 0]
    np.testing.assert_allclose(mirrored, found["keypoints"][0], atol=1e-3)
    np.testing.assert_allclose(found["scores"][0, flip], found["scores"][0], atol=1e-5)
    Image.fromarray(image[0]).save(tmp_path / "sym.png")
    assert (
        main(
            [
                "predict",
                str(faces_run / "export"),
                str(tmp_path / "sym.png"),
                "--out",
                str(tmp_path / "out"),
                "--tta",
                "flip",
                "--no-progress",
            ]
        )
        == 0
    )
    written = np.reshape(json.loads((tmp_path / "out" / "keypoints.json").read_text())[0]["keypoints"], (5, 3))
    np.testing.assert_allclose(written[:, :2], found["keypoints"][0], atol=1e-3)
    with pytest.raises(ValueError, match="takes --tta flip only"):
        predict_files(faces_run / "export", [tmp_path / "sym.png"], tmp_path / "o2", tta="scales:1,2")


def test_export_command_writes_the_format_and_says_how_to_use_it(gray_run, tmp_path, capsys):
    assert main(["export", str(gray_run), "--format", "keras", "--out", str(tmp_path / "k")]) == 0
    printed = capsys.readouterr().out
    assert "keras export" in printed and "python -m zoo predict" in printed
    assert (tmp_path / "k" / "model.keras").is_file() and (tmp_path / "k" / "model.json").is_file()
    assert main(["predict", str(tmp_path / "k"), str(tmp_path / "nothing-here"), "--out", str(tmp_path / "o")]) == 2
    assert "nothing-here: no such file or folder" in capsys.readouterr().err


def test_predict_leaves_out_its_own_outputs_and_keeps_names_apart(gray_run, tmp_path):
    images = tmp_path / "images"
    for folder, name in (("a", "Cat.png"), ("b", "cat.png")):
        (images / folder).mkdir(parents=True)
        Image.fromarray(np.full((40, 30), 90, np.uint8), mode="L").save(images / folder / name)
    out = images / "results"  # inside the input folder
    for _ in range(2):  # the second run must not read the first run's PNGs
        assert (
            main(
                [
                    "predict",
                    str(gray_run / "export"),
                    str(images / "a"),
                    str(images / "b"),
                    str(images),
                    "--out",
                    str(out),
                    "--no-progress",
                ]
            )
            == 0
        )
        report = json.loads((out / "predictions.json").read_text())
        assert len(report["images"]) == 4  # a/Cat, b/cat, and both again through the parent folder
    masks = sorted(p.name for p in out.rglob("*_mask.png"))
    assert len(masks) == 4, masks  # no two outputs share a name, even ignoring case


def test_export_refuses_to_replace_a_folder_that_is_not_an_export(gray_run, tmp_path):
    import pytest

    from zoo.export import export_run

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds files that are not part of an export"):
        export_run(gray_run, "keras", busy)
    with pytest.raises(ValueError, match="holds files that are not part of an export"):
        export_run(gray_run, "keras", gray_run)  # the run directory itself
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        export_run(gray_run, "keras", tmp_path / "file")
    assert (busy / "notes.txt").read_text() == "keep me" and (gray_run / "config.json").is_file()
    first = export_run(gray_run, "keras", tmp_path / "again")
    assert export_run(gray_run, "keras", first) == first.resolve()  # an earlier export is replaced


def test_read_image_handles_16_bit_cmyk_and_refuses_float_pixels(tmp_path):
    """16-bit PNGs become what TensorFlow's decoder (the training pipeline) gives; CMYK JPEGs are
    converted; float and 32-bit integer pixels, with no fixed scale, are refused with the reason."""
    import pytest
    import tensorflow as tf

    from zoo.predict import read_image

    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 65536, (20, 30), np.uint16)).save(tmp_path / "deep.png")
    expected = tf.io.decode_png(tf.io.read_file(str(tmp_path / "deep.png")), channels=1).numpy()
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png", 1), expected)
    assert read_image(tmp_path / "deep.png", 3).shape == (20, 30, 3)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), np.uint8)).convert("CMYK").save(tmp_path / "print.jpg")
    assert read_image(tmp_path / "print.jpg", 3).shape == (20, 30, 3)
    Image.fromarray(rng.random((20, 30)).astype(np.float32), mode="F").save(tmp_path / "float.tif")
    with pytest.raises(ValueError, match="floating-point pixels"):
        read_image(tmp_path / "float.tif", 1)
    Image.fromarray(rng.integers(0, 256, (20, 30)).astype(np.int32), mode="I").save(tmp_path / "int.tif")
    with pytest.raises(ValueError, match="32-bit integer pixels"):  # 0..255 values or not: no fixed scale
        read_image(tmp_path / "int.tif", 1)


# A process where TensorFlow and Keras (and the other frameworks) cannot be imported: what a phone
# build server or a slim ONNX Runtime container has.
_NO_TENSORFLOW = """
import importlib.abc, runpy, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"):
            raise ImportError(f"{name} cannot be imported in this test")
sys.meta_path.insert(0, Blocked())
export, images, out = sys.argv[1:4]
sys.argv = ["python -m zoo", "predict", export, images, "--out", out, "--no-progress"]
try:
    runpy.run_module("zoo", run_name="__main__")
except SystemExit as done:
    assert done.code in (0, None), done.code
from zoo.export import load
import numpy as np
outputs = load(export)(np.zeros((1, 40, 50, load(export).info.channels), np.uint8))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
print("frameworks loaded:", loaded, "outputs:", sorted(outputs))
"""


@pytest.mark.parametrize(
    "run_fixture, fmt", [("gray_run", "onnx"), pytest.param("faces_run", "litert", marks=pytest.mark.slow)]
)
def test_onnx_and_litert_exports_predict_where_tensorflow_cannot_be_imported(run_fixture, fmt, tmp_path, request):
    run = request.getfixturevalue(run_fixture)
    export = tmp_path / "export"
    assert main(["export", str(run), "--format", fmt, "--out", str(export)]) == 0
    rng = np.random.default_rng(5)
    (tmp_path / "images").mkdir()
    Image.fromarray(rng.integers(0, 256, (70, 50, 3), np.uint8)).save(tmp_path / "images" / "colour.jpg")
    Image.fromarray(rng.integers(0, 256, (40, 60, 4), np.uint8)).save(tmp_path / "images" / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (30, 30), np.uint8), mode="L").save(tmp_path / "images" / "gray.bmp")
    assert (
        main(["predict", str(export), str(tmp_path / "images"), "--out", str(tmp_path / "here"), "--no-progress"]) == 0
    )
    done = subprocess.run(
        [sys.executable, "-c", _NO_TENSORFLOW, str(export), str(tmp_path / "images"), str(tmp_path / "there")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "frameworks loaded: [] outputs:" in done.stdout
    written = sorted(p.name for p in (tmp_path / "here").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "there").iterdir()) and len(written) > 3
    for name in written:
        if name.endswith(".png"):  # the same pixels, whichever process made them
            np.testing.assert_array_equal(
                np.asarray(Image.open(tmp_path / "here" / name)), np.asarray(Image.open(tmp_path / "there" / name))
            )
    if fmt == "litert":
        here = json.loads((tmp_path / "here" / "keypoints.json").read_text())
        there = json.loads((tmp_path / "there" / "keypoints.json").read_text())
        assert [r["keypoints"] for r in here] == [r["keypoints"] for r in there]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--tile", "0"], "--tile 0: use a positive whole number of pixels"),
        (["--overlap", "nan"], "--overlap nan: use a fraction of a tile from 0 to 0.5"),
        (["--overlap", "-0.5"], "--overlap -0.5: use a fraction of a tile from 0 to 0.5"),
        (["--tile", "64", "--overlap", "40"], "--overlap 40.0 gives 40 px on tiles of 64x64"),  # half a tile at most
        (["--overlap", "4000"], "--overlap 4000.0 gives 4000 px on tiles of"),  # the default tile's half at most
    ],
)
def test_bad_predict_flags_are_refused_before_any_picture_is_read(gray_run, tmp_path, capsys, flags, message):
    image = tmp_path / "images" / "a.png"
    image.parent.mkdir()
    Image.fromarray(np.zeros((40, 50), np.uint8), mode="L").save(image)
    out = tmp_path / "out"
    code = main(
        ["predict", str(gray_run / "export"), str(image.parent), "--out", str(out), "--scale", "native", *flags]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("error:") == 1, err
    assert not out.exists()  # refused up front: nothing read, nothing written


def test_progress_lines_stand_in_for_the_bar_off_a_terminal(capsys):
    from zoo.predict import ProgressLines

    lines = ProgressLines(3, every=0)
    lines.update(1)
    lines.update(2)
    lines.close()
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("predict: 1/3 images, ") and err[1].startswith("predict: 3/3 images, ")

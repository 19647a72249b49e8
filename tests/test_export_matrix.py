"""The export matrix (every builder on every backbone family, in SavedModel, ONNX and LiteRT, checked against
Keras), one-line refusals, and quantized LiteRT exports."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.export import export_model, load
from zoo.export.verify import FAMILIES, MATRIX_FILE, MATRIX_FORMATS, check_cell, read_matrix

PROJECT = Path(__file__).resolve().parent.parent
SEGMENTATION_INFO = {
    "model": "unet",
    "backbone": "vgg16",
    "input_size": [32, 32],
    "channels": 3,
    "task": "segmentation",
    "classes": ["a", "b"],
}


def _odd_network():
    """A network whose layer 'odd_op' runs a TensorFlow op (MatrixInverse) that neither LiteRT's built-in ops nor
    ONNX have."""
    import keras
    import tensorflow as tf

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(2, 3, padding="same", name="features")(inputs)
    x = keras.layers.Lambda(
        lambda t: tf.reshape(tf.linalg.inv(tf.reshape(t[:, :2, :2, :], [-1, 2, 2, 2]) + tf.eye(2)), [-1, 2, 2, 2]),
        name="odd_op",
    )(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_a_network_a_format_cannot_take_is_refused_in_one_line_naming_the_layer_and_op(tmp_path, fmt, capfd):
    from zoo.export.refusals import ExportRefused

    with pytest.raises(ExportRefused) as caught:
        export_model(_odd_network(), SEGMENTATION_INFO, fmt, tmp_path / fmt)
    line = str(caught.value)
    assert "\n" not in line and len(line) < 400, line
    assert "layer 'odd_op' (Lambda) uses TensorFlow op MatrixInverse" in line
    assert line.startswith(f"{'LiteRT' if fmt == 'litert' else 'ONNX'} cannot take unet on vgg16")
    assert "export it as saved_model" in line
    assert not (tmp_path / fmt).exists()  # nothing half-written
    printed = capfd.readouterr().err
    assert "tf.MatrixInverse" not in printed and "func.func" not in printed  # the MLIR dump stays off the terminal
    if fmt == "litert":  # ... and goes to the log the line names
        log = Path(re.search(r"the converter's full output: (\S+)\)", line).group(1))
        assert "'tf.MatrixInverse' op is neither a custom op nor a flex op" in log.read_text()
        log.unlink()


@pytest.mark.slow  # a Python of its own (5 s); the refusal's line itself is checked fast above
def test_the_command_line_refuses_in_one_line(tmp_path):
    """The refusal through the command line's error path: one error line, no traceback, no MLIR."""
    script = f"""
import sys; sys.path.insert(0, {str(PROJECT / "tests")!r})
from test_export_matrix import _odd_network, SEGMENTATION_INFO
from zoo.export import export_model
from zoo.utils.errors import report
try:
    export_model(_odd_network(), SEGMENTATION_INFO, "litert", {str(tmp_path / "out")!r})
except Exception as err:
    assert report(err, False)  # the command line's error path (zoo.__main__), without --debug
    sys.exit(2)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, timeout=300)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "odd_op" in line or "Traceback" in line or "loc(" in line]
    assert len(lines) == 1 and "LiteRT cannot take" in lines[0], done.stderr[-2000:]


@pytest.mark.parametrize(
    "model,backbone,fmt",
    [
        pytest.param("simple_baseline", "mobilenetv3small", "litert", marks=pytest.mark.slow),
        pytest.param("fpn", "efficientnetb0", "onnx", marks=pytest.mark.slow),
    ],
)
def test_matrix_cells_export_load_in_their_runtime_and_agree_with_keras(model, backbone, fmt):
    """Cells of the matrix (slow; the fast tier runs a cell in the test below): a keypoint head on a phone backbone
    in LiteRT; a segmentation decoder on EfficientNet in ONNX, also at native scale in tiles."""
    cell = check_cell(model, backbone, fmt, size=32)
    assert cell.ok, cell.why
    if model == "fpn":
        assert "at native scale (tiles): 1.0000" in cell.why or "at native scale (tiles): 0.99" in cell.why


def test_a_cell_that_fails_says_why_in_one_line(monkeypatch):
    """An answer that differs from Keras' on a third of the pixels is caught by the comparison, not passed."""
    import zoo.export.verify as verify

    original = verify.keras_predictor

    def wrong_on_the_left(model, info):
        reference = original(model, info)
        run = reference.run

        def changed(images):
            out = run(images)
            third = out["mask"].shape[2] // 3
            out["mask"][:, :, :third] = (out["mask"][:, :, :third] + 1) % 3
            return out

        reference.run = changed
        return reference

    monkeypatch.setattr(verify, "keras_predictor", wrong_on_the_left)
    cell = check_cell("unet", "mobilenetv2", "onnx", size=32)
    assert not cell.ok and cell.why.startswith("mask agrees on 0.6") and "\n" not in cell.why, cell.why


def test_the_recorded_matrix_covers_every_builder_family_and_format_and_the_readme_lists_each_no():
    from zoo.models.registry import MODELS

    record = read_matrix()
    cells = {(c["model"], c["backbone"], c["format"]): c for c in record["cells"]}
    wanted = {(e.name, b, f) for e in MODELS for b in FAMILIES.values() for f in MATRIX_FORMATS}
    assert set(cells) == wanted, sorted(wanted - set(cells))[:5]
    readme = (PROJECT / "README.md").read_text()
    for (model, backbone, fmt), cell in cells.items():
        if not cell["ok"]:
            assert f"{model} on {backbone} as {fmt}" in readme, (model, backbone, fmt, cell["why"])


def test_zoo_models_exports_prints_the_matrix():
    done = subprocess.run(
        [sys.executable, "-m", "zoo", "models", "--exports", "--models", "unet,simcc"],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Export matrix, checked" in out and "saved_model  onnx         litert" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("unet ", "simcc "))]
    assert len(rows) == 2 * len(FAMILIES) and all(r[2] in ("yes", "no") for r in rows)
    assert str(MATRIX_FILE.name) and "exports load in their runtime and agree with Keras" in out


# ---- quantized LiteRT


def _tiny_segmenter():
    """Three convolutions with BatchNorm and a 1x1 classifier, 150k weights: the quantization mechanics, fast (the
    quality of real networks quantized: benchmarks/quantize.py)."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i, filters in enumerate((64, 128, 96)):
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    return keras.Model(inputs, keras.layers.Conv2D(2, 1, name="logits")(x), name="tiny")


def test_float16_and_int8_litert_exports_are_smaller_recorded_and_run(tmp_path):
    from zoo.export.runtime import litert_interpreter

    model = _tiny_segmenter()
    rng = np.random.default_rng(0)
    calibration = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    pictures = rng.integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    sizes, kinds = {}, {}
    for quantize in (None, "float16", "int8"):
        folder = export_model(
            model,
            {**SEGMENTATION_INFO, "backbone": "mobilenetv2"},
            "litert",
            tmp_path / str(quantize),
            quantize=quantize,
            calibration=calibration,
        )
        meta = json.loads((folder / "model.json").read_text())
        assert meta.get("quantize") == quantize
        assert load(folder).info.quantize == quantize
        got = load(folder)(pictures)
        assert got["mask"].shape == (2, 40, 50) and got["probabilities"].dtype == np.float32
        sizes[quantize] = (folder / "model.tflite").stat().st_size
        interpreter = litert_interpreter()(model_path=str(folder / "model.tflite"))
        kinds[quantize] = {str(np.dtype(t["dtype"])) for t in interpreter.get_tensor_details()}
    assert 0.45 < sizes["float16"] / sizes[None] < 0.6 and sizes["int8"] / sizes[None] < 0.35, sizes
    assert "float16" in kinds["float16"] and "int8" in kinds["int8"] and "int8" not in kinds[None]


def test_quantize_is_refused_where_it_does_not_apply(tmp_path):
    model = _tiny_segmenter()
    with pytest.raises(ValueError, match=r"--quantize float16 is for --format litert"):
        export_model(model, SEGMENTATION_INFO, "onnx", tmp_path / "a", quantize="float16")
    with pytest.raises(ValueError, match=r"--quantize int8 needs calibration pictures: the run's calibration.npz"):
        export_model(model, SEGMENTATION_INFO, "litert", tmp_path / "b", quantize="int8")
    with pytest.raises(ValueError, match=r"--quantize 'int4': choose float16 or int8"):
        export_model(model, SEGMENTATION_INFO, "litert", tmp_path / "c", quantize="int4")


def _gray_pictures(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((50, 40), 60 * i, np.uint8)).save(folder / f"{i}.png")
    return folder


def test_a_run_keeps_calibration_pictures_and_exports_int8_from_them(gray_run, tmp_path, capsys):
    """The recipe wrote a sample of its training pictures; `zoo export --quantize int8` calibrates on them, and
    predict runs the export; --calibration without int8 is refused."""
    from zoo.__main__ import main

    with np.load(gray_run / "calibration.npz") as data:
        pictures = data["pictures"]
    assert pictures.dtype == np.uint8 and pictures.shape[1:] == (64, 32, 1) and len(pictures) >= 8
    out = tmp_path / "int8"
    assert main(["export", str(gray_run), "--format", "litert", "--quantize", "int8", "--out", str(out)]) == 0
    assert json.loads((out / "model.json").read_text())["quantize"] == "int8"
    from zoo.export.runtime import litert_interpreter

    tensors = litert_interpreter()(model_path=str(out / "model.tflite")).get_tensor_details()
    assert "int8" in {str(np.dtype(t["dtype"])) for t in tensors}  # quantized, not a float32 file so labelled
    images = _gray_pictures(tmp_path / "images")
    assert main(["predict", str(out), str(images), "--out", str(tmp_path / "pred")]) == 0
    assert len(list((tmp_path / "pred").rglob("*.png"))) >= 3
    assert json.loads((tmp_path / "pred" / "predictions.json").read_text())["quantize"] == "int8"
    capsys.readouterr()
    flags = ["export", str(gray_run), "--format", "litert", "--calibration", str(images), "--out", str(tmp_path / "x")]
    assert main(flags) != 0 and "error: --calibration is for --quantize int8" in capsys.readouterr().err


def test_a_run_without_calibration_pictures_is_refused_not_calibrated_on_its_plots(gray_run, tmp_path):
    """A run written before calibration.npz holds only plots and samples as images: refused, naming the fix."""
    import shutil

    from zoo.export.quantize import read_calibration

    old = tmp_path / "old_run"
    old.mkdir()
    for name in ("config.json", "curves.png", "samples.png"):
        shutil.copy(gray_run / name, old / name)
    with pytest.raises(FileNotFoundError, match=r"this run has no calibration.npz .* give --calibration a folder"):
        read_calibration(old, load(gray_run / "export").info)


@pytest.mark.slow
def test_int8_calibrates_on_a_folder_of_pictures(gray_run, tmp_path):
    """--calibration FOLDER: image files of any size, read as the model's channels (runs before calibration.npz)."""
    from zoo.__main__ import main
    from zoo.export.quantize import read_calibration

    images = _gray_pictures(tmp_path / "images")
    out = tmp_path / "other"
    flags = ["export", str(gray_run), "--format", "litert", "--quantize", "int8", "--calibration", str(images)]
    assert main([*flags, "--out", str(out)]) == 0
    info = load(out).info
    assert info.quantize == "int8" and load(out)(np.zeros((1, 50, 40, 1), np.uint8))["mask"].shape == (1, 50, 40)
    read = read_calibration(images, info)
    assert read.shape == (3, 64, 32, 1) and sorted(int(p.mean()) for p in read) == [0, 60, 120]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", MATRIX_FORMATS)
def test_every_builder_on_mobilenetv2_exports_and_agrees(fmt):
    """The on-device row of the matrix: every decoder and head on MobileNetV2, in each format."""
    from zoo.export.verify import check_matrix
    from zoo.models.registry import MODELS

    cells = check_matrix([e.name for e in MODELS], ["mobilenetv2"], formats=(fmt,), size=32, log=lambda _: None)
    failed = [(c.model, c.why) for c in cells if not c.ok]
    assert not failed, failed


@pytest.mark.slow
def test_unet_on_every_backbone_family_converts_to_litert_and_agrees():
    from zoo.export.verify import check_matrix

    cells = check_matrix(["unet"], list(FAMILIES.values()), formats=("litert",), size=32, log=lambda _: None)
    failed = [(c.backbone, c.why) for c in cells if not c.ok]
    assert not failed, failed

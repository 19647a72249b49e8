"""Exports in every format against the Keras model; model.json; saved_model_cli; errors."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from zoo.data.resize import resize_antialiased
from zoo.export import export_run, load, load_run, serving_fn


@pytest.mark.parametrize(
    "source, target",
    [((80, 100), (64, 64)), ((30, 17), (64, 96)), ((640, 480), (96, 64)), ((64, 64), (64, 64)), ((7, 300), (32, 32))],
)
def test_matrix_resize_matches_tensorflows_antialiased_resize(source, target):
    images = np.random.default_rng(0).integers(0, 256, (2, *source, 3)).astype("float32")
    expected = tf.image.resize(images, target, "bilinear", antialias=True).numpy()
    got = resize_antialiased(images, target).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-3)  # 0-255 pixel values; float32 round-off only


@pytest.mark.parametrize("shape", [(90, 130), (131, 90), (64, 64), (20, 300)])
def test_keypoint_serving_pads_to_the_aspect_ratio_as_training_does(shape):
    """Serving must see the image as the keypoint pipeline does (box_to_frame: grown to the
    frame's aspect, not stretched) and map frame points back to the image's pixels."""
    from zoo.data.resize import letterbox
    from zoo.tasks.keypoints.geometry import box_to_frame, transform_points

    height, width = shape
    point = np.array([[0.77 * width, 0.31 * height]], np.float32)
    image = np.zeros((1, height, width, 1), np.float32)
    image[0, int(round(point[0, 1])), int(round(point[0, 0])), 0] = 255.0
    padded, offset, scale = letterbox(image, (64, 96))
    frame = resize_antialiased(padded, (64, 96)).numpy()[0, ..., 0]
    matrix = box_to_frame(tf.constant([0.0, 0.0, width, height]), (64, 96))
    expected = transform_points(point, matrix).numpy()[0]
    # look inside the image's own region of the frame (the reflected margins repeat the dot)
    (x0, y0), (x1, y1) = np.round(transform_points([[0.0, 0.0], [width - 1.0, height - 1.0]], matrix).numpy())
    inside = np.full(frame.shape, -1.0)
    inside[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1] = frame[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1]
    found_y, found_x = np.unravel_index(inside.argmax(), frame.shape)
    assert abs(found_x - expected[0]) <= 1.5 and abs(found_y - expected[1]) <= 1.5, (found_x, found_y, expected)
    # the way back is the exact inverse of the serving's own padding and resize
    back = (expected + 0.5) * scale.numpy() - 0.5 - offset.numpy()
    np.testing.assert_allclose(back, point[0], atol=0.5 * max(scale.numpy()) + 0.01)


def _reference(run, images):
    model, info, _ = load_run(run)
    return {k: v.numpy() for k, v in serving_fn(model, info)(images).items()}, info


@pytest.mark.slow
def test_a_run_trained_in_mixed_bfloat16_exports_in_float32(tmp_path):
    """Mixed precision (TPUs, AMX CPUs, GPUs) trains with float32 variables; the exports compute in
    float32, so they match a float32 rebuild of the run, and LiteRT converts them (bfloat16
    convolutions do not convert)."""
    import keras

    from recipes import segment
    from zoo.export.formats import in_float32

    run = tmp_path / "bf16"
    code = segment.main(
        [
            "--input-size",
            "32",
            "--encoder-weights",
            "none",
            "--mixed-precision",
            "bfloat16",
            "--schedule",
            "all:1@1e-4",
            "--synthetic-count",
            "16",
            "--batch-size",
            "4",
            "--steps-per-epoch",
            "1",
            "--out",
            str(run),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    assert keras.mixed_precision.global_policy().name == "float32"  # main() put the caller's policy back
    assert json.loads((run / "config.json").read_text())["resolved"]["precision"] == "mixed_bfloat16"
    image = np.random.default_rng(2).integers(0, 256, (1, 40, 24, 3), dtype=np.uint8)
    expected, _ = _reference(run, image)
    np.testing.assert_allclose(load(run / "export")(image)["probabilities"], expected["probabilities"], atol=1e-5)
    got = load(export_run(run, "litert", tmp_path / "litert"))(image)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
    # A model built under the mixed policy: the float32 copy holds the same weights.
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        import zoo

        mixed = zoo.unet("vgg16", num_classes=2, input_shape=(32, 32, 1), encoder_weights=None)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.get_layer("block1_conv1").compute_dtype == "bfloat16"
    copy = in_float32(mixed)
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    for a, b in zip(copy.get_weights(), mixed.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fmt", ["saved_model", "litert", "onnx", "keras"])
def test_segmentation_export_gives_the_keras_models_mask(gray_run, tmp_path, fmt):
    """1-channel U-Net trained at 64x32, run on a 75x51 image: same mask in every format."""
    image = np.random.default_rng(1).integers(0, 256, (2, 75, 51, 1), dtype=np.uint8)
    expected, info = _reference(gray_run, image)
    path = export_run(gray_run, fmt, tmp_path / fmt)
    meta = json.loads((path / "model.json").read_text())
    assert meta["format"] == fmt and meta["task"] == "segmentation" and meta["classes"] == ["background", "object"]
    assert meta["input_size"] == [64, 32] and meta["channels"] == 1 and meta["source"]["weights"] == "best"
    assert meta["versions"]["tensorflow"] == tf.__version__ and "preprocessing" in meta
    card = (path / "README.md").read_text()  # the model card, from model.json and the run's files
    metrics = json.loads((gray_run / "metrics.json").read_text())
    assert card.startswith("---\nlibrary_name: keras\npipeline_tag: image-segmentation") and "| 1 | object |" in card
    assert f"mean IoU {metrics['mean_iou']:.3f}" in card and "random weights" in card and "uint8, 1 channel" in card
    got = load(path)(image)
    assert got["mask"].shape == (2, 75, 51) and got["probabilities"].shape == (2, 75, 51, 2)
    # Tolerance: the runtimes sum in other orders; probabilities agree to float32 round-off
    # and the mask may differ only where two classes tie within it (none did here).
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
    assert (got["mask"] == expected["mask"]).mean() >= 0.999
    if fmt == "onnx":  # weights are stored, already in ONNX's layout; the only input is the images
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path / "model.onnx")).graph
        assert [i.name for i in graph.input] == ["images"]
        stored = {i.name for i in graph.initializer}
        assert not [n for n in graph.node if n.op_type == "Transpose" and n.input[0] in stored]
        model, _, _ = load_run(gray_run)
        stored_values = sum(numpy_helper.to_array(i).size for i in graph.initializer)
        assert abs(stored_values - model.count_params()) < 0.01 * model.count_params()
    if fmt == "litert":  # built-in ops only: runs on any LiteRT runtime, no Flex delegate
        from zoo.export.runtime import litert_interpreter

        interpreter = litert_interpreter()(model_path=str(path / "model.tflite"))
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert "CONV_2D" in ops and not [op for op in ops if "FLEX" in op.upper() or op == "CUSTOM"], ops
    for empty in ((0, 75, 51, 1), (1, 0, 51, 1)):  # no picture, a picture of no pixels: one line, every format
        with pytest.raises(ValueError, match=r"give at least one picture of at least 1x1 pixels"):
            load(path)(np.zeros(empty, np.uint8))
    if fmt != "saved_model":  # a cut model file (an unfinished copy): one line naming the file and the fix
        model_file = path / meta["file"]
        model_file.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
        with pytest.raises(ValueError, match=r"cannot read it .*truncated or damaged.*export the run again"):
            load(path)


@pytest.mark.parametrize("fmt", [pytest.param("litert", marks=pytest.mark.slow), "onnx"])  # fast tier: ONNX
def test_keypoint_export_gives_the_keras_models_keypoints(faces_run, tmp_path, fmt):
    images = np.random.default_rng(0).integers(0, 256, (2, 90, 130, 3), dtype=np.uint8)
    expected, info = _reference(faces_run, images)
    assert info.fields.flip_test  # the flip test is inside the export too
    path = export_run(faces_run, fmt, tmp_path / fmt)
    got = load(path)(images)
    assert got["keypoints"].shape == (2, 5, 2) and got["scores"].shape == (2, 5)
    np.testing.assert_allclose(got["keypoints"], expected["keypoints"], atol=0.01)  # pixels of the 90x130 image
    np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-4)
    meta = json.loads((path / "model.json").read_text())
    assert meta["keypoint_names"][:2] == ["left_eye", "right_eye"] and meta["heatmap_stride"] == 4


def _fresh_export_matches(model, info, tmp_path, images, formats=("litert", "onnx")):
    from zoo.export import export_model

    expected = {k: v.numpy() for k, v in serving_fn(model, info)(images).items()}
    for fmt in formats:
        got = load(export_model(model, info, fmt, tmp_path / fmt))(images)
        for name, value in expected.items():
            assert got[name].shape == value.shape, (fmt, name)
            if name == "mask":
                assert (got[name] == value).mean() >= 0.999, fmt
            else:
                scale = max(1.0, float(np.abs(value).max()))
                np.testing.assert_allclose(got[name], value, atol=1e-4 * scale, err_msg=f"{fmt} {name}")


@pytest.mark.slow
def test_fcn_with_batchnorm_backbone_exports_to_litert_and_onnx(tmp_path):
    """FCN-16s on ResNet50: transposed convolutions, a skip score and BatchNorm, at a rectangular size."""
    import keras

    import zoo

    keras.utils.set_random_seed(5)
    model = zoo.fcn16s("resnet50", num_classes=3, input_shape=(32, 64, 3), encoder_weights=None)
    for layer in model.layers:  # non-trivial BatchNorm statistics, so that a mistake in them shows
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.1, "float32"))
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 2.0, "float32"))
    info = {
        "model": "fcn16s",
        "backbone": "resnet50",
        "input_size": [32, 64],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b", "c"],
    }
    images = np.random.default_rng(3).integers(0, 256, (2, 45, 70, 3), dtype=np.uint8)
    _fresh_export_matches(model, info, tmp_path, images)


def _tiny_keypoint_model(decoder: str):
    """A tiny heatmap network (pooling, a 1x1 convolution) whose maps peak at known points."""
    import keras

    from zoo.tasks.keypoints.heatmap_codec import encode

    heat, _ = encode(tf.constant([[5.3, 2.6], [1.0, 6.2]]), tf.constant([1.0, 1.0]), (8, 8), 4, 2.0)
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.AveragePooling2D(4)(inputs)
    noise = keras.layers.Conv2D(2, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-4))(pooled)
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x + heat[None])(noise))
    info = {
        "model": "simple_baseline",
        "backbone": "vgg16",
        "input_size": [32, 32],
        "channels": 3,
        "task": "keypoints",
        "keypoint_names": ["left_eye", "right_eye"],
        "flip_index": [1, 0],
        "heatmap_stride": 4,
        "decode": decoder,
        "sigma": 2.0,
        "flip_test": True,
    }
    return model, info


@pytest.mark.parametrize("decoder", ["argmax", "soft-argmax"])
def test_every_keypoint_decoder_converts_to_litert_and_onnx(tmp_path, decoder):
    """The decoders other than DARK (the recipes' tests use DARK), flip test on."""
    model, info = _tiny_keypoint_model(decoder)
    images = np.random.default_rng(4).integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    _fresh_export_matches(model, info, tmp_path, images)


@pytest.mark.slow  # as the export matrix's cells (tests/test_export_matrix.py, slow too)
def test_a_mobilenetv2_keypoint_network_converts_to_litert_and_gives_keras_keypoints(tmp_path):
    """Simple Baselines on MobileNetV2: its first layer is a convolution on the letterboxed picture, whose channel
    count the converter lost ("Could not translate MLIR to FlatBuffer" until the serving function fixed it)."""
    import keras

    import zoo
    from zoo.export import export_model

    keras.utils.set_random_seed(2)
    model = zoo.simple_baseline("mobilenetv2", num_keypoints=2, input_shape=(32, 32, 3), encoder_weights=None)
    info = {**_tiny_keypoint_model("dark")[1], "backbone": "mobilenetv2"}
    images = np.random.default_rng(5).integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    expected = {k: v.numpy() for k, v in serving_fn(model, info)(images).items()}
    got = load(export_model(model, info, "litert", tmp_path / "litert"))(images)
    np.testing.assert_allclose(got["keypoints"], expected["keypoints"], atol=0.05)  # pixels of the 40x50 picture
    np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-4)


def test_onnx_weights_go_to_a_data_file_beyond_the_protobuf_limit(tmp_path, monkeypatch):
    """A protobuf holds at most 2 GB; beyond it the weights are written beside the file
    (simulated here by lowering the limit for a tiny model)."""
    import keras

    from zoo.export import onnx_convert

    monkeypatch.setattr(onnx_convert, "PROTOBUF_LIMIT", 0)
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(inputs)  # 6.9 KB of kernel
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(features))
    info = {
        "model": "unet",
        "backbone": "resnet50",
        "input_size": [32, 32],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b", "c"],
    }
    images = np.random.default_rng(6).integers(0, 256, (1, 33, 47, 3), dtype=np.uint8)
    _fresh_export_matches(model, info, tmp_path, images, formats=("onnx",))
    data = tmp_path / "onnx" / "model.onnx.data"
    assert data.is_file() and data.stat().st_mode & 0o044 == 0o044  # readable by a server's user


def test_onnx_export_of_a_subclassed_model_with_a_weight_read_in_a_branch(tmp_path):
    """A weight read inside an ONNX If body (from keras.ops.cond) and also at the top level,
    in a model whose call() takes no `training` argument: no folding may change what the
    branch reads."""
    import keras

    class Branchy(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(16, 16, padding="same")  # 65,536 weights: passed as an input
            self.head = keras.layers.Conv2D(2, 1)

        def call(self, x):
            y = self.conv(keras.layers.AveragePooling2D(4)(x)[..., :1] * keras.ops.ones((1, 1, 1, 16)))
            z = keras.ops.cond(keras.ops.mean(y) > 0, lambda: self.conv(y), lambda: y)
            return self.head(z)

    keras.utils.set_random_seed(8)
    model = Branchy()
    model(np.zeros((1, 32, 32, 3), "float32"))
    info = {
        "model": "unet",
        "backbone": "vgg16",
        "input_size": [32, 32],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b"],
    }
    images = np.random.default_rng(9).integers(0, 256, (1, 36, 30, 3), dtype=np.uint8)
    _fresh_export_matches(model, info, tmp_path, images, formats=("onnx",))


@pytest.mark.slow
def test_saved_model_cli_shows_and_runs_the_signature(gray_run, tmp_path):
    cli = shutil.which("saved_model_cli", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert cli, "saved_model_cli comes with tensorflow"
    export = gray_run / "export"  # the recipe's own export, with model.json beside it
    assert json.loads((export / "model.json").read_text())["format"] == "saved_model"
    shown = subprocess.run([cli, "show", "--dir", str(export), "--all"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "serving_default" in shown.stdout and "images" in shown.stdout and "mask" in shown.stdout
    image = np.random.default_rng(2).integers(0, 256, (1, 40, 30, 1), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    ran = subprocess.run(
        [
            cli,
            "run",
            "--dir",
            str(export),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            f"images={tmp_path / 'image.npy'}",
            "--outdir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    expected, _ = _reference(gray_run, image)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "mask.npy"), expected["mask"])


def test_export_errors_name_the_problem(tmp_path, gray_run):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        export_run(tmp_path, "onnx")
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_run(gray_run, "tflite")
    with pytest.raises(ValueError, match=r"--opset 9 is not available: .* choose 11\.\.18"):
        export_run(gray_run, "onnx", tmp_path / "old", opset=9)
    empty = tmp_path / "empty_run"
    (empty / "checkpoints").mkdir(parents=True)
    shutil.copy(gray_run / "config.json", empty / "config.json")
    with pytest.raises(FileNotFoundError, match="has not finished an epoch"):
        export_run(empty, "saved_model")
    bare = tmp_path / "bare"
    shutil.copytree(gray_run / "export", bare)
    (bare / "model.json").unlink()
    with pytest.raises(FileNotFoundError, match="python -m zoo export"):
        load(bare)
    with pytest.raises(ValueError, match=r"expected uint8 images \[batch, height, width, 1\]"):
        load(gray_run / "export")(np.zeros((1, 8, 8, 3), np.uint8))


def _run_card(folder, blocks):
    """Runs a card's code blocks in a fresh Python inside ``folder``, as a reader would; returns its output."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "\n\n".join(blocks)], cwd=folder, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_model_cards_tensorflow_and_package_snippets_run_as_written(gray_run, tmp_path):
    """The SavedModel's card: its TensorFlow-only block and this package's block run from inside the folder."""
    import shutil

    from zoo.export.card import card_code_blocks

    run = shutil.copytree(gray_run, tmp_path / "run")
    blocks = card_code_blocks((run / "export" / "README.md").read_text())
    assert len(blocks) == 5  # TensorFlow, ONNX Runtime, LiteRT, Keras, this package
    out = _run_card(run / "export", [blocks[0], blocks[4]])
    assert "'mask': TensorShape([1, 240, 320])" in out and "'mask': (1, 240, 320)" in out


@pytest.mark.slow  # four exports per task and a Python per card (about 2 minutes)
@pytest.mark.parametrize("which", ["gray_run", "faces_run"])
def test_every_block_of_every_formats_model_card_runs(which, request, tmp_path):
    """Each format's card, read where `zoo export` puts it (RUN/export, RUN/export-onnx, ...): every code block
    runs from inside its folder (the other formats by relative path) and prints the outputs' shapes."""
    import shutil

    from zoo.export.card import card_code_blocks

    run = shutil.copytree(request.getfixturevalue(which), tmp_path / "run")
    for fmt in ("onnx", "litert", "keras"):
        export_run(run, fmt)
    outputs = "mask" if which == "gray_run" else "keypoints"
    for folder in ("export", "export-onnx", "export-litert", "export-keras"):
        card = (run / folder / "README.md").read_text()
        out = _run_card(run / folder, card_code_blocks(card))
        assert out.count(f"'{outputs}'") == 4 and "(1, " in out, (folder, out)
        assert ("## Classes" in card) == (which == "gray_run") and ("## Keypoints" in card) == (which == "faces_run")

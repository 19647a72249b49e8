"""Pretrained weights: loading from files, channel adaptation, the store, offline errors."""

import hashlib
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from helpers import randomised_backbone, write_legacy_h5

import zoo
from zoo.models import weights
from zoo.models.encoder import weights_file_layers
from zoo.models.pretrained import resolve_encoder_weights
from zoo.models.weights import WeightsFile, WeightsUnavailableError


@pytest.fixture(scope="module")
def resnet50_notop(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "resnet50_notop.h5"
    saved = write_legacy_h5(randomised_backbone(keras.applications.ResNet50, False, seed=2), path)
    keras.backend.clear_session()
    return path, saved


def _assert_encoder_equals(model, saved, first_conv, channels):
    checked = 0
    for name, arrays in saved.items():
        layer = model.get_layer(name)
        got = layer.get_weights()
        assert len(got) == len(arrays), name
        for index, (g, s) in enumerate(zip(got, arrays)):
            if name == first_conv and index == 0:
                s = zoo.models.backbones.adapt_first_kernel(s, channels)
            np.testing.assert_array_equal(g, s, err_msg=name)
            checked += 1
    assert checked == sum(len(a) for a in saved.values())


@pytest.mark.parametrize("channels", [3, 1, 4])
def test_vgg16_encoder_loads_file_with_channel_adaptation(vgg16_notop, channels):
    path, saved = vgg16_notop
    model = zoo.unet("vgg16", num_classes=2, input_shape=(64, 64, channels), encoder_weights=str(path))
    _assert_encoder_equals(model, saved, "block1_conv1", channels)
    kernel = model.get_layer("block1_conv1").get_weights()[0]
    rgb = saved["block1_conv1"][0]
    if channels == 1:  # the documented reduction: sum over the colour axis
        np.testing.assert_allclose(kernel[:, :, 0], rgb.sum(axis=2), rtol=1e-6)
    if channels == 4:  # RGB kept, the extra channel starts at zero
        np.testing.assert_array_equal(kernel[:, :, :3], rgb)
        assert not np.any(kernel[:, :, 3])


def test_gray_model_matches_rgb_model_on_a_gray_image(vgg16_notop):
    path, _ = vgg16_notop
    gray = zoo.unet("vgg16", num_classes=2, input_shape=(32, 32, 1), encoder_weights=path)
    rgb = zoo.unet("vgg16", num_classes=2, input_shape=(32, 32, 3), encoder_weights=path)
    image = np.random.default_rng(0).random((1, 32, 32, 1), dtype="float32")
    feature = lambda m, x: keras.Model(m.input, m.get_layer("block1_conv1").output)(x)  # noqa: E731
    np.testing.assert_allclose(feature(gray, image), feature(rgb, np.repeat(image, 3, -1)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("channels", [3, 1])
def test_resnet50_encoder_loads_file_including_batchnorm_statistics(resnet50_notop, channels):
    path, saved = resnet50_notop
    model = zoo.simple_baseline("resnet50", num_keypoints=3, input_shape=(64, 64, channels), encoder_weights=path)
    _assert_encoder_equals(model, saved, "conv1_conv", channels)
    assert len(model.get_layer("conv1_bn").get_weights()) == 4  # gamma, beta, moving mean, variance


@pytest.mark.slow
def test_fcn_vgg16_fc6_fc7_come_from_the_with_top_file(tmp_path):
    path = tmp_path / "vgg16_top.h5"
    saved = write_legacy_h5(randomised_backbone(keras.applications.VGG16, True, seed=3), path)
    keras.backend.clear_session()
    model = zoo.fcn8s("vgg16", num_classes=21, input_shape=(64, 64, 3), encoder_weights=path)
    fc6_kernel, fc6_bias = model.get_layer("fc6").get_weights()
    np.testing.assert_array_equal(fc6_kernel, saved["fc1"][0].reshape(7, 7, 512, 4096))
    np.testing.assert_array_equal(fc6_bias, saved["fc1"][1])
    fc7_kernel, fc7_bias = model.get_layer("fc7").get_weights()
    np.testing.assert_array_equal(fc7_kernel, saved["fc2"][0].reshape(1, 1, 4096, 4096))
    np.testing.assert_array_equal(fc7_bias, saved["fc2"][1])
    np.testing.assert_array_equal(model.get_layer("block5_conv3").get_weights()[0], saved["block5_conv3"][0])


def test_fcn_vgg16_with_a_notop_file_warns_that_fc_layers_are_random(vgg16_notop):
    path, _ = vgg16_notop
    with pytest.warns(UserWarning, match="fc6/fc7 .* random"):
        zoo.fcn32s("vgg16", num_classes=2, input_shape=(64, 64, 3), encoder_weights=path)


def test_file_of_the_wrong_backbone_is_refused_with_both_names(resnet50_notop):
    path, _ = resnet50_notop
    with pytest.raises(ValueError, match=rf"{path.name}.* does not fit backbone 'vgg16'"):
        zoo.unet("vgg16", input_shape=(64, 64, 3), encoder_weights=path)


def test_a_file_that_is_not_hdf5_is_refused(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("not weights")
    with pytest.raises(ValueError, match="not a readable HDF5 weights file"):
        zoo.unet("vgg16", input_shape=(64, 64, 3), encoder_weights=bad)


# --- Keras 3 .weights.h5 files (layers keyed by class, not by name) and wrong files ----------------


def _as_older_keras3(path):
    """Rewrites a Keras 3 .weights.h5 file as Keras 3 versions before 3.15 wrote it: no layer names stored, no
    entries for layers without weights."""
    with h5py.File(path, "a") as handle:
        for key in list(handle["layers"].keys()):
            entry = handle["layers"][key]
            if "vars" in entry and "name" in entry["vars"].attrs:
                del entry["vars"].attrs["name"]
            if "vars" in entry and len(entry["vars"]) == 0 and "layers" not in entry:
                del handle["layers"][key]


@pytest.mark.parametrize(
    "layout",
    [
        "keras3.15",
        pytest.param("older_keras3", marks=pytest.mark.slow),
        pytest.param("named_h5", marks=pytest.mark.slow),
    ],
)
def test_keras3_with_top_file_gives_the_classifier(tmp_path, layout):
    model = randomised_backbone(keras.applications.MobileNetV2, include_top=True, seed=6)
    path = tmp_path / "mobilenetv2_top.weights.h5"
    model.save_weights(path)
    if layout != "keras3.15":
        _as_older_keras3(path)
    if layout == "named_h5":  # Keras 3 contents under a legacy name
        path = path.rename(tmp_path / "mobilenetv2_top.h5")
    logits = keras.applications.MobileNetV2(include_top=True, weights=None, classifier_activation=None)
    logits.set_weights(model.get_weights())
    maps = zoo.class_maps("mobilenetv2", encoder_weights=path, activation=None)
    image = np.random.default_rng(2).uniform(-1, 1, (1, 224, 224, 3)).astype("float32")
    expected = np.asarray(logits(image, training=False))
    got = np.asarray(maps(image, training=False)).mean(axis=(1, 2))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    names = weights_file_layers(path, zoo.models.backbones.get_backbone("mobilenetv2"))
    assert "predictions" in names and "Conv1" in names and not any(n.startswith("dense") for n in names)


def test_keras3_vgg16_entry_keys_map_back_to_fc1_fc2(tmp_path):
    """VGG16's with-top Keras 3 file keys its classifier as dense, dense_1, dense_2 (the class, numbered in
    layer order); the names are read back through the model the same constructor builds."""
    path = tmp_path / "vgg16_top.weights.h5"
    with h5py.File(path, "w") as handle:  # older Keras 3 layout: entries for the 16 layers with weights only
        for key in ["conv2d", *(f"conv2d_{i}" for i in range(1, 13)), "dense", "dense_1", "dense_2"]:
            handle.create_group(f"layers/{key}/vars").create_dataset("0", data=np.zeros(1, "float32"))
    names = weights_file_layers(path, zoo.models.backbones.get_backbone("vgg16"))
    assert names[:3] == ["block1_conv1", "block1_conv2", "block2_conv1"] and names[-3:] == ["fc1", "fc2", "predictions"]


@pytest.mark.slow
def test_fcn_vgg16_fc6_fc7_come_from_a_keras3_with_top_file(tmp_path):
    model = randomised_backbone(keras.applications.VGG16, True, seed=3)
    path = tmp_path / "vgg16_top.weights.h5"
    model.save_weights(path)
    saved = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
    del model
    keras.backend.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fc6/fc7 start from random initial weights"
        fcn = zoo.fcn8s("vgg16", num_classes=21, input_shape=(64, 64, 3), encoder_weights=path)
    fc6_kernel, fc6_bias = fcn.get_layer("fc6").get_weights()
    np.testing.assert_array_equal(fc6_kernel, saved["fc1"][0].reshape(7, 7, 512, 4096))
    np.testing.assert_array_equal(fc6_bias, saved["fc1"][1])
    np.testing.assert_array_equal(fcn.get_layer("fc7").get_weights()[0], saved["fc2"][0].reshape(1, 1, 4096, 4096))
    np.testing.assert_array_equal(fcn.get_layer("block5_conv3").get_weights()[0], saved["block5_conv3"][0])


def test_keras3_file_without_top_still_loads_the_encoder(tmp_path):
    model = randomised_backbone(keras.applications.MobileNetV2, include_top=False, seed=7)
    path = tmp_path / "mobilenetv2.weights.h5"
    model.save_weights(path)
    _as_older_keras3(path)
    net = zoo.unet("mobilenetv2", num_classes=2, input_shape=(64, 64, 1), encoder_weights=path)
    saved = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
    _assert_encoder_equals(net, {k: v for k, v in saved.items() if k in {x.name for x in net.layers}}, "Conv1", 1)
    with pytest.raises(ValueError, match=r"no ImageNet classifier \(predictions\)"):
        zoo.class_maps("mobilenetv2", encoder_weights=path)


def _wrong_files(tmp_path):
    """Weights files that do not fit VGG16: another backbone's (Keras 3, as Keras 3.15 and older versions write
    it, and legacy), an HDF5 file of something else, a text file, a whole .keras model."""
    other = randomised_backbone(keras.applications.MobileNetV2, include_top=False, seed=8)
    files = {"keras3": tmp_path / "other.weights.h5", "legacy": tmp_path / "other.h5"}
    other.save_weights(files["keras3"])
    files["older_keras3"] = tmp_path / "older.weights.h5"
    files["older_keras3"].write_bytes(files["keras3"].read_bytes())
    _as_older_keras3(files["older_keras3"])
    write_legacy_h5(other, files["legacy"])
    files["random_h5"] = tmp_path / "random.h5"
    with h5py.File(files["random_h5"], "w") as handle:
        handle["x"] = np.zeros(3)
    files["text"] = tmp_path / "notes.h5"
    files["text"].write_text("not weights")
    files["keras_model"] = tmp_path / "model.keras"
    other.save(files["keras_model"])
    return files


def test_a_wrong_weights_file_gives_one_line_and_no_keras_warnings(tmp_path):
    for kind, path in _wrong_files(tmp_path).items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError) as err:
                zoo.unet("vgg16", num_classes=2, input_shape=(64, 64, 3), encoder_weights=path)
            problem = resolve_encoder_weights(str(path), "vgg16", need_top=False, verify_file=True).problem
        message = str(err.value)
        assert "\n" not in message and str(path) in message and len(message) < 500, (kind, message)
        assert [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)] == [], kind
        assert problem is not None and problem[2] and "\n" not in problem[0], (kind, problem)
        if kind.endswith("keras3") or kind == "legacy":
            assert "does not fit backbone 'vgg16'" in message, message


# --- the store: resolution order, verification, import, offline errors -------------------------


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def fake_manifest(tmp_path, monkeypatch, vgg16_notop):
    """The real manifest, with the VGG16 no-top entry describing a file this test wrote."""
    path, _ = vgg16_notop
    entries = weights.manifest()
    name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    entries[name] = WeightsFile(
        name=name,
        backbone="vgg16",
        include_top=False,
        url="http://127.0.0.1:9/unreachable.h5",
        md5=_md5(path),
        bytes=path.stat().st_size,
    )
    monkeypatch.setattr(weights, "manifest", lambda path=None: dict(entries))
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return name, path


def test_real_manifest_lists_keras_files_with_their_hashes():
    files = weights.manifest()
    assert len(files) == 2 * len(zoo.BACKBONES)  # with and without the classifier, per backbone
    measured = {f.name: (f.md5, f.bytes) for f in files.values() if f.bytes is not None}
    assert measured == {
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5": ("64373286793e3c8b2b4e3219cbf3544b", 553467096),
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5": ("6d6bbae143d832006294945121d1f1fc", 58889256),
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5": ("2cb95161c43110f7111970584f804107", 102967424),
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5": ("4d473c1dd8becc155b73f8504c6f6626", 94765736),
    }
    # Keras' own URLs (EfficientNet's files live outside the tensorflow/ folder) and hashes, copied from
    # keras.applications: md5 mostly, sha256 for ConvNeXt, none for MobileNetV2
    assert all(
        f.url.startswith(
            (
                "https://storage.googleapis.com/tensorflow/keras-applications/",
                "https://storage.googleapis.com/keras-applications/efficientnet",
            )
        )
        and f.url.endswith("/" + f.name)
        for f in files.values()
    )
    assert files["resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"].md5 == "88cf7a10940856eca736dc7b7e228a21"
    assert files["efficientnetb0_notop.h5"].digest == ("md5", "50bc09e76180e00e4465e1a485ddc09d")
    assert files["convnext_tiny_notop.h5"].digest == (
        "sha256",
        "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
    )
    assert [f.name for f in files.values() if f.digest is None] == [
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    ]


def test_a_file_keras_hashes_with_sha256_is_checked_and_imported_by_it(monkeypatch, tmp_path):
    source = tmp_path / "downloaded.h5"
    source.write_bytes(b"convnext weights stand-in")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    entry = weights.WeightsFile(
        "convnext_tiny_notop.h5", "convnexttiny", False, "https://example.invalid/x.h5", None, None, sha256=digest
    )
    monkeypatch.setattr(weights, "manifest", lambda path=None: {entry.name: entry})
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "store"))
    stored = weights.import_file(source)
    assert stored.name == "convnext_tiny_notop.h5" and weights.check_file(stored, entry) is None
    stored.write_bytes(b"something else")
    assert "sha256" in weights.check_file(stored, entry)


def test_imagenet_offline_missing_file_fails_fast_with_both_ways_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        zoo.unet("resnet50", input_shape=(64, 64, 3), encoder_weights="imagenet")
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "python -m zoo weights fetch" in message and "python -m zoo weights import" in message


def test_failed_download_is_fast_and_explains(fake_manifest, monkeypatch):
    name, _ = fake_manifest
    monkeypatch.delenv("ZOO_OFFLINE")  # a real attempt, to a closed local port
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match=rf"could not download {name}.*weights import"):
        weights.resolve(name)
    assert time.monotonic() - start < 10
    assert not any(weights.store_dir().glob("*.part"))  # nothing half-written left behind


def test_imagenet_resolves_from_the_store(fake_manifest, vgg16_notop):
    name, path = fake_manifest
    stored = weights.import_file(path)
    assert stored == weights.store_dir() / name
    model = zoo.unet("vgg16", input_shape=(32, 32, 3), encoder_weights="imagenet")
    _assert_encoder_equals(model, vgg16_notop[1], "block1_conv1", 3)


def test_imagenet_resolves_from_the_keras_cache(fake_manifest, tmp_path):
    name, path = fake_manifest
    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    (cache / name).write_bytes(path.read_bytes())
    assert weights.resolve(name) == cache / name


def test_corrupted_copy_is_refused_and_reported(fake_manifest, tmp_path):
    name, path = fake_manifest
    store = weights.store_dir()
    store.mkdir(parents=True)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    (store / name).write_bytes(bytes(data))
    with pytest.raises(WeightsUnavailableError, match=r"refused: .* has md5 .*expected"):
        weights.resolve(name, download=False)
    (store / name).write_bytes(bytes(data[:1000]))
    assert "truncated" in weights.status()[1]["state"] or any("truncated" in r["state"] for r in weights.status())


def test_import_of_an_unknown_file_is_refused(fake_manifest, tmp_path):
    other = tmp_path / "other.h5"
    other.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="is none of the known weight files"):
        weights.import_file(other)
    assert not weights.store_dir().exists() or not any(weights.store_dir().iterdir())


def test_cli_weights_list_shows_every_file(tmp_path):
    env = {
        "ZOO_WEIGHTS_DIR": str(tmp_path),
        "KERAS_HOME": str(tmp_path / "k"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-m", "zoo", "weights", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    for name in weights.manifest():
        assert name in out.stdout
    assert out.stdout.count("missing") == len(weights.manifest())
    bad = subprocess.run(
        [sys.executable, "-m", "zoo", "weights", "import", str(tmp_path / "nope.h5")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and "no such file" in bad.stderr

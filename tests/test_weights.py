"""Pretrained weights: loading from files, channel adaptation, the store, offline errors."""

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import randomised_backbone, write_legacy_h5

import zoo
from zoo.models import weights
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

"""keras-hub encoders as zoo backbones (keras_hub:mit_b0 ..): offline, random weights, 64 px."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub", reason='the keras-hub backbones need keras-hub: pip install ".[hub]"')

import keras  # noqa: E402

import zoo  # noqa: E402
from zoo.models import hub_backbones  # noqa: E402
from zoo.models.backbones import get_backbone  # noqa: E402
from zoo.models.encoder import build_encoder, load_pretrained  # noqa: E402
from zoo.models.freezing import layer_parts, model_backbone  # noqa: E402
from zoo.models.pretrained import resolve_encoder_weights  # noqa: E402
from zoo.models.weights import WeightsUnavailableError  # noqa: E402

B0 = "keras_hub:mit_b0"
B0_ARGS = dict(  # keras-hub's MiTBackbone arguments of MiT-B0 (its checkpoint conversion's)
    layerwise_depths=[2, 2, 2, 2],
    num_layers=4,
    layerwise_num_heads=[1, 2, 5, 8],
    layerwise_sr_ratios=[8, 4, 2, 1],
    max_drop_path_rate=0.1,
    layerwise_patch_sizes=[7, 3, 3, 3],
    layerwise_strides=[4, 2, 2, 2],
    hidden_dims=[32, 64, 160, 256],
)


@pytest.fixture(autouse=True)
def _kagglehub_cache(tmp_path, monkeypatch):
    """Never the user's kagglehub cache: an empty one per test."""
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))


def _pixels(shape=(2, 64, 64, 3), seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype("float32")


def test_the_table_is_keras_hubs_presets_and_the_names_resolve():
    assert {
        name: meta["kaggle_handle"] for name, meta in keras_hub.models.MiTBackbone.presets.items()
    } == hub_backbones.MIT_PRESETS
    spec = get_backbone("keras_hub:MiT_B0")
    assert spec is get_backbone(B0)  # one entry per name: freezing finds the same object
    assert spec.features == {4: "output_level_0", 8: "output_level_1", 16: "output_level_2", 32: "output_level_3"}
    assert spec.preprocessing == "torch" and spec.divisor == 32 and not spec.dilatable
    assert get_backbone("keras_hub:mit_b0_cityscapes_1024").constructor == spec.constructor
    assert hub_backbones.default_preset(B0) == "mit_b0_ade20k_512"
    assert hub_backbones.default_preset("keras_hub:mit_b5") == "mit_b5_ade20k_640"
    with pytest.raises(ValueError, match="unknown keras-hub backbone 'keras_hub:mit_b9'.*keras_hub:mit_b0"):
        get_backbone("keras_hub:mit_b9")


def test_fpn_on_mit_b0_builds_with_its_layers_in_the_model_and_features_by_stride():
    model = zoo.fpn(B0, num_classes=3, input_shape=(64, 64, 3), encoder_weights=None)
    assert model(_pixels()).shape == (2, 64, 64, 3)
    names = [layer.name for layer in model.layers]
    assert "patch_and_embed_0" in names and "hierarchical_encoder_3_1" in names  # not a nested model
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    assert model_backbone(model) is get_backbone(B0)
    keras.backend.clear_session()

    encoder = build_encoder(B0, (64, 96, 1), encoder_weights=None)  # a non-square gray input
    assert {s: tuple(t.shape) for s, t in encoder.features.items()} == {
        4: (None, 16, 24, 32),
        8: (None, 8, 12, 64),
        16: (None, 4, 6, 160),
        32: (None, 2, 3, 256),
    }
    keras.backend.clear_session()
    any_size = zoo.unet(B0, num_classes=2, input_shape=(None, None, 3), encoder_weights=None)  # skips at 4..16
    assert any_size(_pixels((1, 50, 70, 3))).shape == (1, 50, 70, 2)


def _randomised_hub_b0(seed=1):
    """keras-hub's own MiT-B0 at 64x64 with random weights (LayerNorm scales and biases too)."""
    backbone = keras_hub.models.MiTBackbone(image_shape=(64, 64, 3), **B0_ARGS)
    rng = np.random.default_rng(seed)
    backbone.set_weights([rng.normal(1.0 if w.ndim == 1 else 0.0, 0.1, w.shape) for w in backbone.get_weights()])
    return backbone


@pytest.mark.slow  # 12-30 s: the fast tier keeps the build, freezing and the offline error
def test_a_preset_folder_round_trip_gives_keras_hubs_weights_and_outputs(tmp_path, monkeypatch):
    hub = _randomised_hub_b0()
    folder = tmp_path / "mit_b0_preset"
    hub.save_to_preset(str(folder))
    x = _pixels()
    pyramid = [np.asarray(t) for t in keras.Model(hub.inputs, list(hub.pyramid_outputs.values()))(x)]
    hub_norms = [layer for layer in hub.layers if isinstance(layer, keras.layers.LayerNormalization)]
    kernel = np.asarray(hub.get_layer("patch_and_embed_0").proj.kernel)

    encoder = build_encoder(B0, (64, 64, 3), encoder_weights=folder)
    assert encoder.weights_source == folder
    net = keras.Model(encoder.inputs, [encoder.features[s] for s in (4, 8, 16, 32)])
    for layer in hub.layers:
        if layer.weights and not isinstance(layer, keras.layers.LayerNormalization):
            for got, want in zip(net.get_layer(layer.name).get_weights(), layer.get_weights()):
                np.testing.assert_array_equal(got, want)
    for level, norm in enumerate(hub_norms):
        for got, want in zip(net.get_layer(f"output_level_{level}").get_weights(), norm.get_weights()):
            np.testing.assert_array_equal(got, want)
    for got, want in zip(net(x), pyramid):  # zoo's any-size layers compute keras-hub's MiT
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
    keras.backend.clear_session()

    with pytest.raises(ValueError, match=r"hidden sizes \(32, 64, 160, 256\).*\(mit_b0\).*use keras_hub:mit_b0"):
        load_pretrained(get_backbone("keras_hub:mit_b1"), folder)
    with pytest.raises(ValueError, match="not a keras-hub preset folder.*model.weights.h5"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "config.json").write_text("{}")
        hub_backbones.preset_directory(B0, tmp_path / "empty")
    with pytest.raises(ValueError, match="mit_b2_ade20k_512 is mit_b2.*use keras_hub:mit_b2"):
        hub_backbones.preset_directory(B0, "mit_b2_ade20k_512")  # refused before any download
    with pytest.raises(ValueError, match="neither 'imagenet', None, a keras-hub MiT preset"):
        hub_backbones.preset_directory(B0, "no_such_preset")

    # the same folder in kagglehub's cache, as a download leaves it: `imagenet` uses it without the network
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    handle = parse_model_handle(hub_backbones.MIT_PRESETS["mit_b0_ade20k_512"].removeprefix("kaggle://"))
    for file in ("config.json", "model.weights.h5"):
        target = Cache().get_path(handle, file)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.link(folder / file, target)
        Cache().mark_as_complete(handle, file)
    assert hub_backbones.cached_preset("mit_b0_ade20k_512") is not None
    weights = resolve_encoder_weights("auto", B0, need_top=False)
    assert weights.value == "imagenet" and weights.problem is None and "mit_b0_ade20k_512" in weights.note
    keras.backend.clear_session()
    gray = build_encoder(B0, (64, 64, 1), encoder_weights="imagenet")  # and the first kernel adapted to 1 channel
    first = keras.Model(gray.inputs, gray.features[4]).get_layer("patch_and_embed_0").get_weights()[0]
    np.testing.assert_allclose(first[:, :, 0], kernel.sum(axis=2), rtol=1e-5, atol=1e-6)


def test_without_the_network_imagenet_fails_in_one_line_saying_how_to_get_the_preset(monkeypatch):
    """Never random weights in its place: ZOO_OFFLINE=1 (the tests' setting) refuses the download, and a
    download that fails (here kagglehub's, as offline) is one line naming the preset and the way round."""
    with pytest.raises(WeightsUnavailableError) as refused:
        zoo.fpn(B0, num_classes=2, input_shape=(64, 64, 3), encoder_weights="imagenet")
    message = str(refused.value)
    assert "\n" not in message and "mit_b0_ade20k_512" in message and "ZOO_OFFLINE=1" in message
    assert "save_to_preset" in message and "--encoder-weights PATH" in message and "encoder_weights=None" in message

    import kagglehub
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='api.kaggle.com', port=443): Max retries exceeded (Caused by "
            "NameResolutionError(\"Failed to resolve 'api.kaggle.com'\"))"
        )

    monkeypatch.delenv("ZOO_OFFLINE")
    monkeypatch.setattr(kagglehub, "model_download", offline)
    with pytest.raises(WeightsUnavailableError) as failed:
        hub_backbones.preset_directory(B0, "imagenet")
    message = str(failed.value)
    assert message.startswith("could not download keras-hub preset mit_b0_ade20k_512 for keras_hub:mit_b0")
    assert "ConnectionError" in message and "kagglehub.model_download('keras/mit/keras/mit_b0_ade20k_512/4')" in message
    assert "\n" not in message

    auto = resolve_encoder_weights("auto", B0, need_top=False)
    assert auto.value is None and "random initial weights" in auto.note and auto.problem[2] is False
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert resolve_encoder_weights("imagenet", B0, need_top=False).problem[2] is True  # check: training stops
    assert resolve_encoder_weights("mit_b0_nope", B0, need_top=False).problem[2] is True


@pytest.mark.slow  # a MiT training step (about 13 s); the fast tier freezes keras.applications encoders (test_freezing)
def test_the_frozen_encoder_stays_bit_identical_through_a_training_step_and_stages_unfreeze():
    keras.utils.set_random_seed(0)
    model = zoo.fpn(B0, num_classes=2, input_shape=(64, 64, 3), encoder_weights=None, encoder_freeze=True)
    parts = layer_parts(model)
    assert all(any(layer.weights for layer in parts[stage]) for stage in zoo.STAGES)
    assert [layer.name for layer in parts["stage1"]] == ["patch_and_embed_0"]
    assert {layer.name for layer in parts["stage5"]} == {
        "patch_and_embed_3",
        "hierarchical_encoder_3_0",
        "hierarchical_encoder_3_1",
        "output_level_3",
    }
    before = {part: [np.array(w) for layer in layers for w in layer.weights] for part, layers in parts.items()}
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    y = np.random.default_rng(1).integers(0, 2, (4, 64, 64, 1))
    model.fit(_pixels((4, 64, 64, 3)), y, batch_size=4, epochs=1, verbose=0)  # dropout and drop path run
    changed = {
        part: any(
            not np.array_equal(a, np.array(w)) for a, w in zip(before[part], (w for lr in layers for w in lr.weights))
        )
        for part, layers in parts.items()
    }
    assert changed == {**dict.fromkeys(zoo.STAGES, False), "decoder": True}
    zoo.set_trainable(model, ["stage4", "stage5", "decoder"])
    assert zoo.trainable_parts(model) == {
        **dict.fromkeys(("stage1", "stage2", "stage3"), False),
        **dict.fromkeys(("stage4", "stage5", "decoder"), True),
    }


@pytest.mark.slow  # 12-30 s: the fast tier keeps the build, freezing and the offline error
def test_a_keras_file_round_trip_rebuilds_the_layers_from_their_configs(tmp_path):
    model = zoo.unet(B0, num_classes=2, input_shape=(None, None, 1), encoder_weights=None)
    x = _pixels((1, 64, 96, 1))
    expected = np.asarray(model(x, training=False))
    model.save(tmp_path / "model.keras")
    keras.backend.clear_session()
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), expected)
    assert loaded.name == "unet_keras_hub_mit_b0"  # a name TensorFlow takes as a name scope


def test_the_recipe_takes_a_hub_backbone_and_refuses_an_unknown_one_before_loading_tensorflow():
    code = (
        "import contextlib, io, json, sys\n"
        "from recipes import segment\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        code = segment.cli(['check', '--backbone', 'keras_hub:mit_b9', '--input-size', '64'])\n"
        "    except SystemExit as done:\n"
        "        code = done.code\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules)\n"
        "print(json.dumps([code, err.getvalue(), loaded]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    code, err, loaded = json.loads(done.stdout.splitlines()[-1])
    assert code == 2 and err.startswith("error: ") and "keras_hub:mit_b0" in err, err
    assert loaded == []


@pytest.mark.slow
def test_a_recipe_checks_a_run_on_mit_b0():
    done = subprocess.run(
        [sys.executable, "-m", "recipes.segment", "check", "--dataset", "synthetic:shapes", "--model", "fpn"]
        + ["--backbone", B0, "--encoder-weights", "none", "--input-size", "64", "--synthetic-count", "8"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nothing stops training" in done.stdout


@pytest.mark.slow
def test_fpn_on_mit_b0_exports_to_onnx_and_litert_as_the_keras_model_computes(tmp_path):
    """About 20 s per format on 2 cores (tf2onnx's and the LiteRT converter's time)."""
    from zoo.export import export_model, load, serving_fn

    keras.utils.set_random_seed(5)
    model = zoo.fpn(B0, num_classes=3, input_shape=(64, 64, 3), encoder_weights=None)
    info = {
        "model": "fpn",
        "backbone": B0,
        "input_size": [64, 64],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b", "c"],
    }
    images = np.random.default_rng(3).integers(0, 256, (2, 45, 70, 3), dtype=np.uint8)  # any size: padded inside
    expected = {k: v.numpy() for k, v in serving_fn(model, info)(images).items()}
    for fmt in ("onnx", "litert"):
        got = load(export_model(model, info, fmt, tmp_path / fmt))(images)
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4, err_msg=fmt)
        assert (got["mask"] == expected["mask"]).mean() >= 0.999, fmt

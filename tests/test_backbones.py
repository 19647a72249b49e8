"""Every backbone in the registry: features by stride, stages, preprocessing, weights files, decoders on it."""

import keras
import numpy as np
import pytest
from helpers import randomised_backbone, write_legacy_h5

import zoo
from zoo.models import weights
from zoo.models.backbones import BACKBONES, OUTPUT_REF, get_backbone
from zoo.models.encoder import build_encoder, resolve_feature
from zoo.models.freezing import layer_parts, model_backbone

NAMES = sorted(BACKBONES)
# one member per family in the fast suite; the others repeat what it checks (`make test-slow` runs them).
# VGG16 and ResNet50: every other test file builds them.
FAST = {
    "resnet50v2",
    "densenet121",
    "mobilenetv2",
    "mobilenetv3small",
    "efficientnetb0",
    "efficientnetv2b0",
    "convnexttiny",
}
BUILT = [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in NAMES]
# the families that normalise inside the Keras graph, and how Keras builds that graph with its ImageNet file
IN_GRAPH = ["efficientnetb0", "efficientnetv2b0", "efficientnetv2s", "mobilenetv3small", "convnexttiny"]
IN_GRAPH_FAST = {"efficientnetb0", "mobilenetv3small", "convnexttiny"}  # a cloned graph, Keras' flag, a nested stem


def _check_features_are_the_deepest_by_stride(spec, model) -> None:
    """Each feature reference names the deepest tensor at its stride: the output of the last layer at
    that stride, the input of the first layer after it, or the model's output (at stride 32)."""
    start = [layer.name for layer in model.layers].index(spec.graph_start) if spec.graph_start else 1
    last, position = {}, {}
    for index, layer in enumerate(model.layers[start:], start):
        position[layer.name] = index
        shape = layer.output.shape
        if len(shape) == 4 and 224 / shape[1] in (1, 2, 4, 8, 16, 32):
            last[int(224 / shape[1])] = index
    assert sorted(spec.features) == sorted(last), spec.name  # a feature at every stride the model has
    for stride, ref in spec.features.items():
        tensor = resolve_feature(model, ref)
        assert tensor.shape[1] == 224 // stride, (spec.name, ref)
        name, _, port = ref.partition(":")
        if name == OUTPUT_REF:
            assert stride == 32 and last[32] == len(model.layers) - 1
            assert tensor is (model.layers[-1].input if port == "input" else model.layers[-1].output)
        elif port == "input":
            assert position[name] > last[stride], (spec.name, ref)  # nothing at this stride comes later
        else:
            assert position[name] == last[stride], (spec.name, ref)


@pytest.mark.parametrize("name", BUILT)
def test_each_backbone_gives_a_gray_unet_with_five_stages_and_its_features_by_stride(name):
    spec = get_backbone(name)
    reference = spec.constructor(include_top=False, weights=None, input_shape=(224, 224, 3))
    _check_features_are_the_deepest_by_stride(spec, reference)  # the table is the rule, read from Keras
    first = next(
        layer for layer in reference.layers if layer.weights and not isinstance(layer, keras.layers.Normalization)
    )
    assert spec.first_conv == first.name and first.weights[0].shape[:3] == (*first.weights[0].shape[:2], 3)
    del reference
    keras.backend.clear_session()
    model = zoo.unet(name, num_classes=2, input_shape=(64, 64, 1), encoder_weights=None)
    assert model(np.zeros((1, 64, 64, 1), "float32")).shape == (1, 64, 64, 2)
    assert model_backbone(model) is spec  # family members share layer names; the right one is found
    parts = layer_parts(model)
    assert all(any(layer.weights for layer in parts[stage]) for stage in zoo.STAGES), name
    zoo.freeze_encoder(model)
    assert zoo.trainable_parts(model) == {**dict.fromkeys(zoo.STAGES, False), "decoder": True}
    frozen = {w.path for stage in zoo.STAGES for layer in parts[stage] for w in layer.weights}
    assert frozen and not frozen & {w.path for w in model.trainable_weights}


@pytest.mark.parametrize("name", NAMES)
def test_each_backbone_has_both_imagenet_files_in_the_manifest_with_keras_urls(name):
    spec, files = get_backbone(name), weights.manifest()
    for file, top in ((spec.weights_notop, False), (spec.weights_top, True)):
        entry = files[file]
        assert entry.backbone == name and entry.include_top is top
        assert entry.url.startswith("https://storage.googleapis.com/") and "keras-applications/" in entry.url
        assert entry.url.endswith("/" + file)
        assert entry.md5 is None or len(entry.md5) == 32
        assert entry.sha256 is None or len(entry.sha256) == 64


# one file per family in the fast suite: ResNetV2 and DenseNet load as ResNet50 and MobileNetV2 do
WRITTEN = {"mobilenetv2", "efficientnetb0"}  # a plain stem and a cloned graph (a nested stem: slow)


@pytest.mark.parametrize("name", [n if n in WRITTEN else pytest.param(n, marks=pytest.mark.slow) for n in NAMES])
def test_a_written_weights_file_loads_with_the_first_convolution_adapted(tmp_path, name):
    spec = get_backbone(name)
    path = tmp_path / f"{name}_notop.h5"
    saved = write_legacy_h5(
        _as_in_keras_file(spec, randomised_backbone(spec.constructor, include_top=False, seed=7)), path
    )
    keras.backend.clear_session()
    for channels in (1, 4):
        model = zoo.unet(name, num_classes=2, input_shape=(64, 64, channels), encoder_weights=path)
        kernel = model.get_layer(spec.first_conv).get_weights()[0]
        rgb = saved[spec.first_conv][0]
        if channels == 1:
            np.testing.assert_allclose(kernel[:, :, 0], rgb.sum(axis=2), rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(kernel[:, :, :3], rgb)
            assert not kernel[:, :, 3].any()
        deep = next(n for n in reversed(list(saved)) if n in {layer.name for layer in model.layers})
        for got, want in zip(model.get_layer(deep).get_weights(), saved[deep]):
            np.testing.assert_array_equal(got, want)


def _as_in_keras_file(spec, model: keras.Model) -> keras.Model:
    """``model`` with the input Normalization (EfficientNet) Keras' ImageNet file holds."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.weights:
            mean, variance = spec.file_normalization
            layer.set_weights([np.float32(mean), np.float32(variance), *layer.get_weights()[2:]])
    return model


def _keras_imagenet_graph(name: str, tmp_path, monkeypatch):
    """Keras' own model of ``name`` as built for its ImageNet file (in-graph preprocessing included), with
    random weights written to a file standing in for that file; returns (model, file)."""
    spec = get_backbone(name)
    keras_constructor = spec.constructor.func if hasattr(spec.constructor, "func") else spec.constructor
    source = _as_in_keras_file(spec, randomised_backbone(keras_constructor, include_top=False, seed=3))
    path = write_legacy_h5(source, tmp_path / f"{name}.h5") and tmp_path / f"{name}.h5"
    monkeypatch.setattr(keras.src.utils.file_utils, "get_file", lambda *args, **kwargs: str(path))
    return keras_constructor(include_top=False, weights="imagenet", input_shape=(64, 96, 3)), path


@pytest.mark.parametrize(
    "name", [n if n in IN_GRAPH_FAST else pytest.param(n, marks=pytest.mark.slow) for n in IN_GRAPH]
)
def test_preprocessing_outside_the_graph_equals_keras_in_graph_normalisation(name, tmp_path, monkeypatch):
    spec = get_backbone(name)
    keras_model, path = _keras_imagenet_graph(name, tmp_path, monkeypatch)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    want = np.asarray(keras_model(pixels))
    encoder = build_encoder(name, (64, 96, 3), path)
    got = np.asarray(keras.Model(encoder.inputs, encoder.features[32])(spec.preprocess(pixels)))
    if spec.features[32] == f"{OUTPUT_REF}:input":  # ConvNeXt: Keras' no-top model ends in a LayerNorm zoo leaves out
        got = np.asarray(keras_model.layers[-1](got))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))
    assert np.abs(want).max() > 1e-2  # the blocks were not bypassed (ConvNeXt's layer scales start at 1e-6)
    # a gray picture: the adapted first convolution on the gray level gives the RGB model's answer to R=G=B (at
    # stride 4: float round-off grows through a deep network with random weights, as in EfficientNetV2-S)
    gray = pixels[..., :1]
    gray_encoder = build_encoder(name, (64, 96, 1), path)
    got_gray = np.asarray(keras.Model(gray_encoder.inputs, gray_encoder.features[4])(spec.preprocess(gray)))
    rgb_of_gray = np.repeat(np.asarray(spec.preprocess(gray)), 3, axis=-1)
    want_gray = np.asarray(keras.Model(encoder.inputs, encoder.features[4])(rgb_of_gray))
    np.testing.assert_allclose(got_gray, want_gray, rtol=1e-4, atol=1e-5 * np.abs(want_gray).max())


def test_an_efficientnet_file_with_another_input_normalisation_is_refused(tmp_path):
    spec = get_backbone("efficientnetb0")
    source = randomised_backbone(keras.applications.EfficientNetB0, include_top=False, seed=1)  # mean 0, variance 1
    write_legacy_h5(source, tmp_path / "other.h5")
    with pytest.raises(ValueError, match="Normalization holds mean .* zoo's 'torch' preprocessing"):
        build_encoder(spec.name, (64, 64, 3), tmp_path / "other.h5")


@pytest.mark.parametrize(
    "builder, name",
    [
        ("fcn8s", "densenet121"),
        ("fcn16s", "vgg19"),
        ("fcn32s", "mobilenetv2"),
        ("simple_baseline", "resnet50v2"),
        *[
            pytest.param(b, "resnet101v2", marks=pytest.mark.slow)
            for b in ("fcn8s", "fcn16s", "fcn32s", "simple_baseline")
        ],
    ],
)
def test_every_decoder_builds_on_backbones_of_other_families(builder, name):
    outputs = {"num_keypoints": 3} if builder == "simple_baseline" else {"num_classes": 3}
    model = zoo.build(builder, backbone=name, input_shape=(64, 96, 3), encoder_weights=None, **outputs)
    expected = (1, 16, 24, 3) if builder == "simple_baseline" else (1, 64, 96, 3)
    assert model(np.zeros((1, 64, 96, 3), "float32")).shape == expected


def test_preprocessing_follows_keras_for_each_mode():
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    modules = {
        "vgg19": keras.applications.vgg19,
        "resnet50v2": keras.applications.resnet_v2,
        "densenet121": keras.applications.densenet,
        "mobilenetv2": keras.applications.mobilenet_v2,
    }
    for name, module in modules.items():
        np.testing.assert_allclose(
            np.asarray(zoo.preprocess_input(pixels, name)),
            np.asarray(module.preprocess_input(pixels.copy())),
            rtol=1e-5,
            atol=1e-5,
        )
    gray = np.full((1, 2, 2, 1), 255.0, "float32")
    assert np.allclose(zoo.preprocess_input(gray, "mobilenetv2"), 1.0)  # tf mode: the same for every channel
    assert zoo.preprocess_input(np.zeros((1, 2, 2, 4), "float32"), "densenet121").shape == (1, 2, 2, 4)


@pytest.mark.parametrize("name", ["mobilenetv3small", "convnexttiny"])
def test_class_maps_refuses_a_classifier_that_is_not_linear_after_pooling(name):
    with pytest.raises(ValueError, match="not linear after"):
        zoo.class_maps(name, encoder_weights=None)


def test_class_maps_on_a_pooled_classifier_of_another_family():
    maps = zoo.class_maps("densenet121", encoder_weights=None, activation=None)
    assert maps(np.zeros((1, 96, 64, 3), "float32")).shape == (1, 3, 2, 1000)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenetv3small", "efficientnetv2b0", "convnexttiny"])
def test_the_new_families_export_to_onnx_with_the_keras_models_mask(tmp_path, name):
    import tensorflow as tf

    from zoo.export import export_model, load, serving_fn

    images = np.random.default_rng(2).integers(0, 256, (2, 45, 70, 3), dtype=np.uint8)
    keras.utils.set_random_seed(4)
    model = zoo.unet(name, num_classes=3, input_shape=(64, 64, 3), encoder_weights=None)
    info = {
        "model": "unet",
        "backbone": name,
        "input_size": [64, 64],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b", "c"],
    }
    expected = {k: v.numpy() for k, v in serving_fn(model, info)(tf.constant(images)).items()}
    got = load(export_model(model, info, "onnx", tmp_path / name))(images)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
    assert (got["mask"] == expected["mask"]).mean() >= 0.999

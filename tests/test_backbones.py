"""Every backbone in the registry: features by stride, stages, preprocessing, weights files, decoders on it."""

import keras
import numpy as np
import pytest
from helpers import randomised_backbone, write_legacy_h5

import zoo
from zoo import weights
from zoo.backbones import BACKBONES, get_backbone
from zoo.freezing import layer_parts, model_backbone

NAMES = sorted(BACKBONES)
# one member per family in the fast suite; the others repeat what it checks (`make test-slow` runs them)
LARGE = {"resnet101", "resnet152", "resnet101v2", "resnet152v2", "densenet169", "densenet201",
         "vgg16", "resnet50", "vgg19"}  # VGG16 and ResNet50: every other test file builds them
BUILT = [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in NAMES]


def _deepest_by_stride(model) -> dict[int, str]:
    found = {}
    for layer in model.layers[1:]:
        shape = layer.output.shape
        if len(shape) == 4 and 224 / shape[1] in (1, 2, 4, 8, 16, 32):
            found[int(224 / shape[1])] = layer.name
    return found


@pytest.mark.parametrize("name", BUILT)
def test_each_backbone_gives_a_gray_unet_with_five_stages_and_its_features_by_stride(name):
    spec = get_backbone(name)
    reference = spec.constructor(include_top=False, weights=None, input_shape=(224, 224, 3))
    assert dict(spec.features) == _deepest_by_stride(reference)  # the table is the rule, read from Keras
    assert spec.first_conv == next(l.name for l in reference.layers if isinstance(l, keras.layers.Conv2D))
    del reference
    keras.backend.clear_session()
    model = zoo.unet(name, num_classes=2, input_shape=(64, 64, 1), encoder_weights=None)
    assert model(np.zeros((1, 64, 64, 1), "float32")).shape == (1, 64, 64, 2)
    assert model_backbone(model) is spec  # family members share layer names; the right one is found
    parts = layer_parts(model)
    assert all(any(layer.weights for layer in parts[stage]) for stage in zoo.STAGES), name
    zoo.freeze_encoder(model)
    assert zoo.trainable_parts(model) == {**{s: False for s in zoo.STAGES}, "decoder": True}
    frozen = {w.path for stage in zoo.STAGES for layer in parts[stage] for w in layer.weights}
    assert frozen and not frozen & {w.path for w in model.trainable_weights}


@pytest.mark.parametrize("name", NAMES)
def test_each_backbone_has_both_imagenet_files_in_the_manifest_with_keras_urls(name):
    spec, files = get_backbone(name), weights.manifest()
    for file, top in ((spec.weights_notop, False), (spec.weights_top, True)):
        entry = files[file]
        assert entry.backbone == name and entry.include_top is top
        assert entry.url.startswith("https://storage.googleapis.com/tensorflow/keras-applications/")
        assert entry.url.endswith("/" + file)
        assert entry.md5 is None or len(entry.md5) == 32


@pytest.mark.parametrize("name, constructor", [("resnet50v2", keras.applications.ResNet50V2),
                                               ("densenet121", keras.applications.DenseNet121),
                                               ("mobilenetv2", keras.applications.MobileNetV2)])
def test_a_written_weights_file_loads_with_the_first_convolution_adapted(tmp_path, name, constructor):
    path = tmp_path / f"{name}_notop.h5"
    saved = write_legacy_h5(randomised_backbone(constructor, include_top=False, seed=7), path)
    keras.backend.clear_session()
    spec = get_backbone(name)
    for channels in (1, 4):
        model = zoo.unet(name, num_classes=2, input_shape=(64, 64, channels), encoder_weights=path)
        kernel = model.get_layer(spec.first_conv).get_weights()[0]
        rgb = saved[spec.first_conv][0]
        if channels == 1:
            np.testing.assert_allclose(kernel[:, :, 0], rgb.sum(axis=2), rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(kernel[:, :, :3], rgb)
            assert not kernel[:, :, 3].any()
        deep = spec.features[32] if saved.get(spec.features[32]) else next(
            n for n in reversed(list(saved)) if model.get_layer(n).weights)
        for got, want in zip(model.get_layer(deep).get_weights(), saved[deep]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("builder, name", [("fcn8s", "densenet121"), ("fcn16s", "vgg19"), ("fcn32s", "mobilenetv2"),
                                           ("simple_baseline", "resnet50v2"),
                                           *[pytest.param(b, "resnet101v2", marks=pytest.mark.slow)
                                             for b in ("fcn8s", "fcn16s", "fcn32s", "simple_baseline")]])
def test_every_decoder_builds_on_backbones_of_other_families(builder, name):
    outputs = {"num_keypoints": 3} if builder == "simple_baseline" else {"num_classes": 3}
    model = zoo.build(builder, backbone=name, input_shape=(64, 96, 3), encoder_weights=None, **outputs)
    expected = (1, 16, 24, 3) if builder == "simple_baseline" else (1, 64, 96, 3)
    assert model(np.zeros((1, 64, 96, 3), "float32")).shape == expected


def test_preprocessing_follows_keras_for_each_mode():
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    modules = {"vgg19": keras.applications.vgg19, "resnet50v2": keras.applications.resnet_v2,
               "densenet121": keras.applications.densenet, "mobilenetv2": keras.applications.mobilenet_v2}
    for name, module in modules.items():
        np.testing.assert_allclose(np.asarray(zoo.preprocess_input(pixels, name)),
                                   np.asarray(module.preprocess_input(pixels.copy())), rtol=1e-5, atol=1e-5)
    gray = np.full((1, 2, 2, 1), 255.0, "float32")
    assert np.allclose(zoo.preprocess_input(gray, "mobilenetv2"), 1.0)  # tf mode: the same for every channel
    assert zoo.preprocess_input(np.zeros((1, 2, 2, 4), "float32"), "densenet121").shape == (1, 2, 2, 4)


def test_class_maps_on_a_pooled_classifier_of_another_family():
    maps = zoo.class_maps("densenet121", encoder_weights=None, activation=None)
    assert maps(np.zeros((1, 96, 64, 3), "float32")).shape == (1, 3, 2, 1000)

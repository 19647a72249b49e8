"""Any input size through the exports: a network built at a size that is not a multiple of its stride pads
inside (docs/4-output-sizes.md), and every format carries that padding; a network trained at a multiple
serves any size through its any-size copy (the SavedModel's ``native`` signature, the runtime's tiles)."""

import numpy as np
import pytest

from zoo.export import load
from zoo.export.serving import serving_fn

INFO = {"model": "unet", "backbone": "mobilenetv2", "channels": 3, "task": "segmentation", "classes": ["a", "b", "c"]}


def _small_unet(input_shape):
    import keras

    import zoo

    keras.utils.set_random_seed(4)
    return zoo.unet(
        "mobilenetv2", num_classes=3, input_shape=input_shape, encoder_weights=None, decoder_filters=(32, 16, 16, 8, 8)
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["saved_model", "onnx", "litert"])
def test_a_network_built_at_an_odd_size_exports_with_its_padding(tmp_path, fmt):
    from zoo.export import export_model

    model = _small_unet((45, 70, 3))
    info = {**INFO, "input_size": [45, 70]}
    images = np.random.default_rng(3).integers(0, 256, (2, 45, 70, 3), dtype=np.uint8)
    expected = {k: v.numpy() for k, v in serving_fn(model, info)(images).items()}
    got = load(export_model(model, info, fmt, tmp_path / fmt))(images)
    assert got["probabilities"].shape == (2, 45, 70, 3)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
    assert (got["mask"] == expected["mask"]).mean() >= 0.999


def test_the_any_size_copy_pads_by_reflection_and_cuts_back(tmp_path):
    """The copy of a network built at 64x64 (no padding layer) answers an odd picture as the network answers
    that picture reflected to 64x64, cut back: the same padding a builder puts in."""
    from zoo.models.copies import any_size_copy

    model = _small_unet((64, 64, 3))
    copy = any_size_copy(model)
    assert [layer.name for layer in copy.layers][:2] == ["images", "pad_to_stride"]
    assert copy.layers[-1].name == "crop_to_input" and len(copy.weights) == len(model.weights)
    x = np.random.default_rng(5).random((1, 41, 50, 3)).astype("float32")
    want = np.asarray(model(np.pad(x, ((0, 0), (0, 23), (0, 14), (0, 0)), mode="reflect"), training=False))
    np.testing.assert_allclose(copy(x, training=False), want[:, :41, :50], atol=1e-5)
    square = np.random.default_rng(6).random((1, 64, 64, 3)).astype("float32")  # a multiple: nothing padded
    np.testing.assert_array_equal(copy(square, training=False), model(square, training=False))

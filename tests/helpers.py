"""Test helpers: weight files written the way the official Keras .h5 files are laid out."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np


def write_legacy_h5(model: keras.Model, path: Path) -> dict[str, list[np.ndarray]]:
    """Writes ``model``'s weights as a legacy Keras HDF5 weights file (the format of the
    ImageNet files keras.applications downloads) and returns layer name -> arrays."""
    saved = {}
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = handle.create_group(layer.name)
            variables = list(layer.trainable_weights) + list(layer.non_trainable_weights)
            names = [f"{layer.name}/{v.name}_{i}:0" for i, v in enumerate(variables)]
            group.attrs["weight_names"] = [n.encode() for n in names]
            arrays = [keras.ops.convert_to_numpy(v) for v in variables]
            for name, array in zip(names, arrays):
                group.create_dataset(name, data=array)
            if arrays:
                saved[layer.name] = arrays
    return saved


def randomised_backbone(constructor, include_top: bool, seed: int) -> keras.Model:
    """A keras.applications backbone with random weights, BatchNorm statistics and ConvNeXt's layer scales
    included."""
    keras.utils.set_random_seed(seed)
    shape = (224, 224, 3) if include_top else (None, None, 3)
    model = constructor(include_top=include_top, weights=None, input_shape=shape)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape).astype("float32"))
        if type(layer).__name__ == "LayerScale":  # ConvNeXt: Keras starts it at 1e-6, which hides every block
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
    return model


def write_gray_folder(root: Path, count: int = 12, size=(48, 40)) -> None:
    """A folder dataset of grayscale pictures (a bright disc on a dark background) and 0/255 masks. The
    first three pictures are BMPs, the others PNGs: the run that trains on it must use all of them."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    for i in range(count):
        cy, cx, r = rng.uniform(12, size[0] - 12), rng.uniform(12, size[1] - 12), rng.uniform(6, 10)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        image = np.where(inside, 200, 60) + rng.normal(0, 10, size)
        suffix = ".bmp" if i < 3 else ".png"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), mode="L").save(root / "images" / f"car{i}{suffix}")
        Image.fromarray((inside * 255).astype(np.uint8), mode="L").save(root / "masks" / f"car{i}.png")

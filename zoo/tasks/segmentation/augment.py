"""Augmentation for segmentation, built from Keras preprocessing layers.

The geometric layers receive ``{"images", "segmentation_masks"}`` together, so the
image and its mask get the same flip, zoom (scale in or out, which crops or
extends by reflection) and rotation; Keras resamples masks with nearest neighbour.
Colour jitter (brightness, contrast) touches the image only.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """What the training pipeline does to each batch (all per example, random)."""

    flip: bool = True
    zoom: float = 0.2  # scale factor range +-zoom
    rotation_deg: float = 10.0  # +-degrees
    brightness: float = 0.2  # fraction of the value range
    contrast: float = 0.2


# Presets for --augment (segmentation). "light" is what a plain Keras fit usually does (flips),
# plus a little zoom; "strong" for small datasets and long schedules.
AUGMENT_PRESETS = {
    "none": None,
    "light": AugmentConfig(zoom=0.1, rotation_deg=0.0, brightness=0.0, contrast=0.0),
    "default": AugmentConfig(),
    "strong": AugmentConfig(zoom=0.3, rotation_deg=20.0, brightness=0.3, contrast=0.3),
}


def make_augmenter(config: AugmentConfig, seed: int):
    """Returns ``fn(images, masks) -> (images, masks)`` for batches.

    images: float32 ``[batch, H, W, C]`` in [0, 255]; masks: ``[batch, H, W, 1]``
    class indices (any numeric dtype). Output masks keep their dtype.
    """
    geometric = []
    if config.flip:
        geometric.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if config.zoom > 0:
        geometric.append(keras.layers.RandomZoom((-config.zoom, config.zoom), fill_mode="reflect", seed=seed + 1))
    if config.rotation_deg > 0:
        geometric.append(keras.layers.RandomRotation(config.rotation_deg / 360.0, fill_mode="reflect", seed=seed + 2))
    colour = []
    if config.brightness > 0:
        colour.append(keras.layers.RandomBrightness(config.brightness, value_range=(0, 255), seed=seed + 3))
    if config.contrast > 0:
        colour.append(keras.layers.RandomContrast(config.contrast, value_range=(0, 255), seed=seed + 4))

    def augment(images, masks):
        data = {"images": images, "segmentation_masks": tf.cast(masks, tf.float32)}
        for layer in geometric:
            data = layer(data, training=True)
        images = data["images"]
        for layer in colour:
            images = layer(images, training=True)
        images = tf.clip_by_value(images, 0.0, 255.0)
        return images, tf.cast(tf.round(data["segmentation_masks"]), masks.dtype)

    return augment

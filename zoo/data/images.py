"""Images as the pipelines read them: TensorFlow's decoders and channel conversion (task-free).

``convert_channels`` is the rule of ``zoo.data.channels.convert_channels_array`` in a graph (a test
compares them pixel by pixel); ``decode_image_file`` reads PNG, JPEG, BMP and GIF files as the folder
datasets of every task do.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.data.channels import channel_error

AUTOTUNE = tf.data.AUTOTUNE
CACHE_LIMIT_BYTES = 4 << 30  # keep resized data in memory below this size


def convert_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """Converts an image ``[H, W, c]`` to ``channels``: gray <-> RGB, RGBA -> RGB (the rule of
    ``zoo.data.channels.convert_channels_array``, which predict uses without TensorFlow).

    Raises ValueError (static channel counts) when the conversion is ambiguous.
    """
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 1:
        return tf.repeat(image, channels, axis=-1)
    if have in (3, 4) and channels == 1:
        return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image[..., :3], tf.float32))), image.dtype)
    if have == 4 and channels == 3:
        return image[..., :3]
    raise channel_error(have, channels)


def decode_image_file(path: tf.Tensor, channels: int) -> tf.Tensor:
    """uint8 ``[H, W, channels]`` from an image file (PNG, JPEG, BMP, GIF's first frame) by TensorFlow's
    decoders. One channel is decoded as RGB and converted like ``convert_channels`` (gray pictures come
    back unchanged; TensorFlow's BMP decoder cannot give one channel)."""
    data = tf.io.read_file(path)
    if channels == 1:
        rgb = tf.io.decode_image(data, channels=3, expand_animations=False)
        rgb.set_shape([None, None, 3])
        image = convert_channels(rgb, 1)
    else:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return image

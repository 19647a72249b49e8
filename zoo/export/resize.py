"""Antialiased bilinear resizing built from matrix products (written by hand).

``tf.image.resize(..., antialias=True)`` lowers to the ``ScaleAndTranslate`` op,
which neither the LiteRT converter's built-in ops nor tf2onnx support. This module
computes the same result (triangle kernel widened by the downscaling factor,
weights normalised per output pixel, half-pixel centres) as two matrix products,
which every runtime has, so one serving function runs in the SavedModel, LiteRT and
ONNX exports alike. Input sizes may be dynamic.
"""

from __future__ import annotations

import tensorflow as tf


def _weights(in_size: tf.Tensor, out_size) -> tf.Tensor:
    """Interpolation matrix float32 ``[out_size, in_size]`` for one axis.

    Row ``i`` holds the triangle-kernel weights of the input pixels for output pixel
    ``i``, whose centre sits at ``(i + 0.5) * in / out`` in input coordinates; the
    kernel's half-width is ``max(in / out, 1)`` input pixels (antialiasing when
    shrinking, plain bilinear when enlarging).
    """
    in_f = tf.cast(in_size, tf.float32)
    out_f = tf.cast(out_size, tf.float32)
    inv_scale = in_f / out_f
    width = tf.maximum(inv_scale, 1.0)
    centres = (tf.range(out_f, dtype=tf.float32) + 0.5) * inv_scale  # [out]
    sources = tf.range(in_f, dtype=tf.float32) + 0.5  # [in]
    w = tf.nn.relu(1.0 - tf.abs(sources[None, :] - centres[:, None]) / width)
    return w / tf.reduce_sum(w, axis=1, keepdims=True)


def resize_antialiased(images: tf.Tensor, size) -> tf.Tensor:
    """Resizes float ``images [B, h, w, C]`` to ``size = (H, W)``; returns float32 ``[B, H, W, C]``.

    Matches ``tf.image.resize(images, size, "bilinear", antialias=True)`` to float32
    rounding (about 1e-4 on 0-255 pixel values). ``h``, ``w`` may be unknown until run
    time; ``H``, ``W`` may be Python ints or scalar tensors.
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    rows = _weights(height, size[0])  # [H, h]
    cols = _weights(width, size[1])  # [W, w]
    out_h, out_w = tf.shape(rows)[0], tf.shape(cols)[0]
    # Plain 2-D matrix products only: TF's oneDNN batched matmul with broadcasting crashed
    # (segfault) on some shapes, e.g. [2, 1, 75, 51] x [51, 32], on this project's CPU.
    x = tf.reshape(tf.transpose(images, [0, 1, 3, 2]), [-1, width])  # [B*h*C, w]
    x = tf.matmul(x, cols, transpose_b=True)  # [B*h*C, W]
    x = tf.reshape(x, [batch, height, channels, out_w])
    x = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [height, -1])  # [h, B*C*W]
    x = tf.matmul(rows, x)  # [H, B*C*W]
    x = tf.reshape(x, [out_h, batch, channels, out_w])
    return tf.transpose(x, [1, 0, 3, 2])  # [B, H, W, C]

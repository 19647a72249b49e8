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
    rounding (at most 7e-4 on 0-255 pixel values in the tests' cases). ``h``, ``w`` may be unknown until run
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


def letterbox(images: tf.Tensor, size) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Pads float ``images [B, h, w, C]`` around the centre to the aspect ratio of ``size = (H, W)``.

    The keypoint recipe trains on the whole image grown to the input's aspect ratio
    (``zoo.tasks.keypoints.geometry.box_to_frame``: nothing is stretched, the margin is filled by
    reflection), so serving does the same before resizing: reflect padding where the
    image is large enough, zeros beyond. Returns ``(padded [B, h', w', C], offset
    float32 [2] = (left, top) padding in pixels, scale float32 [2] = (w' / W, h' / H))``,
    so that a point at ``(x, y)`` in the ``H x W`` frame is at
    ``(x + 0.5) * scale - 0.5 - offset`` in the original image.
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    out_h, out_w = float(size[0]), float(size[1])
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    target_w = tf.maximum(width, tf.cast(tf.round(tf.maximum(w_f, h_f * out_w / out_h)), tf.int32))
    target_h = tf.maximum(height, tf.cast(tf.round(tf.maximum(h_f, w_f * out_h / out_w)), tf.int32))
    left, top = (target_w - width) // 2, (target_h - height) // 2
    right, bottom = target_w - width - left, target_h - height - top
    # REFLECT pads at most size - 1 pixels per side; the rest (very elongated images) is zeros.
    r_left, r_right = tf.minimum(left, width - 1), tf.minimum(right, width - 1)
    r_top, r_bottom = tf.minimum(top, height - 1), tf.minimum(bottom, height - 1)
    zero = tf.zeros([], tf.int32)
    x = tf.pad(
        images,
        tf.stack(
            [tf.stack([zero, zero]), tf.stack([r_top, r_bottom]), tf.stack([r_left, r_right]), tf.stack([zero, zero])]
        ),
        mode="REFLECT",
    )
    x = tf.pad(
        x,
        tf.stack(
            [
                tf.stack([zero, zero]),
                tf.stack([top - r_top, bottom - r_bottom]),
                tf.stack([left - r_left, right - r_right]),
                tf.stack([zero, zero]),
            ]
        ),
    )
    offset = tf.cast(tf.stack([left, top]), tf.float32)
    scale = tf.stack([tf.cast(target_w, tf.float32) / out_w, tf.cast(target_h, tf.float32) / out_h])
    return x, offset, scale

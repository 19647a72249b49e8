"""Keypoint-aware geometry: one affine matrix per example for pixels and coordinates alike.

Written by hand because Keras' augmentation layers move images and masks but not
points. Every example goes through a single resampling: the matrix maps the
region of interest (a box, or the whole image) onto the model's input frame and,
when training, adds a random flip, scale, rotation and translation. The same
matrix moves the keypoints; a flip also swaps the declared left/right pairs.
Coordinates: (x, y) pixels, centre of the top-left pixel at (0, 0).
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class KeypointAugment:
    """Random geometry for training (per example)."""

    flip: bool = True
    scale: float = 0.25  # zoom factor in [1 - scale, 1 + scale]
    rotation_deg: float = 30.0  # +-degrees
    translate: float = 0.1  # +-fraction of the output size
    brightness: float = 0.2  # +-fraction of 255
    contrast: float = 0.2  # factor in [1 - contrast, 1 + contrast]


# Presets for --augment (keypoints).
KEYPOINT_AUGMENT_PRESETS = {
    "none": None,
    "light": KeypointAugment(scale=0.1, rotation_deg=10.0, translate=0.05, brightness=0.0, contrast=0.0),
    "default": KeypointAugment(),
    "strong": KeypointAugment(scale=0.35, rotation_deg=40.0, translate=0.15, brightness=0.3, contrast=0.3),
}


def _matrix(rows) -> tf.Tensor:
    return tf.reshape(tf.stack([tf.cast(v, tf.float32) for row in rows for v in row]), [3, 3])


def box_to_frame(box: tf.Tensor, out_size: tuple[int, int], expand: float = 1.0) -> tf.Tensor:
    """The affine matrix ``[3, 3]`` mapping a box onto an ``out_size`` frame.

    Args:
        box: float ``[4]`` (x0, y0, x1, y1) in pixel-edge coordinates of the source,
            i.e. the whole image of width w is (0, 0, w, h).
        out_size: (H, W) of the model input.
        expand: enlarge the box around its centre by this factor; the box is also
            grown to the frame's aspect ratio, so nothing is distorted.

    Returns:
        M with (x_out, y_out, 1) = M @ (x_src, y_src, 1) in pixel-centre coordinates.
    """
    height, width = float(out_size[0]), float(out_size[1])
    box = tf.cast(box, tf.float32)
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    bw = tf.maximum(box[2] - box[0], 1.0) * expand
    bh = tf.maximum(box[3] - box[1], 1.0) * expand
    aspect = width / height
    bw, bh = tf.maximum(bw, bh * aspect), tf.maximum(bh, bw / aspect)
    s = width / bw  # output pixels per source pixel
    # pixel-centre coords: x_edge = x_centre + 0.5; x_out_edge = s * (x_edge - (cx - bw / 2))
    tx = s * (0.5 - (cx - bw / 2.0)) - 0.5
    ty = s * (0.5 - (cy - bh / 2.0)) - 0.5
    return _matrix([[s, 0.0, tx], [0.0, s, ty], [0.0, 0.0, 1.0]])


def random_augment_matrix(out_size: tuple[int, int], config: KeypointAugment, seed: tf.Tensor):
    """A random flip/scale/rotation/translation about the frame's centre.

    Args:
        out_size: (H, W).
        config: ranges.
        seed: int ``[2]`` for stateless random ops.

    Returns:
        (M ``[3, 3]``, flipped bool scalar).
    """
    height, width = float(out_size[0]), float(out_size[1])
    u = tf.random.stateless_uniform([5], seed=seed)
    flipped = (u[0] < 0.5) if config.flip else tf.constant(False)
    scale = 1.0 + config.scale * (2.0 * u[1] - 1.0)
    angle = math.radians(config.rotation_deg) * (2.0 * u[2] - 1.0)
    tx = config.translate * width * (2.0 * u[3] - 1.0)
    ty = config.translate * height * (2.0 * u[4] - 1.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    f = tf.where(flipped, -1.0, 1.0)
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # x' = R S F (x - c) + c + t
    to_origin = _matrix([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    flip = _matrix([[f, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    rotate = _matrix([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    back = _matrix([[1.0, 0.0, cx + tx], [0.0, 1.0, cy + ty], [0.0, 0.0, 1.0]])
    return back @ rotate @ flip @ to_origin, flipped


def warp_image(image: tf.Tensor, matrix: tf.Tensor, out_size: tuple[int, int]) -> tf.Tensor:
    """Resamples ``image [h, w, c]`` so that source point p lands at ``matrix @ p`` (bilinear, reflect).

    Returns float32 ``[H, W, c]``.
    """
    inverse = tf.linalg.inv(matrix)
    flat = tf.reshape(inverse, [9])[:8] / inverse[2, 2]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None],
        transforms=flat[None],
        output_shape=tf.constant(out_size, tf.int32),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return out[0]


def transform_points(points: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
    """Applies ``matrix [3, 3]`` to ``points [K, 2]``."""
    points = tf.cast(points, tf.float32)
    homogeneous = tf.concat([points, tf.ones_like(points[:, :1])], axis=-1)
    moved = homogeneous @ tf.transpose(matrix)
    return moved[:, :2] / moved[:, 2:3]


def prefilter(image: tf.Tensor, matrix: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Shrinks the source first (antialiased) when the matrix shrinks it by more than 2x.

    Returns the image to warp and the matrix adjusted for it, so that a large photo
    warped to a small input is not aliased.
    """
    scale = tf.sqrt(tf.abs(tf.linalg.det(matrix[:2, :2])))
    shape = tf.shape(image)
    factor = tf.where(scale < 0.5, 2.0 * scale, 1.0)  # keep 2 source pixels per output pixel
    new_h = tf.maximum(1, tf.cast(tf.round(tf.cast(shape[0], tf.float32) * factor), tf.int32))
    new_w = tf.maximum(1, tf.cast(tf.round(tf.cast(shape[1], tf.float32) * factor), tf.int32))
    small = tf.image.resize(tf.cast(image, tf.float32), tf.stack([new_h, new_w]), antialias=True)
    sx = tf.cast(new_w, tf.float32) / tf.cast(shape[1], tf.float32)
    sy = tf.cast(new_h, tf.float32) / tf.cast(shape[0], tf.float32)
    # source (resized) pixel centre x_r = (x + 0.5) * sx - 0.5 ; so x = (x_r + 0.5) / sx - 0.5
    back = _matrix([[1.0 / sx, 0.0, 0.5 / sx - 0.5], [0.0, 1.0 / sy, 0.5 / sy - 0.5], [0.0, 0.0, 1.0]])
    return small, matrix @ back


@dataclasses.dataclass(frozen=True)
class HalfBody:
    """Half-body augmentation (as MMPose's ``HalfBodyTransform``): with probability ``prob`` a training
    example whose object shows at least ``min_total`` labelled keypoints is looked at through the box of
    only its upper or only its lower half (each chosen with equal chance among the halves that show at
    least ``min_half`` keypoints), enlarged ``padding`` times, so the model also learns from partly
    visible objects. ``lower`` marks the lower half's keypoints (the others are the upper half)."""

    prob: float
    lower: tuple[bool, ...]
    min_total: int = 8
    min_half: int = 2
    padding: float = 1.5


def half_body_box(
    box: tf.Tensor, points: tf.Tensor, visible: tf.Tensor, config: HalfBody, seed: tf.Tensor
) -> tf.Tensor:
    """``box`` [4] (x0, y0, x1, y1), or with ``config.prob`` the enlarged box of one half's labelled
    ``points`` [K, 2] (``visible`` [K] bool); ``seed`` int [2] for stateless random ops."""
    u = tf.random.stateless_uniform([2], seed=seed + 11)
    lower = tf.constant(config.lower, tf.bool)
    upper_seen, lower_seen = visible & ~lower, visible & lower
    n_upper = tf.reduce_sum(tf.cast(upper_seen, tf.int32))
    n_lower = tf.reduce_sum(tf.cast(lower_seen, tf.int32))
    upper_ok, lower_ok = n_upper >= config.min_half, n_lower >= config.min_half
    pick_lower = tf.where(upper_ok & lower_ok, u[1] < 0.5, lower_ok)
    chosen = tf.where(pick_lower, lower_seen, upper_seen)
    apply = (u[0] < config.prob) & (n_upper + n_lower >= config.min_total) & (upper_ok | lower_ok)
    big = tf.fill(tf.shape(points), 1e9)
    low = tf.reduce_min(tf.where(chosen[:, None], points, big), axis=0)
    high = tf.reduce_max(tf.where(chosen[:, None], points, -big), axis=0)
    centre, half = (low + high) / 2.0, tf.maximum((high - low) / 2.0 + 0.5, 1.0) * config.padding
    half_box = tf.concat([centre - half, centre + half], axis=0)
    return tf.where(apply, half_box, tf.cast(box, tf.float32))


COCO_LOWER_BODY = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


def lower_body_mask(names: list[str], given: str | None = None) -> tuple[bool, ...]:
    """Which keypoints are the lower half: ``given`` (``--lower-body``: keypoint indices from 0 or keypoint
    names, comma-separated, e.g. ``11,12`` or ``left_hip,right_hip``), else the names of hips, knees, ankles
    and feet (COCO's person keypoints and the like). Raises ValueError naming the value and the fix for an
    index outside the keypoints, a name that is not one of them, or no keypoint on one of the halves."""
    count = len(names)
    if given:
        index, unknown = set(), []
        lower = {n.lower(): i for i, n in enumerate(names)}
        for part in (v.strip() for v in str(given).split(",")):
            if not part:
                continue
            if part.lstrip("-").isdigit():
                if not 0 <= int(part) < count:
                    unknown.append(part)
                index.add(int(part))
            elif part.lower() in lower:
                index.add(lower[part.lower()])
            else:
                unknown.append(part)
        if unknown or not index:
            shown = ", ".join(names[:8]) + (", ..." if count > 8 else "")
            raise ValueError(
                f"--lower-body {given!r}: {', '.join(unknown) or 'nothing'} "
                f"{'is' if len(unknown) == 1 else 'are'} not among the {count} keypoints; give their indices "
                f"0..{count - 1} or names ({shown}), comma-separated"
            )
        mask = tuple(i in index for i in range(count))
    else:
        words = ("hip", "knee", "ankle", "foot", "heel", "toe")
        mask = tuple(any(w in n.lower() for w in words) for n in names)
    if all(mask) or not any(mask):
        raise ValueError(
            "--half-body needs an upper and a lower half: "
            + (
                f"--lower-body {given!r} leaves no {'upper' if all(mask) else 'lower'} half"
                if given
                else f"the keypoints {names[:8]} have no {'upper' if all(mask) else 'lower'}-body keypoints by name"
            )
            + "; say which are the lower half with --lower-body 11,12,... (indices or names), or drop --half-body"
        )
    return mask

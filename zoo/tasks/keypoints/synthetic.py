"""The built-in ``faces`` set: cartoon faces with five landmarks (eyes, nose, mouth corners), as in CelebA,
generated procedurally and deterministically from a seed."""

from __future__ import annotations

import numpy as np

from zoo.data.drawing import check_request, texture, to_uint8

FACE_KEYPOINTS = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")
FACE_FLIP_PAIRS = ((0, 1), (3, 4))
# Landmarks in the face's own frame (unit = face half-height, y down): "left" is the
# image's left in an upright, unflipped face, as in CelebA.
_FACE_POINTS = np.array([[-0.36, -0.22], [0.36, -0.22], [0.0, 0.12], [-0.3, 0.46], [0.3, 0.46]], np.float32)


def make_faces(
    count: int,
    height: int = 96,
    width: int | None = None,
    channels: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generates ``count`` cartoon faces with five landmarks, as in CelebA.

    Each face (an ellipse of random skin tone, with eyes, a nose and a mouth) has a
    random centre, size (half-height 25-45% of the picture) and rotation (+-25
    degrees) on a textured background. The landmarks are the exact centres of the
    eyes and the nose and the two mouth corners, computed with the same transform
    that draws them.

    Returns:
        images uint8 ``[count, height, width, channels]``; keypoints float32
        ``[count, 5, 3]`` as (x, y, visible) in pixels (``FACE_KEYPOINTS`` order);
        face sizes float32 ``[count]`` (face height in pixels, the PCK normaliser).
    """
    width = width or height
    check_request(count, height, width, channels, 16)
    rng = np.random.default_rng(seed)
    image, _ = texture(rng, count, height, width, 3)
    side = float(min(height, width))
    half = rng.uniform(0.25, 0.45, count).astype(np.float32) * side  # face half-height in pixels
    cx = (0.5 + rng.uniform(-0.15, 0.15, count)).astype(np.float32) * width
    cy = (0.5 + rng.uniform(-0.15, 0.15, count)).astype(np.float32) * height
    angle = np.deg2rad(rng.uniform(-25, 25, count)).astype(np.float32)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
    # face-frame coordinates of every pixel (inverse rotation, unit = half-height)
    u = (dx * cos + dy * sin) / half[:, None, None]
    v = (-dx * sin + dy * cos) / half[:, None, None]

    def paint(region, colour, noise=5.0):
        nonlocal image
        shade = colour[:, None, None, :] + rng.standard_normal(image.shape, dtype=np.float32) * noise
        image = np.where(region[..., None], shade, image)

    skin = np.stack([rng.uniform(150, 250, count), rng.uniform(100, 200, count), rng.uniform(70, 170, count)], -1)
    paint((u / 0.78) ** 2 + v**2 <= 1.0, skin.astype(np.float32))
    dark = np.full((count, 3), 30.0, np.float32) + rng.uniform(0, 30, (count, 1)).astype(np.float32)
    for ex, ey in _FACE_POINTS[:2]:
        paint((u - ex) ** 2 + (v - ey) ** 2 <= 0.14**2, np.full((count, 3), 245.0, np.float32), 3.0)  # sclera
        paint((u - ex) ** 2 + (v - ey) ** 2 <= 0.07**2, dark)  # pupil
    nx, ny = _FACE_POINTS[2]
    nose = (v <= ny + 0.06) & (v >= ny - 0.2) & (np.abs(u - nx) <= (v - (ny - 0.2)) * 0.45)
    paint(nose, (skin * 0.7).astype(np.float32))
    lip = np.stack([rng.uniform(150, 220, count), rng.uniform(30, 80, count), rng.uniform(40, 90, count)], -1)
    mouth_y = _FACE_POINTS[3, 1]
    mouth_half = _FACE_POINTS[4, 0]
    curve = mouth_y + 0.18 * (1 - (u / mouth_half) ** 2)  # a smile: lowest in the middle
    paint(
        (np.abs(u) <= mouth_half) & (v >= mouth_y - 0.02 - 0.06 * (1 - (u / mouth_half) ** 2)) & (v <= curve),
        lip.astype(np.float32),
    )

    points = _FACE_POINTS[None] * half[:, None, None]  # [N, 5, 2] in pixels, face frame
    px = points[..., 0] * np.cos(angle)[:, None] - points[..., 1] * np.sin(angle)[:, None] + cx[:, None]
    py = points[..., 0] * np.sin(angle)[:, None] + points[..., 1] * np.cos(angle)[:, None] + cy[:, None]
    keypoints = np.stack([px, py, np.ones_like(px)], axis=-1).astype(np.float32)
    return to_uint8(image, channels), keypoints, (2 * half).astype(np.float32)

"""Built-in synthetic sets, generated procedurally and deterministically from a seed.

``shapes``: circles, squares and triangles of random sizes, positions and rotations
on textured backgrounds of random colours, with a class index mask (0 background,
1 circle, 2 square, 3 triangle). Each class has its own hue (reddish circles,
greenish squares, bluish triangles, with strong jitter), so colour and shape both
carry the class, as in many real tasks; the texture and overlapping objects keep
the boundaries a matter of shape. Generation is vectorised over images with NumPy (no per-example
Python loop) and runs once; the pipelines cache the result.

``scenes``: the same classes as many small objects of a fixed pixel size on large pictures
(``make_scenes``), for training on crops and predicting at the pictures' own scale.
"""

from __future__ import annotations

import numpy as np

SHAPES_CLASSES = ("background", "circle", "square", "triangle")


def _check_request(count: int, height: int, width: int, channels: int, min_side: int) -> None:
    if channels not in (1, 3):
        raise ValueError(f"synthetic pictures have 1 or 3 channels, not {channels}")
    if count < 1 or height < min_side or width < min_side:
        raise ValueError(f"need count >= 1 and a size of at least {min_side}x{min_side}, "
                         f"got count={count}, size={height}x{width}")
_CLASS_COLOURS = np.array([[0, 0, 0], [215, 70, 60], [70, 190, 80], [70, 90, 220]], np.float32)


def _to_uint8(image: np.ndarray, channels: int) -> np.ndarray:
    """RGB float pictures -> uint8 with ``channels`` (1: luma)."""
    if channels == 1:
        image = image @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    return np.clip(image, 0, 255).astype(np.uint8)


def _texture(rng: np.random.Generator, count: int, height: int, width: int, channels: int) -> np.ndarray:
    """Smooth random backgrounds: a base colour plus three random plane waves and noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 215, (count, 1, 1, channels)).astype(np.float32)
    image = np.repeat(base, height, 1).repeat(width, 2)
    for _ in range(3):
        fx, fy = (rng.uniform(-6, 6, (count, 1, 1)).astype(np.float32) for _ in range(2))
        phase = rng.uniform(0, 2 * np.pi, (count, 1, 1)).astype(np.float32)
        wave = np.sin(2 * np.pi * (fx * xx / width + fy * yy / height) + phase)
        amplitude = rng.uniform(0, 25, (count, 1, 1, channels)).astype(np.float32)
        image += wave[..., None] * amplitude
    image += rng.standard_normal((count, height, width, channels), dtype=np.float32) * 6
    return image, base


_TRIANGLE_NORMALS = [(np.cos(a), np.sin(a)) for a in np.deg2rad([90.0, 210.0, 330.0])]


def _inside_shape(cls: np.ndarray, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray,
                  angle: np.ndarray) -> np.ndarray:
    """Whether offsets (dx, dy) from a shape's centre (px) fall inside it: a circle (class 1), a
    square (2) or a triangle (3) of ``radius``, turned by ``angle`` (radians); ``cls`` ``[count]``,
    the rest broadcast to ``[count, h, w]``."""
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    circle = dx**2 + dy**2 <= radius**2
    square = np.maximum(np.abs(u), np.abs(v)) <= radius * 0.8
    triangle = np.ones_like(circle)
    for nx, ny in _TRIANGLE_NORMALS:
        triangle &= u * nx + v * ny <= radius * 0.55
    return np.select([cls[:, None, None] == 1, cls[:, None, None] == 2], [circle, square], triangle)


RARE_SCALE = 0.55  # synthetic:rare draws triangles this much smaller than the other shapes


def make_shapes(
    count: int,
    height: int = 128,
    width: int | None = None,
    channels: int = 3,
    seed: int = 0,
    max_objects: int = 3,
    rare: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Generates ``count`` pictures of shapes with their masks.

    Args:
        count: number of examples.
        height, width: picture size in pixels (width defaults to height).
        channels: 3 (RGB) or 1 (the same pictures in gray).
        seed: the same seed gives the same pictures.
        max_objects: 1..max_objects objects per picture (later ones on top).
        rare: triangles are drawn at about half the other shapes' size (``RARE_SCALE``): about 1% of the
            pixels, a rare class (``synthetic:rare``).

    Returns:
        images uint8 ``[count, height, width, channels]``; masks uint8
        ``[count, height, width, 1]`` with values in 0..3 (``SHAPES_CLASSES``).
    """
    width = width or height
    _check_request(count, height, width, channels, 8)
    rng = np.random.default_rng(seed)
    image, _ = _texture(rng, count, height, width, 3)
    mask = np.zeros((count, height, width), np.uint8)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    side = float(min(height, width))
    for index in range(max_objects):
        present = np.ones(count, bool) if index == 0 else rng.random(count) < 0.6
        cls = rng.integers(1, len(SHAPES_CLASSES), count)
        cx = rng.uniform(0.2, 0.8, count).astype(np.float32)[:, None, None] * width
        cy = rng.uniform(0.2, 0.8, count).astype(np.float32)[:, None, None] * height
        radius = rng.uniform(0.12, 0.24, count).astype(np.float32)[:, None, None] * side
        if rare:
            radius = np.where(cls[:, None, None] == 3, radius * RARE_SCALE, radius)
        angle = rng.uniform(0, 2 * np.pi, count).astype(np.float32)[:, None, None]
        inside = _inside_shape(cls, xx - cx, yy - cy, radius, angle) & present[:, None, None]
        colour = _CLASS_COLOURS[cls] + rng.uniform(-40, 40, (count, 3)).astype(np.float32)
        shade = colour[:, None, None, :] + rng.standard_normal(image.shape, dtype=np.float32) * 6
        image = np.where(inside[..., None], shade, image)
        mask = np.where(inside, cls[:, None, None], mask).astype(np.uint8)
    return _to_uint8(image, channels), mask[..., None]


SCENE_OBJECT_RADIUS = (6.0, 14.0)  # px: the objects' size in every scene, whatever the scene's size


def make_scenes(
    count: int,
    height: int = 384,
    width: int | None = None,
    channels: int = 3,
    seed: int = 0,
    density: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generates ``count`` large scenes of many small shapes, as aerial or microscopy pictures are.

    The classes and colours are those of ``make_shapes``, but every object has a radius of
    ``SCENE_OBJECT_RADIUS`` pixels whatever the scene's size, so the objects' pixel scale is
    fixed, as the ground sampling distance of an orthophoto is: a model that sees a scene
    resized to its input size sees objects shrunk by the same factor. Objects are painted in
    their own windows (cost per object, not per pixel), vectorised over scenes.

    Args:
        count: number of scenes.
        height, width: scene size in pixels (width defaults to height); at least 32.
        channels: 3 (RGB) or 1 (gray).
        seed: the same seed gives the same scenes.
        density: objects per (4 x mean radius)^2 pixels; the default 1.0 covers about a sixth of a scene.

    Returns:
        images uint8 ``[count, height, width, channels]``; masks uint8 ``[count, height, width, 1]`` with
        values in 0..3 (``SHAPES_CLASSES``).
    """
    width = width or height
    _check_request(count, height, width, channels, 32)
    if not 0 < density <= 2:
        raise ValueError(f"density must be in (0, 2], got {density}")
    rng = np.random.default_rng(seed)
    image, _ = _texture(rng, count, height, width, 3)
    mask = np.zeros((count, height, width), np.uint8)
    low, high = SCENE_OBJECT_RADIUS
    objects = max(1, int(round(density * height * width / (2 * (low + high)) ** 2)))
    reach = int(np.ceil(high)) + 1
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    scene = np.arange(count)[:, None, None]
    for _ in range(objects):
        cls = rng.integers(1, len(SHAPES_CLASSES), count)
        cy = rng.uniform(0, height, count).astype(np.float32)
        cx = rng.uniform(0, width, count).astype(np.float32)
        radius = rng.uniform(low, high, count).astype(np.float32)[:, None, None]
        angle = rng.uniform(0, 2 * np.pi, count).astype(np.float32)[:, None, None]
        rows = np.floor(cy)[:, None, None] + offsets[None, :, None]  # [count, window, 1]
        cols = np.floor(cx)[:, None, None] + offsets[None, None, :]  # [count, 1, window]
        dy, dx = rows + 0.5 - cy[:, None, None], cols + 0.5 - cx[:, None, None]
        inside = _inside_shape(cls, dx, dy, radius, angle)
        inside &= (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        n, r, c = np.broadcast_arrays(scene, rows.astype(np.int64), cols.astype(np.int64))
        n, r, c = n[inside], r[inside], c[inside]
        colour = _CLASS_COLOURS[cls] + rng.uniform(-40, 40, (count, 3)).astype(np.float32)
        image[n, r, c] = colour[n] + rng.standard_normal((n.size, 3), dtype=np.float32) * 6
        mask[n, r, c] = cls[n]
    return _to_uint8(image, channels), mask[..., None]


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
    _check_request(count, height, width, channels, 16)
    rng = np.random.default_rng(seed)
    image, _ = _texture(rng, count, height, width, 3)
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
    paint((np.abs(u) <= mouth_half) & (v >= mouth_y - 0.02 - 0.06 * (1 - (u / mouth_half) ** 2))
          & (v <= curve), lip.astype(np.float32))

    points = _FACE_POINTS[None] * half[:, None, None]  # [N, 5, 2] in pixels, face frame
    px = points[..., 0] * np.cos(angle)[:, None] - points[..., 1] * np.sin(angle)[:, None] + cx[:, None]
    py = points[..., 0] * np.sin(angle)[:, None] + points[..., 1] * np.cos(angle)[:, None] + cy[:, None]
    keypoints = np.stack([px, py, np.ones_like(px)], axis=-1).astype(np.float32)
    return _to_uint8(image, channels), keypoints, (2 * half).astype(np.float32)

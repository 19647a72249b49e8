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

from zoo.data.drawing import check_request, texture, to_uint8

SHAPES_CLASSES = ("background", "circle", "square", "triangle")


_CLASS_COLOURS = np.array([[0, 0, 0], [215, 70, 60], [70, 190, 80], [70, 90, 220]], np.float32)


_TRIANGLE_NORMALS = [(np.cos(a), np.sin(a)) for a in np.deg2rad([90.0, 210.0, 330.0])]


def _inside_shape(cls: np.ndarray, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray, angle: np.ndarray) -> np.ndarray:
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
    check_request(count, height, width, channels, 8)
    rng = np.random.default_rng(seed)
    image, _ = texture(rng, count, height, width, 3)
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
    return to_uint8(image, channels), mask[..., None]


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
    check_request(count, height, width, channels, 32)
    if not 0 < density <= 2:
        raise ValueError(f"density must be in (0, 2], got {density}")
    rng = np.random.default_rng(seed)
    image, _ = texture(rng, count, height, width, 3)
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
    return to_uint8(image, channels), mask[..., None]

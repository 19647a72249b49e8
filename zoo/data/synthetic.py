"""Built-in synthetic sets, generated procedurally and deterministically from a seed.

``shapes``: circles, squares and triangles of random sizes, positions and rotations
on textured backgrounds of random colours, with a class index mask (0 background,
1 circle, 2 square, 3 triangle). Each class has its own hue (reddish circles,
greenish squares, bluish triangles, with strong jitter), so colour and shape both
carry the class, as in many real tasks; the texture and overlapping objects keep
the boundaries a matter of shape. Generation is vectorised over images with NumPy (no per-example
Python loop) and runs once; the pipelines cache the result.
"""

from __future__ import annotations

import numpy as np

SHAPES_CLASSES = ("background", "circle", "square", "triangle")
_CLASS_COLOURS = np.array([[0, 0, 0], [215, 70, 60], [70, 190, 80], [70, 90, 220]], np.float32)


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


def make_shapes(
    count: int,
    height: int = 128,
    width: int | None = None,
    channels: int = 3,
    seed: int = 0,
    max_objects: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Generates ``count`` pictures of shapes with their masks.

    Args:
        count: number of examples.
        height, width: picture size in pixels (width defaults to height).
        channels: 3 (RGB) or 1 (the same pictures in gray).
        seed: the same seed gives the same pictures.
        max_objects: 1..max_objects objects per picture (later ones on top).

    Returns:
        images uint8 ``[count, height, width, channels]``; masks uint8
        ``[count, height, width, 1]`` with values in 0..3 (``SHAPES_CLASSES``).
    """
    width = width or height
    if channels not in (1, 3):
        raise ValueError(f"synthetic pictures have 1 or 3 channels, not {channels}")
    if count < 1 or height < 8 or width < 8:
        raise ValueError(f"need count >= 1 and a size of at least 8x8, got count={count}, size={height}x{width}")
    rng = np.random.default_rng(seed)
    image, _ = _texture(rng, count, height, width, 3)
    mask = np.zeros((count, height, width), np.uint8)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    side = float(min(height, width))
    triangle_normals = [(np.cos(a), np.sin(a)) for a in np.deg2rad([90.0, 210.0, 330.0])]
    for index in range(max_objects):
        present = np.ones(count, bool) if index == 0 else rng.random(count) < 0.6
        cls = rng.integers(1, len(SHAPES_CLASSES), count)
        cx = rng.uniform(0.2, 0.8, count).astype(np.float32)[:, None, None] * width
        cy = rng.uniform(0.2, 0.8, count).astype(np.float32)[:, None, None] * height
        radius = rng.uniform(0.12, 0.24, count).astype(np.float32)[:, None, None] * side
        angle = rng.uniform(0, 2 * np.pi, count).astype(np.float32)[:, None, None]
        dx, dy = xx - cx, yy - cy
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        circle = dx**2 + dy**2 <= radius**2
        square = np.maximum(np.abs(u), np.abs(v)) <= radius * 0.8
        triangle = np.ones_like(circle)
        for nx, ny in triangle_normals:
            triangle &= u * nx + v * ny <= radius * 0.55
        shape = np.select([cls[:, None, None] == 1, cls[:, None, None] == 2], [circle, square], triangle)
        inside = shape & present[:, None, None]
        colour = _CLASS_COLOURS[cls] + rng.uniform(-40, 40, (count, 3)).astype(np.float32)
        shade = colour[:, None, None, :] + rng.standard_normal(image.shape, dtype=np.float32) * 6
        image = np.where(inside[..., None], shade, image)
        mask = np.where(inside, cls[:, None, None], mask).astype(np.uint8)
    if channels == 1:
        image = image @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    return np.clip(image, 0, 255).astype(np.uint8), mask[..., None]

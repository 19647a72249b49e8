"""Drawing helpers of the built-in synthetic sets (NumPy, vectorised over pictures): textured backgrounds
and conversions every task's synthetic set shares."""

from __future__ import annotations

import numpy as np


def check_request(count: int, height: int, width: int, channels: int, min_side: int) -> None:
    if channels not in (1, 3):
        raise ValueError(f"synthetic pictures have 1 or 3 channels, not {channels}")
    if count < 1 or height < min_side or width < min_side:
        raise ValueError(
            f"need count >= 1 and a size of at least {min_side}x{min_side}, got count={count}, size={height}x{width}"
        )


def to_uint8(image: np.ndarray, channels: int) -> np.ndarray:
    """RGB float pictures -> uint8 with ``channels`` (1: luma)."""
    if channels == 1:
        image = image @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    return np.clip(image, 0, 255).astype(np.uint8)


def texture(rng: np.random.Generator, count: int, height: int, width: int, channels: int) -> np.ndarray:
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

"""Input sizes a network takes: multiples of its total stride (plain Python: the recipes check
``--input-size`` before Keras is imported)."""

from __future__ import annotations


def nearest_valid_sizes(size: int, divisor: int) -> tuple[int, ...]:
    """The multiples of ``divisor`` closest to ``size`` (one or two, ascending, >= divisor)."""
    below = max(divisor, (size // divisor) * divisor)
    above = below if below >= size else below + divisor
    return tuple(sorted({below, above}))


def check_spatial_size(height: int | None, width: int | None, divisor: int, what: str) -> None:
    """Raises ValueError unless each known spatial size is a positive multiple of ``divisor``.

    Args:
        height, width: pixels, or None when unknown until call time.
        divisor: the model's total stride (32 for five poolings).
        what: how to name the model in the message, e.g. ``"unet on vgg16"``.
    """
    for axis, size in (("height", height), ("width", width)):
        if size is None:
            continue
        if size < divisor or size % divisor:
            near = " or ".join(str(s) for s in nearest_valid_sizes(int(size), divisor))
            raise ValueError(
                f"input {axis} {size} does not work for {what}: it must be a multiple of "
                f"{divisor} (the encoder halves the image 5 times, and the decoder must "
                f"come back to exactly the input size). Nearest valid {axis}s: {near}. "
                "Resize or pad the images to such a size."
            )

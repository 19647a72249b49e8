"""Channel conversion of NumPy images, the rule of the training pipeline without TensorFlow.

``zoo.data.images.convert_channels`` converts tensors inside ``tf.data``; ``python -m zoo
predict`` reads pictures with Pillow and converts them here, so that predicting with an ONNX
or LiteRT export needs no TensorFlow (``read_image``: a file as the pipeline reads it). Both follow one rule (a test compares them pixel by
pixel): gray is repeated, alpha is dropped, colour becomes gray with
``tf.image.rgb_to_grayscale``'s weights and round-half-to-even.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# ITU-R BT.601 luma, the weights tf.image.rgb_to_grayscale uses (float32)
GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], np.float32)


def channel_error(have: int, channels: int) -> ValueError:
    """The error for a conversion neither rule covers (e.g. 2 channels to 3)."""
    return ValueError(
        f"cannot convert images with {have} channels to the model's {channels}; build the model "
        f"with input channels {have} (e.g. --channels {have})"
    )


def convert_channels_array(image: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``[H, W, channels]`` from uint8 ``[H, W, c]``: gray <-> RGB, RGBA -> RGB, RGB(A) -> gray.

    Raises ValueError (``channel_error``) when the conversion is ambiguous.
    """
    have = image.shape[-1]
    if have == channels:
        return image
    if have == 1:
        return np.repeat(image, channels, axis=-1)
    if have in (3, 4) and channels == 1:
        rgb = image[..., :3].astype(np.float32)
        # the same float32 products and sum order as TensorFlow's tensordot
        gray = rgb[..., 0] * GRAY_WEIGHTS[0] + rgb[..., 1] * GRAY_WEIGHTS[1] + rgb[..., 2] * GRAY_WEIGHTS[2]
        return np.round(gray)[..., None].astype(image.dtype)
    if have == 4 and channels == 3:
        return image[..., :3]
    raise channel_error(have, channels)


def read_image(path: Path, channels: int) -> np.ndarray:
    """uint8 ``[H, W, channels]`` from an image file, converted like the training pipeline.

    Raises ValueError with the reason when the file cannot be used.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            image_format = image.format
    except Image.DecompressionBombError as err:
        raise ValueError(f"too large to read safely ({err})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"not a readable image ({err})") from None
    mode = image.mode
    if mode in ("1", "L", "LA"):
        array = np.asarray(image.convert("L"))[..., None]
    elif mode.startswith("I;16") or (mode == "I" and image_format == "PNG"):  # 16-bit gray ("I" in older Pillow)
        array = (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)[..., None]  # high byte, as TF's decoder
    elif mode in ("P", "PA", "RGBA", "RGBa"):
        array = np.asarray(image.convert("RGBA"))
    elif mode in ("RGB", "YCbCr", "RGBX", "CMYK"):  # CMYK (print JPEGs) by Pillow's plain conversion
        array = np.asarray(image.convert("RGB"))
    elif mode == "I":
        raise ValueError(
            "32-bit integer pixels have no fixed 0-255 scale; convert the image to 8 or 16 bits "
            "the way your training images were made"
        )
    elif mode == "F":
        raise ValueError(
            "floating-point pixels have no fixed 0-255 scale; convert the image to 8 bits (or 16) "
            "the way your training images were made"
        )
    else:
        raise ValueError(f"colour mode {mode!r} is not supported; convert the file to RGB or grayscale")
    if array.ndim != 3 or min(array.shape[:2]) < 1:
        raise ValueError(f"image of shape {array.shape} has no pixels")
    return convert_channels_array(array, channels).astype(np.uint8)

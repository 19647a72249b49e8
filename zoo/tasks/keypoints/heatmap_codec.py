"""Keypoint heatmaps: Gaussian targets and sub-pixel decoding (written by hand: Keras has neither).

Coordinates follow docs/architecture.md ("Conventions"): ``(x, y)`` in pixels, x along columns, the centre of
the top-left pixel at (0, 0). A heatmap at stride ``s`` has one pixel per ``s x s``
block of the image; heatmap pixel ``u`` is centred on image coordinate
``u * s + (s - 1) / 2``. Targets are drawn at the exact (unrounded) position in
those heatmap coordinates, and decoding maps back with the same formula, so the
pair is unbiased (as in UDP / DARK).

Two grids (``HeatmapCodec.grid``, the recipe's ``--codec``): ``msra`` (the above: each heatmap
pixel the centre of its ``s x s`` block) and ``udp`` (Huang et al. 2020, "unbiased data
processing": the first and last pixel centres of the heatmap and of the image coincide,
``x = u * (W - 1) / (w - 1)`` for an image ``W`` wide and a heatmap ``w`` wide). Both are
exact inverses of themselves, both are mirror-symmetric (``u -> w - 1 - u`` is ``x -> W - 1 - x``),
and the geometry (``zoo.tasks.keypoints.geometry``) is exact in continuous pixel-centre coordinates
for either.

Decoders (all return heatmap-pixel coordinates and a score = the peak value):

- ``argmax``: the best pixel; error up to half a heatmap pixel.
- ``dark``: blur, take the log, one Newton step from the argmax using finite
  differences (Zhang et al. 2020, "Distribution-Aware Coordinate Representation").
- ``soft-argmax``: expectation of the coordinates under a softmax of the heatmap in
  a window around the argmax, with the window's floor subtracted so that the flat
  background does not pull the estimate towards the window's centre.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from zoo.tasks.base import NetworkSpec
from zoo.tasks.keypoints.codecs import DECODINGS, GRIDS, STRIDES  # noqa: E402,F401 - the choices, named there
from zoo.utils.lazy import LazyModule

tf = LazyModule("tensorflow")  # loaded on first use: the codec's settings are checked without it (--help, check)


def image_to_heatmap(coords: tf.Tensor, stride: int) -> tf.Tensor:
    """Image pixel coordinates -> heatmap pixel coordinates (same shape)."""
    return (coords - (stride - 1) / 2.0) / float(stride)


def heatmap_to_image(coords: tf.Tensor, stride: int) -> tf.Tensor:
    """Heatmap pixel coordinates -> image pixel coordinates (same shape)."""
    return coords * float(stride) + (stride - 1) / 2.0


def encode(
    keypoints: tf.Tensor, visible: tf.Tensor, heatmap_size: tuple[int, int], stride: int, sigma: float = 2.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """Gaussian targets for one example.

    Args:
        keypoints: float ``[K, 2]`` (x, y) in image pixels of the model input.
        visible: bool or 0/1 ``[K]``; invisible keypoints get an empty map and weight 0.
        heatmap_size: (h, w) of the heatmap.
        stride: image pixels per heatmap pixel.
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        heatmaps float32 ``[h, w, K]`` with peak 1 at the exact position; weights
        float32 ``[K]`` (1 for a visible keypoint inside the frame, else 0).
    """
    height, width = heatmap_size
    centre = image_to_heatmap(tf.cast(keypoints, tf.float32), stride)  # [K, 2]
    finite = tf.reduce_all(tf.math.is_finite(centre), axis=-1)
    centre = tf.where(finite[:, None], centre, tf.zeros_like(centre))
    inside = (
        (centre[:, 0] >= -0.5) & (centre[:, 0] <= width - 0.5) & (centre[:, 1] >= -0.5) & (centre[:, 1] <= height - 0.5)
    )
    weight = tf.cast(tf.cast(visible, tf.bool) & finite & inside, tf.float32)
    xs = tf.range(width, dtype=tf.float32)[None, :, None]
    ys = tf.range(height, dtype=tf.float32)[:, None, None]
    d2 = (xs - centre[None, None, :, 0]) ** 2 + (ys - centre[None, None, :, 1]) ** 2
    maps = tf.exp(-d2 / (2.0 * sigma * sigma)) * weight[None, None, :]
    return maps, weight


def _argmax(heatmaps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Integer peak positions ``[B, K]`` (x, y as int32) and peak values."""
    shape = tf.shape(heatmaps)
    batch, height, width, count = shape[0], shape[1], shape[2], shape[3]
    flat = tf.reshape(tf.transpose(heatmaps, [0, 3, 1, 2]), [batch, count, height * width])
    index = tf.argmax(flat, axis=-1, output_type=tf.int32)
    score = tf.reduce_max(flat, axis=-1)
    return index % width, index // width, score


def _sample(maps: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Values of ``maps [B, H, W, K]`` at integer positions ``x, y [..., B, K]`` (clamped to the map)."""
    shape = tf.shape(maps)
    x = tf.clip_by_value(x, 0, shape[2] - 1)
    y = tf.clip_by_value(y, 0, shape[1] - 1)
    b = tf.broadcast_to(tf.range(shape[0])[:, None], tf.shape(x))
    k = tf.broadcast_to(tf.range(shape[3])[None, :], tf.shape(x))
    return tf.gather_nd(maps, tf.stack([b, y, x, k], axis=-1))


def _gaussian_blur(maps: tf.Tensor, sigma: float) -> tf.Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    grid = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-(grid**2) / (2.0 * sigma * sigma))
    kernel = kernel / tf.reduce_sum(kernel)
    count = tf.shape(maps)[-1]
    kx = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, count, 1])
    ky = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, count, 1])
    # Zeros beyond the border (as DARK's reference code). Mirroring the map instead adds a mirror image of
    # every peak near the edge, which the blur merges with it: on clean stride-4 targets (sigma 2) the
    # decoded error 4-16 px from the border was 2.3-4.5 px mirrored against 0.6-2.4 px with zeros, and
    # 0.13 against 0.02 px further in (tests/test_heatmaps.py measures it).
    padded = tf.pad(maps, [[0, 0], [radius, radius], [radius, radius], [0, 0]])
    out = tf.nn.depthwise_conv2d(padded, kx, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, ky, [1, 1, 1, 1], "VALID")


def _dark(heatmaps: tf.Tensor, x: tf.Tensor, y: tf.Tensor, sigma: float) -> tuple[tf.Tensor, tf.Tensor]:
    blurred = _gaussian_blur(tf.nn.relu(heatmaps), sigma)
    peak = tf.reduce_max(blurred, axis=[1, 2], keepdims=True)
    # Rescale each map to its original peak, as DARK does, then take the log.
    blurred = blurred * tf.math.divide_no_nan(tf.reduce_max(heatmaps, axis=[1, 2], keepdims=True), peak)
    logmap = tf.math.log(tf.maximum(blurred, 1e-10))

    def at(dx, dy):
        return _sample(logmap, x + dx, y + dy)

    centre = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = at(1, 0) - 2 * centre + at(-1, 0)
    dyy = at(0, 1) - 2 * centre + at(0, -1)
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    ok = (det > 1e-12) & (dxx < 0) & (dyy < 0)  # a proper maximum
    safe = tf.where(ok, det, tf.ones_like(det))
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(dxx * dy - dxy * dx) / safe
    off_x = tf.where(ok, tf.clip_by_value(off_x, -1.0, 1.0), tf.zeros_like(off_x))
    off_y = tf.where(ok, tf.clip_by_value(off_y, -1.0, 1.0), tf.zeros_like(off_y))
    return tf.cast(x, tf.float32) + off_x, tf.cast(y, tf.float32) + off_y


def _soft_argmax(
    heatmaps: tf.Tensor, x: tf.Tensor, y: tf.Tensor, radius: int, beta: float
) -> tuple[tf.Tensor, tf.Tensor]:
    offsets = tf.range(-radius, radius + 1)
    oy, ox = tf.meshgrid(offsets, offsets, indexing="ij")
    ox, oy = tf.reshape(ox, [-1]), tf.reshape(oy, [-1])  # [N]
    wx, wy = x[None] + ox[:, None, None], y[None] + oy[:, None, None]  # window positions [N, B, K]
    # One gather for the whole window (a map_fn here would not convert to LiteRT's built-in ops).
    values = _sample(heatmaps, wx, wy)
    shape = tf.shape(heatmaps)
    px, py = tf.cast(wx, tf.float32), tf.cast(wy, tf.float32)
    inside = (
        (px >= 0) & (px <= tf.cast(shape[2] - 1, tf.float32)) & (py >= 0) & (py <= tf.cast(shape[1] - 1, tf.float32))
    )
    logits = beta * values
    floor = tf.reduce_min(tf.where(inside, logits, tf.fill(tf.shape(logits), tf.float32.max)), axis=0)
    weights = tf.where(inside, tf.exp(logits - floor[None]) - 1.0, tf.zeros_like(logits))
    total = tf.reduce_sum(weights, axis=0)
    ok = total > 1e-12
    safe = tf.where(ok, total, tf.ones_like(total))
    ex = tf.reduce_sum(weights * px, axis=0) / safe
    ey = tf.reduce_sum(weights * py, axis=0) / safe
    return (tf.where(ok, ex, tf.cast(x, tf.float32)), tf.where(ok, ey, tf.cast(y, tf.float32)))


def decode(
    heatmaps: tf.Tensor, method: str = "dark", sigma: float = 2.0, radius: int | None = None, beta: float = 1.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """Peak positions of each heatmap.

    Args:
        heatmaps: float ``[B, h, w, K]``.
        method: ``"argmax"``, ``"dark"`` or ``"soft-argmax"``.
        sigma: the targets' Gaussian sigma (heatmap pixels); DARK blurs with it.
        radius: soft-argmax window half-size (default ``ceil(3 * sigma)``).
        beta: soft-argmax softmax sharpness (1 keeps a Gaussian's shape).

    Returns:
        coords float32 ``[B, K, 2]`` (x, y) in heatmap pixels; scores float32 ``[B, K]``
        (the maximum of each map).
    """
    if method not in DECODINGS:
        raise ValueError(f"unknown heatmap decoding {method!r}; choose one of {DECODINGS}")
    heatmaps = tf.cast(heatmaps, tf.float32)
    x, y, score = _argmax(heatmaps)
    if method == "argmax":
        fx, fy = tf.cast(x, tf.float32), tf.cast(y, tf.float32)
    elif method == "dark":
        fx, fy = _dark(heatmaps, x, y, sigma)
    else:
        fx, fy = _soft_argmax(heatmaps, x, y, radius or int(math.ceil(3 * sigma)), beta)
    return tf.stack([fx, fy], axis=-1), score


def flip_average(heatmaps: tf.Tensor, flipped_heatmaps: tf.Tensor, flip_index) -> tf.Tensor:
    """Flip test: the mean of ``heatmaps`` and the prediction on the mirrored image.

    ``flipped_heatmaps`` (from the horizontally mirrored input) are mirrored back and
    their left/right channels swapped with ``flip_index`` (keypoint k of the mirror
    is keypoint ``flip_index[k]`` of the original). With the centre convention here no
    pixel shift is needed.
    """
    back = tf.gather(tf.reverse(flipped_heatmaps, axis=[2]), flip_index, axis=-1)
    return 0.5 * (tf.cast(heatmaps, tf.float32) + tf.cast(back, tf.float32))


@dataclasses.dataclass(frozen=True)
class HeatmapCodec:
    """How keypoints become heatmaps and back, in one object that the pipeline, the
    evaluation, the serving function and ``model.json`` share.

    Attributes:
        stride: input pixels per heatmap pixel (one of ``STRIDES``).
        sigma: the targets' Gaussian standard deviation, in heatmap pixels.
        decoding: peak decoding method (one of ``DECODINGS``).
        grid: ``"msra"`` or ``"udp"`` (``GRIDS``): where heatmap pixels sit on the input.
    """

    stride: int = 4
    sigma: float = 2.0
    decoding: str = "dark"
    grid: str = "msra"

    def __post_init__(self):
        if self.grid not in GRIDS:
            raise ValueError(f"unknown heatmap grid (codec) {self.grid!r}; choose one of {GRIDS}")
        if int(self.stride) not in STRIDES:
            raise ValueError(f"heatmap stride {self.stride} is not one of {STRIDES}")
        if not float(self.sigma) > 0:
            raise ValueError(f"heatmap sigma must be positive, got {self.sigma}")
        if self.decoding not in DECODINGS:
            raise ValueError(f"unknown heatmap decoding {self.decoding!r}; choose one of {DECODINGS}")

    def heatmap_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the heatmaps for an input of ``input_size`` (H, W) pixels."""

        return int(input_size[0]) // self.stride, int(input_size[1]) // self.stride

    head: ClassVar[str] = "heatmap"
    output_name: ClassVar[str] = "heatmaps"
    decodings: ClassVar[tuple[str, ...]] = DECODINGS

    def describe(self) -> str:
        """For the run's log."""
        return f"heatmaps at stride {self.stride}, sigma {self.sigma:g}, {self.grid} grid"

    def flip_average(self, heatmaps: tf.Tensor, flipped: tf.Tensor, flip_index) -> tf.Tensor:
        """``flip_average`` (the module's): the flip test on heatmaps."""
        return flip_average(heatmaps, flipped, flip_index)

    def _udp_scale(self, heatmap_size) -> tf.Tensor:
        """UDP: image pixels per heatmap pixel ``[2]`` (x, y): ``(W - 1) / (w - 1)`` with ``W = w * stride``."""
        size = tf.cast(tf.stack([heatmap_size[1], heatmap_size[0]]), tf.float32)
        return (size * self.stride - 1.0) / tf.maximum(size - 1.0, 1.0)

    def encode(
        self, keypoints: tf.Tensor, visible: tf.Tensor, input_size: tuple[int, int]
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``encode`` for an input of ``input_size``: heatmaps ``[h, w, K]`` and weights ``[K]``."""
        size = self.heatmap_size(input_size)
        if self.grid == "udp":  # to the MSRA stride-1 grid of heatmap coordinates, which ``encode`` draws on
            keypoints = tf.cast(keypoints, tf.float32) / self._udp_scale(size)
            return encode(keypoints, visible, size, 1, self.sigma)
        return encode(keypoints, visible, size, self.stride, self.sigma)

    def decode(self, heatmaps: tf.Tensor, decoding: str | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Peaks of ``heatmaps [B, h, w, K]`` in input pixels: (coords ``[B, K, 2]``, scores ``[B, K]``).
        ``decoding`` overrides the codec's method (to compare methods)."""
        coords, scores = decode(heatmaps, decoding or self.decoding, self.sigma)
        if self.grid == "udp":
            return coords * self._udp_scale(tf.shape(heatmaps)[1:3]), scores
        return heatmap_to_image(coords, self.stride), scores

    def to_info(self) -> dict:
        """The fields ``model.json`` stores (``heatmap_stride``, ``sigma``, ``decode``, ``codec``)."""
        return {
            "head": "heatmap",
            "heatmap_stride": int(self.stride),
            "sigma": float(self.sigma),
            "decode": self.decoding,
            "codec": self.grid,
        }

    @classmethod
    def from_info(cls, info, input_size: tuple[int, int] | None = None) -> HeatmapCodec:
        """The codec of an export's or run's fields (``to_info``'s; exports before ``codec``: msra)."""
        return cls(
            int(info["heatmap_stride"]),
            float(info.get("sigma", 2.0)),
            info.get("decode", "dark"),
            info.get("codec", "msra"),
        )

    @classmethod
    def from_settings(cls, settings, input_size: tuple[int, int]) -> HeatmapCodec:
        """``--heatmap-stride`` (default 4 for simple_baseline, 1 for unet), ``--sigma``, ``--decode`` and
        ``--codec``; ValueError naming the flags."""
        stride = settings.heatmap_stride or (4 if settings.model == "simple_baseline" else 1)
        if settings.model == "unet" and stride != 1:
            raise ValueError(f"--heatmap-stride {stride}: a U-Net's heatmaps are at the input resolution (stride 1)")
        try:
            return cls(stride, float(settings.sigma), settings.decode, settings.codec)
        except ValueError as err:
            raise ValueError(f"--heatmap-stride / --sigma / --decode / --codec: {err}") from None

    def network(self, model: str, backbone: str, num_keypoints: int, input_shape) -> NetworkSpec:
        """The network that answers this codec's heatmaps, as a builder and its arguments: ``"simple_baseline"``
        (one 4x4 stride-2 deconvolution of 256 filters per halving of the encoder's stride 32 down to the
        stride) or ``"unet"`` (stride 1); ``[B, H, W, C] -> [B, H/stride, W/stride, K]``."""
        if model == "simple_baseline":
            deconvs = {32: 0, 16: 1, 8: 2, 4: 3, 2: 4, 1: 5}[int(self.stride)]
            return NetworkSpec(
                "simple_baseline",
                {
                    "backbone": backbone,
                    "num_keypoints": int(num_keypoints),
                    "input_shape": tuple(input_shape),
                    "deconv_filters": (256,) * deconvs,
                },
            )
        if model == "unet":
            if int(self.stride) != 1:
                raise ValueError(f"a U-Net's heatmaps are at the input resolution (stride 1), not {self.stride}")
            return NetworkSpec(
                "unet",
                {
                    "backbone": backbone,
                    "num_classes": int(num_keypoints),
                    "input_shape": tuple(input_shape),
                    "name": f"unet_heatmaps_{backbone}",
                },
            )
        raise ValueError(f"the heatmap head is made by simple_baseline or unet, not --model {model!r}")

    def loss(self):
        """The training loss: ``HeatmapLoss`` (0.5 x MSE per keypoint)."""
        from zoo.tasks.keypoints.losses import HeatmapLoss

        return HeatmapLoss()

    def describe_outputs(self, num_keypoints: int, input_size: tuple[int, int]) -> dict:
        """model.json's words for the network's answer beside the keypoints."""
        height, width = input_size
        return {
            "scores": f"float32 [batch, {num_keypoints}]: heatmap peak height (about 1 = confident, near 0 = not found)",
            "heatmaps": f"float32 [batch, {height // self.stride}, {width // self.stride}, {num_keypoints}]: at the "
            f"training size, stride {self.stride}",
        }

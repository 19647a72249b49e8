"""SimCC (Li et al. 2022, "SimCC: a Simple Coordinate Classification Perspective for Human Pose
Estimation"): each keypoint's x and y as two 1-D classifications over bins finer than a pixel.

The head (``zoo.models.decoders.simcc``) answers ``[B, K, W*r + H*r]`` logits: for keypoint k, ``W*r`` bins
for x then ``H*r`` bins for y (``r`` the split ratio). Bin ``i`` is centred on input pixel coordinate
``(i + 0.5) / r - 0.5`` (pixel centres at integers, as ``zoo.tasks.keypoints.heatmap_codec``). Targets are 1-D Gaussians
(sigma in input pixels) normalised to sum 1, learned with a KL divergence (``zoo.tasks.keypoints.losses.SimccLoss``);
decoding takes the argmax (or the expectation around it) of each softmax. Written by hand: Keras
has no coordinate-classification codec.

``SimccCodec`` has ``zoo.tasks.keypoints.heatmap_codec.HeatmapCodec``'s interface (``encode``, ``decode``, ``flip_average``,
``to_info``), so the pipeline, evaluation, serving and ``model.json`` take either.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from zoo.tasks.base import NetworkSpec
from zoo.utils.lazy import LazyModule

tf = LazyModule("tensorflow")  # loaded on first use: the codec's settings are checked without it (--help, check)

SIMCC_DECODINGS = ("argmax", "soft-argmax")


@dataclasses.dataclass(frozen=True)
class SimccCodec:
    """Keypoints to SimCC targets and SimCC logits back to keypoints.

    Attributes:
        input_size: (H, W) of the network's input, pixels.
        split_ratio: bins per input pixel (r; the paper's 2.0).
        sigma: the targets' Gaussian standard deviation, input pixels.
        decoding: ``"argmax"`` or ``"soft-argmax"`` (``SIMCC_DECODINGS``).
    """

    input_size: tuple[int, int]
    split_ratio: float = 2.0
    sigma: float = 2.0
    decoding: str = "argmax"
    head: ClassVar[str] = "simcc"
    output_name: ClassVar[str] = "simcc"
    decodings: ClassVar[tuple[str, ...]] = SIMCC_DECODINGS

    def __post_init__(self):
        if not float(self.split_ratio) >= 1:
            raise ValueError(f"SimCC split ratio must be at least 1 bin per pixel, got {self.split_ratio}")
        if not float(self.sigma) > 0:
            raise ValueError(f"SimCC sigma must be positive, got {self.sigma}")
        if self.decoding not in SIMCC_DECODINGS:
            raise ValueError(f"SimCC decoding {self.decoding!r}: choose one of {SIMCC_DECODINGS}")

    @property
    def bins(self) -> tuple[int, int]:
        """(x bins, y bins): ``W * r`` and ``H * r``."""

        return int(round(self.input_size[1] * self.split_ratio)), int(round(self.input_size[0] * self.split_ratio))

    def describe(self) -> str:
        """For the run's log."""
        return (
            f"SimCC head, {self.bins[0]} x and {self.bins[1]} y bins ({self.split_ratio:g} per pixel), "
            f"sigma {self.sigma:g} px"
        )

    def _axis(self, coords: tf.Tensor, count: int) -> tf.Tensor:
        centres = (tf.range(count, dtype=tf.float32) + 0.5) / self.split_ratio - 0.5  # [count] pixels
        target = tf.exp(-((centres[None, :] - coords[:, None]) ** 2) / (2.0 * self.sigma**2))
        return target / tf.maximum(tf.reduce_sum(target, axis=-1, keepdims=True), 1e-12)

    def encode(
        self, keypoints: tf.Tensor, visible: tf.Tensor, input_size: tuple[int, int]
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Targets ``[K, Wr + Hr]`` (each axis a distribution) and weights ``[K]`` (1: visible and inside)."""
        del input_size  # the codec's own
        points = tf.cast(keypoints, tf.float32)
        finite = tf.reduce_all(tf.math.is_finite(points), axis=-1)
        points = tf.where(finite[:, None], points, tf.zeros_like(points))
        height, width = float(self.input_size[0]), float(self.input_size[1])
        inside = (
            (points[:, 0] >= -0.5)
            & (points[:, 0] <= width - 0.5)
            & (points[:, 1] >= -0.5)
            & (points[:, 1] <= height - 0.5)
        )
        weight = tf.cast(tf.cast(visible, tf.bool) & finite & inside, tf.float32)
        bins_x, bins_y = self.bins
        targets = tf.concat([self._axis(points[:, 0], bins_x), self._axis(points[:, 1], bins_y)], axis=-1)
        return targets * weight[:, None], weight

    def _read(self, logits: tf.Tensor, method: str) -> tuple[tf.Tensor, tf.Tensor]:
        probabilities = tf.nn.softmax(logits, axis=-1)  # [B, K, bins]
        count = tf.shape(logits)[-1]
        index = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        peak = tf.reduce_max(probabilities, axis=-1)
        position = tf.cast(index, tf.float32)
        if method == "soft-argmax":
            radius = int(math.ceil(3 * self.sigma * self.split_ratio))
            bins = tf.range(count)[None, None, :]
            window = tf.cast(tf.abs(bins - index[..., None]) <= radius, tf.float32) * probabilities
            position = tf.reduce_sum(window * tf.cast(bins, tf.float32), -1) / tf.maximum(
                tf.reduce_sum(window, -1), 1e-12
            )
        return (position + 0.5) / self.split_ratio - 0.5, peak

    def decode(self, outputs: tf.Tensor, decoding: str | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Keypoints ``[B, K, 2]`` in input pixels and scores ``[B, K]`` from logits ``[B, K, Wr + Hr]``. The
        score is each axis's softmax peak over a target's peak (about 1 when as sharp as the targets), the
        geometric mean of x and y, at most 1."""
        method = decoding or self.decoding
        if method not in SIMCC_DECODINGS:
            raise ValueError(f"SimCC decoding {method!r}: choose one of {SIMCC_DECODINGS}")
        outputs = tf.cast(outputs, tf.float32)
        bins_x = self.bins[0]
        x, peak_x = self._read(outputs[..., :bins_x], method)
        y, peak_y = self._read(outputs[..., bins_x:], method)
        target_peak = 1.0 / (math.sqrt(2 * math.pi) * self.sigma * self.split_ratio)
        scores = tf.minimum(tf.sqrt(peak_x * peak_y) / target_peak, 1.0)
        return tf.stack([x, y], axis=-1), scores

    def flip_average(self, outputs: tf.Tensor, flipped: tf.Tensor, flip_index) -> tf.Tensor:
        """Flip test: the mean of ``outputs`` and the logits for the mirrored input, whose x bins are
        reversed (bin ``i`` mirrors to ``Wr - 1 - i`` exactly) and left/right keypoints swapped."""
        bins_x = self.bins[0]
        flipped = tf.gather(tf.cast(flipped, tf.float32), flip_index, axis=1)
        back = tf.concat([tf.reverse(flipped[..., :bins_x], axis=[-1]), flipped[..., bins_x:]], axis=-1)
        return 0.5 * (tf.cast(outputs, tf.float32) + back)

    def to_info(self) -> dict:
        """The fields ``model.json`` stores."""
        return {
            "head": "simcc",
            "simcc_split_ratio": float(self.split_ratio),
            "sigma": float(self.sigma),
            "decode": self.decoding,
            "heatmap_stride": 1,
        }

    @classmethod
    def from_info(cls, info, input_size: tuple[int, int]) -> SimccCodec:
        """The codec of an export's or run's fields (``to_info``'s) at its ``input_size``."""
        return cls(
            tuple(int(v) for v in input_size),
            float(info.get("simcc_split_ratio", 2.0)),
            float(info.get("sigma", 2.0)),
            info.get("decode", "argmax"),
        )

    @classmethod
    def from_settings(cls, settings, input_size: tuple[int, int]) -> SimccCodec:
        """``--head simcc`` with ``--sigma`` (input pixels) and ``--decode`` (``dark``, the heatmap default,
        reads SimCC by argmax); ValueError naming the flags that are the heatmap head's."""
        if settings.model != "simple_baseline":
            raise ValueError(
                f"--head simcc builds on simple_baseline's deconvolutions; --model {settings.model} has "
                "its own heatmap decoder (use --model simple_baseline, the default)"
            )
        if settings.heatmap_stride is not None or settings.codec != "msra":
            raise ValueError(
                "--heatmap-stride and --codec are for the heatmap head; SimCC classifies coordinates "
                "in bins of half a pixel"
            )
        decoding = "argmax" if settings.decode == "dark" else settings.decode
        if decoding not in SIMCC_DECODINGS:
            raise ValueError(f"--decode {settings.decode}: SimCC decodes by {' or '.join(SIMCC_DECODINGS)}")
        return cls(tuple(int(v) for v in input_size), 2.0, float(settings.sigma), decoding)

    def network(self, model: str, backbone: str, num_keypoints: int, input_shape) -> NetworkSpec:
        """The ``simcc`` builder on Simple Baselines' deconvolutions (stride-4 maps): at small inputs the
        stride-32 map has a few positions only (2x2 at 64 px), from which the dense layers could not place a
        keypoint well. ``[B, H, W, C] -> [B, K, W*r + H*r]``."""
        if model != "simple_baseline":
            raise ValueError(
                f"--head simcc builds on simple_baseline's deconvolutions; --model {model} has its own "
                "heatmap decoder (use --model simple_baseline, the default)"
            )
        return NetworkSpec(
            "simcc",
            {
                "backbone": backbone,
                "num_keypoints": int(num_keypoints),
                "input_shape": tuple(input_shape),
                "split_ratio": float(self.split_ratio),
                "deconv_filters": (256, 256, 256),
            },
        )

    def loss(self):
        """The training loss: ``SimccLoss`` (KL divergence per keypoint, both axes)."""
        from zoo.tasks.keypoints.losses import SimccLoss

        return SimccLoss(self.bins[0])

    def describe_outputs(self, num_keypoints: int, input_size: tuple[int, int]) -> dict:
        """model.json's words for the network's answer beside the keypoints."""
        bins_x, bins_y = self.bins
        return {
            "scores": f"float32 [batch, {num_keypoints}]: each axis's softmax peak over a target's, geometric mean "
            "(about 1 = as sharp as the training targets)",
            "simcc": f"float32 [batch, {num_keypoints}, {bins_x + bins_y}]: logits, {bins_x} x bins then {bins_y} "
            "y bins at the training size",
        }

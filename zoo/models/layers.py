"""The few custom Keras pieces the models need, registered for ``.keras`` saving.

Everything here is registered with ``keras.saving.register_keras_serializable``
under the package ``zoo``, so ``keras.models.load_model(path)`` works in any
process that has imported this module (any builder imports it; so does ``import zoo``
when Keras is already imported) - no ``custom_objects`` needed.
"""

from __future__ import annotations

import keras
import numpy as np

from zoo.models.sizes import check_spatial_size, nearest_valid_sizes  # noqa: F401 - used here and by builders


@keras.saving.register_keras_serializable(package="zoo")
class InputSizeCheck(keras.layers.Layer):
    """Identity layer that checks height and width are multiples of ``divisor``.

    Put right after the input of a model with unknown spatial size, so that a bad
    size fails with a message naming the size and the fix, instead of a shape
    mismatch deep inside a concatenation. Static shapes are checked in Python
    (``ValueError``); dynamic ones inside the graph (``InvalidArgumentError``).

    Every zoo encoder starts with one, holding the backbone's registry name in ``backbone``
    (``zoo.models.freezing.model_backbone`` reads it; models saved before it was recorded have "").
    """

    def __init__(self, divisor: int = 32, what: str = "this model", backbone: str = "", **kwargs):
        super().__init__(**kwargs)
        self.divisor = int(divisor)
        self.what = str(what)
        self.backbone = str(backbone)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is not None and width is not None:  # always so outside TensorFlow (JAX traces known shapes)
            check_spatial_size(height, width, self.divisor, self.what)
            return inputs
        import tensorflow as tf  # unknown sizes: a TensorFlow graph (tf.function, SavedModel)

        remainder = tf.math.floormod(tf.shape(inputs)[1:3], self.divisor)
        check = tf.debugging.assert_equal(
            remainder,
            tf.zeros_like(remainder),
            message=(
                f"input height and width must be multiples of {self.divisor} for "
                f"{self.what}; resize or pad the images (remainders shown below)"
            ),
        )
        with tf.control_dependencies([check]):
            return tf.identity(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "divisor": self.divisor, "what": self.what, "backbone": self.backbone}


@keras.saving.register_keras_serializable(package="zoo")
class ResizeBilinear2x(keras.layers.Layer):
    """Bilinear upsampling by an integer factor that works with unknown height and width.

    ``keras.layers.UpSampling2D(interpolation="bilinear")`` (Keras 3.15) fails inside
    a ``tf.function`` when the spatial size is unknown (it evaluates the new size as
    a Python bool), which breaks any-size serving; this layer computes the size in
    the graph. Same sampling as ``tf.image.resize`` (half-pixel centres).
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is not None and width is not None:  # every backend; JAX and PyTorch always know the sizes
            size = (height * self.factor, width * self.factor)
            out = keras.ops.image.resize(inputs, size, interpolation="bilinear", antialias=False)
            return keras.ops.cast(out, inputs.dtype)
        import tensorflow as tf  # unknown sizes: a TensorFlow graph (tf.function, SavedModel)

        size = tf.shape(inputs)[1:3] * self.factor
        out = tf.image.resize(inputs, size, method="bilinear")
        return tf.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        scale = lambda n: None if n is None else n * self.factor  # noqa: E731
        return (batch, scale(height), scale(width), channels)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def batch_norm(name: str, momentum: float = 0.9) -> keras.layers.BatchNormalization:
    """The decoders' BatchNormalization: statistics over the global batch under ``tf.distribute``
    (``synchronized``) on TensorFlow; plain on the other backends, which do not offer it."""

    return keras.layers.BatchNormalization(
        momentum=momentum, synchronized=keras.backend.backend() == "tensorflow", name=name
    )


def bilinear_kernel(kernel_size: int, channels_out: int, channels_in: int) -> np.ndarray:
    """A transposed-convolution kernel that performs bilinear upsampling.

    Args:
        kernel_size: square kernel side; ``2 * factor`` for an upsampling ``factor``.
        channels_out, channels_in: the kernel maps channel c to channel c (diagonal);
            off-diagonal entries are zero.

    Returns:
        float32 ``[k, k, channels_out, channels_in]`` (the layout of
        ``keras.layers.Conv2DTranspose`` kernels).
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    grid = np.arange(kernel_size, dtype=np.float64)
    profile = 1.0 - np.abs(grid - center) / factor
    filt = np.outer(profile, profile).astype(np.float32)
    kernel = np.zeros((kernel_size, kernel_size, channels_out, channels_in), np.float32)
    for c in range(min(channels_out, channels_in)):
        kernel[:, :, c, c] = filt
    return kernel


@keras.saving.register_keras_serializable(package="zoo")
class BilinearUpsampling(keras.initializers.Initializer):
    """Initializer for ``Conv2DTranspose`` kernels: bilinear interpolation per channel.

    As in FCN (Long et al. 2015): the transposed convolution starts as a bilinear
    upsampler and is then free to learn.
    """

    def __call__(self, shape, dtype=None):
        kh, kw, c_out, c_in = shape
        if kh != kw:
            raise ValueError(f"BilinearUpsampling needs a square kernel, got {kh}x{kw}")
        return keras.ops.convert_to_tensor(bilinear_kernel(kh, c_out, c_in), dtype=dtype or "float32")

    def get_config(self):
        return {}


def _bin_matrix(size, bins: int):
    """``[bins, size]`` averaging weights of adaptive pooling along one axis (PyTorch's bins: bin i covers
    ``floor(i * size / bins)`` to ``ceil((i + 1) * size / bins)``); ``size`` may be a tensor."""

    i = keras.ops.expand_dims(keras.ops.arange(bins, dtype="int32"), 1)
    j = keras.ops.expand_dims(keras.ops.arange(size, dtype="int32"), 0)
    start = (i * size) // bins
    end = ((i + 1) * size + bins - 1) // bins
    inside = keras.ops.cast(keras.ops.logical_and(j >= start, j < end), "float32")
    return inside / keras.ops.sum(inside, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="zoo")
class AdaptiveAveragePool(keras.layers.Layer):
    """Average pooling into ``bins`` x ``bins`` cells whatever the input size, also when it is unknown.

    ``keras.layers.AdaptiveAveragePooling2D`` (Keras 3.15) needs static sizes, which any-size
    serving does not have; this computes the same bins with two matrix products (which also
    export to LiteRT and ONNX). ``[B, H, W, C] -> [B, bins, bins, C]`` in float32 arithmetic.
    """

    def __init__(self, bins: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.bins = int(bins)

    def call(self, inputs):
        shape = keras.ops.shape(inputs)
        rows, cols = _bin_matrix(shape[1], self.bins), _bin_matrix(shape[2], self.bins)
        x = keras.ops.cast(inputs, "float32")
        x = keras.ops.einsum("ph,bhwc->bpwc", rows, x)
        x = keras.ops.einsum("qw,bpwc->bpqc", cols, x)
        return keras.ops.cast(x, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins, self.bins, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}


@keras.saving.register_keras_serializable(package="zoo")
class ResizeTo(keras.layers.Layer):
    """Bilinear resize of ``inputs[0]`` to the height and width of ``inputs[1]``, known or not (half-pixel
    centres, as ``tf.image.resize``)."""

    def call(self, inputs):
        x, reference = inputs
        height, width = reference.shape[1], reference.shape[2]
        if height is not None and width is not None:
            out = keras.ops.image.resize(x, (height, width), interpolation="bilinear", antialias=False)
            return keras.ops.cast(out, x.dtype)
        import tensorflow as tf  # unknown sizes: a TensorFlow graph (tf.function, SavedModel)

        return tf.cast(tf.image.resize(x, tf.shape(reference)[1:3], method="bilinear"), x.dtype)

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[-1])

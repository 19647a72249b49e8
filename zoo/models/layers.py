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


def reflect_indices(size: int, target: int) -> np.ndarray:
    """Row indices ``[target]`` that extend an axis of ``size`` pixels to ``target`` by reflection about its last
    pixel (``a b c d`` -> ``a b c d c b a b ...``), repeated as often as a small picture needs."""
    period = max(2 * (size - 1), 1)
    index = np.arange(target) % period
    return np.where(index < size, index, period - index).astype("int32")


@keras.saving.register_keras_serializable(package="zoo")
class PadToMultiple(keras.layers.Layer):
    """Pads height and width at the bottom and right to the next multiple of ``multiple`` by reflection.

    The zoo's encoders start with it where the input size is unknown or not a multiple of the backbone's
    total stride (docs/builders.md, "Any input size"); ``CropToInput`` cuts the outputs back, so output
    pixels line up with input pixels. Reflection (not zeros) so the padded border looks like the picture
    near it; a picture smaller than the padding is reflected again (``reflect_indices``). Built from a
    gather along each axis, which every export format runs. Like ``InputSizeCheck`` it records the
    backbone's registry name (``zoo.models.freezing.model_backbone``).
    """

    def __init__(self, multiple: int = 32, backbone: str = "", **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)
        self.backbone = str(backbone)

    def _target(self, size):
        return None if size is None else -(-int(size) // self.multiple) * self.multiple

    def call(self, inputs):
        x = inputs
        for axis in (1, 2):
            size = x.shape[axis]
            if size is not None:
                if size % self.multiple:
                    x = keras.ops.take(x, reflect_indices(size, self._target(size)), axis=axis)
                continue
            import tensorflow as tf  # unknown sizes: a TensorFlow graph (tf.function, SavedModel)

            size = tf.shape(x)[axis]
            target = (size + self.multiple - 1) // self.multiple * self.multiple
            period = tf.maximum(2 * (size - 1), 1)
            index = tf.math.floormod(tf.range(target), period)
            x = tf.gather(x, tf.where(index < size, index, period - index), axis=axis)
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, self._target(height), self._target(width), channels)

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple, "backbone": self.backbone}


@keras.saving.register_keras_serializable(package="zoo")
class CropToInput(keras.layers.Layer):
    """Cuts an output computed on a ``PadToMultiple`` input back to the pixels of the unpadded input.

    ``inputs``: ``[outputs [B, h', w', K], images [B, H, W, C]]``; the outputs sit at stride
    ``s = H' / h'`` of the padded input (``H'``: ``H`` rounded up to ``multiple``), so ``ceil(H / s)`` rows
    and ``ceil(W / s)`` columns are kept from the top left: the full size for scores at the input's
    resolution, ``ceil(H / 4)`` for stride-4 heatmaps.
    """

    def __init__(self, multiple: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def _kept(self, out, size):
        padded = -(-size // self.multiple) * self.multiple
        stride = padded // out
        return -(-size // stride)

    def call(self, inputs):
        x, images = inputs
        sizes = [images.shape[1], images.shape[2]]
        outs = [x.shape[1], x.shape[2]]
        if None not in sizes and None not in outs:
            rows, cols = (self._kept(o, s) for o, s in zip(outs, sizes))
            return x[:, :rows, :cols]
        import tensorflow as tf  # unknown sizes: a TensorFlow graph (tf.function, SavedModel)

        rows, cols = (self._kept(tf.shape(x)[a], tf.shape(images)[a]) for a in (1, 2))
        return x[:, :rows, :cols]

    def compute_output_shape(self, input_shapes):
        x, images = input_shapes
        kept = [
            None if o is None or s is None else self._kept(o, s) for o, s in zip((x[1], x[2]), (images[1], images[2]))
        ]
        return (x[0], *kept, x[-1])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


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


# The smallest epsilon TensorFlow's fused kernel takes (cuDNN's floor; tf.compat.v1.nn.fused_batch_norm raises it).
FUSED_MIN_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package="zoo")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training-mode call on TensorFlow is one fused kernel.

    Keras 3 normalises on TensorFlow with separate ops (``moments``, then ``tf.nn.batch_normalization``): about
    eight passes over the activations forward and more backward, where TensorFlow has a fused kernel
    (``FusedBatchNormV3`` and its gradient, which oneDNN and cuDNN implement) that tf.keras used. This layer
    calls that kernel when the layer trains on TensorFlow (``training`` and ``trainable``), on a 4-D
    channels-last float input with no mask, no renorm, an epsilon the kernel takes (>= 1.001e-5), and the
    batch statistics are this replica's own (not ``synchronized``, or one replica in sync). Everything else
    (inference, frozen layers, exports, JAX and PyTorch, a synchronized layer across replicas) is Keras' own
    call, unchanged. Same arithmetic: normalised by the biased batch variance, and the moving statistics
    updated with it, as Keras does (the kernel's returned variance is Bessel-corrected; it is scaled back).
    Outputs and gradients agree with ``BatchNormalization`` to float rounding (tests/test_layers_fused.py);
    the speed-up is in docs/performance.md, "Where the time goes". Weights, config and names are
    ``BatchNormalization``'s, so weights load either way.
    """

    def _fusable(self, inputs, training, mask) -> bool:
        if keras.backend.backend() != "tensorflow" or not training or not self.trainable or mask is not None:
            return False
        if self.renorm or len(inputs.shape) != 4 or self.axis not in (-1, 3) or self.epsilon < FUSED_MIN_EPSILON:
            return False
        if keras.backend.standardize_dtype(inputs.dtype) not in ("float32", "float16", "bfloat16"):
            return False
        if self.synchronized:
            import tensorflow as tf

            context = tf.distribute.get_replica_context()
            if context is None or context.num_replicas_in_sync != 1:
                return False
        return True

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, "float32")  # as Keras: the statistics in float32 whatever the compute dtype
        channels = tf.shape(x)[-1]
        scale = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels], "float32")
        offset = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels], "float32")
        y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        count = tf.cast(tf.size(x) // channels, "float32")
        variance = tf.where(count > 1, unbiased * (count - 1.0) / tf.maximum(count, 1.0), tf.zeros_like(unbiased))
        momentum = self.momentum
        self.moving_mean.assign(
            tf.cast(self.moving_mean, "float32") * momentum + tf.stop_gradient(mean) * (1.0 - momentum)
        )
        self.moving_variance.assign(
            tf.cast(self.moving_variance, "float32") * momentum + tf.stop_gradient(variance) * (1.0 - momentum)
        )
        return tf.cast(y, self.compute_dtype)


# Keras' weights files (.weights.h5, and the weights inside .keras) address a layer by its class name and its
# rank among layers of that name, not by the layer's own name. Keeping BatchNormalization's class name keeps
# every weights file interchangeable: written before this layer existed, by another backend (whose encoder
# layers stay plain), or by a model with plain layers. Serialization still finds this class by its registered
# name, "zoo>FusedBatchNormalization".
FusedBatchNormalization.__name__ = "BatchNormalization"


def fused_copy(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A ``FusedBatchNormalization`` from a plain ``BatchNormalization``'s config; any other layer as a new
    layer from its own config (``keras.models.clone_model``'s ``clone_function``)."""
    if type(layer) is keras.layers.BatchNormalization:
        return FusedBatchNormalization.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())


def batch_norm(name: str, momentum: float = 0.9) -> keras.layers.BatchNormalization:
    """The decoders' BatchNormalization: statistics over the global batch under ``tf.distribute``
    (``synchronized``) on TensorFlow, in one fused kernel where one replica trains
    (``FusedBatchNormalization``); plain on the other backends, which do not offer it."""

    return FusedBatchNormalization(momentum=momentum, synchronized=keras.backend.backend() == "tensorflow", name=name)


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
        height, width = inputs.shape[1], inputs.shape[2]
        x = keras.ops.cast(inputs, "float32")
        if isinstance(height, int) and isinstance(width, int):
            # known sizes (training, and the exports, which resize to the training size): each bin's mean of a
            # slice. LiteRT took the einsum below with an unknown batch but wrote a file its interpreter refused
            # ("BytesRequired number of elements overflowed"); slices convert everywhere.
            rows = [(i * height // self.bins, -(-(i + 1) * height // self.bins)) for i in range(self.bins)]
            cols = [(j * width // self.bins, -(-(j + 1) * width // self.bins)) for j in range(self.bins)]
            cells = [
                keras.ops.stack([keras.ops.mean(x[:, r0:r1, c0:c1, :], axis=(1, 2)) for c0, c1 in cols], axis=1)
                for r0, r1 in rows
            ]
            return keras.ops.cast(keras.ops.stack(cells, axis=1), inputs.dtype)
        shape = keras.ops.shape(inputs)
        rows, cols = _bin_matrix(shape[1], self.bins), _bin_matrix(shape[2], self.bins)
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
        if keras.backend.backend() != "tensorflow":  # JAX and PyTorch always know the sizes
            out = keras.ops.image.resize(x, (height, width), interpolation="bilinear", antialias=False)
            return keras.ops.cast(out, x.dtype)
        import tensorflow as tf

        # The size as a tensor even where it is known: given a constant size, tf2onnx writes an ONNX Resize by
        # scales, and ONNX Runtime rounds 6 * (4 / 6) down to 3 (a pyramid pooling bin map larger than the
        # features came back one pixel short and the concatenation failed). Same op and values in TensorFlow.
        return tf.cast(tf.image.resize(x, tf.shape(reference)[1:3], method="bilinear"), x.dtype)

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (x[0], reference[1], reference[2], x[-1])

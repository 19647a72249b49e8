"""tf.data pipelines from raw ``(image, mask)`` examples to model-ready batches.

Per example (parallel map): channel conversion, label remapping through a lookup
table (``mask_to_labels``), resize (bilinear for images, nearest neighbour for masks), then a cache of
the resized uint8 data. Per batch: augmentation (training only), the backbone's
preprocessing, prefetch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.data.images import AUTOTUNE, CACHE_LIMIT_BYTES, convert_channels
from zoo.models.backbones import get_backbone
from zoo.tasks.segmentation.augment import AugmentConfig, make_augmenter
from zoo.tasks.segmentation.masks import LABEL_SLOTS, binary_to_01


def mask_to_labels(mask: tf.Tensor, table: np.ndarray | tf.Tensor, binary_masks: bool = False) -> tf.Tensor:
    """Raw mask values (int ``[h, w, c]``, first channel used) -> class indices int32 ``[h, w, 1]``.

    ``binary_masks``: 0/1 or 0/255 masks, turned into 0/1 per mask by
    ``zoo.tasks.segmentation.masks.binary_to_01`` first (the rule ``check`` reports with).
    """
    mask = tf.cast(mask[..., :1], tf.int32)
    if binary_masks:
        mask = binary_to_01(mask)
    mask = tf.clip_by_value(mask, 0, LABEL_SLOTS)
    return tf.gather(tf.convert_to_tensor(table, tf.int32), mask)


def segmentation_pipeline(
    dataset: tf.data.Dataset,
    *,
    table: np.ndarray,
    input_size: tuple[int, int],
    channels: int,
    batch_size: int,
    backbone: str,
    training: bool,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    num_examples: int | None = None,
    repeat: bool = False,
    preprocess: bool = True,
    binary_masks: bool = False,
    crop: bool = False,
    scale_jitter: tuple[float, float] | None = None,
    ignore_index: int = 255,
    repeat_factors: list[float] | None = None,
    crop_max_share: float | None = None,
) -> tf.data.Dataset:
    """Turns raw ``(image uint8 [h, w, c], mask [h, w, 1])`` examples into batches.

    Args:
        dataset: raw examples; image and mask may differ in size (each is resized).
        table: ``label_table(...)`` output.
        input_size: (H, W) the model is trained at.
        channels: the model's input channel count.
        batch_size: global batch size.
        backbone: for its preprocessing.
        training: shuffle, drop the last partial batch, augment (if ``augment``).
        num_examples: for the cache size estimate (None: do not cache).
        repeat: repeat forever (use with ``steps_per_epoch``).
        preprocess: apply the backbone's preprocessing (False: pixels stay in [0, 255]).
        binary_masks: masks are 0/1 or 0/255 (see ``mask_to_labels``); ``table`` is then
            ``label_table(2, binary=True)``.
        crop: pictures stay at their own scale (no resize). Training: a random ``input_size``
            crop of each (after a random rescale by ``scale_jitter`` (lo, hi) when given);
            evaluation: every picture cut into ``input_size`` tiles side by side. Where a crop or
            tile falls off the picture, images are padded with 0 and masks with
            ``ignore_index`` (left out of loss and metrics).
        ignore_index: the label of padding (``crop``).
        repeat_factors: training only: one factor per class (``labels.repeat_factors``); each pass over
            the data shows a picture ``r`` times, ``r`` the largest factor of its classes (a fractional
            part by chance), before the shuffle.
        crop_max_share: ``crop`` training only: draw a crop again (up to 10 tries, as mmsegmentation's
            ``cat_max_ratio``) while one class covers more than this share of its labelled pixels, so
            crops of mostly background give way to crops that keep small classes in view.

    Returns:
        ``(images float32 [B, H, W, channels] preprocessed, masks int32 [B, H, W, 1])``.
    """
    height, width = input_size
    lookup = tf.constant(table, tf.int32)
    spec = get_backbone(backbone)

    def prepare(image, mask):
        image = convert_channels(image, channels)
        image = tf.image.resize(tf.cast(image, tf.float32), (height, width), method="bilinear", antialias=True)
        image = tf.cast(tf.round(tf.clip_by_value(image, 0, 255)), tf.uint8)
        mask = mask_to_labels(mask, lookup, binary_masks)
        mask = tf.image.resize(mask, (height, width), method="nearest")
        return image, tf.cast(mask, tf.uint8)

    def labelled(image, mask):  # crop: the picture at its own scale
        image = convert_channels(image, channels)
        mask = mask_to_labels(mask, lookup, binary_masks)
        return image, tf.cast(mask, tf.uint8)

    if crop:
        ds = dataset.map(labelled, num_parallel_calls=AUTOTUNE, deterministic=True)
        if num_examples is not None and num_examples * _example_bytes(ds) < CACHE_LIMIT_BYTES:
            ds = ds.cache()
        if training:
            ds = _repeated_by_class(ds, repeat_factors, seed)
            ds = ds.shuffle(min(num_examples or 1000, 2000), seed=seed, reshuffle_each_iteration=True)
            ds = ds.map(
                _random_crop_fn(height, width, channels, scale_jitter, ignore_index, seed, crop_max_share),
                num_parallel_calls=AUTOTUNE,
            )
        else:
            ds = ds.flat_map(_tiles_fn(height, width, ignore_index))
        return _batched(ds, batch_size, training, repeat, augment, seed, preprocess, spec)

    ds = dataset.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True)
    if num_examples is not None and num_examples * height * width * (channels + 1) < CACHE_LIMIT_BYTES:
        ds = ds.cache()
    if training:
        # Each new dataset object replays the same sequence of shuffled passes (the
        # generator lives with the object); fit_phases builds one per phase, so a
        # resumed phase can skip to where an uninterrupted run was.
        ds = _repeated_by_class(ds, repeat_factors, seed)
        ds = ds.shuffle(min(num_examples or 1000, 2000), seed=seed, reshuffle_each_iteration=True)
    return _batched(ds, batch_size, training, repeat, augment, seed, preprocess, spec)


def _repeated_by_class(ds: tf.data.Dataset, factors: list[float] | None, seed: int) -> tf.data.Dataset:
    """Each ``(image, labels uint8 [h, w, 1])`` example ``floor(r)`` times, once more with probability
    ``r - floor(r)``, ``r`` the largest of ``factors`` over the classes in its labels (the ignore index
    and other labels outside the classes count for nothing); ``ds`` as is when ``factors`` is None or all 1."""
    if factors is None or max(factors) <= 1.0:
        return ds
    table = tf.constant(factors, tf.float32)
    classes = len(factors)

    def repeated(image, mask):
        labels = tf.reshape(tf.cast(mask, tf.int32), [-1])
        present = tf.math.bincount(labels, minlength=classes, maxlength=classes) > 0
        factor = tf.reduce_max(tf.where(present, table, 1.0))
        whole = tf.floor(factor)
        times = tf.cast(whole, tf.int64) + tf.cast(tf.random.uniform([], seed=seed + 2) < factor - whole, tf.int64)
        return tf.data.Dataset.from_tensors((image, mask)).repeat(times)

    return ds.flat_map(repeated)


def known_length(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` (finite) with a cardinality tf.data knows: as it is when it knows one, else counted in one pass and
    asserted (validation tiles come from a ``flat_map``, one to many per picture).

    Keras reads a dataset of unknown length until it ends and then warns "Your input ran out of data;
    interrupting training" after the first validation pass, though nothing was lost; with the length known it
    runs exactly that many batches. The pass fills an in-memory ``cache`` upstream, which validation then reads.
    """
    if int(ds.cardinality()) != int(tf.data.UNKNOWN_CARDINALITY):
        return ds
    count = int(ds.reduce(np.int64(0), lambda n, _: n + 1))
    return ds.apply(tf.data.experimental.assert_cardinality(count))


def _batched(ds, batch_size, training, repeat, augment, seed, preprocess, spec) -> tf.data.Dataset:
    """Same-size uint8 examples -> batches: repeat, batch, float/int, augmentation, preprocessing, prefetch. The
    training data repeats forever with ``repeat`` (``steps_per_epoch`` batches an epoch); finite evaluation data
    has a known length (``known_length``)."""
    if repeat:
        ds = ds.repeat()
    elif not training:
        ds = known_length(ds)
    ds = ds.batch(batch_size, drop_remainder=training, num_parallel_calls=AUTOTUNE)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.cast(y, tf.int32)), num_parallel_calls=AUTOTUNE)
    if training and augment is not None:
        ds = ds.map(make_augmenter(augment, seed), num_parallel_calls=AUTOTUNE)
    if preprocess:
        ds = ds.map(lambda x, y: (spec.preprocess(x), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def _example_bytes(ds: tf.data.Dataset) -> int:
    """Bytes of the first example (image and mask), the cache's size estimate for pictures of varied size."""
    for image, mask in ds.take(1):
        return int(tf.size(image)) + int(tf.size(mask))
    return 0


def _pad_to_at_least(image, mask, height: int, width: int, ignore_index: int):
    """Pads bottom and right to at least ``height`` x ``width``: images with 0, masks with ``ignore_index``."""
    size = tf.shape(image)[:2]
    pad_h, pad_w = tf.maximum(height - size[0], 0), tf.maximum(width - size[1], 0)
    image = tf.pad(image, [[0, pad_h], [0, pad_w], [0, 0]])
    mask = tf.pad(mask, [[0, pad_h], [0, pad_w], [0, 0]], constant_values=ignore_index)
    return image, mask


CROP_TRIES = 10  # crop_max_share: crops drawn at most per example


def _random_crop_fn(
    height: int, width: int, channels: int, scale_jitter, ignore_index: int, seed: int, max_share: float | None = None
):
    """``(image, mask) -> (crop, mask crop)`` of ``height`` x ``width`` at a random place (and scale); with
    ``max_share``, the first of ``CROP_TRIES`` crops in which no class covers more than that share of the
    labelled pixels (else the last drawn)."""

    def too_uniform(both):
        labels = tf.reshape(tf.cast(both[..., channels], tf.int32), [-1])
        labels = tf.boolean_mask(labels, labels != ignore_index)
        counts = tf.math.bincount(labels, minlength=1)
        total = tf.reduce_sum(counts)
        return tf.logical_and(
            total > 0, tf.cast(tf.reduce_max(counts), tf.float32) > max_share * tf.cast(total, tf.float32)
        )

    def crop(image, mask):
        if scale_jitter is not None:
            size = tf.cast(tf.shape(image)[:2], tf.float32)
            factor = tf.random.uniform([], scale_jitter[0], scale_jitter[1], seed=seed)
            new = tf.maximum(tf.cast(tf.round(size * factor), tf.int32), 1)
            image = tf.cast(
                tf.round(
                    tf.clip_by_value(
                        tf.image.resize(tf.cast(image, tf.float32), new, method="bilinear", antialias=True), 0, 255
                    )
                ),
                tf.uint8,
            )
            mask = tf.image.resize(mask, new, method="nearest")
        image, mask = _pad_to_at_least(image, mask, height, width, ignore_index)
        both = tf.concat([image, mask], axis=-1)
        shape = [height, width, channels + 1]
        cut = tf.image.random_crop(both, shape, seed=seed)
        if max_share is not None:
            _, cut = tf.while_loop(
                lambda i, c: tf.logical_and(i < CROP_TRIES - 1, too_uniform(c)),
                lambda i, c: (i + 1, tf.image.random_crop(both, shape, seed=seed + 1)),  # its own stream
                (tf.constant(0), cut),
            )
        return cut[..., :channels], cut[..., channels:]

    return crop


def _tiles_fn(height: int, width: int, ignore_index: int):
    """``(image, mask) -> dataset of tiles``: the picture cut into ``height`` x ``width`` tiles side by side
    (padded to a multiple of the tile; padding ignored)."""

    def tiles(image, mask):
        size = tf.shape(image)[:2]
        rows = (size[0] + height - 1) // height
        cols = (size[1] + width - 1) // width
        image, mask = _pad_to_at_least(image, mask, rows * height, cols * width, ignore_index)

        def cut(x):
            x = tf.reshape(x, [rows, height, cols, width, tf.shape(x)[-1]])
            return tf.reshape(tf.transpose(x, [0, 2, 1, 3, 4]), [rows * cols, height, width, tf.shape(x)[-1]])

        return tf.data.Dataset.from_tensor_slices((cut(image), cut(mask)))

    return tiles

"""The keypoint tf.data pipeline: raw examples (``zoo.tasks.keypoints.sources``) to model-ready batches."""

from __future__ import annotations

import tensorflow as tf

from zoo.data.images import AUTOTUNE, CACHE_LIMIT_BYTES, convert_channels
from zoo.models.backbones import get_backbone


def keypoint_pipeline(
    dataset: tf.data.Dataset,
    *,
    input_size: tuple[int, int],
    channels: int,
    batch_size: int,
    backbone: str,
    codec,
    flip_index: list[int],
    training: bool,
    augment=None,
    seed: int = 0,
    num_examples: int | None = None,
    repeat: bool = False,
    for_eval: bool = False,
    half_body=None,
) -> tf.data.Dataset:
    """Raw keypoint examples (see ``zoo.tasks.keypoints.sources``) -> batches.

    ``codec`` (a ``zoo.tasks.keypoints.heatmap_codec.HeatmapCodec``) draws the target heatmaps; ``half_body`` (a
    ``zoo.tasks.keypoints.geometry.HalfBody``, training only) sometimes narrows the box to one half. Each example is warped once (``zoo.tasks.keypoints.geometry``): its box onto the input
    frame, plus random flip/scale/rotation/translation when training with
    ``augment``; keypoints move with the same matrix, flips swap left/right.

    Returns:
        For training/validation in ``fit``: ``(images float32 [B, H, W, C]
        preprocessed, heatmaps [B, H/stride, W/stride, K], weights [B, K])``. With
        ``for_eval``: dicts with ``images`` (preprocessed), ``pixels`` (uint8 view),
        ``keypoints`` (true (x, y) in the input frame), ``visible``, ``matrix``
        (source -> input frame), ``norm`` (normaliser in source pixels), ``area`` (the object's
        area for OKS, pixels^2: the data's, else ``norm`` squared) and ``image_id`` (-1: unknown).
    """
    from zoo.tasks.keypoints import geometry

    height, width = input_size
    spec = get_backbone(backbone)
    flip = tf.constant(flip_index, tf.int32)

    def warp(example, seed_pair):
        image = convert_channels(example["image"], channels)
        points = tf.cast(example["keypoints"], tf.float32)
        xy, visible = points[:, :2], points[:, 2] > 0
        box = example["box"]
        if training and half_body is not None:  # zoo.tasks.keypoints.geometry.HalfBody: one half's box, now and then
            box = geometry.half_body_box(box, xy, visible, half_body, seed_pair)
        matrix = geometry.box_to_frame(box, input_size)
        if training and augment is not None:
            extra, flipped = geometry.random_augment_matrix(input_size, augment, seed_pair)
            matrix = extra @ matrix
        source, warp_matrix = geometry.prefilter(image, matrix)
        pixels = geometry.warp_image(source, warp_matrix, input_size)
        moved = geometry.transform_points(xy, matrix)
        if training and augment is not None:
            moved = tf.where(flipped, tf.gather(moved, flip), moved)
            visible = tf.where(flipped, tf.gather(visible, flip), visible)
            u = tf.random.stateless_uniform([2], seed=seed_pair + 7)
            mean = tf.reduce_mean(pixels)
            contrast = 1.0 + augment.contrast * (2.0 * u[0] - 1.0)
            pixels = (pixels - mean) * contrast + mean + 255.0 * augment.brightness * (2.0 * u[1] - 1.0)
        pixels = tf.clip_by_value(pixels, 0.0, 255.0)
        heatmaps, weights = codec.encode(moved, visible, input_size)
        out = {"pixels": pixels, "heatmaps": heatmaps, "weights": weights}
        if for_eval:
            # The normaliser: the dataset's size (face height...), else the span of the visible
            # keypoints, else (one keypoint, e.g. a nose) the longer side of the region looked at.
            norm = tf.cast(example["norm"], tf.float32)
            seen = points[:, 2] > 0
            big = tf.fill(tf.shape(xy), 1e9)
            span = tf.reduce_max(
                tf.reduce_max(tf.where(seen[:, None], xy, -big), 0) - tf.reduce_min(tf.where(seen[:, None], xy, big), 0)
            )
            box = tf.cast(example["box"], tf.float32)
            side = tf.maximum(box[2] - box[0], box[3] - box[1])
            span = tf.where((span > 0) & (span < 1e8), span, side)
            norm = tf.where(norm > 0, norm, span)
            # COCO's OKS scale: the object's area when the data gives it, else the normaliser squared.
            area = tf.cast(example["area"], tf.float32) if "area" in example else tf.constant(0.0)
            image_id = tf.cast(example["image_id"], tf.int64) if "image_id" in example else tf.constant(-1, tf.int64)
            out.update(
                {
                    "keypoints": moved,
                    "visible": tf.cast(visible, tf.float32),
                    "matrix": matrix,
                    "norm": norm,
                    "source_keypoints": xy,
                    "area": tf.where(area > 0, area, norm * norm),
                    "image_id": image_id,
                }
            )
        return out

    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = dataset
    if training:
        # Each new dataset object replays the same sequence of shuffled passes (the
        # generator lives with the object); fit_phases builds one per phase, so a
        # resumed phase can skip to where an uninterrupted run was.
        ds = ds.shuffle(min(num_examples or 1000, 2000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = tf.data.Dataset.zip((ds, seeds)).map(warp, num_parallel_calls=AUTOTUNE, deterministic=True)
    if (
        not training
        and num_examples is not None
        and num_examples * height * width * (channels + 1) * 4 < CACHE_LIMIT_BYTES
    ):
        ds = ds.cache()  # validation examples are warped the same way every time
    ds = ds.batch(batch_size, drop_remainder=training, num_parallel_calls=AUTOTUNE)

    def finish(batch):
        images = spec.preprocess(batch["pixels"])
        if for_eval:
            return {**batch, "images": images}
        return images, batch["heatmaps"], batch["weights"]

    return ds.map(finish, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)

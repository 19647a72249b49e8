"""Keypoint serving functions: what every export of a keypoint network computes.

As in training, the image is first padded around its centre to the training size's aspect ratio
(reflection; nothing is stretched), resized, given the backbone's preprocessing -> heatmaps -> sub-pixel
decoding (the codec) -> ``keypoints`` float32 ``[B, K, 2]`` (x, y) in the input image's pixels (centre of
the top-left pixel at (0, 0)), ``scores`` float32 ``[B, K]`` (peak heights) and ``heatmaps`` float32
``[B, h', w', K]`` at the training size's heatmap resolution. ``keypoint_boxes_fn``: one object per box.
"""

from __future__ import annotations


def keypoint_serving_fn(model, input_size: tuple[int, int], backbone: str, codec, flip_index=None):
    """``fn(images uint8 [B, h, w, C]) -> {"keypoints" [B, K, 2], "scores" [B, K], "heatmaps"}``.

    The network's answer is read with ``codec`` (a ``zoo.tasks.keypoints.heatmap_codec.HeatmapCodec``: stride, sigma,
    decoding; or a ``zoo.tasks.keypoints.simcc_codec.SimccCodec``, whose logits come out as ``simcc`` instead of ``heatmaps``). With ``flip_index`` the prediction on the mirrored image is averaged in
    (flip test).
    """
    import tensorflow as tf

    from zoo.data.resize import letterbox, resize_antialiased
    from zoo.models.backbones import get_backbone

    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])

    channels = model.inputs[0].shape[-1]

    def serve(images):
        padded, offset, scale = letterbox(tf.cast(images, tf.float32), (height, width))
        x = spec.preprocess(resize_antialiased(padded, (height, width)))
        # The letterbox's dynamic padding hides the channel count from LiteRT's converter, whose built-in
        # convolution needs it (without it: a TensorFlow Conv2D, "Could not translate MLIR to FlatBuffer").
        x = tf.reshape(x, [-1, height, width, channels])
        heatmaps = tf.cast(model(x, training=False), tf.float32)
        if flip_index is not None:
            mirrored = tf.cast(model(tf.reverse(x, axis=[2]), training=False), tf.float32)
            heatmaps = codec.flip_average(heatmaps, mirrored, flip_index)
        frame, scores = codec.decode(heatmaps)  # in the model's input frame
        keypoints = (frame + 0.5) * scale - 0.5 - offset
        return {"keypoints": keypoints, "scores": scores, codec.output_name: heatmaps}

    return serve


def keypoint_boxes_fn(model, input_size: tuple[int, int], backbone: str, codec, flip_index=None):
    """``fn(images uint8 [B, h, w, C], boxes float32 [M, 4], box_indices int32 [M]) -> {"keypoints" [M, K, 2],
    "scores" [M, K]}``: the SavedModel's ``boxes`` signature, top-down inside the graph.

    Box ``m`` is COCO's ``(x, y, width, height)`` in the pixels of picture ``box_indices[m]``; it is
    enlarged 1.25x around its centre, grown to the training aspect ratio, and resampled onto the
    training frame through one affine map (bilinear, mirrored beyond the picture), as training and
    evaluation warp a box (``zoo.tasks.keypoints.geometry``); the keypoints come back through the inverse map, in
    the picture's pixels. No antialiasing: a box more than twice the training size is sampled
    sparsely (the Python runtime's ``predict_boxes`` resizes antialiased).
    """
    import tensorflow as tf

    from zoo.models.backbones import get_backbone
    from zoo.tasks.keypoints.boxes import BOX_ENLARGEMENT
    from zoo.tasks.keypoints.geometry import box_to_frame

    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])
    channels = model.inputs[0].shape[-1]

    def serve(images, boxes, box_indices):
        boxes = tf.cast(boxes, tf.float32)
        # the enlarged box (x0, y0, x1, y1) onto the frame: the training pipeline's own map (box_to_frame)
        centre, half = boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:] * (BOX_ENLARGEMENT / 2)
        regions = tf.concat([centre - half, centre + half], axis=1)
        matrices = tf.map_fn(lambda box: box_to_frame(box, (height, width)), regions)  # [M, 3, 3]
        inverse = tf.linalg.inv(matrices)  # frame -> picture, what the resampler asks for
        transforms = tf.reshape(inverse, [-1, 9])[:, :8] / inverse[:, 2:3, 2]
        pictures = tf.gather(tf.cast(images, tf.float32), box_indices)
        frames = tf.raw_ops.ImageProjectiveTransformV3(
            images=pictures,
            transforms=transforms,
            output_shape=tf.constant([height, width], tf.int32),
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="REFLECT",
        )
        x = spec.preprocess(frames)
        x = tf.reshape(x, [-1, height, width, channels])  # as in keypoint_serving_fn, for LiteRT
        heatmaps = tf.cast(model(x, training=False), tf.float32)
        if flip_index is not None:
            heatmaps = codec.flip_average(
                heatmaps, tf.cast(model(tf.reverse(x, axis=[2]), training=False), tf.float32), flip_index
            )
        frame, scores = codec.decode(heatmaps)
        homogeneous = tf.concat([frame, tf.ones_like(frame[..., :1])], axis=-1)  # [M, K, 3]
        keypoints = tf.einsum("mij,mkj->mki", inverse, homogeneous)[..., :2]
        return {"keypoints": keypoints, "scores": scores}

    return serve

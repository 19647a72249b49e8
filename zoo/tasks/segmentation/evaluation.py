"""Scoring a segmentation network on a split: the confusion matrix, mIoU and per-class figures."""

from __future__ import annotations


def evaluate(model, dataset, num_classes: int, ignore_index: int, class_names: list[str], tta=None) -> dict:
    """Confusion-matrix metrics over a finite dataset of ``(preprocessed x, labels)``: mIoU, per-class IoU,
    pixel accuracy. ``tta`` (``zoo.data.tta``): the mean probabilities over its views instead (other scales run
    an any-size copy of ``model``, which pads to its stride inside)."""
    import keras
    import tensorflow as tf

    from zoo.data.tta import parse_tta, tta_probabilities_tf
    from zoo.tasks.segmentation.losses import iou_report

    metric = keras.metrics.MeanIoU(num_classes, ignore_class=ignore_index, sparse_y_pred=False)
    tta = parse_tta(tta)
    if tta is None:
        predict = tf.function(lambda x: model(x, training=False))
    else:
        from zoo.models.copies import any_size_copy
        from zoo.tasks.segmentation.serving import network_probabilities

        run = network_probabilities(model if tta.scales == (1.0,) else any_size_copy(model))
        predict = tf.function(lambda x: tta_probabilities_tf(run, x, tta))
    for images, masks in dataset:
        metric.update_state(masks, predict(images))
    return iou_report(metric.total_cm.numpy(), class_names)

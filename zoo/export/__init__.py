"""Exports of trained models and the code that runs them.

- ``serving``: the serving computations (uint8 images of any size in; mask and
  probabilities, or keypoints, scores and heatmaps out).
- ``resize``: the antialiased resize those use, built from matrix products so that
  LiteRT and ONNX can run it.
- ``formats``: ``export_model(model, info, fmt, out)`` for SavedModel, LiteRT, ONNX
  and ``.keras``; ``metadata``: the ``model.json`` beside each export.
- ``from_run``: ``export_run(RUN_DIR, fmt)`` (``python -m zoo export``).
- ``runtime``: ``load(EXPORT)`` -> a callable predictor, whatever the format.
"""

from zoo.export.formats import FORMATS, export_model
from zoo.export.from_run import export_run, load_run
from zoo.export.metadata import info_from_config, read_metadata
from zoo.export.runtime import Predictor, load
from zoo.export.serving import keypoint_serving_fn, segmentation_serving_fn, serving_fn

__all__ = [
    "FORMATS",
    "Predictor",
    "export_model",
    "export_run",
    "info_from_config",
    "keypoint_serving_fn",
    "load",
    "load_run",
    "read_metadata",
    "segmentation_serving_fn",
    "serving_fn",
]

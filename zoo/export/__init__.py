"""Exports of trained models and the code that runs them.

- ``serving``: the serving computations (uint8 images of any size in; mask and
  probabilities, or keypoints, scores and heatmaps out).
- ``resize``: the antialiased resize those use, built from matrix products so that
  LiteRT and ONNX can run it.
- ``formats``: ``export_model(model, info, fmt, out)`` for SavedModel, LiteRT, ONNX
  and ``.keras``; ``metadata``: the ``model.json`` beside each export.
- ``from_run``: ``export_run(RUN_DIR, fmt)`` (``python -m zoo export``).
- ``runtime``: ``load(EXPORT)`` -> a callable predictor, whatever the format.

Importing this package loads nothing: each name below loads its module on first use, so
``zoo.export.runtime`` (ONNX and LiteRT exports) runs without TensorFlow.
"""

from __future__ import annotations

from zoo.utils.lazy import lazy_names

_LAZY = {
    "FORMATS": "zoo.export.metadata",
    "export_model": "zoo.export.formats",
    "export_run": "zoo.export.from_run",
    "load_run": "zoo.export.from_run",
    "info_from_config": "zoo.export.metadata",
    "read_metadata": "zoo.export.metadata",
    "Predictor": "zoo.export.runtime",
    "load": "zoo.export.runtime",
    "ExportInfo": "zoo.tasks.info",
    "serving_fn": "zoo.export.serving",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(__name__, _LAZY)

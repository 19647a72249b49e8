"""zoo: dense-prediction models (FCN, U-Net, heatmap heads) on pretrained keras.applications backbones.

Builders return uncompiled functional ``keras.Model``\\ s; see ``zoo.builders``.

``import zoo`` is light: Keras and TensorFlow load on first use of a name below (``zoo.build``,
``zoo.BACKBONES``, ...), so the runtime for ONNX and LiteRT exports (``zoo.export.runtime``,
``python -m zoo predict``) runs where TensorFlow is not installed. The custom Keras pieces
(``zoo.layers``) are registered once anything that builds a model is used, and at ``import zoo``
when Keras is already imported; in a fresh process that only loads a ``.keras`` file, write
``import zoo.layers`` before ``keras.models.load_model(path)``.
"""

from __future__ import annotations

import importlib
import sys

from zoo.lazy import lazy_names

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first access, PEP 562)
_LAZY = {
    "BACKBONES": "zoo.backbones",
    "STAGES": "zoo.backbones",
    "get_backbone": "zoo.backbones",
    "preprocess_input": "zoo.backbones",
    "BUILDERS": "zoo.builders",
    "build": "zoo.builders",
    "fcn8s": "zoo.builders",
    "fcn16s": "zoo.builders",
    "fcn32s": "zoo.builders",
    "simple_baseline": "zoo.builders",
    "unet": "zoo.builders",
    "fpn": "zoo.builders",
    "linknet": "zoo.builders",
    "pspnet": "zoo.builders",
    "deeplabv3plus": "zoo.builders",
    "unetplusplus": "zoo.builders",
    "Phase": "zoo.freezing",
    "format_schedule": "zoo.freezing",
    "freeze_encoder": "zoo.freezing",
    "parse_schedule": "zoo.freezing",
    "run_schedule": "zoo.freezing",
    "set_trainable": "zoo.freezing",
    "trainable_parts": "zoo.freezing",
    "WeightsUnavailableError": "zoo.weights",
    "class_maps": "zoo.classifier_maps",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


if "keras" in sys.modules:  # Keras is loaded anyway: register the custom pieces for keras.models.load_model
    importlib.import_module("zoo.layers")

"""zoo: dense-prediction models (FCN, U-Net, heatmap heads) on pretrained keras.applications backbones.

Builders return uncompiled functional ``keras.Model``\\ s; the table of them is ``zoo.models.registry``.

``import zoo`` is light: Keras and TensorFlow load on first use of a name below (``zoo.build``,
``zoo.BACKBONES``, ...), so the runtime for ONNX and LiteRT exports (``zoo.export.runtime``,
``python -m zoo predict``) runs where TensorFlow is not installed. The custom Keras pieces
(``zoo.models.layers``) are registered once anything that builds a model is used, and at ``import zoo``
when Keras is already imported; in a fresh process that only loads a ``.keras`` file, write
``import zoo.models.layers`` before ``keras.models.load_model(path)`` (and ``import zoo.models.hub_layers`` for
a model on a keras-hub encoder, ``keras_hub:...``).
"""

from __future__ import annotations

import importlib
import sys

from zoo.models.registry import MODELS
from zoo.utils.lazy import lazy_names
from zoo.utils.versions import VERSION

# public name -> the module that defines it (imported on first access, PEP 562); every builder of the
# model table (zoo.models.registry) is one
_LAZY = {
    "BACKBONES": "zoo.models.backbones",
    "STAGES": "zoo.models.backbones",
    "get_backbone": "zoo.models.backbones",
    "preprocess_input": "zoo.models.backbones",
    "BUILDERS": "zoo.models.registry",
    "build": "zoo.models.registry",
    **{entry.name: entry.module for entry in MODELS},
    "Phase": "zoo.models.freezing",
    "format_schedule": "zoo.models.freezing",
    "freeze_encoder": "zoo.models.freezing",
    "parse_schedule": "zoo.models.freezing",
    "run_schedule": "zoo.models.freezing",
    "set_trainable": "zoo.models.freezing",
    "trainable_parts": "zoo.models.freezing",
    "WeightsUnavailableError": "zoo.models.weights",
    "class_maps": "zoo.models.class_maps",
}

__version__ = VERSION
__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


if "keras" in sys.modules:  # Keras is loaded anyway: register the custom pieces for keras.models.load_model
    importlib.import_module("zoo.models.layers")
if "keras_hub" in sys.modules:  # and keras-hub: the layers of its encoders too (zoo.models.hub_layers)
    importlib.import_module("zoo.models.hub_layers")

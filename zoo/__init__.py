"""zoo: dense-prediction models (FCN, U-Net, heatmap heads) on pretrained VGG16/ResNet50.

Builders return uncompiled functional ``keras.Model``\\ s; see ``zoo.builders``.
Importing ``zoo`` registers its custom Keras pieces, so ``.keras`` files load with
``keras.models.load_model(path)``.
"""

from zoo.backbones import BACKBONES, STAGES, get_backbone, preprocess_input
from zoo.builders import BUILDERS, build, fcn8s, fcn16s, fcn32s, simple_baseline, unet
from zoo.freezing import (
    Phase,
    format_schedule,
    freeze_encoder,
    parse_schedule,
    run_schedule,
    set_trainable,
    trainable_parts,
)
from zoo.weights import WeightsUnavailableError

__version__ = "0.1.0"

__all__ = [
    "BACKBONES",
    "BUILDERS",
    "STAGES",
    "Phase",
    "WeightsUnavailableError",
    "build",
    "fcn8s",
    "fcn16s",
    "fcn32s",
    "format_schedule",
    "freeze_encoder",
    "get_backbone",
    "parse_schedule",
    "preprocess_input",
    "run_schedule",
    "set_trainable",
    "simple_baseline",
    "trainable_parts",
    "unet",
]

"""The one table of models: every builder by name, with what the recipes, ``python -m zoo models``, the lazy
names of ``zoo`` and the checks need to know about it. Importing it loads no Keras.

Adding a decoder is its module in ``zoo/models/decoders/`` (the decoder and its builder) and one line here
(docs/architecture.md, "How to add a decoder").
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping

SEGMENTATION, KEYPOINTS = "segmentation", "keypoints"  # zoo.tasks names: the recipes that offer a model


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One builder.

    Attributes:
        name: the builder's name: ``zoo.<name>``, ``zoo.build(name)``, ``--model name``, ``resolved.network``.
        module: the module that defines the function ``name``.
        tasks: the tasks whose recipe offers it as ``--model`` (empty: built through another flag, as the
            SimCC head through ``--head simcc``).
        outputs: the argument that counts its output channels: ``num_classes`` or ``num_keypoints``.
        output_stride: it takes ``output_stride`` (8 or 16 run a dilated encoder).
        dilated_default: ``output_stride=None`` means 16 on backbones that dilate (DeepLabV3+), else 32.
        fixed_size: it needs a fixed input height and width.
    """

    name: str
    module: str
    tasks: tuple[str, ...]
    outputs: str = "num_classes"
    output_stride: bool = False
    dilated_default: bool = False
    fixed_size: bool = False

    @property
    def builder(self) -> Callable:
        """The builder function (imports its module, and Keras, on first use)."""

        return getattr(importlib.import_module(self.module), self.name)


_DECODERS = "zoo.models.decoders"
MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("fcn32s", f"{_DECODERS}.fcn", (SEGMENTATION,)),
    ModelEntry("fcn16s", f"{_DECODERS}.fcn", (SEGMENTATION,)),
    ModelEntry("fcn8s", f"{_DECODERS}.fcn", (SEGMENTATION,)),
    ModelEntry("unet", f"{_DECODERS}.unet", (SEGMENTATION, KEYPOINTS)),
    ModelEntry("fpn", f"{_DECODERS}.fpn", (SEGMENTATION,)),
    ModelEntry("linknet", f"{_DECODERS}.linknet", (SEGMENTATION,)),
    ModelEntry("pspnet", f"{_DECODERS}.pspnet", (SEGMENTATION,), output_stride=True),
    ModelEntry("deeplabv3plus", f"{_DECODERS}.deeplab", (SEGMENTATION,), output_stride=True, dilated_default=True),
    ModelEntry("unetplusplus", f"{_DECODERS}.unetplusplus", (SEGMENTATION,)),
    ModelEntry("upernet", f"{_DECODERS}.upernet", (SEGMENTATION,)),
    ModelEntry("segformer", f"{_DECODERS}.segformer", (SEGMENTATION,)),
    ModelEntry("simple_baseline", f"{_DECODERS}.heatmap", (KEYPOINTS,), outputs="num_keypoints"),
    ModelEntry("simcc", f"{_DECODERS}.simcc", (), outputs="num_keypoints", fixed_size=True),
)
_BY_NAME = {entry.name: entry for entry in MODELS}


def model_entry(name: str) -> ModelEntry:
    """The entry of builder ``name`` (case-insensitive); ValueError naming the known ones otherwise."""
    entry = _BY_NAME.get(str(name).lower())
    if entry is None:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(_BY_NAME)}")
    return entry


def model_choices(task: str) -> tuple[str, ...]:
    """The ``--model`` choices of ``task``'s recipe, in table order."""
    return tuple(entry.name for entry in MODELS if task in entry.tasks)


def default_output_stride(builder: str, backbone: str) -> int:
    """What ``output_stride=None`` means for ``builder`` on ``backbone``: 16 for a ``dilated_default`` builder
    (DeepLabV3+, the paper's) where the backbone's last stages can dilate, every other case 32."""
    from zoo.models.backbones import get_backbone

    return 16 if model_entry(builder).dilated_default and get_backbone(backbone).dilatable else 32


class _Builders(Mapping):
    """``name -> builder function`` over ``MODELS``; each module is imported when its builder is asked for."""

    def __getitem__(self, name: str) -> Callable:
        if name not in _BY_NAME:
            raise KeyError(name)
        return _BY_NAME[name].builder

    def __iter__(self) -> Iterator[str]:
        return iter(_BY_NAME)

    def __len__(self) -> int:
        return len(_BY_NAME)


BUILDERS: Mapping[str, Callable] = _Builders()


def build(name: str, **kwargs):
    """Builds a model by registry name (``zoo.BUILDERS``), passing ``kwargs`` to its builder."""
    return model_entry(name).builder(**kwargs)

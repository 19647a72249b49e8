"""The keypoint codecs, one per head: how keypoints become the network's targets and its answers become
keypoints again. Importing this module loads no TensorFlow (each codec's module does, when asked for).

A codec is a frozen dataclass with ``head``, ``output_name`` and ``decodings`` (class attributes),
``from_settings(settings, input_size)`` and ``from_info(fields, input_size)`` (class methods), and
``network(model, backbone, num_keypoints, input_shape)`` (a ``NetworkSpec``), ``loss()``, ``encode``,
``decode``, ``flip_average``, ``describe``, ``describe_outputs(num_keypoints)`` and ``to_info`` (the fields
``model.json`` keeps, ``head`` among them). Adding a codec is its module and one line of ``HEADS``
(docs/architecture.md, "How to add a codec").
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

# The heatmap codec's choices, named here so that the recipe's flags need no TensorFlow (``--help``)
DECODINGS = ("argmax", "dark", "soft-argmax")  # the peak decoding methods (network decoders are zoo.models.decoders)
GRIDS = ("msra", "udp")  # how heatmap pixels sit on the image (zoo.tasks.keypoints.heatmap_codec's docstring)
STRIDES = (1, 2, 4, 8, 16, 32)  # heatmap strides a network can produce (input pixels per heatmap pixel)

# --head NAME -> "module:class"
HEADS = {
    "heatmap": "zoo.tasks.keypoints.heatmap_codec:HeatmapCodec",
    "simcc": "zoo.tasks.keypoints.simcc_codec:SimccCodec",
}


def codec_class(head: str):
    """The codec class of ``head``; ValueError naming the heads otherwise."""
    if head not in HEADS:
        raise ValueError(f"--head {head!r}: choose one of {', '.join(HEADS)}")
    module, name = HEADS[head].split(":")
    return getattr(importlib.import_module(module), name)


def codec_from_settings(settings, input_size: tuple[int, int] = (32, 32)):
    """The codec a recipe's settings ask for (``--head`` and the codec's own flags) at ``input_size``;
    ValueError naming the flags that do not go together."""
    return codec_class(settings.head).from_settings(settings, tuple(int(v) for v in input_size))


def codec_from_info(fields: Mapping, input_size: tuple[int, int]):
    """The codec an export's or run's fields describe (``head``; exports before it: ``heatmap``)."""
    return codec_class(fields.get("head", "heatmap")).from_info(fields, tuple(int(v) for v in input_size))

"""The protocol every task implements, and what the tasks share.

A task answers, for a trained network and its ``info`` (the ``model.json`` fields):
which fields ``model.json`` must hold, what the serving function computes and
returns, how the outputs are described, and how ``python -m zoo predict`` writes
them. The network itself is described by a ``NetworkSpec`` (builder name and
arguments) that a run stores, so rebuilding it needs no recipe settings.

This module imports neither Keras nor TensorFlow: ``predict``'s writers and the
metadata checks run without them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np


# Builder arguments whose default changed: a stored spec written before without them gets the value that was in
# effect then, so an older run rebuilds as it was trained (DeepLabV3+ ran at output stride 32 before dilated encoders).
EARLIER_DEFAULTS = {"deeplabv3plus": {"output_stride": 32}}


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """How to rebuild a network: ``zoo.build(builder, **kwargs)`` (JSON-able, stored in a run's
    ``config.json`` as ``resolved.network``). ``encoder_weights`` is not part of it."""

    builder: str
    kwargs: dict

    def to_json(self) -> dict:
        return {"builder": self.builder, "kwargs": _jsonable(self.kwargs)}

    @classmethod
    def from_json(cls, data: dict) -> "NetworkSpec":
        if not isinstance(data, dict) or "builder" not in data or not isinstance(data.get("kwargs"), dict):
            raise ValueError(f"config.json: resolved.network {data!r} is not {{'builder': NAME, 'kwargs': {{...}}}}")
        kwargs = {**EARLIER_DEFAULTS.get(str(data["builder"]), {}), **data["kwargs"]}
        if "input_shape" in kwargs:
            kwargs["input_shape"] = tuple(kwargs["input_shape"])
        return cls(str(data["builder"]), kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def build_network(spec: NetworkSpec, encoder_weights=None):
    """The Keras model ``spec`` describes, with ``encoder_weights`` (None: random)."""
    from zoo.builders import build

    return build(spec.builder, **spec.kwargs, encoder_weights=encoder_weights)


class PredictionWriter(Protocol):
    """Writes one task's results for ``python -m zoo predict``."""

    def write(self, path: Path, stem: str, image: np.ndarray, outputs: dict, index: int) -> dict:
        """Writes the files for image ``index`` of ``outputs``; returns its entry in predictions.json."""

    def finish(self, report: dict) -> None:
        """Adds the task's fields to ``report`` (predictions.json) and writes any file of all images."""


class Task(Protocol):
    """One dense-prediction task (``zoo.tasks.TASKS``)."""

    name: str  # the ``task`` field of model.json
    label_field: str  # the model.json field that names the outputs' channels ("classes", "keypoint_names")
    serving_outputs: tuple[str, ...]  # what its serving function returns, at least
    network_output: str  # the bare network's output name in a .keras export's model.json
    per_pixel: bool  # answers with probabilities per pixel at the picture's size: native-scale tiles and flip TTA apply
    extra_signatures: tuple[str, ...]  # the SavedModel's signatures beside serving_default

    def saved_model_signatures(self, model, info: dict) -> dict:
        """``extra_signatures``' name -> (function, input signature), for the SavedModel export."""

    def info_from_run(self, settings: dict, resolved: dict) -> dict | None:
        """The task's model.json fields for a run of this task (None: the run is of another task)."""

    def legacy_network(self, info: dict) -> NetworkSpec:
        """The network of a run written before runs stored ``resolved.network``."""

    def serving_fn(self, model, info: dict) -> Callable:
        """``fn(images uint8 [B, h, w, C]) -> dict`` of tensors: what every export computes."""

    def describe_outputs(self, info: dict) -> dict:
        """model.json ``outputs``: name -> dtype, shape and meaning."""

    def prediction_writer(self, info: dict, out: Path, min_score: float) -> PredictionWriter:
        """The writer ``python -m zoo predict`` uses for this task."""


def palette(num_classes: int) -> np.ndarray:
    """uint8 ``[max(num_classes, 1), 3]`` colours: class 0 black, then well-separated hues."""
    import colorsys

    colours = [(0, 0, 0)]
    for k in range(1, max(num_classes, 1)):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.85, 1.0)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return np.array(colours, np.uint8)


def rgb(image: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` from a 1-, 3- or 4-channel image (gray repeated, alpha dropped)."""
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]

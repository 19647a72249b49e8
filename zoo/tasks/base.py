"""The protocol every task implements, the records it is handed, and what the tasks share.

A task answers, for a trained network and its ``zoo.tasks.info.ExportInfo`` (what ``model.json`` holds): which fields
``model.json`` keeps for it, what its serving functions compute, how a loaded export runs beyond its
``serving_default`` (pictures at their own scale, test-time augmentation, boxes), and how
``python -m zoo predict`` writes the answers. The network itself is a ``NetworkSpec`` (builder name and
arguments) that a run stores, so rebuilding it needs no recipe settings.

This module imports neither Keras nor TensorFlow: ``predict``'s writers, the runtimes of ONNX and LiteRT
exports and the ``model.json`` checks run without them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# Builder arguments whose default changed: a stored spec written before without them gets the value that was in
# effect then, so an older run rebuilds as it was trained (DeepLabV3+ ran at output stride 32 before dilated encoders).
EARLIER_DEFAULTS = {"deeplabv3plus": {"output_stride": 32}}


def check_pictures(images: np.ndarray) -> None:
    """Refuses, in one line, a batch ``[B, h, w, C]`` a network cannot answer: no picture (B = 0), or pictures
    without pixels (h or w = 0), which the runtimes would meet with an error of their own. ``Predictor`` calls
    it for every task; a task's own entry points called directly (keypoints' ``run``, ``predict_boxes``) too."""
    shape = tuple(int(v) for v in np.shape(images))
    fix = "give at least one picture of at least 1x1 pixels ([batch >= 1, height >= 1, width >= 1, channels])"
    if len(shape) == 4 and shape[0] == 0:
        raise ValueError(f"images {list(shape)} holds no picture (batch 0): {fix}")
    if len(shape) >= 3 and min(shape[-3:-1]) < 1:
        raise ValueError(
            f"images {list(shape)}: pictures of {shape[-3]} x {shape[-2]} pixels have nothing to look at: {fix}"
        )


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """How to rebuild a network: ``zoo.build(builder, **kwargs)`` (JSON-able, stored in a run's
    ``config.json`` as ``resolved.network``). ``encoder_weights`` is not part of it."""

    builder: str
    kwargs: dict

    def to_json(self) -> dict:
        return {"builder": self.builder, "kwargs": _jsonable(self.kwargs)}

    @classmethod
    def from_json(cls, data: dict) -> NetworkSpec:
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
    from zoo.models.registry import build

    return build(spec.builder, **spec.kwargs, encoder_weights=encoder_weights)


# ---- model.json -------------------------------------------------------------------------------------------------

# model.json: the fields every export has (zoo.tasks.info.ExportInfo); a task's own come beside them.
# Fields an export writes about itself for people and tools; kept as they are, never read back by the runtimes.
DESCRIPTIVE_FIELDS = ("preprocessing", "inputs", "outputs", "versions", "source", "onnx_opset")
EXPORT_FIELDS = ("format", "file", "signatures", "tta")
COMMON_FIELDS = ("task", "model", "backbone", "input_size", "channels")


def require(data: dict, names: tuple[str, ...], where) -> None:
    """Refuses a ``model.json`` without the task's ``names`` (ValueError naming them)."""
    missing = [k for k in names if k not in data]
    if missing:
        raise ValueError(
            f"{where} is not a model.json written by `python -m zoo export` (missing "
            f"{', '.join(missing)}); export the run again"
        )


# ---- python -m zoo predict --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PredictOptions:
    """What ``python -m zoo predict`` was asked, whatever the task: each task takes what applies to it
    (``Task.call_options``) and refuses the rest, naming the flag.

    Attributes:
        min_score: keypoints scored below it are drawn hollow.
        scale, tile, overlap: how a picture meets a per-pixel network (``resize`` or ``native`` tiles).
        tta: test-time augmentation mode (``zoo.data.tta``), or None.
        save_probabilities: also write the probabilities in this format, or None.
        boxes: a JSON file of boxes to look at, one object each, or None.
        box_category, min_box_score, annotations: which boxes of ``boxes`` count, and the file that names
            their pictures (``zoo.tasks.keypoints.boxes.read_boxes``).
    """

    min_score: float = 0.1
    scale: str | None = None
    tile: int | None = None
    overlap: float = 0.25
    tta: str | None = None
    save_probabilities: str | None = None
    boxes: str | os.PathLike | None = None
    box_category: str | None = None  # keep the boxes of this category (name or id)
    min_box_score: float = 0.0  # keep the boxes scored at least this
    annotations: str | os.PathLike | None = None  # a COCO file mapping detections' image_id to file names


class PredictionWriter(Protocol):
    """Writes one task's results for ``python -m zoo predict``."""

    def write(self, path: Path, stem: str, image: np.ndarray, outputs: dict, index: int) -> dict:
        """Writes the files for image ``index`` of ``outputs``; returns its entry in predictions.json."""

    def write_objects(
        self,
        path: Path,
        stem: str,
        image: np.ndarray,
        outputs: dict,
        boxes: np.ndarray,
        box_scores: np.ndarray,
        image_id,
    ) -> dict:
        """Writes one picture's objects (one per box, ``Task.predict_boxes``); returns its entry."""

    def finish(self, report: dict) -> None:
        """Adds the task's fields to ``report`` (predictions.json) and writes any file of all images."""


class Task(Protocol):
    """One dense-prediction task (``zoo.tasks.TASKS``): a package ``zoo/tasks/<name>/`` whose ``TASK`` this is."""

    name: str  # the ``task`` field of model.json
    recipe: str  # its recipe: ``python -m recipes.<recipe>``
    serving_outputs: tuple[str, ...]  # what its serving function returns, at least
    network_output: str  # the bare network's output name in a .keras export's model.json
    extra_signatures: tuple[str, ...]  # the SavedModel's signatures beside serving_default
    sample_kinds: Mapping[str, str]  # ``python -m zoo sample-data`` kinds it writes -> what they are

    # model.json
    def info_from_run(self, settings: dict, resolved: dict) -> Any | None:
        """The task's fields record for a run of this task (None: the run is of another task)."""

    def fields_from_json(self, data: dict, where) -> Any:
        """The task's fields record from a ``model.json`` object; ValueError naming what is missing."""

    def legacy_network(self, info) -> NetworkSpec:
        """The network of a run written before runs stored ``resolved.network``."""

    def describe_outputs(self, info) -> dict:
        """model.json ``outputs``: name -> dtype, shape and meaning."""

    def with_tta(self, info, tta) -> object:
        """``info`` with test-time augmentation ``tta`` (a ``zoo.data.tta.TTA``) baked into its serving
        functions; ValueError for a mode the task cannot take."""

    # the model card (optional: zoo.export.card lists the task's fields and numbers where a task has none)
    def card_sections(self, info, metrics: dict) -> dict:
        """``{"pipeline_tag": str, "what": [...], "contract": [...], "metrics": [...], "limitations": [...]}``:
        Markdown lines of the export's ``README.md`` for what the network predicts, the input contract's task
        lines, the validation table from the run's ``metrics`` ({} if unknown) and task-specific limitations."""

    # what the exports compute (TensorFlow)
    def serving_fn(self, model, info) -> Callable:
        """``fn(images uint8 [B, h, w, C]) -> dict`` of tensors: what every export computes."""

    def saved_model_signatures(self, model, info) -> dict:
        """``extra_signatures``' name -> (function, input signature), for the SavedModel export."""

    def export_agreement(self, expected: dict, got: dict) -> tuple[bool, str]:
        """Whether an export's answers ``got`` agree with the Keras model's ``expected`` for the same pictures
        (``zoo.export.verify``), within the task's tolerance, and the figure in words."""

    # running a loaded export (NumPy; no TensorFlow)
    def call_options(self, options: PredictOptions, info=None) -> dict:
        """The keyword arguments of ``Task.run`` for ``options`` on the export ``info`` describes (None: any);
        ValueError naming a flag that does not apply to this task, or a value it cannot take: ``predict``
        asks before it reads a picture. A task may take ``options`` alone (tasks written before ``info`` was
        passed)."""

    def run(self, predictor, images: np.ndarray, **options) -> dict:
        """``predictor``'s answers for uint8 ``images [B, h, w, C]`` with ``options`` (``call_options``'):
        at another scale, in tiles, with test-time augmentation."""

    def predict_boxes(self, predictor, image: np.ndarray, boxes: np.ndarray, tta=None) -> dict:
        """One object per box ``[N, 4]`` (x, y, w, h) of one picture; ValueError where boxes mean nothing."""

    def read_boxes(self, options: PredictOptions):
        """``predict --boxes FILE``: the boxes file of ``options`` (with ``lookup(path, stem)``); ValueError if not
        applicable."""

    def predict_warning(self, info, options: PredictOptions) -> str | None:
        """A warning for how ``options`` meet this export (e.g. whole pictures for a box-trained one)."""

    def prediction_writer(self, info, out: Path, options: PredictOptions) -> PredictionWriter:
        """The writer ``python -m zoo predict`` uses for this task."""

    # python -m zoo sample-data
    def write_samples(self, kind: str, folder: str | os.PathLike, **options) -> Path:
        """Writes sample set ``kind`` (one of ``sample_kinds``) as a folder dataset; returns the folder."""

    def sample_dataset(self, kind: str, folder: str | os.PathLike) -> str:
        """The ``--dataset`` that reads sample set ``kind`` written to ``folder`` (``folder:DIR``, ``mmseg:DIR``...)."""


def card_number(value: float | None, digits: int = 3) -> str:
    """A figure in a model card's table (``Task.card_sections``): ``digits`` decimals, ``-`` where undefined."""
    return "-" if value is None else f"{value:.{digits}f}"


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

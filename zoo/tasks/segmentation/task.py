"""The segmentation task (``zoo.tasks.base.Task``): its ``model.json`` fields, its serving functions and
signatures, how a loaded export runs (``runtime``), what ``predict`` writes (``writer``) and its sample sets.

Importing this module loads neither Keras nor TensorFlow (the serving functions import them when called).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from zoo.tasks.base import NetworkSpec, PredictOptions, require
from zoo.tasks.info import ExportInfo
from zoo.tasks.segmentation.runtime import SCALES

MASK_AGREEMENT = 0.99  # an export's mask against the Keras model's: the share of pixels that must agree


@dataclasses.dataclass(frozen=True)
class SegmentationFields:
    """A segmentation export's own ``model.json`` fields.

    Attributes:
        classes: the class names, index order.
        scale: how ``predict`` meets a picture by default: ``resize`` (the picture resized to the training
            size, as trained on whole pictures) or ``native`` (at its own scale in tiles, as trained on crops).
        class_colours: ``[r, g, b]`` per class when trained on colour masks (predicted masks use them), or None.
    """

    classes: tuple[str, ...]
    scale: str = "resize"
    class_colours: tuple[tuple[int, int, int], ...] | None = None

    def to_json(self) -> dict:
        data = {"classes": list(self.classes), "scale": self.scale}
        if self.class_colours:
            data["class_colours"] = [list(c) for c in self.class_colours]
        return data


@dataclasses.dataclass(frozen=True)
class SegmentationTask:
    """The segmentation task (``zoo.tasks.base.Task``)."""

    name: str = "segmentation"
    recipe: str = "segment"
    serving_outputs: tuple[str, ...] = ("mask", "probabilities")
    network_output: str = "scores"
    extra_signatures: tuple[str, ...] = ("native",)

    @property
    def sample_kinds(self) -> dict[str, str]:
        from zoo.tasks.segmentation.samples import SAMPLE_KINDS

        return SAMPLE_KINDS

    # ---- the model card (zoo.export.card)
    def card_sections(self, info, metrics: dict) -> dict:
        """The task's lines of an export's ``README.md`` (``zoo.tasks.segmentation.card``)."""
        from zoo.tasks.segmentation.card import card_sections

        return card_sections(info, metrics)

    # ---- model.json
    def info_from_run(self, settings: dict, resolved: dict) -> SegmentationFields | None:
        if "class_names" not in resolved:
            return None
        # how a picture meets the network by default: runs trained on whole pictures resized to the input size
        # answer best on pictures resized the same way, runs trained on crops at the pictures' own scale on
        # pictures at their own scale
        colours = resolved.get("class_colours")  # trained on colour masks: predicted masks in the same colours
        return SegmentationFields(
            tuple(resolved["class_names"]),
            "native" if settings.get("train_crop") else "resize",
            tuple(tuple(int(v) for v in c) for c in colours) if colours else None,
        )

    def fields_from_json(self, data: dict, where) -> SegmentationFields:
        require(data, ("classes",), where)
        classes, scale, colours = data["classes"], data.get("scale", "resize"), data.get("class_colours")
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"{where}: classes {classes!r} is not a list of class names; export the run again")
        if scale not in SCALES:
            raise ValueError(f"{where}: scale {scale!r} is not one of {SCALES}; export the run again")
        if colours is not None and (
            len(colours) != len(classes) or not all(isinstance(c, list) and len(c) == 3 for c in colours)
        ):
            raise ValueError(f"{where}: class_colours needs one [r, g, b] per class; export the run again")
        return SegmentationFields(tuple(classes), scale, tuple(tuple(c) for c in colours) if colours else None)

    def legacy_network(self, info: ExportInfo) -> NetworkSpec:
        return NetworkSpec(
            info.model,
            {
                "backbone": info.backbone,
                "num_classes": len(info.fields.classes),
                "input_shape": (*info.input_size, info.channels),
            },
        )

    def describe_outputs(self, info: ExportInfo) -> dict:
        return {
            "mask": "int32 [batch, height, width]: class index per pixel (argmax)",
            "probabilities": f"float32 [batch, height, width, {len(info.fields.classes)}]: softmax per pixel",
        }

    def with_tta(self, info: ExportInfo, tta) -> ExportInfo:
        return info.replace(tta=str(tta))  # every mode: flips and scales are views of a per-pixel answer

    # ---- what the exports compute
    def serving_fn(self, model, info: ExportInfo):
        from zoo.tasks.segmentation.serving import segmentation_serving_fn

        return segmentation_serving_fn(model, info.input_size, info.backbone, tta=info.tta)

    def saved_model_signatures(self, model, info: ExportInfo) -> dict:
        """The ``native`` signature (``segmentation_native_fn``): the network at the pictures' own scale."""
        import tensorflow as tf

        from zoo.models.copies import any_size_copy
        from zoo.tasks.segmentation.serving import segmentation_native_fn

        images = [tf.TensorSpec([None, None, None, info.channels], tf.uint8, name="images")]
        return {"native": (segmentation_native_fn(any_size_copy(model), info.backbone, tta=info.tta), images)}

    def export_agreement(self, expected: dict, got: dict) -> tuple[bool, str]:
        """The share of pixels whose class agrees, at least ``MASK_AGREEMENT`` (0.99): float round-off may flip
        a pixel where two classes tie, quantization a few more."""
        import numpy as np

        if np.shape(got["mask"]) != np.shape(expected["mask"]):
            return False, f"mask shape {list(np.shape(got['mask']))}, not {list(np.shape(expected['mask']))}"
        share = float(np.mean(np.asarray(got["mask"]) == np.asarray(expected["mask"])))
        return share >= MASK_AGREEMENT, f"mask agrees on {share:.4f} of pixels"

    # ---- running a loaded export
    def call_options(self, options: PredictOptions, info: ExportInfo | None = None) -> dict:
        from zoo.data.tiling import check_tile, overlap_pixels
        from zoo.tasks.segmentation.runtime import SCALES, native_tile

        if options.boxes is not None:
            raise ValueError("--boxes is for keypoint exports; a segmentation export answers every pixel")
        if options.scale is not None and options.scale not in SCALES:
            raise ValueError(f"--scale {options.scale!r}: choose one of {SCALES}")
        try:  # before any picture is read, with the flags' names
            tile = None if options.tile is None else check_tile(options.tile)
            if tile is None and info is not None:
                tile = native_tile(info)
            overlap_pixels(options.overlap, tile or (2**31, 2**31))
        except ValueError as err:
            raise ValueError(f"--{err}") from None
        # probabilities kept only when written: a native map can be large
        return {
            "scale": options.scale,
            "tile": options.tile,
            "overlap": options.overlap,
            "tta": options.tta,
            "probabilities": options.save_probabilities,
        }

    def run(self, predictor, images, **options):
        from zoo.tasks.segmentation.runtime import run

        return run(predictor, images, **options)

    def predict_boxes(self, predictor, image, boxes, tta=None):
        raise ValueError("boxes are for keypoint exports; a segmentation export answers every pixel")

    def read_boxes(self, options: PredictOptions):
        raise ValueError("--boxes is for keypoint exports; a segmentation export answers every pixel")

    def predict_warning(self, info: ExportInfo, options: PredictOptions) -> str | None:
        return None

    def prediction_writer(self, info: ExportInfo, out: Path, options: PredictOptions):
        from zoo.tasks.segmentation.writer import SegmentationWriter

        return SegmentationWriter(info, Path(out), options.save_probabilities)

    # ---- python -m zoo sample-data
    def write_samples(self, kind: str, folder: str | os.PathLike, **options) -> Path:
        from zoo.tasks.segmentation.samples import write_samples

        return write_samples(kind, folder, **options)

    def sample_dataset(self, kind: str, folder: str | os.PathLike) -> str:
        from zoo.tasks.segmentation.samples import sample_dataset

        return sample_dataset(kind, folder)


TASK = SegmentationTask()

"""The keypoint task (``zoo.tasks.base.Task``): its ``model.json`` fields, its serving functions and
signatures (``serving``), how a loaded export runs (``runtime``: flip test, one object per box), what
``predict`` writes (``writer``) and its sample sets. The codec of the export (``codecs``) reads the network's
answer.

Importing this module loads neither Keras nor TensorFlow (the serving functions import them when called).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from zoo.models.registry import KEYPOINTS, model_choices
from zoo.tasks.base import NetworkSpec, PredictOptions, require
from zoo.tasks.info import ExportInfo

KEYPOINT_MODELS = model_choices(KEYPOINTS)  # --model
REGIONS = ("box", "image")  # what a model looks at: each object's box, or the whole picture
KEYPOINT_AGREEMENT_PX = 0.05  # an export's keypoints against the Keras model's: the largest difference, pixels
OWN_FIELDS = ("keypoint_names", "flip_index", "flip_test", "region", "skeleton")


@dataclasses.dataclass(frozen=True)
class KeypointFields:
    """A keypoint export's own ``model.json`` fields.

    Attributes:
        keypoint_names: K names, output order.
        flip_index: keypoint k of a mirrored picture is keypoint ``flip_index[k]`` (left/right swapped).
        codec: the codec's own fields (``head``, and e.g. ``heatmap_stride``, ``sigma``, ``decode``, ``codec``;
            ``zoo.tasks.keypoints.codecs``), kept as they are written.
        flip_test: the serving functions average the mirrored picture's answer in.
        region: ``box`` (trained on each object's box enlarged 1.25x: give it boxes) or ``image``.
        skeleton: 0-based keypoint pairs (drawn by ``predict``).
    """

    keypoint_names: tuple[str, ...]
    flip_index: tuple[int, ...]
    codec: Mapping
    flip_test: bool = False
    region: str = "image"
    skeleton: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> dict:
        return {
            "keypoint_names": list(self.keypoint_names),
            "flip_index": list(self.flip_index),
            **self.codec,
            "flip_test": self.flip_test,
            "region": self.region,
            "skeleton": [list(p) for p in self.skeleton],
        }

    def codec_for(self, input_size: tuple[int, int]):
        """The codec object (TensorFlow) that reads the network's answer at ``input_size``."""
        from zoo.tasks.keypoints.codecs import codec_from_info

        return codec_from_info(self.codec, input_size)


@dataclasses.dataclass(frozen=True)
class KeypointTask:
    """The keypoint task (``zoo.tasks.base.Task``)."""

    name: str = "keypoints"
    recipe: str = "pose"
    serving_outputs: tuple[str, ...] = ("keypoints", "scores")
    network_output: str = "heatmaps"
    extra_signatures: tuple[str, ...] = ("boxes",)

    @property
    def sample_kinds(self) -> dict[str, str]:
        from zoo.tasks.keypoints.samples import SAMPLE_KINDS

        return SAMPLE_KINDS

    # ---- the model card (zoo.export.card)
    def card_sections(self, info, metrics: dict) -> dict:
        """The task's lines of an export's ``README.md`` (``zoo.tasks.keypoints.card``)."""
        from zoo.tasks.keypoints.card import card_sections

        return card_sections(info, metrics)

    # ---- model.json
    def info_from_run(self, settings: dict, resolved: dict) -> KeypointFields | None:
        if "keypoint_names" not in resolved:
            return None
        from zoo.tasks.keypoints.codecs import codec_from_info

        # the codec's fields as the run resolved them (runs written before some were resolved: the settings')
        given = {
            "sigma": settings.get("sigma", 2.0),
            "decode": settings.get("decode", "dark"),
            "codec": settings.get("codec", "msra"),
            **resolved,
        }
        codec = codec_from_info(given, resolved["input_size"]).to_info()
        return KeypointFields(
            tuple(resolved["keypoint_names"]),
            tuple(int(i) for i in resolved["flip_index"]),
            codec,
            bool(settings.get("flip_test", False)),
            resolved.get("region", "image"),
            tuple(tuple(p) for p in resolved.get("skeleton", [])),
        )

    def fields_from_json(self, data: dict, where) -> KeypointFields:
        require(data, ("keypoint_names", "flip_index"), where)
        names, flip = data["keypoint_names"], data["flip_index"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{where}: keypoint_names {names!r} is not a list of names; export the run again")
        if sorted(flip) != list(range(len(names))):
            raise ValueError(
                f"{where}: flip_index {flip!r} is not a permutation of the {len(names)} keypoints; export the run again"
            )
        region = data.get("region", "image")
        if region not in REGIONS:
            raise ValueError(f"{where}: region {region!r} is not one of {REGIONS}; export the run again")
        from zoo.tasks.base import COMMON_FIELDS, DESCRIPTIVE_FIELDS, EXPORT_FIELDS

        taken = set(OWN_FIELDS) | set(COMMON_FIELDS) | set(DESCRIPTIVE_FIELDS) | set(EXPORT_FIELDS)
        codec = {k: v for k, v in data.items() if k not in taken}  # the codec's own (its module reads them)
        if "heatmap_stride" not in codec:
            raise ValueError(
                f"{where} is not a model.json written by `python -m zoo export` (missing heatmap_stride)"
                "; export the run again"
            )
        return KeypointFields(
            tuple(names),
            tuple(int(i) for i in flip),
            codec,
            bool(data.get("flip_test", False)),
            region,
            tuple(tuple(p) for p in data.get("skeleton", [])),
        )

    def legacy_network(self, info: ExportInfo) -> NetworkSpec:
        codec = info.fields.codec_for(info.input_size)
        return codec.network(
            info.model, info.backbone, len(info.fields.keypoint_names), (*info.input_size, info.channels)
        )

    def describe_outputs(self, info: ExportInfo) -> dict:
        k = len(info.fields.keypoint_names)
        return {
            "keypoints": f"float32 [batch, {k}, 2]: (x, y) in the input image's pixels, centre of the top-left "
            "pixel at (0, 0)",
            **info.fields.codec_for(info.input_size).describe_outputs(k, info.input_size),
        }

    def with_tta(self, info: ExportInfo, tta) -> ExportInfo:
        """Keypoint exports take ``flip`` only: the flip test (left/right keypoints swapped, answers averaged)."""
        if tta.scales != (1.0,):
            raise ValueError(
                f"--tta {tta}: a {self.name} export takes flip only (left/right keypoints swapped, "
                "heatmaps averaged); multi-scale views are for segmentation"
            )
        return info.replace(tta=str(tta), fields=dataclasses.replace(info.fields, flip_test=True))

    # ---- what the exports compute
    def serving_fn(self, model, info: ExportInfo):
        from zoo.tasks.keypoints.serving import keypoint_serving_fn

        fields = info.fields
        return keypoint_serving_fn(
            model,
            info.input_size,
            info.backbone,
            codec=fields.codec_for(info.input_size),
            flip_index=list(fields.flip_index) if fields.flip_test else None,
        )

    def export_agreement(self, expected: dict, got: dict) -> tuple[bool, str]:
        """The largest keypoint difference, at most ``KEYPOINT_AGREEMENT_PX`` (0.05 px of the picture)."""
        import numpy as np

        if np.shape(got["keypoints"]) != np.shape(expected["keypoints"]):
            return (
                False,
                f"keypoints shape {list(np.shape(got['keypoints']))}, not {list(np.shape(expected['keypoints']))}",
            )
        worst = float(np.abs(np.asarray(got["keypoints"]) - np.asarray(expected["keypoints"])).max())
        return worst <= KEYPOINT_AGREEMENT_PX, f"keypoints within {worst:.3f} px"

    def saved_model_signatures(self, model, info: ExportInfo) -> dict:
        """The ``boxes`` signature (``keypoint_boxes_fn``): pictures and boxes in, one object per box out."""
        import tensorflow as tf

        from zoo.tasks.keypoints.serving import keypoint_boxes_fn

        fields = info.fields
        fn = keypoint_boxes_fn(
            model,
            info.input_size,
            info.backbone,
            fields.codec_for(info.input_size),
            list(fields.flip_index) if fields.flip_test else None,
        )
        spec = [
            tf.TensorSpec([None, None, None, info.channels], tf.uint8, name="images"),
            tf.TensorSpec([None, 4], tf.float32, name="boxes"),
            tf.TensorSpec([None], tf.int32, name="box_indices"),
        ]
        return {"boxes": (fn, spec)}

    # ---- running a loaded export
    def call_options(self, options: PredictOptions, info: ExportInfo | None = None) -> dict:
        if options.scale is not None or options.save_probabilities is not None or options.tile is not None:
            raise ValueError(
                f"--scale, --tile and --save-probabilities are for exports that answer per pixel "
                f"(segmentation); this is a {self.name} export"
            )
        if options.tta is not None and options.tta.scales != (1.0,):
            raise ValueError(
                f"--tta {options.tta}: a {self.name} export takes --tta flip only (multi-scale views "
                "are for segmentation)"
            )
        return {"tta": options.tta} if options.tta is not None else {}

    def run(self, predictor, images, scale=None, tile=None, overlap=0.25, tta=None, probabilities=None):
        from zoo.tasks.keypoints.runtime import run

        if scale not in (None, "resize") or tile is not None:
            raise ValueError(
                f"scale={scale!r} and tile={tile!r} are for exports that answer per pixel "
                f"(segmentation); a {self.name} export resizes its crops to the training size and "
                "takes tta='flip' only"
            )
        return run(predictor, images, tta)

    def predict_boxes(self, predictor, image, boxes, tta=None):
        from zoo.tasks.keypoints.runtime import predict_boxes

        return predict_boxes(predictor, image, boxes, tta)

    def read_boxes(self, options: PredictOptions):
        from zoo.tasks.keypoints.boxes import read_boxes

        return read_boxes(
            options.boxes,
            category=options.box_category,
            min_score=options.min_box_score,
            annotations=options.annotations,
        )

    def predict_warning(self, info: ExportInfo, options: PredictOptions) -> str | None:
        if options.boxes is None and info.fields.region == "box":
            return (
                "this export was trained on crops around each object's box (region 'box' in model.json) and "
                "is given whole pictures: its keypoints are only as good as the pictures are like those crops. "
                "Pass --boxes DETECTIONS.json (COCO detection results, or a COCO annotation file) for one crop "
                "per box"
            )
        return None

    def prediction_writer(self, info: ExportInfo, out: Path, options: PredictOptions):
        from zoo.tasks.keypoints.writer import KeypointWriter

        return KeypointWriter(info, Path(out), float(options.min_score))

    # ---- python -m zoo sample-data
    def write_samples(self, kind: str, folder: str | os.PathLike, **options) -> Path:
        from zoo.tasks.keypoints.samples import write_samples

        return write_samples(kind, folder, **options)

    def sample_dataset(self, kind: str, folder: str | os.PathLike) -> str:
        from zoo.tasks.keypoints.samples import sample_dataset

        return sample_dataset(kind, folder)


TASK = KeypointTask()

"""The depth task: ``model.json`` fields, the serving function, predict's writer (no TensorFlow at import)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from zoo.tasks.base import NetworkSpec, PredictOptions, require


@dataclasses.dataclass(frozen=True)
class DepthFields:
    """The task's own model.json field: the unit of the values."""

    unit: str = "relative depth, 0 (near) to 1 (far)"

    def to_json(self) -> dict:
        return {"unit": self.unit}


@dataclasses.dataclass
class DepthWriter:
    """Writes ``<stem>_depth.npy`` (float32 ``[h, w]``) per picture and the value range in predictions.json."""

    out: Path

    def write(self, path, stem, image, outputs, index) -> dict:
        depth = np.asarray(outputs["depth"][index], np.float32)
        self.out.mkdir(parents=True, exist_ok=True)
        np.save(self.out / f"{stem}_depth.npy", depth)
        return {"depth": f"{stem}_depth.npy", "range": [round(float(depth.min()), 4), round(float(depth.max()), 4)]}

    def write_objects(self, *args) -> dict:
        raise ValueError("boxes are for keypoint exports")

    def finish(self, report: dict) -> None:
        (self.out / "depth.json").write_text(json.dumps({"pictures": len(report["images"])}) + "\n")


@dataclasses.dataclass(frozen=True)
class DepthTask:
    name: str = "depth"
    recipe: str = "depth"
    serving_outputs: tuple[str, ...] = ("depth",)
    network_output: str = "depth"
    extra_signatures: tuple[str, ...] = ()
    sample_kinds = {}

    def info_from_run(self, settings: dict, resolved: dict):
        return DepthFields() if resolved.get("task") == "depth" else None

    def fields_from_json(self, data: dict, where) -> DepthFields:
        require(data, ("unit",), where)
        return DepthFields(str(data["unit"]))

    def legacy_network(self, info) -> NetworkSpec:
        raise ValueError("depth runs always store their network")

    def describe_outputs(self, info) -> dict:
        return {"depth": "float32 [batch, height, width]: the value of each pixel, 0 to 1"}

    def with_tta(self, info, tta):
        raise ValueError(f"--tta {tta}: the depth task takes no test-time augmentation")

    def serving_fn(self, model, info):
        import tensorflow as tf

        from zoo.data.resize import resize_antialiased
        from zoo.models.backbones import get_backbone

        spec = get_backbone(info.backbone)
        height, width = info.input_size

        def serve(images):
            size = tf.shape(images)[1:3]
            x = spec.preprocess(resize_antialiased(tf.cast(images, tf.float32), (height, width)))
            values = tf.sigmoid(tf.cast(model(x, training=False), tf.float32))
            return {"depth": tf.image.resize(values, size, method="bilinear")[..., 0]}

        return serve

    def export_agreement(self, expected, got):
        worst = float(np.abs(got["depth"] - expected["depth"]).max())
        return worst <= 1e-3, f"depth within {worst:.4f}"

    def saved_model_signatures(self, model, info) -> dict:
        return {}

    def call_options(self, options: PredictOptions) -> dict:
        if options.scale or options.tile or options.tta or options.save_probabilities or options.boxes:
            raise ValueError("the depth task takes none of --scale, --tile, --tta, --save-probabilities, --boxes")
        return {}

    def run(self, predictor, images, **options):
        return predictor.run(images)

    def predict_boxes(self, predictor, image, boxes, tta=None):
        raise ValueError("boxes are for keypoint exports")

    def read_boxes(self, options):
        raise ValueError("--boxes is for keypoint exports")

    def predict_warning(self, info, options) -> str | None:
        return None

    def prediction_writer(self, info, out, options) -> DepthWriter:
        return DepthWriter(Path(out))

    def write_samples(self, kind, folder, **options):
        raise ValueError("the depth task has no sample sets")

    def sample_dataset(self, kind, folder) -> str:
        raise ValueError("the depth task has no sample sets")


TASK = DepthTask()

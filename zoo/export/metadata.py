"""``model.json``: what an export is, written beside every export.

Fields (all formats): ``format``, ``file`` (the model file inside the export folder;
``"."`` for a SavedModel), ``task`` (``"segmentation"`` or ``"keypoints"``), ``model``,
``backbone``, ``input_size`` ([H, W] it was trained at), ``channels``,
``preprocessing`` (what happens to the pixels and where), ``inputs`` and ``outputs``
(name -> dtype and shape), ``versions`` (libraries it was made with), ``source``
(run directory and which weights). Each task adds its own (``Task.fields_from_json``):
segmentation ``classes`` and ``scale`` (``resize`` or ``native``: how ``predict`` meets a
picture by default); keypoints ``keypoint_names``, ``flip_index``, ``heatmap_stride``,
``decode``, ``sigma``, ``flip_test``, ``head`` (``heatmap``, or ``simcc`` with
``simcc_split_ratio``), ``codec`` (heatmap grid: ``msra`` or ``udp``), ``region`` (``box``: trained on each object's box
enlarged 1.25x, so give it boxes; ``image``: whole pictures) and ``skeleton`` (0-based
keypoint pairs, drawn by ``predict``). ``tta`` (optional): the test-time augmentation
baked into the serving functions by ``zoo export --tta`` (``zoo.data.tta``). SavedModels list
their ``signatures`` (``serving_default`` and the task's: ``native`` or ``boxes``). The record in
memory is ``zoo.tasks.base.ExportInfo``, checked where the file is read (``read_metadata``).
"""

from __future__ import annotations

import json
from pathlib import Path

from zoo.tasks.info import ExportInfo

METADATA_FILE = "model.json"
# export formats and the model file of each inside its export folder ("." : the folder is the SavedModel)
FILES = {"saved_model": ".", "litert": "model.tflite", "onnx": "model.onnx", "keras": "model.keras"}
FORMATS = tuple(FILES)


def info_from_config(config: dict) -> ExportInfo:
    """The description of a run from its ``config.json`` (``{"settings", "resolved"}``)."""
    return ExportInfo.from_run(config.get("settings", {}), config.get("resolved", {}))


def describe_io(info: ExportInfo, served: bool) -> dict:
    """``preprocessing``, ``inputs`` and ``outputs`` entries for ``info``.

    ``served``: the serving function is inside the export (SavedModel, LiteRT, ONNX);
    otherwise (``.keras``) the file holds the bare network.
    """
    (height, width), channels = info.input_size, info.channels
    if not served:
        return {
            "preprocessing": f"not inside the file: resize to {height}x{width} (bilinear, antialiased), then "
            f"zoo.preprocess_input(x, {info.backbone!r}); zoo.export.load() does both",
            "inputs": {"x": f"float32 [batch, {height}, {width}, {channels}], preprocessed"},
            "outputs": {
                info.spec.network_output: "float32 [batch, h, w, K] (logits per class / heatmaps per keypoint)"
            },
        }
    return {
        "preprocessing": f"inside the export: uint8 pixels of any size are resized to {height}x{width} "
        f"(bilinear, antialiased) and given the {info.backbone} ImageNet preprocessing",
        "inputs": {"images": f"uint8 [batch, height, width, {channels}], any size"},
        "outputs": info.spec.describe_outputs(info),
    }


def write_metadata(folder: Path, info: ExportInfo) -> Path:
    """Writes ``folder/model.json``; returns its path."""
    path = Path(folder) / METADATA_FILE
    path.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    return path


def read_metadata(path: str | Path) -> ExportInfo:
    """``model.json`` of an export folder, or the one beside an export file, checked (``ExportInfo.from_json``)."""
    path = Path(path)
    candidate = path / METADATA_FILE if path.is_dir() else path.parent / METADATA_FILE
    if not candidate.is_file():
        raise FileNotFoundError(
            f"no {METADATA_FILE} in {candidate.parent}: export the run with "
            "`python -m zoo export RUN_DIR --format ...`, which writes it"
        )
    try:
        data = json.loads(candidate.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{candidate} is not valid JSON ({err}); export the run again") from None
    info = ExportInfo.from_json(data, candidate)
    if info.format not in FILES:
        raise ValueError(f"{candidate}: unknown format {info.format!r}; expected one of {sorted(FILES)}")
    return info

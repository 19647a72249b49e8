"""``model.json``: what an export is, written beside every export.

Fields (all formats): ``format``, ``file`` (the model file inside the export folder;
``"."`` for a SavedModel), ``task`` (``"segmentation"`` or ``"keypoints"``), ``model``,
``backbone``, ``input_size`` ([H, W] it was trained at), ``channels``,
``preprocessing`` (what happens to the pixels and where), ``inputs`` and ``outputs``
(name -> dtype and shape), ``versions`` (libraries it was made with), ``source``
(run directory and which weights). Each task adds its own (``zoo.tasks``):
segmentation ``classes`` and ``scale`` (``resize`` or ``native``: how ``predict`` meets a
picture by default); keypoints ``keypoint_names``, ``flip_index``, ``heatmap_stride``,
``decode``, ``sigma``, ``flip_test``, ``head`` (``heatmap``, or ``simcc`` with
``simcc_split_ratio``), ``codec`` (heatmap grid: ``msra`` or ``udp``), ``region`` (``box``: trained on each object's box
enlarged 1.25x, so give it boxes; ``image``: whole pictures) and ``skeleton`` (0-based
keypoint pairs, drawn by ``predict``). ``tta`` (optional): the test-time augmentation
baked into the serving functions by ``zoo export --tta`` (``zoo.tta``). SavedModels list
their ``signatures`` (``serving_default`` and the task's: ``native`` or ``boxes``).
"""

from __future__ import annotations

import json
from pathlib import Path

from zoo.tasks import TASKS, get_task

METADATA_FILE = "model.json"
# export formats and the model file of each inside its export folder ("." : the folder is the SavedModel)
FILES = {"saved_model": ".", "litert": "model.tflite", "onnx": "model.onnx", "keras": "model.keras"}
FORMATS = tuple(FILES)


def info_from_config(config: dict) -> dict:
    """The task description of a run from its ``config.json`` (``{"settings", "resolved"}``): the
    fields every export has and its task's (``zoo.tasks``)."""
    from zoo.tasks import task_of_run

    settings, resolved = config.get("settings", {}), config.get("resolved", {})
    if "input_size" not in resolved:
        raise ValueError("config.json has no resolved input size: the run stopped before its model was built; "
                         "train it first")
    task, fields = task_of_run(settings, resolved)
    return {
        "task": task.name,
        "model": settings["model"],
        "backbone": settings["backbone"],
        "input_size": [int(v) for v in resolved["input_size"]],
        "channels": int(resolved["channels"]),
        **fields,
    }


def describe_io(info: dict, served: bool) -> dict:
    """``preprocessing``, ``inputs`` and ``outputs`` entries for ``info``.

    ``served``: the serving function is inside the export (SavedModel, LiteRT, ONNX);
    otherwise (``.keras``) the file holds the bare network.
    """
    (height, width), channels = info["input_size"], info["channels"]
    if not served:
        return {
            "preprocessing": f"not inside the file: resize to {height}x{width} (bilinear, antialiased), then "
                             f"zoo.preprocess_input(x, {info['backbone']!r}); zoo.export.load() does both",
            "inputs": {"x": f"float32 [batch, {height}, {width}, {channels}], preprocessed"},
            "outputs": {get_task(info["task"]).network_output:
                        "float32 [batch, h, w, K] (logits per class / heatmaps per keypoint)"},
        }
    io = {
        "preprocessing": f"inside the export: uint8 pixels of any size are resized to {height}x{width} "
                         f"(bilinear, antialiased) and given the {info['backbone']} ImageNet preprocessing",
        "inputs": {"images": f"uint8 [batch, height, width, {channels}], any size"},
    }
    io["outputs"] = get_task(info["task"]).describe_outputs(info)
    return io


def write_metadata(folder: Path, info: dict) -> Path:
    """Writes ``folder/model.json``; returns its path."""
    path = Path(folder) / METADATA_FILE
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def read_metadata(path: str | Path) -> dict:
    """``model.json`` of an export folder, or the one beside an export file."""
    path = Path(path)
    candidates = [path / METADATA_FILE] if path.is_dir() else [path.parent / METADATA_FILE]
    for candidate in candidates:
        if candidate.is_file():
            try:
                info = json.loads(candidate.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ValueError(f"{candidate} is not valid JSON ({err}); export the run again") from None
            _check_metadata(info, candidate)
            return info
    raise FileNotFoundError(f"no {METADATA_FILE} in {candidates[0].parent}: export the run with "
                            "`python -m zoo export RUN_DIR --format ...`, which writes it")


def _check_metadata(info, where: Path) -> None:
    """Refuses a ``model.json`` without the fields predict and the runtimes use, naming them."""
    if not isinstance(info, dict):
        raise ValueError(f"{where} is not a model.json written by `python -m zoo export` (not a JSON object)")
    needed = ["format", "task", "channels", "input_size"]
    task = TASKS.get(info.get("task"))
    if task is not None:
        needed.append(task.label_field)
    missing = [k for k in needed if k not in info]
    if missing or task is None or not isinstance(info.get("channels"), int):
        raise ValueError(f"{where} is not a model.json written by `python -m zoo export` (missing or wrong: "
                         f"{', '.join(missing) or 'task/channels'}); export the run again with it")

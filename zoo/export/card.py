"""The model card: ``README.md`` beside every export's ``model.json``, in the layout of keras-hub's and Hugging
Face's model cards (a YAML header, then prose and code).

It holds what a person receiving the folder needs: the task, the classes and their colours (or the keypoints
and the skeleton), the input contract, the training data and the validation metrics (from the run's
``config.json`` and ``metrics.json`` when the export came from a run), the limitations the run knows about,
and how to load the export in a TensorFlow-only client, ONNX Runtime, LiteRT and Keras. Every code block runs
as written from inside the export folder once the sibling exports it names exist
(``tests/test_export.py`` runs them).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from zoo.tasks.info import ExportInfo

CARD_FILE = "README.md"
# the folder of each format beside a run's SavedModel export (zoo.export.from_run.default_out)
SIBLINGS = {"saved_model": "export", "litert": "export-litert", "onnx": "export-onnx", "keras": "export-keras"}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _run_files(source: dict) -> tuple[dict, dict]:
    """The run's ``config.json`` and ``metrics.json`` ({} each when the export has no run or they are gone)."""
    run = source.get("run")
    if not run:
        return {}, {}
    return _read_json(Path(run) / "config.json"), _read_json(Path(run) / "metrics.json")


def _task_sections(info: ExportInfo, metrics: dict) -> dict:
    """The task's own card lines (``Task.card_sections``); a task without them gets its fields and the
    metrics' top-level numbers listed."""
    own = getattr(info.spec, "card_sections", None)
    if own is not None:
        return own(info, metrics)
    fields = info.fields
    if hasattr(fields, "to_json"):
        fields = fields.to_json()
    elif dataclasses.is_dataclass(fields):
        fields = dataclasses.asdict(fields)
    else:
        fields = dict(fields or {})
    what = ["## What it predicts", "", *(f"- {k}: {json.dumps(v)}" for k, v in fields.items())]
    numbers = [f"- {k}: {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {"pipeline_tag": info.task, "what": what, "contract": [], "metrics": numbers, "limitations": []}


def _input_section(info: ExportInfo, task_lines: list[str]) -> list[str]:
    (height, width), descriptive = info.input_size, info.descriptive
    lines = [
        "## Input contract",
        "",
        f"- Pictures: uint8, {info.channels} channel(s) ({'RGB' if info.channels == 3 else 'as trained'}), "
        "[batch, height, width, channels], any size.",
        f"- Preprocessing: {descriptive.get('preprocessing', f'resized to {height}x{width}, backbone preprocessing')}.",
        f"- Trained at {height}x{width} px.",
    ]
    lines += task_lines
    for name, text in (descriptive.get("outputs") or {}).items():
        lines.append(f"- Output `{name}`: {text}.")
    if info.tta:
        lines.append(f"- Test-time augmentation `{info.tta}` is averaged inside the export.")
    if info.quantize:
        lines.append(
            f"- Quantized LiteRT ({info.quantize}): "
            + (
                "weights stored as float16."
                if info.quantize == "float16"
                else "int8 weights and activations, calibrated on the run's training pictures; the validation "
                "figures below are the float32 model's."
            )
        )
    return lines


def _data_section(config: dict) -> list[str]:
    resolved = config.get("resolved") or {}
    if not resolved:
        return ["## Training data", "", "Not recorded (this export was not made from a run folder)."]
    lines = [
        "## Training data",
        "",
        f"- {resolved.get('data', config.get('settings', {}).get('dataset', '?'))}: "
        f"{resolved.get('num_train', '?')} training and {resolved.get('num_val', '?')} validation examples.",
    ]
    train = (resolved.get("class_statistics") or {}).get("train") or {}
    if train.get("classes"):
        shares = ", ".join(
            f"{name} {100 * c['pixel_share']:.1f}% of pixels in {100 * c['image_share']:.0f}% of pictures"
            for name, c in train["classes"].items()
        )
        lines.append(f"- Class shares (training split): {shares}.")
    settings = config.get("settings") or {}
    if settings:
        lines.append(
            f"- Trained with `{settings.get('model')}` on `{settings.get('backbone')}`, schedule "
            f"`{settings.get('schedule')}`, batch {settings.get('batch_size')}, precision "
            f"{resolved.get('precision', settings.get('mixed_precision'))}; {resolved.get('weights_note', '')}."
        )
    return lines


def _metrics_section(metrics: dict, table: list[str]) -> list[str]:
    if not metrics:
        return ["## Validation metrics", "", "Not recorded (no metrics.json with this export's run)."]
    split = (
        f"{metrics.get('split', 'validation')} split, {metrics.get('num_val', '?')} examples, "
        f"{metrics.get('weights', '')} weights"
    )
    return ["## Validation metrics", "", f"On the run's {split}:", "", *table]


def limitations(info: ExportInfo, config: dict, metrics: dict, task_limits: list[str] = ()) -> list[str]:
    """What the run knows this model is not good for, one sentence each."""
    settings, resolved = config.get("settings") or {}, config.get("resolved") or {}
    (height, width) = info.input_size
    notes = []
    if settings.get("train_crop"):
        notes.append(
            f"Trained on {height}x{width} px crops of larger pictures: it saw objects at that scale; predict at the "
            "pictures' own scale (`--scale native`)."
        )
    else:
        notes.append(
            f"Trained on pictures resized to {height}x{width} px: objects much smaller than a few pixels at that size "
            "are lost."
        )
    if str(settings.get("encoder_weights", "")).lower() == "none" or "random" in str(resolved.get("weights_note", "")):
        notes.append("The encoder started from random weights (no ImageNet pretraining): expect less on unseen data.")
    notes += list(task_limits)
    num_val = metrics.get("num_val") or resolved.get("num_val")
    if isinstance(num_val, int) and num_val < 50:
        notes.append(f"The validation figures come from {num_val} examples only: they are rough.")
    dataset = str(settings.get("dataset", ""))
    if dataset.startswith("synthetic:"):
        notes.append(
            f"Trained on a built-in synthetic set ({dataset}): a demonstration, not a model for real pictures."
        )
    if metrics.get("epochs") is not None and resolved:
        notes.append(f"Trained for {metrics['epochs']} epoch(s).")
    return notes


def _example_shape(info: ExportInfo) -> str:
    return f"(1, 240, 320, {info.channels})"


def _usage_section(info: ExportInfo, here: str) -> list[str]:
    """The four clients, each a block that runs from inside this folder (sibling formats by relative path)."""
    sibling = {fmt: "." if fmt == here else f"../{SIBLINGS[fmt]}" for fmt in SIBLINGS}
    shape = _example_shape(info)
    make = "python -m zoo export RUN_DIR --format {fmt}   # writes RUN_DIR/{folder}"
    keras_imports = "import zoo.models.layers  # registers the zoo's layers the file names\n"
    if info.backbone.startswith("keras_hub:"):
        keras_imports += "from zoo.models.hub_backbones import register_hub_layers\n\nregister_hub_layers()\n"
    (height, width) = info.input_size
    blocks = [
        "## How to use it",
        "",
        "Each block runs from inside this folder. The other formats come from the same run folder:",
        "",
        "```bash",
        *(make.format(fmt=fmt, folder=SIBLINGS[fmt]) for fmt in ("onnx", "litert", "keras") if fmt != here),
        "python -m zoo predict " + sibling[here] + " PICTURES_FOLDER --out predictions   # any format",
        "```",
        "",
        "### TensorFlow alone (the SavedModel)",
        "",
        "```python",
        "import numpy as np",
        "import tensorflow as tf",
        "",
        f'serve = tf.saved_model.load("{sibling["saved_model"]}").signatures["serving_default"]',
        f"images = np.zeros({shape}, np.uint8)  # your pictures, any size",
        "outputs = serve(images=tf.constant(images))",
        "print({name: value.shape for name, value in outputs.items()})",
        "```",
        "",
        "### ONNX Runtime (numpy and onnxruntime only)",
        "",
        "```python",
        "import numpy as np",
        "import onnxruntime as ort",
        "",
        f'session = ort.InferenceSession("{sibling["onnx"]}/model.onnx")',
        f"images = np.zeros({shape}, np.uint8)",
        "names = [output.name for output in session.get_outputs()]",
        "outputs = dict(zip(names, session.run(names, {session.get_inputs()[0].name: images})))",
        "print({name: value.shape for name, value in outputs.items()})",
        "```",
        "",
        "### LiteRT (ai-edge-litert; on a phone, the same signature)",
        "",
        "```python",
        "import numpy as np",
        "from ai_edge_litert.interpreter import Interpreter",
        "",
        f'runner = Interpreter(model_path="{sibling["litert"]}/model.tflite").get_signature_runner("serving_default")',
        f"outputs = runner(images=np.zeros({shape}, np.uint8))",
        "print({name: value.shape for name, value in outputs.items()})",
        "```",
        "",
        "### Keras (the bare network: preprocess yourself)",
        "",
        "```python",
        "import keras",
        "import numpy as np",
        "",
        "import zoo",
        keras_imports.rstrip("\n"),
        "",
        f'model = keras.saving.load_model("{sibling["keras"]}/model.keras", compile=False)',
        f"pixels = np.zeros((1, {height}, {width}, {info.channels}), np.float32)  # resized to the training size, 0-255",
        f'scores = model(zoo.preprocess_input(pixels, "{info.backbone}"))',
        "print(scores.shape)",
        "```",
        "",
        "### This package (any format, tiles and boxes included)",
        "",
        "```python",
        "import numpy as np",
        "",
        "import zoo.export",
        "",
        f'predictor = zoo.export.load("{sibling[here]}")',
        f"print({{name: value.shape for name, value in predictor(np.zeros({shape}, np.uint8)).items()}})",
        "```",
    ]
    return blocks


def model_card(info: ExportInfo, source: dict | None = None, metrics: dict | None = None) -> str:
    """The card's Markdown for an export described by ``info`` (its final ``model.json`` record) whose weights
    came from ``source`` (``{"run": RUN_DIR, "weights": ...}``, or {} for an export made from a bare model);
    ``metrics``: the validation metrics (None: the run's ``metrics.json``; a recipe exports before writing it)."""
    config, stored = _run_files(source or {})
    metrics = stored if metrics is None else metrics
    settings = config.get("settings") or {}
    task = _task_sections(info, metrics)
    title = f"{info.model} on {info.backbone}: {info.task}"
    header = [
        "---",
        "library_name: keras",
        f"pipeline_tag: {task['pipeline_tag']}",
        "tags:",
        f"- {info.model}",
        f"- {info.backbone.replace(':', '-')}",
        f"- {info.format or 'saved_model'}",
        *([f"datasets: ['{settings['dataset']}']"] if settings.get("dataset") else []),
        "---",
        "",
        f"# {title}",
        "",
        f"A `{info.model}` network on a `{info.backbone}` encoder, exported as `{info.format}` by this project's "
        "`python -m zoo export`"
        + (f" from the run `{Path(source['run']).name}`" if (source or {}).get("run") else "")
        + ". `model.json` beside this card is the machine-readable contract.",
        "",
    ]
    sections = [
        task["what"],
        _input_section(info, task["contract"]),
        _data_section(config),
        _metrics_section(metrics, task["metrics"]),
        ["## Limitations", "", *(f"- {note}" for note in limitations(info, config, metrics, task["limitations"]))],
        _usage_section(info, info.format or "saved_model"),
    ]
    out = header
    for section in sections:
        out += [*section, ""]
    return "\n".join(out)


def write_card(folder: Path, info: ExportInfo, source: dict | None = None, metrics: dict | None = None) -> Path:
    """Writes ``folder/README.md`` (``model_card``); returns its path."""
    path = Path(folder) / CARD_FILE
    path.write_text(model_card(info, source, metrics))
    return path


def card_code_blocks(text: str, language: str = "python") -> list[str]:
    """The ``language`` code blocks of a card, in order (for running them)."""
    blocks, current = [], None
    for line in text.splitlines():
        if current is None and line.strip() == f"```{language}":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


__all__ = ["CARD_FILE", "card_code_blocks", "limitations", "model_card", "write_card"]

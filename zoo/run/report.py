"""A run's ``report.html``: one self-contained page that ties the run folder together.

The recipe driver writes it at the end of a run and refreshes it at each epoch's end (the chief alone, through
``zoo.run.phases.RefreshReport``); ``python -m zoo report RUN`` rebuilds it from the folder. It reads only the
files a run leaves (``zoo.run.rundir``, docs/architecture.md, "Data flow of a run"): ``config.json``,
``history.csv``, ``metrics.json``, the plots and ``export/model.json``, so it knows no task: the metric tables
follow the shape of ``metrics.json`` (scalars; ``per_<thing>_<metric>`` maps of names to numbers, such as
segmentation's ``per_class_iou``; ``per_<thing>`` maps of names to records, such as keypoints'
``per_keypoint``; other records and tables of records).

The page needs nothing but a browser: the pictures are PNG data URIs, the style is inline, there is no
script. Every text is escaped (``html.escape``). Every number taken from ``metrics.json`` is written with
``format_number`` (4 decimals for floats) and carries its raw value as JSON in ``data-value``, with
``data-key`` (the top-level key of ``metrics.json``), ``data-name`` (the row's name) and ``data-field`` (the
field of a record) saying where it came from, so a test can read every cell back against the file.

This module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from zoo.run.rundir import RunDir, read_history
from zoo.utils.io import write_text_atomic

EXPORT_FORMATS = "litert|onnx|keras"
# config.json "resolved" fields the page shows in its data section rather than among the resolved settings
DATA_FIELDS = ("data", "num_train", "num_val", "labels", "class_statistics", "data_summary")
HIDDEN_RESOLVED = (*DATA_FIELDS, "why", "weights_note")
# metrics.json entries drawn as pictures (confusion.png) rather than written out
PICTURED = ("confusion_matrix",)
# words written in capitals (or as the field names them) in column titles
WORDS = {"iou": "IoU", "ap": "AP", "ar": "AR", "pck": "PCK", "nme": "NME", "oks": "OKS", "tta": "TTA", "lr": "LR"}
PER_METRIC = re.compile(r"^per_([a-z]+)_(\w+)$")  # per_class_iou: thing "class", metric "iou"
PER_RECORD = re.compile(r"^per_([a-z]+)$")  # per_keypoint

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a; margin: 0;
       background: #f5f6f8; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d5d9df; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.sub { color: #5b6570; margin: 0 0 10px; }
.status { display: inline-block; padding: 3px 10px; border-radius: 12px; font-weight: 600; }
.finished { background: #dff3e4; color: #185c2c; }
.progress { background: #fff1d6; color: #7a4b00; }
table { border-collapse: collapse; background: #fff; margin: 4px 0 10px; }
th, td { border: 1px solid #dde1e6; padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.none { color: #8a939c; }
code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
td code { word-break: break-all; }
pre { background: #1f2429; color: #e8ecef; padding: 10px 12px; border-radius: 6px; overflow-x: auto; }
img { max-width: 100%; height: auto; background: #fff; border: 1px solid #dde1e6; }
figure { margin: 6px 0 14px; }
figcaption { color: #5b6570; font-size: 12.5px; }
.missing { color: #7a4b00; }
ul.notes { margin: 4px 0 10px; padding-left: 20px; }
details summary { cursor: pointer; color: #2a5d9f; margin: 6px 0; }
footer { color: #8a939c; font-size: 12px; margin-top: 32px; }
"""


class NotARunError(ValueError):
    """The folder given is not a run folder (no ``config.json`` with a run's settings)."""


def export_commands(run_dir: str, export_dir: str, usage: Sequence[str]) -> list[str]:
    """How to use a run's SavedModel export: loading it with TensorFlow alone (``usage``: the lines that call
    it after ``serve = ...``), the other formats and ``predict``. The recipe prints these at its end and the
    report shows them."""
    return [
        "Load the export with TensorFlow alone:",
        "    import numpy as np, tensorflow as tf",
        f"    serve = tf.saved_model.load({export_dir!r}).signatures['serving_default']",
        *usage,
        f"Other formats: python -m zoo export {shlex.quote(run_dir)} --format {EXPORT_FORMATS}",
        f"Run on image files or folders: python -m zoo predict {shlex.quote(export_dir)} IMAGE_OR_FOLDER... --out DIR",
    ]


def usage_from_model_json(info: dict) -> list[str]:
    """The lines that call an export, from its ``model.json``: a zero picture of the training size, then one
    line per output with what ``model.json`` says it holds."""
    size = list(info.get("input_size") or [240, 320])
    height, width = size[0], size[-1]
    channels = info.get("channels", 3)
    lines = [f"    out = serve(images=tf.zeros((1, {height}, {width}, {channels}), tf.uint8))   # any size, uint8"]
    for name, what in (info.get("outputs") or {}).items():
        lines.append(f"    out[{name!r}]   # {what}")
    return lines


def format_number(value) -> str:
    """How the page writes a number: floats with 4 decimals, integers whole, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.4f}"
    return str(value)


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _is_number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _title(key: str) -> str:
    """A column or row title from a field name: ``per_class_iou`` -> ``per class IoU``, ``ap50`` -> ``AP50``."""
    words = []
    for word in str(key).split("_"):
        match = re.fullmatch(r"(ap|ar)(\d+)", word)
        words.append(WORDS.get(word, word.upper() if match else word))
    return " ".join(words)


def _text(value) -> str:
    return html.escape(str(value))


def _value_html(value) -> str:
    """A settings or model.json value as HTML: scalars as text, the rest as compact JSON."""
    if isinstance(value, str):
        return _text(value)
    if _is_scalar(value):
        return _text(format_number(value))
    return f"<code>{_text(json.dumps(value, separators=(', ', ': '), default=str))}</code>"


def _cell(value, key: str, name: str | None = None, field: str | None = None) -> str:
    """A table cell of a number (or short text) from metrics.json, with where it came from."""
    attrs = f' data-key="{_text(key)}"'
    if name is not None:
        attrs += f' data-name="{_text(name)}"'
    if field is not None:
        attrs += f' data-field="{_text(field)}"'
    raw = json.dumps(value, default=str)
    if _is_number(value) or isinstance(value, bool):
        kind = "num none" if value is None else "num"
        return f'<td class="{kind}"{attrs} data-value="{_text(raw)}">{_text(format_number(value))}</td>'
    shown = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "), default=str)
    return f'<td{attrs} data-value="{_text(raw)}">{_text(shown)}</td>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], table_id: str | None = None) -> str:
    """``rows`` of prepared ``<td>`` strings under ``headers`` (plain text, escaped here)."""
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    ident = f' id="{_text(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _key_value_table(pairs: Iterable[tuple[str, str]], table_id: str | None = None) -> str:
    rows = [[f"<th>{_text(k)}</th>", v if v.startswith("<td") else f"<td>{v}</td>"] for k, v in pairs]
    ident = f' id="{_text(table_id)}"' if table_id else ""
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table{ident}><tbody>{body}</tbody></table>"


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _picture(path: Path, alt: str, caption: str, missing: str) -> str:
    """``path`` embedded as a PNG data URI, or a line saying why it is not there."""
    try:
        data = path.read_bytes()
    except OSError:
        return f'<p class="missing">{_text(missing)}</p>'
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{_text(alt)}">'
        f"<figcaption>{_text(caption)}</figcaption></figure>"
    )


# ---- metrics.json -----------------------------------------------------------------------------------------------


def metric_tables(metrics: dict) -> str:
    """The tables of ``metrics.json``: the scalars first, then one table per ``per_<thing>`` family (rows: the
    names), then the other records (one row per field, or per entry for a record of records)."""
    scalars, per_metric, per_record, records = [], {}, {}, []
    for key, value in metrics.items():
        if key in PICTURED:
            continue
        match, record = PER_METRIC.match(key), PER_RECORD.match(key)
        if isinstance(value, dict) and match and all(_is_number(v) for v in value.values()):
            per_metric.setdefault(match.group(1), []).append((key, match.group(2)))
        elif isinstance(value, dict) and record and all(isinstance(v, dict) for v in value.values()):
            per_record[record.group(1)] = key
        elif isinstance(value, dict):
            records.append(key)
        else:
            scalars.append(key)
    parts = []
    if scalars:
        parts.append("<h3>Summary</h3>")
        parts.append(_key_value_table(((_title(k), _cell(metrics[k], k)) for k in scalars), "metrics-summary"))
    for thing, keys in per_metric.items():
        names = list(dict.fromkeys(name for key, _ in keys for name in metrics[key]))
        rows = [
            [
                f"<th>{_text(name)}</th>",
                *(_cell(metrics[key][name], key, name) if name in metrics[key] else "<td></td>" for key, _ in keys),
            ]
            for name in names
        ]
        parts.append(f"<h3>Per {_text(thing)}</h3>")
        parts.append(_table([thing, *(_title(metric) for _, metric in keys)], rows, f"per-{thing}"))
    for thing, key in per_record.items():
        parts.append(f"<h3>Per {_text(thing)}</h3>")
        parts.append(_records_table(metrics[key], key, thing, f"per-{thing}"))
    for key in records:
        value = metrics[key]
        parts.append(f"<h3>{_text(_title(key))}</h3>")
        if value and all(isinstance(v, dict) for v in value.values()):
            parts.append(_records_table(value, key, key, f"metrics-{key}"))
        else:
            parts.append(
                _key_value_table(((_title(k), _cell(v, key, field=k)) for k, v in value.items()), f"metrics-{key}")
            )
    return "\n".join(parts)


def _records_table(records: dict, key: str, thing: str, table_id: str) -> str:
    fields = list(dict.fromkeys(f for record in records.values() for f in record))
    rows = [
        [f"<th>{_text(name)}</th>", *(_cell(record[f], key, name, f) if f in record else "<td></td>" for f in fields)]
        for name, record in records.items()
    ]
    return _table([thing, *(_title(f) for f in fields)], rows, table_id)


# ---- the sections ---------------------------------------------------------------------------------------------


def _progress(config: dict, history: list[dict]) -> tuple[int, int | None]:
    """(epochs finished, epochs of the schedule or None)."""
    epochs = [int(row["epoch"]) for row in history if isinstance(row.get("epoch"), float)]
    done = max(epochs) + 1 if epochs else 0
    total = None
    try:
        from zoo.models.schedule import parse_schedule

        total = sum(phase.epochs for phase in parse_schedule(str(config.get("settings", {}).get("schedule"))))
    except (ValueError, TypeError):
        pass
    return done, total


def _status(metrics: dict | None, done: int, total: int | None) -> str:
    if metrics is not None:
        weights = metrics.get("weights")
        epochs = metrics.get("epochs", done)
        text = f"finished: {epochs} epoch(s)" + (f", evaluated with the {weights} weights" if weights else "")
        return f'<span class="status finished">{_text(text)}</span>'
    of = f" of {total}" if total else ""
    text = f"training in progress, epoch {done}{of}" + ("" if done else " (no epoch has finished yet)")
    return f'<span class="status progress" id="in-progress">{_text(text)}</span>'


def _metrics_section(metrics: dict | None, history: list[dict], done: int, total: int | None) -> str:
    parts = ["<h2>Validation metrics</h2>"]
    if metrics is not None:
        split = metrics.get("split", "validation")
        parts.append(f'<p class="sub">From metrics.json: the {_text(split)} split, scored once training ended.</p>')
        parts.append(metric_tables(metrics))
        return "\n".join(parts)
    of = f" of {total}" if total else ""
    parts.append(
        f"<p>Training in progress, epoch {done}{of}: metrics.json is written when training, evaluation and the "
        "export are done.</p>"
    )
    if history:
        last = history[-1]
        pairs = [(_title(k), _text(format_number(v))) for k, v in last.items() if k not in ("epoch",)]
        parts.append(f"<h3>Epoch {done} (history.csv)</h3>")
        parts.append(_key_value_table(pairs, "last-epoch"))
    return "\n".join(parts)


def _pictures_section(run: RunDir, metrics: dict | None) -> str:
    end = "drawn when training ends" if metrics is None else "not found in the run folder"
    parts = ["<h2>Training curves</h2>"]
    parts.append(
        _picture(
            run.curves,
            "training curves",
            "loss, the task's metric and the learning rate per epoch (train and validation); dashed: a new phase",
            f"curves.png: not drawn yet ({'no epoch has finished' if metrics is None else 'not found'})",
        )
    )
    parts.append("<h2>Predictions</h2>")
    parts.append(
        _picture(
            run.samples,
            "sample predictions",
            "validation pictures: the truth against the predictions of the evaluated weights",
            f"samples.png: {end}",
        )
    )
    if run.confusion.is_file() or (metrics is not None and "confusion_matrix" in metrics):
        parts.append(
            _picture(
                run.confusion,
                "confusion matrix",
                "validation confusion matrix, rows (the truth) sum to 1",
                f"confusion.png: {end}",
            )
        )
    return "\n".join(parts)


def _class_statistics_table(statistics: dict) -> str:
    splits = [s for s in ("train", "val") if isinstance(statistics.get(s), dict)]
    splits += [s for s in statistics if s not in splits and isinstance(statistics[s], dict)]
    names = list(dict.fromkeys(n for s in splits for n in statistics[s].get("classes", {})))
    headers = ["class"]
    for split in splits:
        headers += [f"{split} pixel share", f"{split} image share"]
    rows = []
    for name in names:
        row = [f"<th>{_text(name)}</th>"]
        for split in splits:
            entry = statistics[split].get("classes", {}).get(name, {})
            for field in ("pixel_share", "image_share"):
                value = entry.get(field)
                row.append(
                    f'<td class="num" data-value="{_text(json.dumps(value))}">'
                    f"{_text('n/a' if value is None else f'{100 * value:.1f}%')}</td>"
                )
        rows.append(row)
    counts = "; ".join(
        f"{split}: {statistics[split].get('examples', '?')} pictures, "
        f"{100 * float(statistics[split].get('ignored_share', 0.0)):.1f}% of the pixels ignored"
        for split in splits
    )
    return _table(headers, rows, "class-shares") + f'<p class="sub">{_text(counts)}</p>'


def _data_section(resolved: dict) -> str:
    parts = ["<h2>Data</h2>"]
    pairs = [
        (_title(key), _value_html(resolved[key]))
        for key in ("data", "num_train", "num_val", "labels")
        if key in resolved
    ]
    if pairs:
        parts.append(_key_value_table(pairs, "data-summary"))
    statistics = resolved.get("class_statistics")
    if isinstance(statistics, dict) and statistics:
        parts.append("<h3>Class shares</h3>")
        parts.append(_class_statistics_table(statistics))
    summary = resolved.get("data_summary")
    if isinstance(summary, dict):
        skipped = {k: v for k, v in (summary.get("skipped") or {}).items() if v}
        parts.append("<h3>Skipped</h3>")
        if skipped:
            parts.append(
                _table(
                    ["what", "count"],
                    (
                        [f"<td>{_text(k)}</td>", f'<td class="num">{_text(format_number(v))}</td>']
                        for k, v in skipped.items()
                    ),
                    "skipped",
                )
            )
        else:
            parts.append("<p>Nothing was skipped.</p>")
        for key, title in (("warnings", "Warnings"), ("notes", "Notes on the files")):
            lines = summary.get(key) or []
            if lines:
                parts.append(f"<h3>{title}</h3>")
                parts.append('<ul class="notes">' + "".join(f"<li>{_text(line)}</li>" for line in lines) + "</ul>")
        visibility = summary.get("visibility")
        if visibility:
            words = {"0": "unlabelled", "1": "labelled hidden", "2": "visible"}
            text = ", ".join(f"{words.get(str(k), k)} {v}" for k, v in visibility.items())
            parts.append(f"<p>Keypoint flags (COCO v): {_text(text)}</p>")
    else:
        parts.append('<p class="sub">This run recorded no data summary (written by an earlier version).</p>')
    return "\n".join(parts)


def _settings_section(config: dict) -> str:
    settings, resolved = config.get("settings", {}), config.get("resolved", {})
    why = dict(resolved.get("why") or {})
    if "weights_note" in resolved:
        why.setdefault("encoder_weights", resolved["weights_note"])
    parts = ["<h2>Settings</h2>", "<h3>Resolved (what the settings became)</h3>"]
    rows = [
        [f"<th>{_text(key)}</th>", f"<td>{_value_html(value)}</td>", f"<td>{_text(why.get(key, ''))}</td>"]
        for key, value in resolved.items()
        if key not in HIDDEN_RESOLVED
    ]
    parts.append(_table(["setting", "value", "why"], rows, "resolved"))
    rows = [[f"<th>{_text(k)}</th>", f"<td>{_value_html(v)}</td>"] for k, v in settings.items()]
    parts.append(
        f"<details><summary>Settings as given ({len(settings)}, defaults included)</summary>"
        f"{_table(['setting', 'value'], rows, 'settings')}</details>"
    )
    for change in config.get("changes") or []:
        parts.append(f"<p>Resumed {_text(change.get('resumed', ''))} with changes: {_value_html(change)}</p>")
    return "\n".join(parts)


def _timings_section(history: list[dict], metrics: dict | None) -> str:
    parts = ["<h2>Timings</h2>"]
    timed = [row for row in history if isinstance(row.get("epoch_seconds"), float)]
    if timed:
        rows = [
            [
                f"<td>{int(row['epoch']) + 1}</td>",
                f"<td>{_text(format_number(int(row['phase']) + 1) if isinstance(row.get('phase'), float) else '')}</td>",
                f'<td class="num">{row["epoch_seconds"]:.1f}</td>',
            ]
            for row in timed
        ]
        total = sum(row["epoch_seconds"] for row in timed)
        parts.append(
            f"<p>Training and validation, {len(timed)} epoch(s): {total:.1f} s in all, "
            f"{total / len(timed):.1f} s per epoch.</p>"
        )
        parts.append(
            "<details><summary>Seconds per epoch</summary>" + _table(["epoch", "phase", "seconds"], rows) + "</details>"
        )
    else:
        parts.append("<p>No per-epoch seconds recorded in history.csv.</p>")
    if metrics is not None:
        pairs = [
            (label, _cell(metrics[key], key))
            for key, label in (
                ("train_seconds_this_invocation", "training, seconds (the last invocation)"),
                ("wall_seconds_this_invocation", "wall time, seconds (the last invocation: data, training, "
                 "evaluation, export)"),
            )
            if key in metrics
        ]  # fmt: skip
        if pairs:
            parts.append(_key_value_table(pairs, "timings"))
    return "\n".join(parts)


def _export_section(run: RunDir, run_label: str) -> str:
    parts = ["<h2>Export</h2>"]
    info = _read_json(run.export / "model.json")
    if info is None:
        parts.append(
            f'<p class="missing">{_text(run.export)}/model.json: the SavedModel is written when training ends.</p>'
        )
        return "\n".join(parts)
    shown = ("task", "model", "backbone", "input_size", "channels", "format", "signatures", "preprocessing")
    pairs = [(key, _value_html(info[key])) for key in shown if key in info]
    pairs += [(f"input {name}", _value_html(what)) for name, what in (info.get("inputs") or {}).items()]
    pairs += [(f"output {name}", _value_html(what)) for name, what in (info.get("outputs") or {}).items()]
    parts.append("<h3>Contract (export/model.json)</h3>")
    parts.append(_key_value_table(pairs, "export-contract"))
    parts.append(
        f"<details><summary>model.json in full</summary><pre>{_text(json.dumps(info, indent=2))}</pre></details>"
    )
    export_label = str(Path(run_label) / "export")
    commands = export_commands(run_label, export_label, usage_from_model_json(info))
    parts.append("<h3>Using it</h3>")
    parts.append(f'<pre id="commands">{_text(chr(10).join(commands))}</pre>')
    if (run.export / "README.md").is_file():
        parts.append("<p>The export's model card, for whoever receives the folder: export/README.md.</p>")
    others = sorted(p.parent.name for p in run.root.glob("export-*/model.json"))
    if others:
        parts.append(f"<p>Other exports in this run: {_text(', '.join(others))}.</p>")
    return "\n".join(parts)


def build_report(run_dir: str | Path, run_label: str | None = None) -> str:
    """The HTML of ``run_dir``'s report (see the module doc); ``run_label``: the folder as the commands on the
    page name it (default: ``run_dir`` as given). Raises ``NotARunError`` for a folder without a run's
    ``config.json``."""
    run = RunDir(Path(run_dir))
    config = _read_json(run.config)
    if config is None or not isinstance(config.get("settings"), dict):
        raise NotARunError(
            f"{run_dir} is not a run folder (no config.json with a run's settings in it): give the --out folder "
            "of a recipe run, e.g. runs/unet_vgg16_shapes"
        )
    label = str(run_dir) if run_label is None else run_label
    settings, resolved = config.get("settings", {}), config.get("resolved", {})
    metrics = _read_json(run.metrics) if run.is_finished() else None
    history = read_history(run.history)
    done, total = _progress(config, history)
    name = run.root.resolve().name
    what = f"{settings.get('model', '?')} on {settings.get('backbone', '?')}, {resolved.get('data', settings.get('dataset', ''))}"
    generated = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    versions = ", ".join(f"{k} {v}" for k, v in (config.get("versions") or {}).items())
    body = [
        f"<h1>Run {_text(name)}</h1>",
        f'<p class="sub">{_text(what)}</p>',
        f"<p>{_status(metrics, done, total)}</p>",
        _metrics_section(metrics, history, done, total),
        _pictures_section(run, metrics),
        _data_section(resolved),
        _settings_section(config),
        _timings_section(history, metrics),
        _export_section(run, label),
        f"<footer>Written {_text(generated)} from {_text(label)} (python -m zoo report {_text(shlex.quote(label))} "
        f"rebuilds it). {_text(versions)}</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(name)}: run report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def write_report(run_dir: str | Path, run_label: str | None = None) -> Path:
    """Writes ``run_dir/report.html`` (atomically) and returns its path; see ``build_report``."""
    text = build_report(run_dir, run_label)
    path = RunDir(Path(run_dir)).report
    write_text_atomic(path, text)
    return path

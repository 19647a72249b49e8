"""A run's report.html (zoo.run.report): refreshed at each epoch's end, written last, rebuilt by
``python -m zoo report``; self-contained, every text escaped, every number read back equal to metrics.json.
The page in a real browser: tests/test_report_browser.py."""

from __future__ import annotations

import csv
import html
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from zoo.run.report import build_report, format_number

PROJECT = Path(__file__).resolve().parent.parent


class Cells(HTMLParser):
    """The page's metric cells (``<td data-key=...>``: key, name, field, raw value, text), its pictures' sources,
    its scripts and the text of ``<pre id="commands">``."""

    def __init__(self, text: str):
        super().__init__()
        self.cells, self.images, self.scripts, self.commands = [], [], 0, ""
        self._cell, self._in_commands = None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td" and "data-key" in attrs:
            self._cell = {**attrs, "text": ""}
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "script":
            self.scripts += 1
        elif tag == "pre" and attrs.get("id") == "commands":
            self._in_commands = True

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None
        elif tag == "pre":
            self._in_commands = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_commands:
            self.commands += data


def assert_cells_equal_metrics(cells: list[dict], metrics: dict) -> None:
    """Each cell's raw value is metrics.json's (exactly), and its text is that value as the page formats it; every
    entry of metrics.json but the pictured ones has a cell (a dropped family would not pass)."""
    from zoo.run.report import PICTURED

    assert {cell["data-key"] for cell in cells} == set(metrics) - set(PICTURED)
    for cell in cells:
        value = metrics[cell["data-key"]]
        if "data-name" in cell:
            value = value[cell["data-name"]]
        if "data-field" in cell:
            value = value[cell["data-field"]]
        assert json.loads(cell["data-value"]) == value, cell
        if value is None or isinstance(value, (int, float)):
            assert cell["text"] == format_number(value), cell


def _status(text: str) -> str:
    start = text.index('<span class="status')
    return html.unescape(text[text.index(">", start) + 1 : text.index("</span>", start)])


def test_the_report_is_refreshed_at_each_epoch_end_written_last_and_rebuilt_by_the_command(
    tmp_path, monkeypatch, capsys
):
    import zoo.run.report as report_module
    from recipes import segment
    from zoo.__main__ import main as zoo_main

    seen = []  # (metrics.json there?, curves.png there?, the status line) at each write
    write = report_module.write_report

    def spy(run_dir, run_label=None):
        path = write(run_dir, run_label)
        there = [(Path(run_dir) / name).is_file() for name in ("metrics.json", "curves.png")]
        seen.append((*there, _status(path.read_text())))
        return path

    monkeypatch.setattr(report_module, "write_report", spy)
    run = tmp_path / "run"
    flags = ["--dataset", "synthetic:shapes", "--encoder-weights", "none", "--input-size", "32"]
    flags += ["--synthetic-count", "16", "--batch-size", "4", "--steps-per-epoch", "1", "--schedule", "all:2@1e-3"]
    assert segment.main([*flags, "--out", str(run), "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    assert seen == [  # the curves are drawn at each epoch's end too
        (False, True, "training in progress, epoch 1 of 2"),
        (False, True, "training in progress, epoch 2 of 2"),
        (True, True, "finished: 2 epoch(s), evaluated with the best weights"),
    ]

    text = (run / "report.html").read_text()
    page = Cells(text)
    metrics = json.loads((run / "metrics.json").read_text())
    per_class = [c for c in page.cells if c["data-key"].startswith("per_class_")]
    assert len(per_class) == 3 * len(metrics["per_class_iou"])  # IoU, precision and recall of every class
    assert_cells_equal_metrics(page.cells, metrics)
    # self-contained: the pictures inside the page, no script, nothing fetched
    assert len(page.images) == 3 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.scripts == 0 and "http://" not in text and "https://" not in text
    # the data summary, the resolved settings and why, the timings, the export's commands as the recipe printed them
    config = json.loads((run / "config.json").read_text())
    assert config["resolved"]["data_summary"]["skipped"] == {}
    assert 'id="class-shares"' in text and "--bn-momentum auto: " in html.unescape(text)
    with open(run / "history.csv") as handle:
        seconds = [float(row["epoch_seconds"]) for row in csv.DictReader(handle)]
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert f"{sum(seconds):.1f} s in all" in text
    assert metrics["wall_seconds_this_invocation"] >= metrics["train_seconds_this_invocation"] > 0
    for line in printed.splitlines():
        if line.startswith(("Other formats:", "Run on image files", "    serve = tf.saved_model.load(")):
            assert line in page.commands.splitlines(), (line, page.commands)
    assert "model.json" in text and "int32 [batch, height, width]" in text

    # python -m zoo report rebuilds the same page from the folder
    (run / "report.html").unlink()
    assert zoo_main(["report", str(run)]) == 0
    again = Cells((run / "report.html").read_text())
    assert again.cells == page.cells and len(again.images) == 3
    assert str(run / "report.html") in capsys.readouterr().out


def test_zoo_report_refuses_a_folder_that_is_not_a_run_in_one_line(tmp_path, capsys):
    from zoo.__main__ import main as zoo_main

    (tmp_path / "notes.txt").write_text("not a run")
    assert zoo_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and str(tmp_path) in err and "not a run folder" in err
    assert not (tmp_path / "report.html").exists()


def _hand_made_run(root: Path) -> Path:
    """A run folder mid-training, written by hand: names with HTML in them, one epoch of three done."""
    run = root / "run"
    run.mkdir()
    config = {
        "settings": {
            "model": "unet",
            "backbone": "vgg16",
            "dataset": "folder:<x>",
            "schedule": "head:1@1e-3,all:2@1e-4",
        },
        "resolved": {
            "input_size": [32, 32],
            "data": "pictures of <b>cats</b> & dogs",
            "num_train": 10,
            "num_val": 2,
            "data_summary": {"skipped": {"broken <img> files": 2}, "warnings": ["rare class <cat>"], "notes": []},
            "why": {"precision": "auto: <cpu>"},
            "precision": "float32",
        },
        "versions": {"python": "3"},
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "history.csv").write_text("epoch,epoch_seconds,learning_rate,loss,phase,val_loss\n0,2.5,0.001,0.9,0,1.1\n")
    return run


def test_a_report_mid_run_says_training_is_in_progress_and_escapes_every_text(tmp_path):
    run = _hand_made_run(tmp_path)
    text = build_report(run)
    assert _status(text) == "training in progress, epoch 1 of 3"
    assert "metrics.json is written when training" in text and "curves.png: not drawn yet" in text
    for raw in ("<b>cats</b>", "<img> files", "<cat>", "<cpu>", "folder:<x>"):
        assert raw not in text and html.escape(raw) in text
    assert "<script" not in text and "<img" not in text  # nothing drawn yet, and no script ever

    # a finished keypoint run's metrics: scalars, a record per keypoint, records of records; names with HTML
    metrics = {
        "pck": 0.8125,
        "nme": 0.0412345,
        "keypoints_evaluated": 40,
        "per_keypoint": {"<i>eye</i>": {"pck": 0.75, "mean_pixel_error": 1.23456}, "nose": {"pck": None, "x": 1}},
        "ap": {"ap": 0.5, "ap_large": None},
        "decodings": {"dark": {"ap": 0.5, "pck": 0.8}, "argmax": {"ap": 0.25, "pck": 0.7}},
        "mean_offset": [0.1, -0.2],
        "weights": "best",
        "epochs": 3,
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    text = build_report(run)
    page = Cells(text)
    assert _status(text) == "finished: 3 epoch(s), evaluated with the best weights"
    assert 'id="per-keypoint"' in text and "<i>eye</i>" not in text
    assert {c["data-name"] for c in page.cells if c["data-key"] == "per_keypoint"} == {"<i>eye</i>", "nose"}
    assert len([c for c in page.cells if c["data-key"] == "decodings"]) == 4
    assert_cells_equal_metrics(page.cells, metrics)
    assert any(c["text"] == "0.0412" for c in page.cells) and any(c["text"] == "n/a" for c in page.cells)


def test_zoo_report_loads_no_tensorflow(tmp_path):
    run = _hand_made_run(tmp_path)
    code = (
        "import sys; from zoo.__main__ import main; assert main(['report', sys.argv[1]]) == 0; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert (run / "report.html").is_file()


@pytest.mark.parametrize(
    "value, text", [(0.123456, "0.1235"), (3, "3"), (None, "n/a"), (True, "yes"), (1e-5, "0.0000")]
)
def test_numbers_are_written_with_four_decimals(value, text):
    assert format_number(value) == text


def test_epoch_seconds_join_a_new_history_but_never_an_older_one_without_the_column(tmp_path):
    from zoo.run.phases import _times_epochs

    history = tmp_path / "history.csv"
    assert _times_epochs(history)  # a new run
    history.write_text("epoch,epoch_seconds,loss,phase\n0,1.5,0.3,0\n")
    assert _times_epochs(history)
    history.write_text("epoch,learning_rate,loss,phase\n0,0.001,0.3,0\n")  # a run started before the column
    assert not _times_epochs(history)  # its rows keep matching its header when it resumes


def test_a_report_refresh_that_fails_warns_and_training_goes_on():
    """RefreshReport: any error of the refresh (here a TypeError from a malformed record) is one warning line;
    Ctrl-C still ends the run."""
    import pytest

    from zoo.run.phases import RefreshReport

    lines = []

    def broken():
        raise TypeError("'NoneType' object is not subscriptable")

    RefreshReport(broken, lines.append).on_epoch_end(2)
    assert lines == [
        "warning: report.html not refreshed after epoch 3: TypeError: 'NoneType' object is not subscriptable"
    ]

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        RefreshReport(interrupted, lines.append).on_epoch_end(0)

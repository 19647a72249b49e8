"""A run's report.html in a real browser: headless Chromium (Debian's package, /usr/bin/chromium) driven by
Playwright. The page loads from file:// with no console or page error and no request beyond the file itself,
every picture decodes, and the metric tables read back equal to metrics.json. The segmentation page's
screenshot goes to ``$ZOO_REPORT_SCREENSHOT`` (``make browser``: docs/images/report.png).

Skipped only where Playwright or Chromium is missing (``make browser`` installs both, and sets
``ZOO_REQUIRE_BROWSER=1``, which turns that skip into a failure)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from zoo.run.report import format_number, write_report

CHROMIUM = os.environ.get("ZOO_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_WIDTH, SCREENSHOT_HEIGHT = 1000, 1500
SCREENSHOT_LIMIT = 300 * 1024  # bytes: docs/images/report.png stays small


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (make browser installs Debian's chromium package)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("ZOO_REQUIRE_BROWSER"):
            pytest.fail(f"ZOO_REQUIRE_BROWSER is set but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium refuses to start its sandbox as root (containers, CI)
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    """A finished segmentation run: U-Net/VGG16 at 64 px on synthetic shapes, 2 epochs of 2 steps."""
    from recipes import segment

    run = tmp_path_factory.mktemp("report") / "unet_vgg16_shapes"
    flags = ["--dataset", "synthetic:shapes", "--encoder-weights", "none", "--input-size", "64"]
    flags += ["--synthetic-count", "24", "--batch-size", "4", "--steps-per-epoch", "2", "--schedule", "all:2@1e-3"]
    assert segment.main([*flags, "--out", str(run), "--verbose", "0"]) == 0
    return run


def _open(browser, path: Path, width: int = SCREENSHOT_WIDTH, height: int = SCREENSHOT_HEIGHT):
    """The page of ``path`` loaded from file://, and the problems seen while loading it."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)  # fmt: skip
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, problems, requests


CELLS = """() => Array.from(document.querySelectorAll('td[data-key]')).map(td => ({
    key: td.dataset.key, name: td.dataset.name ?? null, field: td.dataset.field ?? null,
    value: td.dataset.value, text: td.textContent, table: td.closest('table').id}))"""
IMAGES = """() => Array.from(document.images).map(img => ({
    alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight}))"""


def _check_page(page, problems, requests, metrics: dict, images: int) -> list[dict]:
    """The checks every report page passes; returns its metric cells."""
    assert problems == []
    assert [url for url in requests if not url.startswith(("file://", "data:"))] == []
    shown = page.evaluate(IMAGES)
    assert len(shown) == images, shown
    assert all(img["complete"] and img["width"] > 0 and img["height"] > 0 for img in shown), shown
    cells = page.evaluate(CELLS)
    assert cells
    for cell in cells:
        value = metrics[cell["key"]]
        if cell["name"] is not None:
            value = value[cell["name"]]
        if cell["field"] is not None:
            value = value[cell["field"]]
        assert json.loads(cell["value"]) == value, cell
        if value is None or isinstance(value, (int, float)):
            assert cell["text"] == format_number(value), cell
    return cells


@pytest.mark.browser  # a run of its own and the screenshot: make browser (the fast tier opens the other two pages)
def test_the_segmentation_report_opens_offline_with_every_picture_and_the_metrics_json_numbers(
    browser, shapes_run, tmp_path
):
    metrics = json.loads((shapes_run / "metrics.json").read_text())
    page, problems, requests = _open(browser, shapes_run / "report.html")
    cells = _check_page(page, problems, requests, metrics, images=3)  # curves, samples, confusion
    table = [c for c in cells if c["table"] == "per-class"]
    names = list(metrics["per_class_iou"])
    assert {(c["key"], c["name"]) for c in table} == {
        (f"per_class_{m}", n) for m in ("iou", "precision", "recall") for n in names
    }
    header = page.evaluate("() => Array.from(document.querySelectorAll('#per-class th')).map(th => th.textContent)")
    assert header[:4] == ["class", "IoU", "precision", "recall"] and header[4:] == names
    assert page.title().endswith("run report")
    assert "finished: 2 epoch(s)" in page.inner_text(".status")

    shot = Path(os.environ.get("ZOO_REPORT_SCREENSHOT") or tmp_path / "report.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))  # the top of the page: status, metrics, per-class table, curves
    page.close()
    assert shot.stat().st_size < SCREENSHOT_LIMIT, f"{shot} is {shot.stat().st_size} bytes"


def test_the_keypoint_report_shows_every_table_of_its_metrics(browser, request, tmp_path):
    faces_run = request.getfixturevalue("faces_run")  # tests/conftest.py's, built once Chromium is known to be there
    run = tmp_path / "faces"
    shutil.copytree(faces_run, run, ignore=shutil.ignore_patterns("checkpoints", "logs", "export-*", ".lock"))
    write_report(run)
    metrics = json.loads((run / "metrics.json").read_text())
    page, problems, requests = _open(browser, run / "report.html")
    cells = _check_page(page, problems, requests, metrics, images=2)  # curves, samples: no confusion
    keypoints = {c["name"] for c in cells if c["table"] == "per-keypoint"}
    assert keypoints == set(metrics["per_keypoint"])
    assert {c["name"] for c in cells if c["key"] == "decodings"} == set(metrics["decodings"])
    assert "AP" in page.inner_text("#metrics-ap")
    page.close()


def test_a_report_mid_run_opens_and_says_training_is_in_progress(browser, request, tmp_path):
    finished = request.getfixturevalue("gray_run")  # tests/conftest.py's segmentation run (2 epochs)
    run = tmp_path / "mid"
    run.mkdir()
    for name in ("config.json", "history.csv", "curves.png"):
        shutil.copy(finished / name, run / name)
    write_report(run)
    page, problems, requests = _open(browser, run / "report.html")
    assert problems == [] and page.evaluate(IMAGES)[0]["width"] > 0
    assert page.inner_text("#in-progress") == "training in progress, epoch 2 of 2"
    assert page.evaluate("() => document.querySelectorAll('td[data-key]').length") == 0  # no metrics.json yet
    page.close()

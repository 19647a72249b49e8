"""A third task from one folder (tests/toy_task/depth/) and one recipe file (tests/toy_task/depth_recipe.py):
the registry finds it, the driver trains it, and export, the runtimes and predict serve it unchanged."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo.tasks

TOY = Path(__file__).resolve().parent / "toy_task"


@pytest.fixture
def depth_recipe(monkeypatch):
    monkeypatch.setattr(zoo.tasks, "__path__", [*zoo.tasks.__path__, str(TOY)])  # the folder joins zoo/tasks
    spec = importlib.util.spec_from_file_location("depth_recipe", TOY / "depth_recipe.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "depth_recipe", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.RECIPE


@pytest.mark.parametrize("learn", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_task_folder_and_a_recipe_file_train_export_and_predict(depth_recipe, tmp_path, learn):
    """Fast: a short run, its SavedModel and predict. Slow (learn): long enough to beat the constant guess,
    and the ONNX export answers as the SavedModel does."""
    from PIL import Image

    from recipes.driver import main
    from zoo.export import export_run, load
    from zoo.predict import predict_files
    from zoo.tasks import TASKS

    assert set(TASKS) == {"depth", "keypoints", "segmentation"}
    run = tmp_path / "run"
    schedule, steps = ("all:4@3e-3", "10") if learn else ("all:1@3e-3", "2")
    flags = ["--encoder-weights", "none", "--batch-size", "8", "--schedule", schedule, "--steps-per-epoch", steps]
    assert main(depth_recipe, [*flags, "--out", str(run), "--verbose", "0"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["constant_guess_error"] > 0 and metrics["mean_absolute_error"] >= 0
    if learn:
        assert metrics["mean_absolute_error"] < 0.8 * metrics["constant_guess_error"]  # it learned something
    info = json.loads((run / "export" / "model.json").read_text())
    assert info["task"] == "depth" and info["unit"].startswith("relative depth") and "depth" in info["outputs"]

    picture = np.full((40, 50, 3), 30, np.uint8)
    picture[10:30, 15:35] = 128  # a square at depth about 0.5
    saved = load(run / "export")(picture[None])
    assert saved["depth"].shape == (1, 40, 50)
    export = run / "export"
    if learn:
        export = export_run(run, "onnx")
        np.testing.assert_allclose(load(export)(picture[None])["depth"], saved["depth"], atol=1e-4)
    Image.fromarray(picture).save(tmp_path / "picture.png")
    summary = predict_files(export, [tmp_path / "picture.png"], tmp_path / "out", progress=False)
    assert summary.written and not summary.skipped
    assert np.load(tmp_path / "out" / "picture_depth.npy").shape == (40, 50)
    with pytest.raises(ValueError, match="takes none of"):
        predict_files(export, [tmp_path / "picture.png"], tmp_path / "out2", tta="flip")


def test_without_its_folder_the_task_is_unknown_and_named():
    from zoo.tasks import get_task

    with pytest.raises(ValueError, match=r"unknown task 'depth'.*keypoints.*segmentation"):
        get_task("depth")

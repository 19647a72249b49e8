"""The task registry (zoo.tasks): one place per task, the network a run stores, the heatmap codec."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from zoo.tasks import TASKS, NetworkSpec, build_network, get_task
from zoo.tasks.keypoints.heatmap_codec import HeatmapCodec

ROOT = Path(__file__).resolve().parent.parent


def test_every_task_answers_the_protocol():
    from zoo.tasks.base import Task

    assert set(TASKS) == {"segmentation", "keypoints"}
    methods = [name for name, value in vars(Task).items() if callable(value) and not name.startswith("_")]
    assert {"serving_fn", "run", "predict_boxes", "with_tta", "call_options", "write_samples"} <= set(methods)
    for name, task in TASKS.items():
        assert task.name == name and task.serving_outputs and task.network_output
        assert task.recipe and isinstance(dict(task.sample_kinds), dict)
        for method in methods:
            assert callable(getattr(task, method)), (name, method)


def test_an_unknown_task_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown task 'depth'.*keypoints.*segmentation"):
        get_task("depth")


def test_no_task_branch_outside_the_task_modules():
    pattern = re.compile(
        r"""(\["task"\]|\.task|\w*task\w*\([^)]*\)|\btask)\s*[!=]=\s*["']"""
        r"""(segmentation|keypoints|segment|pose)["']|\bper_pixel\b"""
    )
    assert pattern.search('if _task(name) == "pose":') and pattern.search('info["task"] != "keypoints"')
    assert pattern.search("if get_task(info.task).per_pixel:")
    found = []
    for folder in ("zoo", "recipes", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            if "tasks" in path.relative_to(ROOT).parts:
                continue
            found += [
                f"{path.relative_to(ROOT)}:{i}"
                for i, line in enumerate(path.read_text().splitlines(), 1)
                if pattern.search(line)
            ]
    assert not found, f"task branches outside zoo/tasks: {found}"


def _keypoint_run(tmp_path: Path, store_network: bool) -> tuple[Path, object]:
    spec = HeatmapCodec(stride=8).network("simple_baseline", "vgg16", 3, (32, 32, 3))
    model = build_network(spec)
    run = tmp_path / ("stored" if store_network else "legacy")
    (run / "checkpoints").mkdir(parents=True)
    model.save_weights(str(run / "checkpoints" / "best.weights.h5"))
    resolved = {
        "input_size": [32, 32],
        "channels": 3,
        "keypoint_names": ["a", "b", "c"],
        "flip_index": [0, 1, 2],
        "heatmap_stride": 8,
    }
    if store_network:
        resolved["network"] = spec.to_json()
    config = {
        "settings": {"model": "simple_baseline", "backbone": "vgg16", "sigma": 1.5, "decode": "argmax"},
        "resolved": resolved,
    }
    (run / "config.json").write_text(json.dumps(config))
    return run, model


@pytest.mark.parametrize("store_network", [True, False])
def test_a_run_is_rebuilt_from_its_stored_network_or_else_from_its_task(tmp_path, store_network):
    from zoo.export import load_run

    run, model = _keypoint_run(tmp_path, store_network)
    loaded, info, source = load_run(run)
    assert info.task == "keypoints" and source["weights"] == "best"
    codec = info.fields.codec
    assert codec["heatmap_stride"] == 8 and codec["sigma"] == 1.5 and codec["decode"] == "argmax"
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_network_spec_round_trips_through_json():
    spec = NetworkSpec("unet", {"backbone": "vgg16", "num_classes": 3, "input_shape": (64, 32, 1)})
    again = NetworkSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec
    with pytest.raises(ValueError, match="resolved.network"):
        NetworkSpec.from_json({"kwargs": {}})


def test_the_heatmap_codec_refuses_networks_and_strides_it_cannot_make():
    with pytest.raises(ValueError, match="stride 3"):
        HeatmapCodec(stride=3).network("simple_baseline", "vgg16", 2, (32, 32, 3))
    with pytest.raises(ValueError, match="stride 1"):
        HeatmapCodec(stride=4).network("unet", "vgg16", 2, (32, 32, 3))


def test_heatmap_codec_encodes_and_decodes_back_to_the_same_pixels():
    codec = HeatmapCodec(stride=4, sigma=2.0, decoding="dark")
    points = tf.constant([[30.3, 20.7], [41.0, 25.5]])  # (x, y) away from the border
    maps, weights = codec.encode(points, tf.constant([1, 1]), (48, 64))
    assert maps.shape == (12, 16, 2) and weights.numpy().tolist() == [1.0, 1.0]
    coords, scores = codec.decode(maps[None])
    np.testing.assert_allclose(coords[0].numpy(), points.numpy(), atol=0.1)
    assert codec.heatmap_size((48, 64)) == (12, 16)
    assert HeatmapCodec.from_info(codec.to_info()) == codec


@pytest.mark.parametrize(
    "kwargs, message", [({"stride": 3}, "stride 3"), ({"sigma": 0}, "sigma"), ({"decoding": "mean"}, "decoding 'mean'")]
)
def test_heatmap_codec_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HeatmapCodec(**kwargs)


@pytest.mark.parametrize("task", ["segmentation", "keypoints"])
def test_each_task_states_the_settings_it_reads_and_its_recipe_has_them(task):
    import dataclasses
    import importlib

    recipe = get_task(task).recipe
    module = importlib.import_module(f"zoo.tasks.{task}.training")
    protocol = next(v for k, v in vars(module).items() if k.endswith("Settings") and v.__module__ == module.__name__)
    stated = set(protocol.__annotations__)
    read = set(re.findall(r"\bsettings\.(\w+)", Path(module.__file__).read_text())) - {"__dict__"}
    assert read <= stated, f"read but not in {protocol.__name__}: {sorted(read - stated)}"
    config = importlib.import_module(f"recipes.{recipe}").RECIPE.config
    assert stated - {"data"} <= {f.name for f in dataclasses.fields(config)}  # data: --dataset parsed


def test_a_stored_network_rebuilds_as_trained_when_a_builder_default_changed(tmp_path):
    from recipes.driver import check_same_network
    from zoo.tasks.base import NetworkSpec

    old = {"builder": "deeplabv3plus", "kwargs": {"backbone": "resnet50", "num_classes": 3, "input_shape": [64, 64, 3]}}
    assert NetworkSpec.from_json(old).kwargs["output_stride"] == 32  # as DeepLabV3+ ran before dilated encoders

    class Run:
        root = tmp_path
        config = tmp_path / "config.json"

    Run.config.write_text(json.dumps({"resolved": {"network": old}}))
    same = NetworkSpec(
        "deeplabv3plus", {"backbone": "resnet50", "num_classes": 3, "input_shape": (64, 64, 3), "output_stride": 32}
    )
    check_same_network(Run, same)
    with pytest.raises(ValueError, match="was trained as .*'output_stride': 32.* these settings build .*16"):
        check_same_network(Run, NetworkSpec("deeplabv3plus", {**same.kwargs, "output_stride": 16}))

"""The library as users install it: a built wheel (pip install ., not -e) has what it needs."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_non_editable_install_finds_the_weights_manifest_and_its_own_store(tmp_path):
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ in it
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("zoo", "recipes", "benchmarks"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("dense_zoo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "zoo/models/weights_manifest.json" in names and "recipes/segment.py" in names
    assert "zoo/export/export_matrix.json" in names  # zoo models --exports
    assert (
        "zoo/tasks/segmentation/presets/cityscapes.json" in names and "zoo/tasks/keypoints/presets/wflw.json" in names
    )
    assert not [n for n in names if n.startswith(("benchmarks/", "tests/", "weights/"))]
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_WEIGHTS_DIR", "XDG_CACHE_HOME")}
    env.update(PYTHONPATH=str(site), HOME=str(tmp_path / "home"))
    probe = "import zoo, zoo.models.weights as w; print(zoo.__file__); print(len(w.manifest())); print(w.store_dir())"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    where, count, store = done.stdout.split()
    assert Path(where).is_relative_to(site)  # the installed copy, not this checkout
    assert int(count) == len(json.loads((ROOT / "zoo" / "models" / "weights_manifest.json").read_text())["files"])
    assert Path(store) == tmp_path / "home" / ".cache" / "dense-zoo" / "weights"
    listed = subprocess.run(
        [sys.executable, "-m", "zoo", "weights", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in listed.stdout and "missing" in listed.stdout
    assert listed.stderr == ""  # no TensorFlow start-up lines (python -m zoo starts quietly)

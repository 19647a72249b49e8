"""The guides in docs/ and the README run as written: every ```bash and ```python block, in order, in one scratch
folder (in make test-slow: the guides train; the fast tier checks that each has blocks and is listed)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
GUIDES = sorted((PROJECT / "docs").glob("[0-9]*.md"))
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)
NEEDS = re.compile(r"<!-- needs: (.+?) -->")
# the two longest guides, needed by no other, run from tests/test_docs_long.py: a file of their own, so that
# pytest-xdist (--dist loadfile) can give them to the other worker than the rest of the guides
LONG = ("2-keypoints-with-heatmaps.md", "7-large-images.md")


def blocks(guide: Path) -> list[tuple[str, str]]:
    return BLOCK.findall(guide.read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return {"path": tmp_path_factory.mktemp("guides"), "done": set()}


def _run_guide(guide: Path, workdir: dict) -> None:
    for needed in NEEDS.findall(guide.read_text()):
        if needed not in workdir["done"]:
            _run_guide(PROJECT / "docs" / needed, workdir)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(PROJECT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    for number, (language, code) in enumerate(blocks(guide), 1):
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        proc = subprocess.run(command, cwd=workdir["path"], env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (
            f"{guide.name}, block {number} ({language}) failed:\n{code}\n--- stdout:\n"
            f"{proc.stdout[-3000:]}\n--- stderr:\n{proc.stderr[-3000:]}"
        )
    workdir["done"].add(guide.name)


def test_every_guide_has_runnable_blocks():
    assert len(GUIDES) == 7
    index = (PROJECT / "docs" / "README.md").read_text()
    for guide in GUIDES:
        assert f"]({guide.name})" in index, f"{guide.name} is not listed in docs/README.md"
        assert blocks(guide), f"{guide.name} has no bash/python block"


@pytest.mark.slow
@pytest.mark.parametrize(
    "guide", [g for g in GUIDES if g.name not in LONG], ids=[g.stem for g in GUIDES if g.name not in LONG]
)
def test_guide_runs_as_written(guide, workdir):
    if guide.name not in workdir["done"]:
        _run_guide(guide, workdir)


def test_the_readme_has_runnable_blocks_and_lists_every_guide():
    readme = (PROJECT / "README.md").read_text()
    assert [language for language, _ in blocks(PROJECT / "README.md")] == ["python", "bash"]
    for guide in GUIDES:
        assert f"](docs/{guide.name})" in readme, f"{guide.name} is not in the README's table of guides"
    assert len(readme.splitlines()) <= 300  # a front page: the reference is in docs/


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path):
    _run_guide(PROJECT / "README.md", {"path": tmp_path, "done": set()})

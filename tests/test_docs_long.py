"""The guides of ``test_docs.LONG`` run as written, as tests/test_docs.py runs the others (in a scratch
folder of their own: no other guide needs them)."""

import pytest
from test_docs import GUIDES, LONG, NEEDS, _run_guide


def test_no_guide_needs_the_long_ones():
    for guide in GUIDES:
        assert not set(NEEDS.findall(guide.read_text())) & set(LONG), guide.name


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return {"path": tmp_path_factory.mktemp("long_guides"), "done": set()}


@pytest.mark.slow
@pytest.mark.parametrize("guide", [g for g in GUIDES if g.name in LONG], ids=[g.stem for g in GUIDES if g.name in LONG])
def test_guide_runs_as_written(guide, workdir):
    assert guide.name in LONG
    if guide.name not in workdir["done"]:
        _run_guide(guide, workdir)

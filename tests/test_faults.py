"""Faults: SIGKILL at random moments, Ctrl-C, a loss that turns NaN; nothing lost or half-written."""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parent.parent
# Deterministic and without (stateful) augmentation, so an interrupted run can be compared
# with an uninterrupted one weight by weight.
RUN = [
    "--input-size",
    "32",
    "--encoder-weights",
    "none",
    "--synthetic-count",
    "40",
    "--batch-size",
    "4",
    "--steps-per-epoch",
    "4",
    "--seed",
    "3",
    "--no-augment",
    "--deterministic",
    "--verbose",
    "0",
]


def _env():
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(PROJECT))
    return env


def _start(args):
    return subprocess.Popen(
        [sys.executable, "-m", "recipes.segment", *args],
        cwd=PROJECT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _epochs(run):
    with open(run / "history.csv") as handle:
        return [int(r["epoch"]) for r in csv.DictReader(handle)]


def _weights(path):
    with h5py.File(path, "r") as f:
        arrays = {}
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def _interrupt_with_ctrl_c(run, args):
    """Starts a run, presses Ctrl-C once its first epoch is saved; checks the clean stop."""
    proc = _start(args)
    backup = run / "checkpoints" / "backup" / "phase0" / "training_metadata.json"
    deadline = time.monotonic() + 300
    while not backup.is_file():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-3000:]
    assert "interrupted (Ctrl-C)" in out and "re-run the same command" in out and "Traceback" not in out
    assert backup.is_file() and not (run / "metrics.json").exists()


@pytest.mark.slow
def test_ctrl_c_then_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    """One uninterrupted run; one stopped by Ctrl-C after its first epoch, then killed (SIGKILL)
    at a random moment (start-up, mid-epoch or while saving), then re-run to the end."""
    args = [*RUN, "--schedule", "head:2@1e-3,all:2@1e-4"]
    # The reference run goes alongside the interrupted one (determinism does not depend on load).
    straight = _start([*args, "--out", str(tmp_path / "straight")])

    run = tmp_path / "interrupted"
    _interrupt_with_ctrl_c(run, [*args, "--out", str(run)])
    kills = 0
    for delay in random.Random(7).sample(range(3, 15), 1):  # seconds after the start
        proc = _start([*args, "--out", str(run)])
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        proc.stdout.close()
        for name in ("checkpoints/best.weights.h5", "checkpoints/phase0.weights.h5"):  # never half-written
            if (run / name).exists():
                assert _weights(run / name)
    assert kills == 1, "the run finished before it could be killed"
    straight_out = straight.communicate(timeout=600)[0]
    assert straight.returncode == 0, straight_out[-3000:]
    final = subprocess.run(
        [sys.executable, "-m", "recipes.segment", *args, "--out", str(run)],
        cwd=PROJECT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert "resuming" in final.stdout
    assert _epochs(run) == [0, 1, 2, 3]  # every epoch exactly once
    assert (run / "metrics.json").is_file() and (run / "export" / "saved_model.pb").is_file()
    assert not list(run.glob("checkpoints/**/.*partial*")) and not list(run.glob("checkpoints/backup/*.new"))
    expected, got = (
        _weights(tmp_path / "straight/checkpoints/phase1.weights.h5"),
        _weights(run / "checkpoints/phase1.weights.h5"),
    )
    assert expected.keys() == got.keys() and len(expected) > 50
    # With op determinism, the same seed and the data position restored on resume, the
    # weights are bit-identical.
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


@pytest.mark.slow
def test_a_loss_that_becomes_nan_stops_with_where_and_why_and_keeps_the_last_good_state(tmp_path):
    run = tmp_path / "diverged"
    proc = subprocess.run(
        [sys.executable, "-m", "recipes.segment", *RUN, "--schedule", "head:1@1e-4,all:2@1e30", "--out", str(run)],
        cwd=PROJECT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    message = proc.stderr
    assert "the training loss became" in message and "at epoch 2, step" in message and "(phase 2)" in message
    assert "learning rate too high" in message and "Traceback" not in message
    assert "phase0.weights.h5" in message
    assert _epochs(run) == [0]  # the diverged epoch left no row
    good = _weights(run / "checkpoints/phase0.weights.h5")
    assert all(np.isfinite(v).all() for v in good.values() if v.dtype.kind == "f")
    assert all(
        np.isfinite(v).all() for v in _weights(run / "checkpoints/best.weights.h5").values() if v.dtype.kind == "f"
    )
    assert not (run / "export").exists() and not (run / "metrics.json").exists()

"""The command lines start quietly: TensorFlow's C++ start-up lines only with --debug, real errors kept."""

import os
import subprocess
import sys

from zoo.utils.startup import STARTUP_NOISE, _filter

CHECK = [
    sys.executable,
    "-m",
    "recipes.segment",
    "check",
    "--dataset",
    "synthetic:shapes",
    "--encoder-weights",
    "none",
    "--input-size",
    "64",
    "--synthetic-count",
    "8",
]


def _run(args):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def test_a_recipe_starts_without_tensorflows_startup_lines_unless_debug():
    quiet = _run(CHECK)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "nothing stops training" in quiet.stdout
    assert quiet.stderr == ""
    loud = _run([*CHECK, "--debug"])
    assert loud.returncode == 0
    # the control: this TensorFlow does print them (2.21 on x86: oneDNN, cpu_feature_guard, absl's warning)
    assert STARTUP_NOISE.search(loud.stderr), loud.stderr[-2000:]


def test_the_filter_drops_startup_lines_and_keeps_everything_else():
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1.1 1 port.cc:153] oneDNN custom operations are on. You may see ...\n"
        "I0000 00:00:1.2 1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.\n"
        "E0000 00:00:1.3 1 some_kernel.cc:10] a real error\n"
        "and its second line\n"
        "E0000 00:00:1.4 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n"
    )
    assert _filter(text) == "E0000 00:00:1.3 1 some_kernel.cc:10] a real error\nand its second line\n"

"""The command lines start quietly: TensorFlow's C++ start-up lines only with --debug, real errors kept."""

import json
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


NOISY_PROGRAM = r"""
import os, sys, time
from zoo.utils.startup import quiet_startup
quiet_startup()
os.write(2, b"E")  # a noise line in two writes
time.sleep(0.05)
os.write(2, b"0000 00:00:1764 1 mkl_util.h:123] oneDNN supports DT_UINT8 only on platforms with AVX-512. "
            b"Falling back to the default Eigen-based implementation if present.\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
os.write(2, b"step 1/2\r")
print("the program's own line", file=sys.stderr)
os.write(2, "caf\u00e9".encode()[:-1])  # a character split across two writes
time.sleep(0.05)
os.write(2, "caf\u00e9".encode()[-1:] + b"\n")
os.write(2, b"E0000 00:00:1.3 1 cuda_dnn.cc:535] Could not create cudnn handle\n")  # a real error, kept
os.write(2, b"F0000 00:00:1.4 1 check.cc:1] a fatal check\n")
os.abort()  # nothing written before a crash is lost
"""


def test_lines_printed_while_running_are_filtered_for_the_whole_process_and_the_rest_kept_in_order():
    done = subprocess.run([sys.executable, "-c", NOISY_PROGRAM], capture_output=True, timeout=60)
    assert done.returncode == -6
    assert done.stderr.decode() == (
        "step 1/2\rthe program's own line\ncaf\u00e9\n"
        "E0000 00:00:1.3 1 cuda_dnn.cc:535] Could not create cudnn handle\n"
        "F0000 00:00:1.4 1 check.cc:1] a fatal check\n"
    )


BAD_SHARED_FLAGS = [
    ["--model", "nope"],
    ["--batch-size", "0"],
    ["--steps-per-execution", "0"],
    ["--seed", "99999999999999"],
    ["--seed", "-1"],
    ["--channels", "0"],
    ["--steps-per-epoch", "0"],
    ["--cpu-devices", "0"],
    ["--synthetic-count", "0"],
    ["--epochs", "0"],
    ["--input-size", "0"],
    ["--input-size", "64x"],
    ["--schedule", "all:x@1"],
    ["--warmup", "-1"],
    ["--bn-momentum", "2"],
    ["--backbone", "vgg99"],
    ["--epochs", "3", "--schedule", "all:2@1e-3"],  # --epochs would be ignored
]

# The segmentation wing's own flags with bad values (its validate runs before any data is read).
BAD_SEGMENT_FLAGS = [
    ["--ohem-fraction", "0"],
    ["--repeat-rare", "-1"],
    ["--train-crop", "--crop-max-share", "2"],
    ["--train-crop", "--scale-jitter", "0,1"],
    ["--scale-jitter", "0.5,2"],  # without --train-crop it would do nothing
    ["--ignore-index", "-1"],
    ["--num-classes", "1"],
    ["--num-classes", "1000"],
    ["--label-tolerance", "-5"],
    ["--loss", "nope"],
    ["--output-stride", "4"],
]


CASES = [
    ("recipes.segment", ["--help"], "train"),
    ("recipes.pose", ["--help"], "train"),
    # the driver checks before it branches: check and training alike for the shared flags, training for the rest
    *(("recipes.segment", args, command) for args in BAD_SHARED_FLAGS for command in ("check", "train")),
    *(("recipes.segment", args, "train") for args in BAD_SEGMENT_FLAGS),
    *(
        ("recipes.pose", args, command)
        for args in (["--batch-size", "0"], ["--head", "nope"], ["--sigma", "-1"], ["--input-size", "100"])
        for command in ("check", "train")
    ),
]


WALK = r"""
import contextlib, importlib, io, json, sys
results = []
for recipe, argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = importlib.import_module(recipe).cli(argv)
        except SystemExit as done:  # argparse: --help, a bad choice or type
            code = done.code
    results.append([code, err.getvalue()])
print(json.dumps({"results": results, "loaded": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""


def test_recipe_help_and_flag_errors_answer_without_loading_tensorflow_in_check_and_training_alike():
    """Every shared flag with a bad value: ``check`` and training refuse it in one line (exit 2), before
    TensorFlow is imported (so in well under a second); the segmentation wing's own flags too. One process
    walks every case: TensorFlow must still be absent at its end."""
    argv = [[recipe, ["check", *args] if command == "check" else args] for recipe, args, command in CASES]
    done = subprocess.run([sys.executable, "-c", WALK, json.dumps(argv)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    walked = json.loads(done.stdout.splitlines()[-1])
    assert walked["loaded"] == [], walked["loaded"]
    for (recipe, args, command), (code, err) in zip(CASES, walked["results"]):
        case = f"{recipe} {command} {' '.join(args)}"
        assert code == (0 if args == ["--help"] else 2), (case, code, err)
        if code == 2:
            assert err.startswith("error: ") or "usage:" in err, (case, err)
            assert "Traceback" not in err and err.count("error:") == 1, (case, err)

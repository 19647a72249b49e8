"""Quiet command-line start-up: TensorFlow's C++ start-up lines kept off the terminal.

Importing TensorFlow 2.21 writes lines like ``oneDNN custom operations are on``,
``Could not find cuda drivers``, ``This TensorFlow binary is optimized to use ...`` and,
on first device use, ``failed call to cuInit`` to file descriptor 2. They come from C++
before absl logging is initialised, so neither ``TF_CPP_MIN_LOG_LEVEL`` nor
``ABSL_MIN_LOG_LEVEL`` silences them (measured). ``quiet_startup()`` installs an import
hook: when ``tensorflow`` is first imported, wherever that happens, file descriptor 2 is
sent to a temporary file for the import and the device scan, then restored; the known
start-up lines are dropped and anything else (a real error) is written back to stderr.
Nothing happens when TensorFlow is never imported (predict on an ONNX or LiteRT export).

Only the command-line entry points call it (``python -m zoo``, ``python -m recipes.*``),
and not with ``--debug``; importing the library changes nothing.
"""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
import tempfile

# Start-up lines of TensorFlow's C++ runtime (checked on TensorFlow 2.21, CPU and CUDA builds).
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_dnn\.cc|cuda_fft\.cc|cuda_blas\.cc"
    r"|cpu_feature_guard\.cc"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning"
    r"|Attempting to register factory for plugin"
)


def _filter(text: str) -> str:
    """``text`` without the start-up lines (a line that continues one of them goes with it)."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if STARTUP_NOISE.search(line):
            skipping = True
            continue
        # TensorFlow's own lines start with a severity and a time stamp (I0000 00:00:...); a line that does
        # not (the AVX list after "This TensorFlow binary is optimized") continues the one before
        if skipping and not re.match(r"[IWEF]\d{4} ", line) and line.strip():
            continue
        skipping = False
        kept.append(line)
    return "".join(kept)


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with file descriptor 2 captured, then scans the devices the same way."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as capture:
            os.dup2(capture.fileno(), 2)
            try:
                self.loader.exec_module(module)
                try:  # the device scan logs too (cuInit on a machine without a GPU); it leaves devices configurable
                    module.config.list_physical_devices()
                except Exception:  # noqa: BLE001 - a scan failure shows again where the program uses devices
                    pass
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                rest = _filter(capture.read().decode("utf-8", "replace"))
                if rest:
                    sys.stderr.write(rest)
                    sys.stderr.flush()


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual and wraps its loader in ``_QuietLoader`` (once)."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one use: the other finders give the spec
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def quiet_startup(debug: bool = False) -> None:
    """Keeps TensorFlow's start-up lines off stderr for this process (see the module doc).

    With ``debug``, or when TensorFlow is already imported, nothing changes. Also sets
    ``TF_CPP_MIN_LOG_LEVEL=2`` (TensorFlow's C++ info and warning logs off, errors on)
    unless it is set already.
    """
    if debug or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())

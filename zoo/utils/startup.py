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

Some lines come later, while running, from C++ (oneDNN's ``E0000 ... oneDNN supports DT_UINT8 only
on platforms with AVX-512`` on CPUs without AVX-512, LiteRT's ``INFO: Created TensorFlow Lite XNNPACK
delegate``): ``quiet_startup()`` also sends descriptor 2 through a pipe for the rest of the process,
and a child process writes everything but those lines to the real stderr (``_StderrFilter``).

Only the command-line entry points call it (``python -m zoo``, ``python -m recipes.*``),
and not with ``--debug``; importing the library changes nothing.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile
from pathlib import Path

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
# Printed later, while running, as errors or info though nothing is wrong: oneDNN on a CPU without AVX-512
# falling back for uint8 (a resize or cast of uint8 pictures), LiteRT's interpreter start. Only these: a
# CUDA or kernel error while running is the program's business and is kept.
RUNTIME_NOISE = re.compile(r"oneDNN supports DT_\w+ only on platforms with|Created TensorFlow Lite XNNPACK delegate")


class _LineFilter:
    """Drops the noise lines (``STARTUP_NOISE``) from text fed in pieces; a line that continues a dropped one
    goes with it."""

    def __init__(self, noise: re.Pattern = STARTUP_NOISE, continued: bool = True):
        self.noise = noise
        self.continued = continued  # drop the lines that continue a noise line (start-up output only)
        self.skipping = False

    def keep(self, line: str) -> bool:
        if self.noise.search(line):
            self.skipping = self.continued
            return False
        # TensorFlow's own lines start with a severity and a time stamp (I0000 00:00:...); a line that does
        # not (the AVX list after "This TensorFlow binary is optimized") continues the one before
        if self.skipping and not re.match(r"[IWEF]\d{4} ", line) and line.strip():
            return False
        self.skipping = False
        return True


def _filter(text: str) -> str:
    """``text`` without the noise lines (a line that continues one of them goes with it)."""
    lines = _LineFilter()
    return "".join(line for line in text.splitlines(keepends=True) if lines.keep(line))


# A piece without a line end that looks like the start of a C++ log line is held until its line ends (the
# noise may come later in it); anything else passes at once, as a progress bar's update must.
LOG_START = re.compile(r"[IWEF]\d{4} |INFO: |WARNING: ")
LOG_START_CHARS = 9  # characters needed to tell


def _pump(read: int, write: int) -> None:
    """Copies descriptor ``read`` to ``write`` until the last writer closes, leaving out ``RUNTIME_NOISE`` lines.
    A piece without a line end passes at once (a progress bar's ``\\r`` update) unless it may be the start of a
    log line (``LOG_START``); bytes are decoded incrementally (a character split across reads stays whole)."""
    import codecs

    lines, held = _LineFilter(RUNTIME_NOISE, continued=False), ""
    decode = codecs.getincrementaldecoder("utf-8")("replace").decode

    def put(text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            try:
                data = data[os.write(write, data) :]
            except InterruptedError:
                continue
            except OSError:  # the real stderr is gone (a closed pipe): keep reading, so writers never block
                return

    while True:
        try:
            chunk = os.read(read, 65536)
        except InterruptedError:
            continue
        held += decode(chunk, final=not chunk)
        pieces = re.split(r"(?<=[\n\r])", held)
        held = pieces.pop()
        out = "".join(piece for piece in pieces if lines.keep(piece))
        if not chunk:
            out, held = out + (held if held and lines.keep(held) else ""), ""
        elif held and (len(held) >= LOG_START_CHARS and not LOG_START.match(held) or len(held) > 65536):
            out, held = out + held, ""
        if out:
            put(out)
        if not chunk:
            return


class _StderrFilter:
    """File descriptor 2 through a pipe for the rest of the process; a child process (``fork``, before any
    thread or TensorFlow exists) writes what comes through to the real stderr, leaving out the noise lines
    TensorFlow and LiteRT print while running (C++ writes them, so only the descriptor sees them). The child
    reads until every writer is gone, so nothing is lost when this process ends in any way (``os._exit``,
    a crash, a signal); it ignores Ctrl-C, which goes to the whole process group."""

    def __init__(self):
        sys.stderr.flush()
        self.terminal = os.isatty(2)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the filter: reads the pipe, writes the real stderr, nothing else
            try:
                import signal

                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.close(write)
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)  # a reader of this process's stdout is not kept waiting by the filter
                _pump(read, 2)
            finally:
                os._exit(0)
        os.close(read)
        os.dup2(write, 2)
        os.close(write)


_installed: list[_StderrFilter] = []


def stderr_is_terminal() -> bool:
    """Whether stderr shows on a terminal (behind ``quiet_startup``'s filter, descriptor 2 is a pipe)."""
    return _installed[0].terminal if _installed else sys.stderr.isatty()


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
    """Keeps TensorFlow's and LiteRT's start-up and known harmless run-time lines off stderr for this
    process (see the module doc).

    With ``debug`` nothing changes. Otherwise descriptor 2 goes through ``_StderrFilter`` for the rest of
    the process, TensorFlow's import (if it comes later) runs with descriptor 2 captured, and
    ``TF_CPP_MIN_LOG_LEVEL=2`` (TensorFlow's C++ info and warning logs off, errors on) is set unless it is
    set already.
    """
    if debug:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not _installed and hasattr(os, "fork"):  # no fork (Windows): the start-up lines only
        _installed.append(_StderrFilter())
    if "tensorflow" not in sys.modules and not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


@contextlib.contextmanager
def native_stderr_to(path: str | os.PathLike):
    """Sends file descriptor 2 (what C++ libraries such as the LiteRT converter print) to the file ``path``
    for the block, then restores it. Python's own ``sys.stderr`` is flushed first so nothing is mixed."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as target:
        os.dup2(target.fileno(), 2)
        try:
            yield Path(path)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)

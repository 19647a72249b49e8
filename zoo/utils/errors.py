"""Errors as the command lines show them: one line each (``error: ...``, exit code 2), a full disk and
TensorFlow's own errors included; ``--debug`` adds the traceback. ``python -m zoo`` and the recipes
(``recipes.driver.run_main``) both report through ``report``."""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback

# Exceptions whose message is written for the user (ValueError and OSError carry the fix in this project).
EXPECTED = (ValueError, OSError, RuntimeError)


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (an OSError, h5py's RuntimeError or TensorFlow's error) says the disk is full."""
    return getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
        text in str(err) for text in ("No space left on device", "Disk quota exceeded", "errno = 28")
    )


def disk_full_line(err: BaseException, resume_hint: str) -> str:
    """One line for a full disk: the file being written where the error names it, and ``resume_hint``."""
    text = str(err)
    if "needs about" in text:  # zoo.run.safety.check_free_space's own message, checked before writing
        return text.split("] ", 1)[-1]
    where = re.search(r"filename = '([^']+)'", text) or re.search(r"'(/[^']+)'", text)
    return f"the disk is full (No space left on device{f' writing {where.group(1)}' if where else ''}); {resume_hint}"


def report(
    err: Exception, debug: bool, expected: tuple = EXPECTED, resume_hint: str = "", tensorflow_hint: str = ""
) -> bool:
    """Writes ``err`` as one ``error:`` line on stderr (the traceback first with ``debug``) and returns
    True, or returns False for an error nobody expected (the caller re-raises it: a bug shows as a bug).

    Expected: ``expected`` instances, a full disk (``is_disk_full``) and TensorFlow's ``OpError``\\ s (a file
    the data pipeline cannot decode, memory exhausted; ``tensorflow_hint`` goes with them)."""
    disk_full = is_disk_full(err)
    tensorflow = type(err).__module__.split(".")[0] == "tensorflow" and hasattr(err, "message")
    if not (disk_full or tensorflow or isinstance(err, expected)):
        return False
    if debug:
        traceback.print_exc()
    if disk_full:
        line = disk_full_line(err, resume_hint or "free some space (or choose a folder on another disk) and run again")
    elif tensorflow:
        first = next((line.strip() for line in str(err.message).splitlines() if line.strip()), "")
        line = f"TensorFlow stopped with {type(err).__name__}: {first[:500]}\n({tensorflow_hint}--debug shows the traceback)"
    else:
        line = str(err)
    print(f"error: {line}", file=sys.stderr)
    return True


def exit_at_once(code: int) -> None:
    """Ends the process now, output flushed: after a write failed on a full disk, h5py's file objects left
    to the interpreter's exit print tracebacks and crash it (exit 139, measured). Command lines only; behind
    ``zoo.utils.startup``'s stderr filter, the filter process writes out what is left after this one ends."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

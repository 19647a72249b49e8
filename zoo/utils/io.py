"""Atomic file writes: every file the project writes that a reader may find half-written.

A file is written to a temporary file in its destination folder and renamed over the
destination (``os.replace``, atomic on one file system), so a reader or a process killed
mid-write sees either the previous complete file or the new complete one. The temporary
file gets the permissions a plain ``open(path, "w")`` would give (``tempfile.mkstemp``
makes files readable by their owner only; a server or a colleague may read runs,
plots and weights).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends without
    an error, removed otherwise.

    Args:
        path: the destination file (its folder is created).
        suffix: the temporary file's ending (e.g. ``.weights.h5``, which Keras insists on).

    Yields:
        The temporary file's path (an empty file with the default permissions).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, default_file_mode())
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, newline: str | None = None) -> None:
    """Writes ``text`` to ``path`` atomically (``atomic_path``)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline=newline) as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, data) -> None:
    """``data`` as indented JSON (keys in the order given), written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")

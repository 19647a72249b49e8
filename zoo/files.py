"""File permissions for what the project writes through temporary files.

``tempfile.mkstemp`` creates files readable by their owner only; the run files, plots
and weights it is used for are renamed into place and must then be as readable as a
file written with a plain ``open`` (a server or a colleague may read them).
"""

from __future__ import annotations

import os


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask

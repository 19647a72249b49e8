"""Run directories that cannot lose data: what ``--out`` may be, what ``--overwrite`` may delete,
and one process at a time per run.

- ``check_out_folder``: ``--out`` is refused when it is a file, the current folder or one
  of its parents, the home folder, inside the dataset or holding it, or a folder with
  files that are not part of a run. Only a folder that is recognisably a run
  (``is_run_folder``) is ever resumed or replaced.
- ``check_free_space``: a run that cannot fit on its disk is refused before its first
  step; a disk that fills up during a run (another program's files) stops it with one line, and
  the atomic writes leave the last finished epoch to resume from once space is freed.
- ``RunLock``: an exclusive ``flock`` on ``<run>/.lock`` held while a recipe works on
  the run. The kernel releases it when the process ends in any way (``kill -9``
  included), so a stale lock is simply taken over (said in the log); a second process
  on a run that is in use is refused at once, naming the holder (pid, host, start time,
  command). Where ``fcntl`` is missing (Windows) the lock file alone is used, with a
  liveness check of the recorded pid.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

LOCK_FILE = ".lock"
# What a recipe writes into its run directory (zoo.run.rundir.RunDir) and the exports it may hold.
RUN_ENTRIES = frozenset(
    {
        "config.json",
        "checkpoints",
        "logs",
        "history.csv",
        "curves.png",
        "samples.png",
        "confusion.png",
        "metrics.json",
        "report.html",
        "calibration.npz",
        "mlflow.json",
        "export",
        ".workers",
        LOCK_FILE,
    }
)


# What a run keeps on disk at its fullest, in copies of its float32 weights: the best weights and a
# phase's (weights only), the backup with Adam's two moments (3) and its next copy written beside it (3),
# then the export. Measured: a finished U-Net/VGG16 run holds 2 + 1 copies; the backup's swap needs the 7.
RUN_WEIGHT_COPIES = 8
SPACE_MARGIN = 64 * 2**20  # bytes beyond the copies: logs, plots, history, the export's graph


def bytes_needed(parameters: int, copies: float = RUN_WEIGHT_COPIES) -> int:
    """Disk bytes a run of a network with ``parameters`` float32 weights needs at its fullest."""
    return int(parameters * 4 * copies) + SPACE_MARGIN


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Raises ``OSError(ENOSPC)`` naming the shortfall and the fix when the disk holding ``folder`` (or its
    nearest existing parent) has fewer than ``needed`` bytes free."""
    place = Path(folder).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"{what} needs about {needed / 2**20:,.0f} MiB on the disk holding {folder}, which has "
            f"{free / 2**20:,.0f} MiB free: free some space or choose a folder on another disk (--out)",
        )


class RunInUseError(RuntimeError):
    """Another live process holds the run's lock."""


def _foreign_entries(folder: Path) -> list[str]:
    """Names in ``folder`` that a run does not write (hidden temporary files of atomic writes are a run's)."""

    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name not in RUN_ENTRIES and not p.name.startswith(".") and not p.name.startswith("export-")
    )


def is_run_folder(folder: Path) -> bool:
    """True if ``folder`` holds a run written by a recipe: a ``config.json`` with ``settings`` and
    ``versions`` and nothing but the entries a run writes (``RUN_ENTRIES``, ``export-*``, hidden files)."""
    folder = Path(folder)
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "settings" in data and "versions" in data and not _foreign_entries(folder)


def _inside(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def check_out_folder(out: Path, protected: list[Path] = ()) -> None:
    """Refuses an ``--out`` a run must not use; see the module doc.

    Args:
        out: the run directory asked for.
        protected: folders a run must neither be inside nor contain (the dataset folder).

    Raises:
        ValueError: naming the folder, what is wrong and what to do.
    """
    out = Path(out)
    resolved = out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; give a folder path for the run (e.g. runs/my-run)")
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if resolved in (cwd, home, Path(resolved.anchor)) or resolved in cwd.parents:
        raise ValueError(
            f"--out {out} is the current folder, one of its parents or the home folder; a run needs "
            "a folder of its own, e.g. runs/my-run"
        )
    for folder in protected:
        folder = Path(folder).expanduser().resolve()
        if _inside(resolved, folder) or _inside(folder, resolved):
            raise ValueError(
                f"--out {out} {'is inside' if _inside(resolved, folder) else 'holds'} the dataset "
                f"folder {folder}; keep runs and data apart, e.g. --out runs/my-run"
            )
    if out.is_dir():
        foreign = _foreign_entries(out)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise ValueError(
                f"--out {out} holds files that are not part of a run ({shown}); a run is never written "
                "into (or --overwrite used on) a folder of other files: choose a new or empty folder"
            )
        if (out / "config.json").is_file() and not is_run_folder(out):
            raise ValueError(
                f"--out {out} has a config.json that is not a run's (no settings and versions); "
                "it is not touched: choose another --out"
            )


def clear_run(folder: Path) -> None:
    """Deletes what a run wrote in ``folder`` (which ``is_run_folder``), keeping the lock file."""
    folder = Path(folder)
    if folder.is_dir() and (folder / "config.json").exists() and not is_run_folder(folder):
        raise ValueError(f"{folder} is not recognisably a run; it is not deleted")
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_in_use(folder: Path) -> bool:
    """True if a live process holds ``folder``'s run lock (checked without taking it; False where
    there is no lock file or no ``fcntl``)."""
    try:
        import fcntl

        with open(Path(folder) / LOCK_FILE) as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
    except (ImportError, OSError):
        pass
    return False


class RunLock:
    """An exclusive lock on a run directory for the life of this object (see the module doc).

    ``acquire`` creates the folder if needed. Use as a context manager or call ``release``.
    """

    def __init__(self, folder: Path, log: Callable[[str], None] = print):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.log = log
        self._handle = None

    def _holder(self, text: str) -> str:
        try:
            info = json.loads(text)
            return (
                f"process {info.get('pid')} on {info.get('host')}, started {info.get('started')}: {info.get('command')}"
            )
        except (ValueError, AttributeError):
            return "another process"

    def acquire(self) -> RunLock:
        """Takes the lock or raises ``RunInUseError``; an ``OSError`` (folder not writable) becomes a
        ``ValueError`` that says so."""

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115 - held open (and locked) until release()
        except OSError as err:
            raise ValueError(
                f"cannot write the run directory {self.folder}: {err.strerror or err}; choose a "
                "folder you can write to with --out"
            ) from None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            fcntl = None
        handle.seek(0)
        previous = handle.read().strip()
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = self._holder(handle.read().strip() or previous)
                handle.close()
                raise RunInUseError(
                    f"{self.folder} is in use by {holder}. One process at a time per run: wait for "
                    "it to finish (or stop it), or choose another --out"
                ) from None
            handle.seek(0)
            previous = handle.read().strip()
        elif previous:  # pragma: no cover - Windows: no kernel lock, trust a live pid
            try:
                pid = int(json.loads(previous).get("pid"))
            except (ValueError, TypeError, AttributeError):
                pid = None
            if pid is not None and pid != os.getpid() and _alive(pid):
                handle.close()
                raise RunInUseError(
                    f"{self.folder} is in use by {self._holder(previous)}; wait for it or choose another --out"
                )
        if previous:
            self.log(
                f"{self.folder}: taking over the lock left by {self._holder(previous)} (that process is no "
                "longer running: killed or crashed)"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "command": " ".join(sys.argv)[:300],
                }
            )
        )
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Empties the lock file (a clean end, so the next run does not report a take-over) and unlocks it."""
        if self._handle is None:
            return
        try:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.flush()
        except OSError:
            pass
        self._handle.close()  # closing the descriptor releases the flock
        self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire() if self._handle is None else self

    def __exit__(self, *exc) -> None:
        self.release()

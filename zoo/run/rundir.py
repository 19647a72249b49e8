"""A run directory's paths, its ``history.csv`` and its best weights.

Run directory (docs/architecture.md, "Data flow of a run")::

    <run>/config.json     resolved configuration, versions, seed
    <run>/checkpoints/    backup/phaseN (BackupAndRestore of the running phase: weights and
                          optimizer state), phaseN.weights.h5 (the last finished phase's
                          weights; earlier ones are deleted), best.weights.h5 (best
                          validation score); weights files hold no optimizer state
    <run>/logs/           TensorBoard
    <run>/history.csv     one row per epoch with its phase (CSVLogger)
    <run>/curves.png, samples.png, confusion.png (segmentation), metrics.json, export/
    <run>/report.html     one self-contained page of all of the above (zoo.run.report)
"""

from __future__ import annotations

import csv
import dataclasses
import warnings
from pathlib import Path

from zoo.utils.io import atomic_path


@dataclasses.dataclass(frozen=True)
class RunDir:
    """Paths of a run directory (see the module doc)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    @property
    def samples(self) -> Path:
        return self.root / "samples.png"

    @property
    def confusion(self) -> Path:
        return self.root / "confusion.png"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def calibration(self) -> Path:
        """Training pictures int8 exports calibrate on (``zoo.data.calibration``)."""
        return self.root / "calibration.npz"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def best_weights(self) -> Path:
        return self.checkpoints / "best.weights.h5"

    def backup(self, phase: int) -> Path:
        return self.checkpoints / "backup" / f"phase{phase}"

    def phase_weights(self, phase: int) -> Path:
        return self.checkpoints / f"phase{phase}.weights.h5"

    def is_finished(self) -> bool:
        """A run is finished when its metrics.json exists (written last)."""
        return self.metrics.is_file()

    def has_started(self) -> bool:
        return self.config.is_file()


def read_history(path: Path) -> list[dict]:
    """Rows of history.csv as dicts (strings converted to float where possible)."""
    if not Path(path).is_file():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        parsed = {}
        for key, value in row.items():
            try:
                parsed[key] = float(value)
            except (TypeError, ValueError):
                parsed[key] = value
        out.append(parsed)
    return out


def truncate_history(path: Path, keep_before_epoch: int) -> None:
    """Keeps only rows of epochs ``< keep_before_epoch`` (atomically)."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        rows = list(reader)
    if not rows:
        return
    header, body = rows[0], rows[1:]
    index = header.index("epoch")

    def keep(row) -> bool:  # a row cut short by a kill is dropped with the epochs to redo
        try:
            return len(row) == len(header) and int(float(row[index])) < keep_before_epoch
        except ValueError:
            return False

    kept = [r for r in body if keep(r)]
    if len(kept) == len(body):
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)


def load_best(model, run: RunDir) -> str:
    """Loads the run's best checkpoint into ``model`` if there is one; returns "best" or "last"."""
    if run.best_weights.is_file():
        with warnings.catch_warnings():
            # The file also holds the optimizer of the phase it came from; evaluation and export
            # need only the model's weights, so a later phase's other optimizer is not a problem.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(run.best_weights))
        return "best"
    return "last"

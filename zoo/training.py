"""Training glue shared by the recipes: run directory, callbacks, phases with resume.

Run directory (DESIGN.md)::

    <run>/config.json     resolved configuration, versions, seed
    <run>/checkpoints/    backup/phaseN (BackupAndRestore), phaseN.weights.h5 (end of
                          each finished phase), best.weights.h5 (best validation score)
    <run>/logs/           TensorBoard
    <run>/history.csv     one row per epoch with its phase (CSVLogger)
    <run>/curves.png, samples.png, metrics.json, export/

Resuming: a phase that finished left ``checkpoints/phaseN.weights.h5``; it is
skipped and its weights loaded. The phase that was running restarts from its
``BackupAndRestore`` backup (weights, optimizer state and epoch). Rows of
``history.csv`` from epochs that are about to be run again are dropped first, so
each epoch appears exactly once.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import keras

from zoo.freezing import Phase, run_schedule


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path: Path, data) -> None:
    """JSON version of ``write_text_atomic`` (indented, keys in order given)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


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
    def metrics(self) -> Path:
        return self.root / "metrics.json"

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
    kept = [r for r in body if r and int(float(r[index])) < keep_before_epoch]
    if len(kept) == len(body):
        return
    fd, tmp = tempfile.mkstemp(prefix=".history.", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)
    os.replace(tmp, path)


class PhaseTag(keras.callbacks.Callback):
    """Adds ``phase`` and ``learning_rate`` to each epoch's logs (before CSVLogger writes them)."""

    def __init__(self, index: int, phase: Phase):
        super().__init__()
        self.index = index
        self.phase = phase

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["phase"] = self.index
            logs["learning_rate"] = self.phase.learning_rate


class EpochMetrics(keras.callbacks.Callback):
    """Adds the metrics ``fn()`` returns (e.g. a full validation evaluation) to each epoch's logs."""

    def __init__(self, fn: Callable[[], dict]):
        super().__init__()
        self.fn = fn

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.fn())


def _backup_epoch(backup_dir: Path) -> int | None:
    meta = backup_dir / "training_metadata.json"
    if not meta.is_file():
        return None
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (ValueError, KeyError, json.JSONDecodeError):
        return None


def _best_so_far(history: Path, monitor: str, mode: str) -> float | None:
    values = [row[monitor] for row in read_history(history) if isinstance(row.get(monitor), float)]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def fit_phases(
    model: keras.Model,
    phases: Sequence[Phase],
    run: RunDir,
    *,
    compile_kwargs: dict,
    train_data,
    val_data,
    steps_per_epoch: int,
    monitor: str = "val_mean_iou",
    mode: str = "max",
    verbose: int | str = "auto",
    optimizer_factory: Callable[[float], keras.optimizers.Optimizer] | None = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    epoch_metrics: Callable[[], dict] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, list]:
    """Runs the schedule with checkpoints, logs and history in ``run``; resumes what is there.

    Args:
        model: a zoo model (built under the strategy's scope by the caller).
        phases: the schedule.
        run: the run directory (created if needed).
        compile_kwargs: loss and metrics for ``model.compile``.
        train_data: repeating training dataset; ``steps_per_epoch`` batches make an epoch.
        val_data: validation dataset (finite).
        monitor, mode: what the best checkpoint tracks.
        verbose: ``model.fit`` verbosity.
        optimizer_factory: learning rate -> optimizer (default Adam).
        extra_callbacks: added to every phase.
        epoch_metrics: called after each epoch; the dict it returns is added to the
            epoch's logs (before history.csv and the best checkpoint see them).
        log: where progress messages go.

    Returns:
        The merged history of the epochs run in this call (see ``run_schedule``).
    """
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    starts = [sum(p.epochs for p in phases[:i]) for i in range(len(phases))]
    done = [run.phase_weights(i).is_file() for i in range(len(phases))]
    first = next((i for i, finished in enumerate(done) if not finished), len(phases))
    if first == len(phases):
        log("all phases already finished; nothing to train")
        model.load_weights(run.phase_weights(len(phases) - 1))
        return {"epoch": [], "phase": []}
    if first > 0:
        model.load_weights(run.phase_weights(first - 1))
        log(f"resuming: phases 1..{first} finished, continuing with phase {first + 1} ({phases[first]})")
    resume_epoch = _backup_epoch(run.backup(first))
    if resume_epoch is not None:
        log(f"resuming phase {first + 1} from its backup at epoch {resume_epoch + 1}")
    truncate_history(run.history, resume_epoch if resume_epoch is not None else starts[first])

    def callbacks_for(index: int, phase: Phase) -> dict:
        best = _best_so_far(run.history, monitor, mode)
        callbacks = [
            keras.callbacks.BackupAndRestore(str(run.backup(index)), delete_checkpoint=False),
            PhaseTag(index, phase),
            *([EpochMetrics(epoch_metrics)] if epoch_metrics else []),
            keras.callbacks.CSVLogger(str(run.history), append=True),
            keras.callbacks.ModelCheckpoint(
                str(run.best_weights), monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True,
                initial_value_threshold=best,
            ),
            keras.callbacks.TensorBoard(str(run.logs), write_graph=False),
            *extra_callbacks,
        ]
        return {"x": train_data, "validation_data": val_data, "steps_per_epoch": steps_per_epoch,
                "callbacks": callbacks, "verbose": verbose, "shuffle": False}

    def announce(index: int, phase: Phase) -> None:
        log(f"phase {index + 1}/{len(phases)}: train {phase.what} ({', '.join(phase.parts)}) for "
            f"{phase.epochs} epoch(s) at learning rate {phase.learning_rate:g}")

    def finish(index: int, phase: Phase) -> None:
        model.save_weights(str(run.phase_weights(index)))
        shutil.rmtree(run.backup(index), ignore_errors=True)

    # Build the model's variables so that BackupAndRestore can load into it.
    return run_schedule(
        model,
        phases,
        compile_kwargs=compile_kwargs,
        fit_kwargs=callbacks_for,
        optimizer_factory=optimizer_factory or (lambda lr: keras.optimizers.Adam(lr)),
        initial_epoch=starts[first],
        on_phase=announce,
        on_phase_end=finish,
    )


def library_versions() -> dict[str, str]:
    """Versions of the libraries a run depends on."""
    import numpy
    import tensorflow as tf

    import zoo

    versions = {"python": sys.version.split()[0], "tensorflow": tf.__version__, "keras": keras.__version__,
                "numpy": numpy.__version__, "zoo": zoo.__version__}
    try:
        import tensorflow_datasets as tfds

        versions["tensorflow_datasets"] = tfds.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    return versions

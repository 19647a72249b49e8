"""Training a model through a schedule's phases in a run directory (``zoo.run.rundir``): one compile per
phase, callbacks (backups, best checkpoint, history with each epoch's seconds, non-finite loss, Ctrl-C, the
report's refresh), resume.

Resuming: the last phase that finished left ``checkpoints/phaseN.weights.h5``; the
phases up to it are skipped and its weights loaded. The phase that was running restarts from its
``BackupAndRestore`` backup (weights, optimizer state and epoch). Rows of
``history.csv`` from epochs that are about to be run again are dropped first, so
each epoch appears exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras

from zoo.models.freezing import Phase, run_schedule
from zoo.models.schedule import resolve_schedule  # noqa: F401 - where it was before zoo.models.schedule
from zoo.run.optim import OptimizerConfig, current_learning_rate, make_optimizer, set_bn_momentum
from zoo.run.rundir import RunDir, read_history, truncate_history
from zoo.utils.io import atomic_path
from zoo.utils.keras_internals import backup_state, save_weights_without_optimizer, swap_ema_variables


def save_weights_atomic(model: keras.Model, path: Path) -> None:
    """``model.save_weights(path)`` through a temporary file in the same folder and a rename,
    so ``path`` is always either the previous complete file or the new complete one.

    The optimizer's state is left out (Adam's two moments would triple the file): the best and per-phase weights are loaded into a model for evaluation, export or
    the next phase, which starts a new optimizer (``zoo.utils.keras_internals.save_weights_without_optimizer``).
    """
    with atomic_path(path, suffix=".weights.h5") as tmp:  # Keras wants the .weights.h5 ending
        save_weights_without_optimizer(model, str(tmp))


def recover_backup(backup_dir: Path) -> None:
    """Completes or undoes an interrupted ``AtomicBackupAndRestore`` save (see there)."""
    backup_dir = Path(backup_dir)
    staging, old = backup_dir.with_name(backup_dir.name + ".new"), backup_dir.with_name(backup_dir.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)  # never swapped in: incomplete
    if old.exists():
        if backup_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, backup_dir)  # killed between the two renames: the previous state is complete


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` whose every save is all-or-nothing.

    Keras writes the weights (with the optimizer state) and then the epoch counter in
    place; a kill between or during those writes leaves a truncated file or a counter
    that does not match the weights. This writes both into ``<dir>.new`` and swaps the
    folders by renames (``<dir>`` -> ``<dir>.old``, ``<dir>.new`` -> ``<dir>``); call
    ``recover_backup`` before ``fit`` to finish a swap a kill interrupted.

    It overrides Keras' private ``_save_model`` and reads what it would write through
    ``zoo.utils.keras_internals.backup_state`` (which checks at import that those private names
    exist); ``tests/test_faults.py`` checks that Keras calls this override.
    """

    def __init__(self, backup_dir: str):
        recover_backup(Path(backup_dir))
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)

    def _save_model(self):
        target = Path(self.backup_dir)
        staging, old = target.with_name(target.name + ".new"), target.with_name(target.name + ".old")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        weights_name, meta_name, meta = backup_state(self)
        try:
            self.model.save_weights(str(staging / weights_name))
            (staging / meta_name).write_text(json.dumps(meta))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # a full disk: its space back at once
            raise
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)


class EMASwap(keras.callbacks.SwapEMAWeights):
    """Keras' ``SwapEMAWeights`` (validation runs on the averaged weights), plus ``averaged()``: a
    context in which the model holds the averaged weights (for the best checkpoint and extra
    epoch metrics). Between epochs the model holds the trained weights, so the backup saved at an
    epoch's end resumes exactly. The swap is Keras' own (``zoo.utils.keras_internals.swap_ema_variables``).
    """

    def __init__(self):
        super().__init__(swap_on_epoch=False)

    @contextlib.contextmanager
    def averaged(self):
        swap_ema_variables(self)
        try:
            yield
        finally:
            swap_ema_variables(self)


def _averaged(ema: EMASwap | None):
    return ema.averaged() if ema is not None else contextlib.nullcontext()


class BestWeights(keras.callbacks.Callback):
    """Saves the weights (atomically) whenever ``monitor`` improves on the best so far.

    ``initial`` is the best value of earlier invocations of the same run (from
    history.csv), so a resumed run only replaces the file with something better. With
    ``ema``, the averaged weights (those validation scored) are saved.
    """

    def __init__(self, path: Path, monitor: str, mode: str, initial: float | None = None, ema: EMASwap | None = None):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.path, self.monitor, self.mode, self.best, self.ema = Path(path), monitor, mode, initial, ema

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if value != value:  # NaN never improves
            return
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best = value
            with _averaged(self.ema):
                save_weights_atomic(self.model, self.path)


class TrainingDiverged(RuntimeError):
    """The loss stopped being a finite number; the message says where and what to try."""


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite, before the epoch's
    checkpoints are written, so the last saved state is the last good one.

    Keras' ``TerminateOnNaN`` stops quietly and lets the caller save the broken weights;
    this raises ``TrainingDiverged`` naming the epoch, step and likely causes.
    """

    def __init__(self, phase: int, saved: Callable[[], str]):
        super().__init__()
        self.phase, self.saved, self.epoch = phase, saved, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get("loss")
        if value is None:
            return
        value = float(value)
        if value == value and abs(value) != float("inf"):
            return
        self.model.stop_training = True
        raise TrainingDiverged(
            f"the training loss became {value} at epoch {self.epoch + 1}, step {batch + 1} (phase {self.phase + 1}); "
            f"training stopped and nothing of this epoch was saved. {self.saved()} "
            "Likely causes: a learning rate too high for this phase (try 10x lower in --schedule), float16 without "
            "loss scaling, labels outside 0..C-1 or NaN targets, or NaN/inf in the input images. After the fix, "
            "re-run the same command to continue from the last saved epoch (or --overwrite to start again)."
        )


class PhaseTag(keras.callbacks.Callback):
    """Adds ``phase`` and ``learning_rate`` (the rate the optimizer's schedule gives at the epoch's
    end) to each epoch's logs (before CSVLogger writes them)."""

    def __init__(self, index: int, phase: Phase):
        super().__init__()
        self.index = index
        self.phase = phase

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["phase"] = self.index
            optimizer = getattr(self.model, "optimizer", None)
            logs["learning_rate"] = (
                current_learning_rate(optimizer) if optimizer is not None else self.phase.learning_rate
            )


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (the epoch's training and validation wall time, ``EpochMetrics`` included) to
    each epoch's logs, before CSVLogger writes them to history.csv."""

    def __init__(self):
        super().__init__()
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = round(time.monotonic() - self.started, 3)


class RefreshReport(keras.callbacks.Callback):
    """Calls ``refresh()`` at each epoch's end, once history.csv holds the epoch's row: the recipe driver
    redraws curves.png and rewrites report.html (``zoo.run.report``) there, on the chief alone. A refresh
    that fails is logged and training goes on (the report is rebuilt at the end, or by ``python -m zoo report``)."""

    def __init__(self, refresh: Callable[[], None], log: Callable[[str], None] = print):
        super().__init__()
        self.refresh, self.log = refresh, log

    def on_epoch_end(self, epoch, logs=None):
        try:
            self.refresh()
        except Exception as err:  # noqa: BLE001 - a report that cannot be drawn never ends training (Ctrl-C still does)
            self.log(f"warning: report.html not refreshed after epoch {epoch + 1}: {type(err).__name__}: {err}")


def _times_epochs(history: Path) -> bool:
    """Whether the epochs get an ``epoch_seconds`` column: a new history.csv, or one that has it (a run
    started before the column existed keeps its columns, so its rows stay aligned with the header)."""
    if not history.is_file():
        return True
    with open(history, newline="") as handle:
        header = handle.readline()
    return not header.strip() or "epoch_seconds" in header.strip().split(",")


class EpochMetrics(keras.callbacks.Callback):
    """Adds the metrics ``fn()`` returns (e.g. a full validation evaluation) to each epoch's logs
    (computed on the averaged weights with ``ema``, like validation)."""

    def __init__(self, fn: Callable[[], dict], ema: EMASwap | None = None):
        super().__init__()
        self.fn, self.ema = fn, ema

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            with _averaged(self.ema):
                logs.update(self.fn())


class EpochLine(keras.callbacks.Callback):
    """One log line per epoch, for output that is not a terminal (Keras' own line there has no epoch number
    and comes from a progress bar): ``epoch 3/10 (phase 1/2): 55 s, loss 0.3741, val_mean_iou 0.8120 (best)``."""

    def __init__(self, total: int, index: int, phases: int, monitor: str, mode: str, best, log: Callable[[str], None]):
        super().__init__()
        self.total, self.index, self.phases = total, index, phases
        self.monitor, self.mode, self.best, self.log = monitor, mode, best, log
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{time.monotonic() - self.started:.0f} s"]
        if "loss" in logs:
            parts.append(f"loss {float(logs['loss']):.4f}")
        value = logs.get(self.monitor)
        if value is not None:
            value = float(value)
            better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
            self.best = value if better else self.best
            parts.append(f"{self.monitor} {value:.4f}" + (" (best)" if better else f" (best {self.best:.4f})"))
        self.log(f"epoch {epoch + 1}/{self.total} (phase {self.index + 1}/{self.phases}): {', '.join(parts)}")


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


class StopOnInterrupt(keras.callbacks.Callback):
    """Makes one Ctrl-C stop training for sure.

    Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be;
    when that is a finaliser or library code that swallows it, the press is lost and
    training goes on (seen under load in the fault tests). While installed, the handler
    here records the request as well as raising, and every batch and epoch end raises
    again if the request is pending, so the run stops within one step. It is the last
    callback, so an epoch that has just ended is saved before it stops.
    """

    def __init__(self):
        super().__init__()
        self.requested = False
        self._previous = None

    def install(self) -> None:
        """Installs the SIGINT handler (main thread only; elsewhere a no-op)."""

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)

    def uninstall(self) -> None:
        """Restores the previous SIGINT handler."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum, frame) -> None:
        self.requested = True
        raise KeyboardInterrupt

    def _check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()


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
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    epoch_metrics: Callable[[], dict] | None = None,
    log: Callable[[str], None] = print,
    optimizer: OptimizerConfig | None = None,
    bn_momentum: float | None = None,
) -> dict[str, list]:
    """Runs the schedule with checkpoints, logs and history in ``run``; resumes what is there.

    Args:
        model: a zoo model (built under the strategy's scope by the caller).
        phases: the schedule.
        run: the run directory (created if needed).
        compile_kwargs: loss and metrics for ``model.compile``.
        train_data: repeating training dataset, or a function that builds it (called once
            per phase: with a seeded shuffle, that makes a resumed run see the same
            batches as an uninterrupted one); ``steps_per_epoch`` batches make an epoch.
        val_data: validation dataset (finite).
        monitor, mode: what the best checkpoint tracks.
        verbose: ``model.fit`` verbosity; 2 (a line per epoch): ``EpochLine``'s line through ``log`` instead of Keras'.
        optimizer: how each phase's optimizer and learning-rate schedule are made
            (``zoo.run.optim``; schedules span the phase's ``epochs * steps_per_epoch`` steps;
            None: Adam at the phase's constant rate).
        bn_momentum: set on every BatchNormalization layer first (None: as built).
        extra_callbacks: added to every phase, after history.csv has the epoch's row and before the backup
            that marks the epoch done (e.g. ``RefreshReport``).
        epoch_metrics: called after each epoch; the dict it returns is added to the
            epoch's logs (before history.csv and the best checkpoint see them).
        log: where progress messages go.

    Returns:
        The merged history of the epochs run in this call (see ``run_schedule``).
    """
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    lines = verbose == 2  # a line per epoch: zoo's (EpochLine), with the epoch's number and the best so far
    if bn_momentum is not None:
        set_bn_momentum(model, bn_momentum)
    starts = [sum(p.epochs for p in phases[:i]) for i in range(len(phases))]
    # Only the last finished phase keeps its weights file (the ones before are deleted when it is
    # written): the phases up to the newest file are done.
    finished = [i for i in range(len(phases)) if run.phase_weights(i).is_file()]
    first = max(finished) + 1 if finished else 0
    if first == len(phases):
        log("all phases already finished; nothing to train")
        model.load_weights(run.phase_weights(len(phases) - 1))
        return {"epoch": [], "phase": []}
    if first > 0:
        model.load_weights(run.phase_weights(first - 1))
        log(f"resuming: phases 1..{first} finished, continuing with phase {first + 1} ({phases[first]})")
    recover_backup(run.backup(first))
    resume_epoch = _backup_epoch(run.backup(first))
    if resume_epoch is not None:
        log(f"resuming phase {first + 1} from its backup at epoch {resume_epoch + 1}")
    truncate_history(run.history, resume_epoch if resume_epoch is not None else starts[first])
    timed = _times_epochs(run.history)

    def saved_state(index: int) -> str:
        backup, done = _backup_epoch(run.backup(index)), [run.phase_weights(i) for i in range(index)]
        done = [path for path in done if path.is_file()]
        if backup:
            return f"The state after epoch {backup} is kept in {run.backup(index)}."
        if done:
            return f"The weights of the finished phases are kept in {done[-1]}."
        return "No epoch had finished, so there is no saved state yet."

    def callbacks_for(index: int, phase: Phase) -> dict:
        best = _best_so_far(run.history, monitor, mode)
        ema = EMASwap() if optimizer is not None and optimizer.ema else None
        # Order matters for a kill between callbacks: the epoch's logs are completed, the
        # best weights and the history row written, and only then the backup that marks
        # the epoch done; a kill before the backup makes the epoch run again (its row is
        # dropped first), a kill after it leaves everything of the epoch in place.
        callbacks = [
            *([ema] if ema is not None else []),
            StopOnNonFinite(index, lambda: saved_state(index)),
            PhaseTag(index, phase),
            *([EpochMetrics(epoch_metrics, ema)] if epoch_metrics else []),
            *([EpochTimer()] if timed else []),
            BestWeights(run.best_weights, monitor, mode, best, ema),
            keras.callbacks.CSVLogger(str(run.history), append=True),
            keras.callbacks.TensorBoard(str(run.logs), write_graph=False),
            *extra_callbacks,
            AtomicBackupAndRestore(str(run.backup(index))),
            interrupt,
            *(
                [EpochLine(sum(p.epochs for p in phases), index, len(phases), monitor, mode, best, log)]
                if lines
                else []
            ),
        ]
        # A new dataset per phase starts the same seeded sequence; a resumed phase skips
        # the batches its finished epochs used, so it sees what an uninterrupted run saw.
        data = train_data() if callable(train_data) else train_data
        if index == first and resume_epoch and hasattr(data, "skip"):
            data = data.skip((resume_epoch - starts[index]) * steps_per_epoch)
        return {
            "x": data,
            "validation_data": val_data,
            "steps_per_epoch": steps_per_epoch,
            "callbacks": callbacks,
            "verbose": 0 if lines else verbose,
            "shuffle": False,
        }

    def announce(index: int, phase: Phase) -> None:
        log(
            f"phase {index + 1}/{len(phases)}: train {phase.what} ({', '.join(phase.parts)}) for "
            f"{phase.epochs} epoch(s) at learning rate {phase.learning_rate:g}"
        )

    def finish(index: int, phase: Phase) -> None:
        # In this order, a kill between any two steps leaves a state resuming understands.
        save_weights_atomic(model, run.phase_weights(index))
        shutil.rmtree(run.backup(index), ignore_errors=True)
        try:
            run.backup(index).parent.rmdir()  # backup/ once no phase has a backup left
        except OSError:
            pass
        for earlier in range(index):
            run.phase_weights(earlier).unlink(missing_ok=True)

    interrupt = StopOnInterrupt()
    interrupt.install()
    try:
        return run_schedule(
            model,
            phases,
            compile_kwargs=compile_kwargs,
            fit_kwargs=callbacks_for,
            optimizer_factory=lambda phase: make_optimizer(
                optimizer or OptimizerConfig(lr_schedule="constant"),
                phase.learning_rate,
                phase.epochs * steps_per_epoch,
            ),
            initial_epoch=starts[first],
            on_phase=announce,
            on_phase_end=finish,
        )
    finally:
        interrupt.uninstall()

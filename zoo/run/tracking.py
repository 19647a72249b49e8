"""Experiment tracking with MLflow (``--track mlflow[:URI]``): the resolved settings as params, every epoch's
logs as metrics, and at the end the run's report, ``metrics.json``, ``config.json``, plots and export as
artifacts. MLflow is an optional extra (``pip install '.[track]'``); this module imports it only when a run
asks for tracking, through ``MlflowClient`` (no process-wide active run).

Where: ``mlflow`` alone means a SQLite store ``mlflow.db`` in the run folder's parent, with the artifacts
in ``mlartifacts/`` beside it (MLflow 3 keeps its file store in maintenance mode); ``mlflow:URI`` any
tracking URI (``sqlite:///PATH``, ``http://HOST:5000``, ``databricks``). The experiment is the recipe's
(``zoo-segment``, ``zoo-pose``); the MLflow run is named after the run folder. Its id is kept in
``RUN/mlflow.json``, so a resumed run logs into the same MLflow run. Only the chief process logs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

TRACK_FILE = "mlflow.json"
EXTRA_HINT = (
    "install the extra: pip install '.[track]' in a clone (or pip install 'dense-zoo[track]'), or pip install mlflow"
)
# what is logged as artifacts at the end, if present (the export folder goes under "export")
ARTIFACT_FILES = (
    "report.html",
    "metrics.json",
    "config.json",
    "history.csv",
    "curves.png",
    "samples.png",
    "confusion.png",
)


def parse_track(value: str | None) -> str | None:
    """``--track`` -> None (off), "" (MLflow at the default store) or the tracking URI.

    Raises:
        ValueError: not ``none``, ``mlflow`` or ``mlflow:URI`` (one line, with examples).
    """
    text = (value or "none").strip()
    if text in ("none", "off"):
        return None
    if text == "mlflow":
        return ""
    if text.startswith("mlflow:") and text[len("mlflow:") :].strip():
        return text[len("mlflow:") :].strip()
    raise ValueError(
        f"--track {value!r}: use mlflow (a SQLite store beside the run folder) or mlflow:URI, e.g. "
        "mlflow:sqlite:///runs/mlflow.db or mlflow:http://localhost:5000"
    )


def check_tracking(value: str | None) -> None:
    """Refuses ``--track mlflow`` where MLflow is not installed (one line naming the extra), without importing it."""
    if parse_track(value) is not None and importlib.util.find_spec("mlflow") is None:
        raise ValueError(f"--track {value}: MLflow is not installed; {EXTRA_HINT}")


def default_uri(run_root: Path) -> str:
    """The SQLite store beside the run folder: ``sqlite:///<parent>/mlflow.db`` (absolute)."""
    return f"sqlite:///{(Path(run_root).resolve().parent / 'mlflow.db').as_posix()}"


def _flat_params(settings: Mapping, resolved: Mapping) -> dict[str, str]:
    """Settings as they are, resolved values under ``resolved.``; long values (a network's JSON, class
    statistics) cut to MLflow's 6000 characters, None left out."""
    params = {}
    for prefix, values in (("", settings), ("resolved.", resolved)):
        for key, value in values.items():
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            params[f"{prefix}{key}"] = text[:6000]
    return params


class Tracker:
    """One recipe run's MLflow run. ``start`` opens (or reopens) it and logs the params, ``callback`` logs each
    epoch, ``finish``/``fail`` log the artifacts and close it."""

    def __init__(self, uri: str, run_root: Path, experiment: str, log: Callable[[str], None] = print):
        self.run_root = Path(run_root)
        self.uri = uri or default_uri(self.run_root)
        self.experiment = experiment
        self.log = log
        self.run_id: str | None = None
        self._client = None

    @property
    def client(self):
        if self._client is None:
            # the store's own set-up lines ("Creating initial MLflow database tables...") stay out of the run's log
            for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
                logging.getLogger(name).setLevel(logging.WARNING)
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = None
        if self.uri.startswith("sqlite:///"):  # artifacts beside the store, not in the working folder
            location = (Path(self.uri[len("sqlite:///") :]).parent / "mlartifacts").resolve().as_uri()
        return self.client.create_experiment(self.experiment, artifact_location=location)

    def start(self, settings: Mapping, resolved: Mapping) -> str:
        """Opens the MLflow run (the one in ``RUN/mlflow.json`` when it is in this store) and logs the params
        not logged yet; returns the run id."""
        from mlflow.entities import Param

        record = self.run_root / TRACK_FILE
        stored = json.loads(record.read_text()) if record.is_file() else {}
        if stored.get("uri") == self.uri and stored.get("run_id"):
            self.run_id = stored["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            self.log(f"tracking: MLflow run {self.run_id} continues ({self.uri})")
        else:
            run = self.client.create_run(
                self._experiment_id(),
                run_name=self.run_root.name,
                tags={"zoo.run_folder": str(self.run_root.resolve())},
            )
            self.run_id = run.info.run_id
            record.write_text(
                json.dumps({"uri": self.uri, "experiment": self.experiment, "run_id": self.run_id}) + "\n"
            )
            self.log(f"tracking: MLflow run {self.run_id} in experiment {self.experiment!r} ({self.uri})")
        logged = self.client.get_run(self.run_id).data.params
        wanted = _flat_params(settings, resolved)
        items = [Param(k, v) for k, v in wanted.items() if k not in logged]
        for first in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=items[first : first + 100])
        changed = {k: v for k, v in wanted.items() if k in logged and logged[k] != v}
        if changed:  # an MLflow param cannot change: the values this invocation runs with go in as a tag
            self.client.set_tag(self.run_id, "zoo.resumed_with", json.dumps(changed, sort_keys=True)[:5000])
        return self.run_id

    def log_epoch(self, step: int, logs: Mapping) -> None:
        """The epoch's numeric, finite logs as metrics at ``step`` (the run's epoch count, from 1)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(k, float(v), now, step)
            for k, v in logs.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def callback(self):
        """A Keras callback (``keras.callbacks.Callback``) that logs every epoch's logs (``epoch`` is the run's,
        across phases)."""
        import keras

        from zoo.run.optim import current_learning_rate

        tracker = self

        class LogToMlflow(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = dict(logs or {})
                optimizer = getattr(self.model, "optimizer", None)
                if "learning_rate" not in logs and optimizer is not None:  # the recipes' PhaseTag adds it
                    logs["learning_rate"] = current_learning_rate(optimizer)
                try:
                    tracker.log_epoch(epoch + 1, logs)
                except Exception as err:  # noqa: BLE001 - a tracking server's hiccup must not end a training run
                    tracker.log(
                        f"warning: MLflow did not take epoch {epoch + 1}'s metrics ({type(err).__name__}: {err})"
                    )

        return LogToMlflow()

    def finish(self, metrics: Mapping | None, export: Path | None) -> None:
        """Logs the final metrics (``final.`` + name, numbers only), the run's files and the export, then closes
        the MLflow run as FINISHED."""
        try:
            if metrics:
                numbers = (int, float)
                flat = {
                    f"final.{k}": v for k, v in metrics.items() if isinstance(v, numbers) and not isinstance(v, bool)
                }
                self.log_epoch(0, flat)
            self._artifacts(export)
            self.client.set_terminated(self.run_id, status="FINISHED")
        except Exception as err:  # noqa: BLE001 - the run itself finished: say what MLflow lacks, do not fail it
            self.log(
                f"warning: the run finished but MLflow run {self.run_id} did not take its final metrics or files "
                f"({type(err).__name__}: {err}); the run folder holds them all"
            )

    def fail(self, interrupted: bool) -> None:
        """Closes the MLflow run as KILLED (interrupted) or FAILED, with what the run folder holds so far."""
        try:
            self._artifacts(None)
            self.client.set_terminated(self.run_id, status="KILLED" if interrupted else "FAILED")
        except Exception as err:  # noqa: BLE001 - never hide the run's own error behind the tracker's
            self.log(f"tracking: could not close MLflow run {self.run_id} ({type(err).__name__}: {err})")

    def _artifacts(self, export: Path | None) -> None:
        for name in ARTIFACT_FILES:
            path = self.run_root / name
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        if export is not None and Path(export).is_dir():
            self.client.log_artifacts(self.run_id, str(export), artifact_path="export")

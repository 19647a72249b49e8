"""--track mlflow: a real local MLflow store (SQLite), read back through MLflow's own client."""

import json

import pytest

from recipes import segment
from zoo.run import tracking

RUN = [
    "--dataset",
    "synthetic:shapes",
    "--model",
    "unet",
    "--backbone",
    "vgg16",
    "--encoder-weights",
    "none",
    "--input-size",
    "32",
    "--synthetic-count",
    "16",
    "--batch-size",
    "4",
    "--steps-per-epoch",
    "2",
    "--verbose",
    "0",
]


def _client(run):
    from mlflow import MlflowClient

    record = json.loads((run / tracking.TRACK_FILE).read_text())
    return MlflowClient(tracking_uri=record["uri"]), record


def test_track_values_are_parsed_and_a_bad_one_is_refused_by_check_and_training_alike(tmp_path, capsys):
    assert tracking.parse_track("none") is None and tracking.parse_track(None) is None
    assert tracking.parse_track("mlflow") == "" and tracking.parse_track("mlflow:http://h:5000") == "http://h:5000"
    assert tracking.default_uri(tmp_path / "runs" / "a") == f"sqlite:///{(tmp_path / 'runs').resolve()}/mlflow.db"
    for argv in ([*RUN, "--track", "wandb"], ["check", *RUN, "--track", "mlflow:"]):
        assert segment.cli([*argv, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --track") and "mlflow:URI" in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()


def test_without_mlflow_the_flag_names_the_extra_in_one_line(tmp_path, capsys, monkeypatch):
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name))
    assert segment.cli([*RUN, "--track", "mlflow", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "MLflow is not installed" in err and "pip install '.[track]'" in err and err.count("\n") == 1, err


def test_the_tracker_logs_a_fit_reopens_its_run_and_records_changed_params(tmp_path):
    """Tracker alone on a real SQLite store: a Keras fit's epochs as metrics (the learning rate added), the run's
    files and export as artifacts; opened again (a resumed run) it is the same MLflow run, with the params it
    had, and a setting given another value on resume goes in a tag (an MLflow param cannot change)."""
    import keras
    import numpy as np

    root = tmp_path / "runs" / "tiny"
    (root / "export").mkdir(parents=True)
    (root / "export" / "model.json").write_text("{}")
    (root / "metrics.json").write_text('{"mean_iou": 0.5}')
    tracker = tracking.Tracker("", root, "zoo-test", log=lambda line: None)
    run_id = tracker.start({"epochs": 2, "track": "mlflow", "out": None}, {"network": {"builder": "unet"}})
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=2, verbose=0, callbacks=[tracker.callback()])
    tracker.finish({"mean_iou": 0.5, "weights": "best"}, root / "export")
    again = tracking.Tracker("", root, "zoo-test", log=lambda line: None)
    assert again.start({"epochs": 3, "track": "mlflow"}, {}) == run_id  # RUN/mlflow.json: the same run
    again.finish(None, None)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking.default_uri(root))
    found = client.get_run(run_id)
    assert found.info.status == "FINISHED" and found.data.params["epochs"] == "2" and "out" not in found.data.params
    assert json.loads(found.data.params["resolved.network"]) == {"builder": "unet"}
    assert json.loads(found.data.tags["zoo.resumed_with"]) == {"epochs": "3"}
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1, 2]
    assert [m.value for m in client.get_metric_history(run_id, "learning_rate")] == pytest.approx([1e-2, 1e-2])
    assert found.data.metrics["final.mean_iou"] == 0.5 and "final.weights" not in found.data.metrics
    assert {a.path for a in client.list_artifacts(run_id)} == {"metrics.json", "export"}


@pytest.mark.slow  # a recipe run (about 20 s)
def test_a_tracked_run_logs_params_every_epoch_and_its_files_to_a_local_store(tmp_path):
    """The default store: mlflow.db beside the run folder, artifacts in mlartifacts/ there; params are the
    settings and the resolved values, metrics one point per epoch, the run FINISHED with its files."""
    run = tmp_path / "runs" / "shapes"
    assert segment.main([*RUN, "--schedule", "all:2@1e-3", "--track", "mlflow", "--out", str(run)]) == 0
    assert (tmp_path / "runs" / "mlflow.db").is_file()
    client, record = _client(run)
    found = client.get_run(record["run_id"])
    assert found.info.status == "FINISHED" and found.info.run_name == "shapes"
    assert client.get_experiment(found.info.experiment_id).name == "zoo-segment"
    params = found.data.params
    assert params["batch_size"] == "4" and params["track"] == "mlflow" and params["resolved.num_classes"] == "4"
    losses = client.get_metric_history(record["run_id"], "loss")
    assert [m.step for m in losses] == [1, 2] and all(m.value > 0 for m in losses)
    assert [m.step for m in client.get_metric_history(record["run_id"], "val_mean_iou")] == [1, 2]
    assert len(client.get_metric_history(record["run_id"], "learning_rate")) == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert found.data.metrics["final.mean_iou"] == pytest.approx(metrics["mean_iou"])
    artifacts = {a.path for a in client.list_artifacts(record["run_id"])}
    assert {"metrics.json", "config.json", "history.csv", "export"} <= artifacts, artifacts
    assert "export/model.json" in {a.path for a in client.list_artifacts(record["run_id"], "export")}
    assert (tmp_path / "runs" / "mlartifacts").is_dir()  # beside the store, not in the working folder


@pytest.mark.slow  # two runs of the recipe (about 40 s)
def test_an_interrupted_tracked_run_resumes_into_the_same_mlflow_run(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "again"
    args = [*RUN, "--schedule", "all:3@1e-3", "--track", "mlflow", "--out", str(run)]
    original = tracking.Tracker.log_epoch

    def stop_at_second_epoch(self, step, logs):
        if step == 2:
            raise KeyboardInterrupt
        original(self, step, logs)

    monkeypatch.setattr(tracking.Tracker, "log_epoch", stop_at_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        segment.main(args)
    client, record = _client(run)
    assert client.get_run(record["run_id"]).info.status == "KILLED"
    monkeypatch.setattr(tracking.Tracker, "log_epoch", original)
    assert segment.main(args) == 0
    again, second = _client(run)
    assert second["run_id"] == record["run_id"]
    found = again.get_run(record["run_id"])
    assert found.info.status == "FINISHED"
    assert {m.step for m in again.get_metric_history(record["run_id"], "loss")} == {1, 2, 3}
    assert len(again.search_runs([found.info.experiment_id])) == 1

"""zoo.utils.keras_internals: the private Keras parts the project relies on exist, and are the ones Keras calls."""

from __future__ import annotations

import keras
import numpy as np

from zoo.run.phases import AtomicBackupAndRestore
from zoo.utils import keras_internals


def test_every_private_part_relied_on_exists_in_the_installed_keras():
    assert keras_internals._missing() == []


def test_a_missing_private_part_is_named(monkeypatch):
    monkeypatch.delattr(keras.callbacks.BackupAndRestore, "_save_model")
    monkeypatch.delattr(keras_internals._tf_trainer, "reduce_per_replica")
    missing = keras_internals._missing()
    assert "keras.callbacks.BackupAndRestore._save_model" in missing
    assert "keras.src.backend.tensorflow.trainer.reduce_per_replica" in missing


def test_keras_saves_backups_through_the_atomic_override(tmp_path, monkeypatch):
    calls = []
    original = AtomicBackupAndRestore._save_model

    def spy(self):
        calls.append(self._current_epoch)
        original(self)

    def keras_own(self):  # Keras' own, non-atomic save must not run
        raise AssertionError("Keras called BackupAndRestore._save_model, not the atomic override")

    monkeypatch.setattr(AtomicBackupAndRestore, "_save_model", spy)
    monkeypatch.setattr(keras.callbacks.BackupAndRestore, "_save_model", keras_own)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    backup = tmp_path / "backup"
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[AtomicBackupAndRestore(str(backup))])
    assert calls == [1, 2]  # once per epoch, after it
    assert sorted(p.name for p in backup.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    assert not backup.with_name("backup.new").exists() and not backup.with_name("backup.old").exists()

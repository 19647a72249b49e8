"""A run's learning curves (``curves.png``): loss, the task's metric and the learning rate per epoch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.utils.plotting import pyplot, save_figure


def plot_curves(rows: Sequence[dict], path: Path, metric: str = "mean_iou", title: str = "") -> None:
    """Loss, ``metric`` and the learning rate per epoch (train and validation), phase boundaries dashed.

    Args:
        rows: history.csv rows (``epoch``, ``phase``, ``loss``, ``val_loss``, metric, ``val_<metric>``,
            ``learning_rate``: the rate at each epoch's end).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for axis, key in zip(axes, ("loss", metric, "learning_rate")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            values = [r.get(prefix + key) for r in rows]
            if any(isinstance(v, float) for v in values):
                axis.plot(
                    epochs,
                    [v if isinstance(v, float) else np.nan for v in values],
                    style,
                    label=key.replace("_", " ")
                    if key == "learning_rate"
                    else ("validation " if prefix else "train ") + key,
                    markersize=3,
                )
        phases = [r.get("phase") for r in rows]
        for i in range(1, len(rows)):
            if phases[i] != phases[i - 1]:
                axis.axvline(epochs[i] - 0.5, color="gray", linestyle="--", linewidth=1)
        axis.set_xlabel("epoch (dashed: new phase)")
        axis.set_ylabel(key + (" (at the epoch's end)" if key == "learning_rate" else ""))
        if key == "learning_rate" and any(isinstance(r.get(key), float) and r[key] > 0 for r in rows):
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.legend()
    fig.suptitle(title)
    save_figure(fig, path)
    plt.close(fig)

"""Plots for a run directory: learning curves, prediction samples, confusion matrix (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from zoo.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:  # matplotlib picks the format from the ending
        fig.savefig(tmp, dpi=100, bbox_inches="tight")


def plot_curves(rows: Sequence[dict], path: Path, metric: str = "mean_iou", title: str = "") -> None:
    """Loss, ``metric`` and the learning rate per epoch (train and validation), phase boundaries dashed.

    Args:
        rows: history.csv rows (``epoch``, ``phase``, ``loss``, ``val_loss``, metric, ``val_<metric>``,
            ``learning_rate``: the rate at each epoch's end).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for axis, key in zip(axes, ("loss", metric, "learning_rate")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            values = [r.get(prefix + key) for r in rows]
            if any(isinstance(v, float) for v in values):
                axis.plot(epochs, [v if isinstance(v, float) else np.nan for v in values], style,
                          label=key.replace("_", " ") if key == "learning_rate" else
                          ("validation " if prefix else "train ") + key, markersize=3)
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
    _save(fig, path)
    plt.close(fig)


def _colourise(mask: np.ndarray, num_classes: int) -> np.ndarray:
    palette = (np.array(_pyplot().get_cmap("tab10" if num_classes <= 10 else "tab20").colors) * 255).astype(np.uint8)
    palette = np.concatenate([[[0, 0, 0]], palette])  # class 0 black
    out = palette[np.clip(mask, 0, len(palette) - 1) % len(palette)]
    out[mask >= num_classes] = (255, 255, 255)  # ignored pixels white
    return out


def plot_segmentation_samples(images: np.ndarray, true_masks: np.ndarray, pred_masks: np.ndarray,
                              path: Path, class_names: Sequence[str]) -> None:
    """A grid: image, true mask, predicted mask (same colours), one row per example.

    Args:
        images: uint8 ``[N, H, W, C]`` (C = 1 or 3).
        true_masks, pred_masks: ``[N, H, W]`` class indices.
    """
    plt = _pyplot()
    count = len(images)
    fig, axes = plt.subplots(count, 3, figsize=(7.5, 2.5 * count), squeeze=False)
    for row in range(count):
        image = images[row]
        image = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image[..., :3]
        truth = _colourise(true_masks[row], len(class_names))
        pred = _colourise(pred_masks[row], len(class_names))
        for col, (picture, title) in enumerate(((image, "image"), (truth, "true mask"), (pred, "predicted mask"))):
            axes[row, col].imshow(picture)
            axes[row, col].set_axis_off()
            if row == 0:
                axes[row, col].set_title(title)
    names = ", ".join(f"{i}={n}" for i, n in enumerate(class_names))
    fig.suptitle(f"validation samples ({names})", fontsize=9)
    _save(fig, path)
    plt.close(fig)


def plot_confusion(confusion, path: Path, class_names: Sequence[str], title: str = "") -> None:
    """The row-normalised confusion matrix (rows: true class, columns: predicted; each row sums to 1, i.e.
    the diagonal is each class's recall), with the share in each cell and the class names on both axes.

    Args:
        confusion: pixel counts ``[C, C]`` (rows: truth).
    """
    plt = _pyplot()
    cm = np.asarray(confusion, np.float64)
    rows = cm.sum(1, keepdims=True)
    shares = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    count = len(class_names)
    side = min(2.0 + 0.55 * count, 24.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    shown = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's pixels")
    ax.set_xticks(range(count), [str(n) for n in class_names], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(count), [f"{n} ({int(r)} px)" for n, r in zip(class_names, rows[:, 0])], fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if count <= 30:
        for i in range(count):
            for j in range(count):
                if shares[i, j] >= 0.005:
                    ax.text(j, i, f"{shares[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if shares[i, j] > 0.6 else "black")
    ax.set_title(title or "confusion matrix (rows sum to 1)", fontsize=9)
    _save(fig, path)
    plt.close(fig)


def plot_keypoint_samples(images: np.ndarray, true: np.ndarray, pred: np.ndarray, visible: np.ndarray,
                          path: Path, names: Sequence[str], skeleton: Sequence[tuple[int, int]] = ()) -> None:
    """Images with true (green circles) and predicted (red crosses) keypoints, joined by a line,
    and the predicted skeleton's links (cyan).

    Args:
        images: uint8 ``[N, H, W, C]``.
        true, pred: ``[N, K, 2]`` (x, y) in those images' pixels.
        visible: ``[N, K]``; invisible true keypoints are not drawn.
        skeleton: 0-based keypoint pairs to join.
    """
    plt = _pyplot()
    count = len(images)
    cols = min(count, 4)
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for i, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if i >= count:
            continue
        image = images[i]
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image[..., :3], cmap="gray")
        for a, b in skeleton:
            axis.plot([pred[i, a, 0], pred[i, b, 0]], [pred[i, a, 1], pred[i, b, 1]], "c-", linewidth=1.0)
        for k in range(true.shape[1]):
            if visible[i, k] > 0:
                axis.plot([true[i, k, 0], pred[i, k, 0]], [true[i, k, 1], pred[i, k, 1]], "y-", linewidth=0.8)
                axis.plot(true[i, k, 0], true[i, k, 1], "o", markerfacecolor="none", markeredgecolor="lime",
                          markersize=6)
            axis.plot(pred[i, k, 0], pred[i, k, 1], "x", color="red", markersize=6)
    shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
    fig.suptitle(f"validation: true (green) and predicted (red) keypoints: {shown}", fontsize=9)
    _save(fig, path)
    plt.close(fig)

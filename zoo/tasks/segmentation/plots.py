"""Segmentation plots for a run directory: prediction samples and the confusion matrix (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.utils.plotting import pyplot, save_figure


def _colourise(mask: np.ndarray, num_classes: int) -> np.ndarray:
    palette = (np.array(pyplot().get_cmap("tab10" if num_classes <= 10 else "tab20").colors) * 255).astype(np.uint8)
    palette = np.concatenate([[[0, 0, 0]], palette])  # class 0 black
    out = palette[np.clip(mask, 0, len(palette) - 1) % len(palette)]
    out[mask >= num_classes] = (255, 255, 255)  # ignored pixels white
    return out


def plot_segmentation_samples(
    images: np.ndarray, true_masks: np.ndarray, pred_masks: np.ndarray, path: Path, class_names: Sequence[str]
) -> None:
    """A grid: image, true mask, predicted mask (same colours), one row per example.

    Args:
        images: uint8 ``[N, H, W, C]`` (C = 1 or 3).
        true_masks, pred_masks: ``[N, H, W]`` class indices.
    """
    plt = pyplot()
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
    save_figure(fig, path)
    plt.close(fig)


def plot_confusion(confusion, path: Path, class_names: Sequence[str], title: str = "") -> None:
    """The row-normalised confusion matrix (rows: true class, columns: predicted; each row sums to 1, i.e.
    the diagonal is each class's recall), with the share in each cell and the class names on both axes.

    Args:
        confusion: pixel counts ``[C, C]`` (rows: truth).
    """
    plt = pyplot()
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
                    ax.text(
                        j,
                        i,
                        f"{shares[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if shares[i, j] > 0.6 else "black",
                    )
    ax.set_title(title or "confusion matrix (rows sum to 1)", fontsize=9)
    save_figure(fig, path)
    plt.close(fig)

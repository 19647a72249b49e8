"""Keypoint plots for a run directory: validation pictures with true and predicted keypoints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.utils.plotting import pyplot, save_figure


def plot_keypoint_samples(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    visible: np.ndarray,
    path: Path,
    names: Sequence[str],
    skeleton: Sequence[tuple[int, int]] = (),
) -> None:
    """Images with true (green circles) and predicted (red crosses) keypoints, joined by a line,
    and the predicted skeleton's links (cyan).

    Args:
        images: uint8 ``[N, H, W, C]``.
        true, pred: ``[N, K, 2]`` (x, y) in those images' pixels.
        visible: ``[N, K]``; invisible true keypoints are not drawn.
        skeleton: 0-based keypoint pairs to join.
    """
    plt = pyplot()
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
                axis.plot(
                    true[i, k, 0], true[i, k, 1], "o", markerfacecolor="none", markeredgecolor="lime", markersize=6
                )
            axis.plot(pred[i, k, 0], pred[i, k, 1], "x", color="red", markersize=6)
    shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
    fig.suptitle(f"validation: true (green) and predicted (red) keypoints: {shown}", fontsize=9)
    save_figure(fig, path)
    plt.close(fig)

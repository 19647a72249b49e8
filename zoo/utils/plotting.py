"""matplotlib without a display, and PNG files written whole (a reader never sees half a picture)."""

from __future__ import annotations

from pathlib import Path

from zoo.utils.io import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Writes ``fig`` to ``path`` (PNG) through a temporary file and a rename."""
    with atomic_path(path, suffix=".png") as tmp:  # matplotlib picks the format from the ending
        fig.savefig(tmp, dpi=100, bbox_inches="tight")

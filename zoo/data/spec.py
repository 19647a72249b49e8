"""``--dataset``: which data a run reads, parsed once into a ``DatasetSpec`` (task-free).

``synthetic:NAME`` (a built-in set, generated from the seed), ``tfds:NAME`` (a TensorFlow Datasets
builder) or ``folder:PATH`` (files on disk in a layout the task reads). Each task decides which names and
layouts it reads (``zoo.tasks.<task>.training.load_source``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

KINDS = ("synthetic", "tfds", "folder")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A parsed ``--dataset``.

    Attributes:
        kind: one of ``KINDS``.
        value: the set's name (``synthetic``, ``tfds``) or the folder's path as given (``folder``).
    """

    kind: str
    value: str

    @classmethod
    def parse(cls, text: str) -> DatasetSpec:
        """``"KIND:VALUE"`` -> a ``DatasetSpec``; ValueError naming the kinds for anything else."""
        kind, sep, value = str(text).partition(":")
        if not sep or kind not in KINDS:
            raise ValueError(
                f"--dataset {text!r}: give KIND:VALUE with KIND one of {', '.join(KINDS)} (e.g. "
                "synthetic:shapes, tfds:oxford_iiit_pet, folder:data/pets)"
            )
        if not value.strip():
            raise ValueError(f"--dataset {text!r} needs a {'path' if kind == 'folder' else 'name'} after '{kind}:'")
        return cls(kind, value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    @property
    def folder(self) -> Path | None:
        """The dataset's folder (``folder:`` only), ``~`` expanded; None for the other kinds."""
        return Path(self.value).expanduser() if self.kind == "folder" else None

    @property
    def short_name(self) -> str:
        """A name for the run's default folder: the set's name or the folder's last part."""
        return self.value.rstrip("/").split("/")[-1] or "data"

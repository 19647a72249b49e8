"""``--dataset``: which data a run reads, parsed once into a ``DatasetSpec`` (task-free).

``synthetic:NAME`` (a built-in set, generated from the seed), ``tfds:NAME`` (a TensorFlow Datasets
builder), ``folder:PATH`` (files on disk in the project's own layout) or a layout as another project
ships it: ``coco:FILE.json``, ``voc:ROOT``, ``ade20k:ROOT``, ``cityscapes:ROOT``, ``camvid:ROOT``,
``mmseg:ROOT`` and ``labelme:FOLDER`` (see docs/datasets.md). Each task decides which kinds, names and
layouts it reads (``zoo.tasks.<task>.training.load_source``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

BUILT_IN = ("synthetic", "tfds")  # kinds named, not read from a path
LAYOUTS = ("folder", "coco", "voc", "ade20k", "cityscapes", "camvid", "mmseg", "labelme")  # kinds read from a path
KINDS = BUILT_IN + LAYOUTS


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A parsed ``--dataset``.

    Attributes:
        kind: one of ``KINDS``.
        value: the set's name (``synthetic``, ``tfds``) or the path as given (the other kinds).
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
                "synthetic:shapes, tfds:oxford_iiit_pet, folder:data/pets, voc:VOCdevkit/VOC2012)"
            )
        if not value.strip():
            raise ValueError(f"--dataset {text!r} needs a {'name' if kind in BUILT_IN else 'path'} after '{kind}:'")
        return cls(kind, value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    @property
    def on_disk(self) -> bool:
        """The data are files at a path (every kind but ``synthetic`` and ``tfds``)."""
        return self.kind in LAYOUTS

    @property
    def path(self) -> Path | None:
        """The dataset's path (a folder, or ``coco:``'s JSON file), ``~`` expanded; None for built-in sets."""
        return Path(self.value).expanduser() if self.on_disk else None

    @property
    def folder(self) -> Path | None:
        """The folder that holds the data (a ``coco:`` file's folder), never written into; None for built-in sets."""
        path = self.path
        return path.parent if path is not None and self.kind == "coco" and path.suffix == ".json" else path

    @property
    def short_name(self) -> str:
        """A name for the run's default folder: the set's name or the path's last part."""
        name = self.value.rstrip("/").split("/")[-1] or "data"
        return name[: -len(".json")] if name.endswith(".json") else name

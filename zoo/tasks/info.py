"""``ExportInfo``: what an export (and the run it came from) is, the record behind every ``model.json``.

It holds the fields every export has and, in ``fields``, its task's own record (``Task.fields_from_json``,
``Task.info_from_run``). It is checked once where ``model.json`` is read (``from_json``) and written
(``to_json``); the recipes build it from the run's own settings (``from_run``) and hand it to the export.
No Keras or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from zoo.tasks.base import COMMON_FIELDS, DESCRIPTIVE_FIELDS, Task
from zoo.tasks.registry import TASKS, get_task


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """What an export (and the run it came from) is: the ``model.json`` beside every export, checked once
    where it is read (``from_json``) and written (``to_json``).

    Attributes:
        task: the task's name (``zoo.tasks.TASKS``); ``spec`` is the task itself.
        model: the builder (``zoo.models.registry``) the network was built with.
        backbone: the backbone's registry name (its preprocessing).
        input_size: (H, W) it was trained at, pixels.
        channels: input channels.
        fields: the task's own record (``Task.fields_from_json``): class names, keypoint names and codec...
        tta: the test-time augmentation baked into the serving functions (``zoo.data.tta``), or None.
        quantize: a LiteRT export's quantization (``"float16"``, ``"int8"``: ``zoo.export.quantize``), or None.
        format, file: the export's format and model file (``"."``: the folder is the SavedModel); None before
            the export is written.
        signatures: a SavedModel's signatures.
        descriptive: ``DESCRIPTIVE_FIELDS`` as written (inputs and outputs in words, versions, source).
    """

    task: str
    model: str
    backbone: str
    input_size: tuple[int, int]
    channels: int
    fields: Any
    tta: str | None = None
    quantize: str | None = None
    format: str | None = None
    file: str | None = None
    signatures: tuple[str, ...] = ()
    descriptive: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def spec(self) -> Task:
        """The task (``zoo.tasks.get_task(self.task)``)."""

        return get_task(self.task)

    @property
    def source(self) -> dict:
        """Where the weights came from (``run``, ``weights``), as written."""
        return dict(self.descriptive.get("source") or {})

    def replace(self, **changes) -> ExportInfo:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """The flat ``model.json`` object: the export's fields, the common ones, the task's, then the
        descriptive ones."""
        data = {}
        if self.format is not None:
            data.update(format=self.format, file=self.file)
        data.update(
            task=self.task,
            model=self.model,
            backbone=self.backbone,
            input_size=list(self.input_size),
            channels=self.channels,
        )
        data.update(self.fields.to_json())
        if self.tta:
            data["tta"] = self.tta
        if self.quantize:
            data["quantize"] = self.quantize
        if self.signatures:
            data["signatures"] = list(self.signatures)
        data.update({k: v for k, v in self.descriptive.items() if k in DESCRIPTIVE_FIELDS})
        return data

    @classmethod
    def from_json(cls, data, where: str | os.PathLike = "model.json") -> ExportInfo:
        """Reads a ``model.json`` object; ValueError naming what is missing or wrong (and ``where``)."""

        def refuse(what: str) -> ValueError:
            return ValueError(
                f"{where} is not a model.json written by `python -m zoo export` ({what}); export the run again"
            )

        if not isinstance(data, dict):
            raise refuse("not a JSON object")
        missing = [k for k in COMMON_FIELDS if k not in data]
        if missing:
            raise refuse(f"missing {', '.join(missing)}")
        task = TASKS.get(data["task"])
        if task is None:
            raise refuse(f"unknown task {data['task']!r}; known: {', '.join(sorted(TASKS))}")
        size = data["input_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise refuse(f"input_size {size!r} is not [height, width]")
        if not isinstance(data["channels"], int) or isinstance(data["channels"], bool) or data["channels"] < 1:
            raise refuse(f"channels {data['channels']!r} is not a positive integer")
        if not isinstance(data.get("tta") or "", str):
            raise refuse(f"tta {data['tta']!r} is not a mode")
        if data.get("quantize") not in (None, "float16", "int8"):
            raise refuse(f"quantize {data['quantize']!r} is not float16 or int8")
        fields = task.fields_from_json(data, where)
        return cls(
            task=task.name,
            model=str(data["model"]),
            backbone=str(data["backbone"]),
            input_size=(size[0], size[1]),
            channels=data["channels"],
            fields=fields,
            tta=data.get("tta") or None,
            quantize=data.get("quantize") or None,
            format=data.get("format"),
            file=data.get("file"),
            signatures=tuple(data.get("signatures") or ()),
            descriptive={k: data[k] for k in DESCRIPTIVE_FIELDS if k in data},
        )

    @classmethod
    def of(cls, value: ExportInfo | dict) -> ExportInfo:
        """``value`` itself, or a ``model.json``-style dict (a description written by hand) read as one."""
        return value if isinstance(value, cls) else cls.from_json(value, "the export's info")

    @classmethod
    def from_run(cls, settings: dict, resolved: dict) -> ExportInfo:
        """The description of a run from its settings and resolved values (``config.json``'s, or the driver's
        own at the end of a run): the common fields and its task's (``Task.info_from_run``)."""
        if "input_size" not in resolved:
            raise ValueError(
                "config.json has no resolved input size: the run stopped before its model was built; train it first"
            )
        for task in TASKS.values():
            fields = task.info_from_run(settings, resolved)
            if fields is not None:
                return cls(
                    task=task.name,
                    model=str(settings["model"]),
                    backbone=str(settings["backbone"]),
                    input_size=tuple(int(v) for v in resolved["input_size"]),
                    channels=int(resolved["channels"]),
                    fields=fields,
                )
        raise ValueError(
            f"config.json describes none of the tasks ({', '.join(sorted(TASKS))}): not a run of one of the recipes"
        )

"""Segmentation presets: what a dataset's mask values mean, as data (``presets/<name>.json``; no TensorFlow).

A preset names the classes (class 0 first), their colours (predicted masks are drawn in them), which
stored mask value is which class, the values that mean void, and whether the masks hold 1..C with 0
unlabelled (mmsegmentation's ``reduce_zero_label``). ``--preset NAME|FILE`` picks one; the dataset kinds
(``voc:``, ``ade20k:``, ``cityscapes:``, ``camvid:``) pick theirs by default. A user's own preset is a
JSON file of the same fields::

    {"classes": ["road", "sidewalk"], "colours": [[128, 64, 128], [244, 35, 232]],
     "values": {"7": 0, "8": 1}, "ignore_values": [0, 1, 2], "reduce_zero_label": false}

``values`` (optional) maps stored values to classes, several values may share a class, and every value
it does not list is ignored (not trained on, not scored); without it, value v is class v. ``colours`` and
``ignore_values`` are optional.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from zoo.data.presets import read_preset, shipped_names

PRESET_DIR = Path(__file__).with_name("presets")


def preset_names() -> tuple[str, ...]:
    """The shipped presets' names (``presets/*.json``)."""
    return shipped_names(PRESET_DIR)


@dataclasses.dataclass(frozen=True)
class SegmentationPreset:
    """What a dataset's mask values mean.

    Attributes:
        name: the preset's name (a shipped one, or the file's stem).
        classes: C class names, class 0 first.
        colours: C ``(r, g, b)`` colours, or None.
        values: ``(stored value, class)`` pairs; values not listed are ignored. None: value v is class v.
        ignore_values: stored values that mean void (reported as ignored, never as unknown).
        reduce_zero_label: masks hold 1..C and 0 is unlabelled (v -> v - 1, 0 ignored).
        description: a few words for logs.
        origin: where it was read from (a shipped name or a file path).
    """

    name: str
    classes: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...] | None = None
    values: tuple[tuple[int, int], ...] | None = None
    ignore_values: tuple[int, ...] = ()
    reduce_zero_label: bool = False
    description: str = ""
    origin: str = ""

    def to_json(self) -> dict:
        """The preset as the JSON ``--preset FILE`` reads."""
        data: dict = {"name": self.name, "classes": list(self.classes)}
        if self.description:
            data["description"] = self.description
        if self.colours is not None:
            data["colours"] = [list(c) for c in self.colours]
        if self.values is not None:
            data["values"] = {str(v): c for v, c in self.values}
        if self.ignore_values:
            data["ignore_values"] = list(self.ignore_values)
        data["reduce_zero_label"] = self.reduce_zero_label
        return data


def _int(value, where: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or str(value).strip() != str(number) or not low <= number <= high:
        raise ValueError(f"{where}: {json.dumps(value)} is not a whole number in {low}..{high}")
    return number


def preset_from_json(data: dict, origin: str, name: str) -> SegmentationPreset:
    """A ``SegmentationPreset`` from its JSON object; ValueError naming the bad field for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError(f'preset {origin}: write a JSON object with at least "classes": [names, class 0 first]')
    unknown = set(data) - {"name", "description", "source", "classes", "colours", "values", "ignore_values",
                           "reduce_zero_label"}  # fmt: skip
    if unknown:
        raise ValueError(f"preset {origin}: unknown fields {sorted(unknown)}; see docs/datasets.md for the fields")
    classes = data.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) and c for c in classes):
        raise ValueError(f'preset {origin}: "classes" must list at least 2 class names, class 0 first')
    if len(set(classes)) != len(classes):
        twice = sorted({c for c in classes if classes.count(c) > 1})
        raise ValueError(f"preset {origin}: class names {twice} appear twice; name each class once")
    count = len(classes)
    colours = data.get("colours")
    if colours is not None:
        if not isinstance(colours, list) or len(colours) != count:
            raise ValueError(f'preset {origin}: "colours" must give one [r, g, b] per class ({count})')
        colours = tuple(
            tuple(_int(v, f"preset {origin} colour of {classes[i]!r}", 0, 255) for v in c)
            if isinstance(c, list) and len(c) == 3
            else _int(None, f"preset {origin} colour of {classes[i]!r} ({json.dumps(c)})", 0, 255)
            for i, c in enumerate(colours)
        )
    values = data.get("values")
    if values is not None:
        if not isinstance(values, dict) or not values:
            raise ValueError(f'preset {origin}: "values" maps stored mask values to classes, e.g. {{"7": 0}}')
        pairs = tuple(
            sorted(
                (
                    _int(k, f"preset {origin} value (masks are read through a 256-entry table)", 0, 255),
                    _int(v, f"preset {origin} class of value {k}", 0, count - 1),
                )
                for k, v in values.items()
            )
        )
        unused = sorted(set(range(count)) - {c for _, c in pairs})
        if unused:
            raise ValueError(
                f'preset {origin}: classes {[classes[i] for i in unused]} have no stored value in "values"; '
                "map a value to each class"
            )
        values = pairs
    ignore = tuple(_int(v, f"preset {origin} ignore value", 0, 65535) for v in data.get("ignore_values") or ())
    if values is not None and set(ignore) & {v for v, _ in values}:
        raise ValueError(f"preset {origin}: values {sorted(set(ignore) & {v for v, _ in values})} are both "
                         "ignored and mapped to a class; keep them in one place")  # fmt: skip
    reduce = data.get("reduce_zero_label", False)
    if not isinstance(reduce, bool):
        raise ValueError(f'preset {origin}: "reduce_zero_label" is true or false')
    if reduce and values is not None:
        raise ValueError(f'preset {origin}: give "values" or "reduce_zero_label", not both (values say it all)')
    return SegmentationPreset(
        name=str(data.get("name") or name),
        classes=tuple(classes),
        colours=colours,
        values=values,
        ignore_values=ignore,
        reduce_zero_label=reduce,
        description=str(data.get("description") or ""),
        origin=origin,
    )


def load_preset(spec: str) -> SegmentationPreset:
    """``--preset NAME|FILE``: a shipped preset by name (``preset_names()``) or a JSON file of the same fields."""
    data, origin, name = read_preset(spec, PRESET_DIR, "segmentation")
    return preset_from_json(data, origin, name)

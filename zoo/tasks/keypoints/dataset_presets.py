"""Keypoint presets: what a dataset's keypoints are, as data (``presets/<name>.json``; no TensorFlow).

A preset names the K keypoints in the annotations' order, the left/right pairs that swap in a horizontal
flip, COCO's OKS sigmas (None where the dataset publishes none), the skeleton drawn in pictures and the
lower body's keypoints (``--half-body``). ``--preset NAME|FILE`` picks one; a user writes their own as a
JSON file of the same fields (indices count from 0)::

    {"keypoints": ["nose", "left_eye", "right_eye"], "flip_pairs": [[1, 2]], "sigmas": [0.026, 0.025, 0.025],
     "skeleton": [[0, 1], [0, 2]], "lower_body": []}
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from zoo.data.presets import read_preset, shipped_names

PRESET_DIR = Path(__file__).with_name("presets")


def preset_names() -> tuple[str, ...]:
    """The shipped presets' names (``presets/*.json``)."""
    return shipped_names(PRESET_DIR)


@dataclasses.dataclass(frozen=True)
class KeypointPreset:
    """What a dataset's keypoints are (indices from 0).

    Attributes:
        name: the preset's name.
        keypoints: K names in the annotations' order.
        flip_pairs: (left, right) index pairs that swap in a horizontal flip.
        sigmas: K OKS sigmas, or None.
        skeleton: index pairs drawn as lines.
        lower_body: the lower half's indices (``--half-body``).
        description, origin: words for logs; where it was read from.
    """

    name: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    sigmas: tuple[float, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] = ()
    lower_body: tuple[int, ...] = ()
    description: str = ""
    origin: str = ""


def _pairs(value, where: str, count: int) -> tuple[tuple[int, int], ...]:
    if value is None:
        return ()
    ok = isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and 0 <= i < count for i in p) for p in value
    )
    if not ok:
        raise ValueError(f"{where}: write a list of [i, j] pairs of keypoint indices 0..{count - 1}")
    return tuple((int(a), int(b)) for a, b in value)


def preset_from_json(data: dict, origin: str, name: str) -> KeypointPreset:
    """A ``KeypointPreset`` from its JSON object; ValueError naming the bad field for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError(f'preset {origin}: write a JSON object with at least "keypoints": [names]')
    unknown = set(data) - {"name", "description", "source", "keypoints", "flip_pairs", "sigmas", "skeleton",
                           "lower_body"}  # fmt: skip
    if unknown:
        raise ValueError(f"preset {origin}: unknown fields {sorted(unknown)}; see docs/datasets.md for the fields")
    names = data.get("keypoints")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f'preset {origin}: "keypoints" must list the keypoint names in the annotations\' order')
    if len(set(names)) != len(names):
        raise ValueError(f"preset {origin}: keypoint names {sorted({n for n in names if names.count(n) > 1})} twice")
    count = len(names)
    flips = _pairs(data.get("flip_pairs"), f"preset {origin} flip_pairs", count)
    used = [i for pair in flips for i in pair]
    if len(used) != len(set(used)) or any(a == b for a, b in flips):
        raise ValueError(f"preset {origin}: each keypoint swaps with at most one other in flip_pairs")
    sigmas = data.get("sigmas")
    if sigmas is not None:
        if not (
            isinstance(sigmas, list)
            and len(sigmas) == count
            and all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in sigmas)
        ):
            raise ValueError(f'preset {origin}: "sigmas" must give {count} positive numbers (or null)')
        sigmas = tuple(float(s) for s in sigmas)
    lower = data.get("lower_body") or []
    if not isinstance(lower, list) or not all(isinstance(i, int) and 0 <= i < count for i in lower):
        raise ValueError(f'preset {origin}: "lower_body" lists keypoint indices 0..{count - 1}')
    return KeypointPreset(
        name=str(data.get("name") or name),
        keypoints=tuple(names),
        flip_pairs=flips,
        sigmas=sigmas,
        skeleton=_pairs(data.get("skeleton"), f"preset {origin} skeleton", count),
        lower_body=tuple(int(i) for i in lower),
        description=str(data.get("description") or ""),
        origin=origin,
    )


def load_preset(spec: str) -> KeypointPreset:
    """``--preset NAME|FILE``: a shipped preset by name (``preset_names()``) or a JSON file of the same fields."""
    data, origin, name = read_preset(spec, PRESET_DIR, "keypoint")
    return preset_from_json(data, origin, name)

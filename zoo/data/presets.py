"""``--preset NAME|FILE``: the JSON of a task's shipped preset or of a user's file (task-free; each task
reads the fields it knows, ``zoo.tasks.<task>.dataset_presets``)."""

from __future__ import annotations

import json
from pathlib import Path


def shipped_names(folder: Path) -> tuple[str, ...]:
    """The names of the presets shipped in ``folder`` (``*.json``), sorted."""
    return tuple(sorted(p.stem for p in Path(folder).glob("*.json")))


def read_preset(spec: str, folder: Path, what: str) -> tuple[dict, str, str]:
    """(JSON object, origin, name) of ``--preset spec``: a shipped preset of ``folder`` by name (any case), else
    a JSON file. ``what`` names the kind in errors (e.g. "keypoint"). Raises ValueError for neither, or not JSON."""
    text = str(spec)
    if text.lower() in shipped_names(folder):
        name = text.lower()
        return json.loads((Path(folder) / f"{name}.json").read_text()), name, name
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(
            f"--preset {spec}: neither a shipped {what} preset ({', '.join(shipped_names(folder))}) nor a JSON file"
        )
    try:
        return json.loads(path.read_text()), str(path), path.stem
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--preset {spec} is not JSON ({err})") from None

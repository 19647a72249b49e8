"""Pieces both recipes share: configuration files and flags, sizes, run-directory policy."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import traceback
from pathlib import Path
from typing import Callable

from zoo.training import RunDir


def parse_size(text) -> tuple[int, int]:
    """``"128"`` -> (128, 128); ``"128x96"`` -> (128, 96) as (height, width)."""
    if isinstance(text, (list, tuple)) and len(text) == 2:
        return int(text[0]), int(text[1])
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values or [0]) < 1:
        raise ValueError(f"--input-size must be H or HxW in pixels (e.g. 128 or 128x96), got {text!r}")
    return (values[0], values[-1])


def merge_config(defaults, args: argparse.Namespace):
    """defaults <- ``--config FILE.json`` <- flags given on the command line.

    ``args`` must come from a parser whose defaults are ``argparse.SUPPRESS`` so that
    only the flags the user typed are present.
    """
    values = dataclasses.asdict(defaults)
    given = vars(args).copy()
    config_file = given.pop("config", None)
    given.pop("debug", None)
    if config_file:
        try:
            loaded = json.loads(Path(config_file).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"--config {config_file}: cannot read it as JSON ({err})") from err
        settings = loaded.get("settings", loaded)  # accept a run's config.json too
        unknown = sorted(set(settings) - set(values))
        if unknown:
            raise ValueError(f"--config {config_file}: unknown setting(s) {unknown}; known: {sorted(values)}")
        values.update(settings)
    values.update(given)
    return type(defaults)(**values)


def prepare_run_dir(run: RunDir, settings: dict, keys_that_must_match: tuple[str, ...], overwrite: bool,
                    resume: bool, log: Callable[[str], None]) -> str:
    """Decides what to do with an existing run directory.

    Returns ``"new"``, ``"resume"`` or ``"finished"`` (nothing to do). With
    ``overwrite`` an existing run is deleted first. Resuming a run whose saved
    settings differ in ``keys_that_must_match`` raises ValueError naming them.
    """
    if overwrite and run.root.exists():
        log(f"--overwrite: deleting the previous run in {run.root}")
        shutil.rmtree(run.root)
    if run.is_finished():
        log(f"{run.root} holds a finished run (metrics.json exists): nothing to do. "
            "Use --overwrite to train it again, or choose another --out.")
        return "finished"
    if run.has_started():
        saved = json.loads(run.config.read_text()).get("settings", {})
        differ = {k: (saved.get(k), settings.get(k)) for k in keys_that_must_match if saved.get(k) != settings.get(k)}
        if differ:
            described = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differ.items())
            raise ValueError(
                f"{run.root} holds an unfinished run with other settings ({described}); re-run with the same "
                "settings to resume it, or add --overwrite to start again"
            )
        log(f"resuming the unfinished run in {run.root}")
        return "resume"
    if resume:
        log(f"--resume: {run.root} has no run yet; starting a new one")
    return "new"


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Calls ``main``; expected errors become one message and exit code 2 (``--debug``: traceback)."""
    from zoo.weights import WeightsUnavailableError

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        return main(argv)
    except (ValueError, FileNotFoundError, RuntimeError, WeightsUnavailableError) as err:
        if debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume from the last finished epoch", file=sys.stderr)
        return 130

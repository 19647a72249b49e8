"""The depth task's recipe file: its settings, flags and ``Recipe`` (the driver does the rest)."""

from __future__ import annotations

import dataclasses

from recipes.driver import Recipe
from recipes.settings import RecipeConfig
from zoo.data.checks import loaded_source_report


@dataclasses.dataclass
class DepthConfig(RecipeConfig):
    dataset: str = "synthetic:discs"
    model: str = "unet"
    backbone: str = "mobilenetv2"
    input_size: str = "32"
    synthetic_count: int = 48


def add_flags(add_argument, defaults) -> None:
    return None  # no flags of its own


def trainer(settings, input_size, log):
    from zoo.tasks.depth.training import DepthTrainer

    return DepthTrainer(settings, input_size, log)


def check_data(settings, input_size):
    return loaded_source_report(trainer(settings, input_size, print))


RECIPE = Recipe(
    task="depth",
    description="Per-pixel depth from synthetic discs (a test task).",
    config=DepthConfig,
    models=("unet",),
    must_match=("dataset", "model", "backbone", "input_size", "seed"),
    dataset_help="synthetic:discs",
    add_flags=add_flags,
    validate=lambda settings: None,
    check_data=check_data,
    trainer=trainer,
)

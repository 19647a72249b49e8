"""A recipe's settings: the dataclass every recipe extends, the flags every recipe shares, the merge of
defaults, a ``--config`` file (JSON or YAML) and the flags typed on the command line, and ``--print-config``."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass
class RecipeConfig:
    """Settings both recipes have (each recipe subclasses it, with its own defaults and extras)."""

    dataset: str = ""
    model: str = ""
    backbone: str = ""
    encoder_weights: str = "imagenet"
    input_size: str = "128"
    channels: int | None = None
    batch_size: int = 8
    schedule: str = "auto"
    epochs: int = 10
    out: str | None = None
    resume: bool = False
    overwrite: bool = False
    strategy: str = "auto"
    devices: str | None = None
    cpu_devices: int = 1
    tpu: str | None = None
    lr_scaling: str = "none"
    mixed_precision: str = "auto"
    jit_compile: bool = False
    steps_per_execution: int = 1
    deterministic: bool = False
    seed: int = 0
    steps_per_epoch: int | None = None
    # Chosen by benchmarks.learning (docs/performance.md, "Learning quality"): light augmentation and a 10% validation
    # split learned best on every task there (segmentation and keypoints).
    val_fraction: float = 0.1
    image_key: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    data_dir: str | None = None
    preset: str | None = None  # what a dataset's files mean: a shipped preset's name or a JSON file (docs/datasets.md)
    images: str | None = None  # coco: the pictures' folder (default: found beside the file); mmseg: the image folder
    synthetic_count: int = 1000
    skip_check: bool = False
    augment: str = "light"
    lr_schedule: str = "cosine"
    warmup: float = 0.05
    optimizer: str = "adam"
    weight_decay: float = 0.0
    clip_norm: float | None = None
    ema: float | None = None
    bn_momentum: str = "auto"
    verbose: str = "auto"
    eval_tta: str | None = None  # zoo.data.tta mode of the final evaluation, reported beside the plain one
    track: str = "none"  # experiment tracking: none, mlflow or mlflow:URI (zoo.run.tracking)

    @functools.cached_property
    def data(self):
        """``--dataset`` parsed (``zoo.data.spec.DatasetSpec``; ValueError naming the kinds)."""
        from zoo.data.spec import DatasetSpec

        return DatasetSpec.parse(self.dataset)

    def optimizer_config(self):
        """The ``zoo.run.optim.OptimizerConfig`` of these settings (raises ValueError naming a bad flag)."""
        from zoo.run.optim_config import OptimizerConfig

        return OptimizerConfig(
            lr_schedule=self.lr_schedule,
            warmup=self.warmup,
            optimizer=self.optimizer,
            weight_decay=self.weight_decay,
            clip_norm=self.clip_norm,
            ema=self.ema,
        )

    def check_common(self, models: tuple[str, ...]) -> None:
        """The checks of the settings both recipes share: the model among ``models``, the optimizer
        settings, ``--bn-momentum`` and ``--augment``. Raises ValueError naming the flag."""
        if self.model not in models:
            raise ValueError(f"--model {self.model!r}: choose one of {models}")
        self.optimizer_config()
        self.batchnorm_momentum(100)
        if self.augment not in AUGMENT_CHOICES:
            raise ValueError(f"--augment {self.augment!r}: choose one of {AUGMENT_CHOICES}")
        from zoo.data.tta import parse_tta

        try:
            parse_tta(self.eval_tta)
        except ValueError as err:
            raise ValueError(f"--eval-{err}") from None  # "--eval-tta 'X': ..."

    def batchnorm_momentum(self, steps_per_epoch: int) -> float | None:
        """``--bn-momentum``: auto (``zoo.run.optim.auto_bn_momentum``), keras (as built: 0.99) or a number."""
        from zoo.run.optim_config import auto_bn_momentum

        if self.bn_momentum == "auto":
            return auto_bn_momentum(steps_per_epoch)
        if self.bn_momentum == "keras":
            return None
        try:
            value = float(self.bn_momentum)
        except (TypeError, ValueError):
            value = -1.0
        if not 0 <= value < 1:
            raise ValueError(f"--bn-momentum {self.bn_momentum!r}: auto, keras or a number in [0, 1)")
        return value


AUGMENT_CHOICES = ("none", "light", "default", "strong")


def bn_momentum_used(cfg: RecipeConfig, steps_per_epoch: int) -> float:
    """The BatchNorm momentum the run trains with (Keras' 0.99 where ``--bn-momentum keras``)."""
    value = cfg.batchnorm_momentum(steps_per_epoch)
    return 0.99 if value is None else value


def legacy_settings(settings: dict) -> dict:
    """Settings of older runs in today's terms (``augment`` was a bool: true = default, false = none)."""
    if isinstance(settings.get("augment"), bool):
        settings = {**settings, "augment": "default" if settings["augment"] else "none"}
    return settings


def parse_size(text, flag: str = "--input-size") -> tuple[int, int]:
    """``"128"`` -> (128, 128); ``"128x96"`` -> (128, 96) as (height, width). Errors name ``flag``."""
    if isinstance(text, (list, tuple)) and len(text) == 2:
        return int(text[0]), int(text[1])
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values or [0]) < 1:
        raise ValueError(f"{flag} must be H or HxW in pixels (e.g. 128 or 128x96), got {text!r}")
    return (values[0], values[-1])


# Actions and the destination are said on the command line, never read from a --config file:
# a run's config.json re-used as --config must not delete or retrain anything by itself.
ACTION_KEYS = ("overwrite", "resume", "out")
# How a run was executed, not what it learns: may differ when a finished run is run again.
EXECUTION_KEYS = (
    "verbose",
    "strategy",
    "devices",
    "cpu_devices",
    "tpu",
    "jit_compile",
    "steps_per_execution",
    "skip_check",
    "data_dir",
    "mixed_precision",
    "deterministic",
    "track",
)


def _check_type(name: str, value, annotation: str, source: str):
    """``value`` from a JSON config for a field annotated ``annotation`` (e.g. ``"int | None"``); returns it
    (ints accepted for floats, a number or [H, W] for input_size) or raises ValueError naming the setting."""
    kinds = {part.strip() for part in str(annotation).split("|")}
    if value is None:
        if "None" in kinds:
            return None
    elif name == "input_size" and (
        isinstance(value, (str, int))
        and not isinstance(value, bool)
        or isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return value
    elif isinstance(value, bool):
        if "bool" in kinds:
            return value
    elif (
        isinstance(value, int)
        and ("int" in kinds or "float" in kinds)
        or isinstance(value, float)
        and "float" in kinds
        or isinstance(value, str)
        and "str" in kinds
    ):
        return value
    wanted = " or ".join(sorted(k if k != "None" else "null" for k in kinds))
    raise ValueError(
        f"--config {source}: setting {name!r} must be {wanted}, got {json.dumps(value)} ({type(value).__name__})"
    )


def merge_config(defaults, args: argparse.Namespace, log: Callable[[str], None] | None = None):
    """defaults <- ``--config FILE`` (``.json``, or ``.yaml``/``.yml``) <- flags given on the command line.

    ``args`` must come from a parser whose defaults are ``argparse.SUPPRESS`` so that
    only the flags the user typed are present. The file is an object (mapping) of settings (or
    a run's ``config.json``, whose ``settings`` are used); each value is checked against
    the setting's type. ``overwrite``, ``resume`` and ``out`` are never taken from a file:
    a run's ``config.json`` has them and they are left out (said with ``log``); in a file of
    one's own they are refused.
    """
    values = dataclasses.asdict(defaults)
    given = vars(args).copy()
    config_file = given.pop("config", None)
    given.pop("debug", None)
    given.pop("print_config", None)
    if config_file:
        loaded = read_config_file(config_file)
        from_run = "settings" in loaded and "versions" in loaded
        settings = loaded["settings"] if from_run else loaded.get("settings", loaded)
        if not isinstance(settings, dict):
            raise ValueError(f"--config {config_file}: 'settings' must be an object (a mapping) of settings")
        unknown = sorted(set(settings) - set(values))
        if unknown:
            raise ValueError(f"--config {config_file}: unknown setting(s) {unknown}; known: {sorted(values)}")
        actions = [k for k in ACTION_KEYS if k in settings]
        if actions and not from_run:
            raise ValueError(
                f"--config {config_file}: {', '.join(actions)} are not read from a config file; give "
                f"them on the command line ({', '.join('--' + k for k in actions)})"
            )
        settings = {k: v for k, v in settings.items() if k not in ACTION_KEYS}
        if actions and log is not None:
            log(
                f"--config {config_file}: a run's config; its {', '.join(actions)} are not used (give --out and "
                "--overwrite/--resume on the command line)"
            )
        types = {f.name: f.type for f in dataclasses.fields(defaults)}
        settings = legacy_settings(settings)
        values.update({k: _check_type(k, v, types[k], config_file) for k, v in settings.items()})
    values.update(given)
    return type(defaults)(**values)


def _yaml_loader():
    """PyYAML's safe loader with YAML 1.2's scalars: ``1e-3`` is a float (YAML 1.1 reads a string) and only
    true/false are booleans (YAML 1.1 reads ``off``, ``no``, ``on``, ``yes`` as booleans, which would turn
    ``mixed_precision: off`` into false)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    resolvers = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        resolvers[first] = [(tag, rx) for tag, rx in entries if tag != "tag:yaml.org,2002:bool"]
    Loader.yaml_implicit_resolvers = resolvers
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )
    return Loader


def read_config_file(path: str) -> dict:
    """The settings object of a ``--config`` file: YAML for ``.yaml``/``.yml``, JSON otherwise.

    Raises:
        ValueError: unreadable, not the format its name says, or not an object of settings (one line).
    """
    as_yaml = Path(path).suffix.lower() in (".yaml", ".yml")
    kind = "YAML" if as_yaml else "JSON"
    try:
        text = Path(path).read_text()
        if as_yaml:
            import yaml

            try:
                loaded = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
            except yaml.YAMLError as err:
                raise ValueError(" ".join(str(err).split())) from err
        else:
            loaded = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        hint = "" if as_yaml else " (a YAML file must end in .yaml or .yml)"
        raise ValueError(f"--config {path}: cannot read it as {kind} ({err}){hint}") from err
    if not isinstance(loaded, dict):
        example = "epochs: 10 and batch_size: 8 on lines of their own" if as_yaml else '{"epochs": 10, "batch_size": 8}'
        raise ValueError(
            f"--config {path}: the file holds a {kind} {type(loaded).__name__}; it must be an object of settings, "
            f"e.g. {example}"
        )
    return loaded


def dump_settings(settings, fmt: str) -> str:
    """``--print-config``: every setting of ``settings`` (a recipe's dataclass) as ``yaml`` or ``json`` text that
    ``--config`` reads back, less ``out``, ``resume`` and ``overwrite`` (said on the command line only)."""
    values = {k: v for k, v in dataclasses.asdict(settings).items() if k not in ACTION_KEYS}
    if fmt == "json":
        return json.dumps(values, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"--print-config {fmt}: use yaml or json")
    import yaml

    head = (
        "# Settings for --config (flags typed with --config override it). 'auto' values are resolved when the run\n"
        "# starts; the run's config.json records what they became, and why, under 'resolved'.\n"
    )
    return head + yaml.safe_dump(values, sort_keys=False, default_flow_style=False)


def compile_options(cfg) -> dict:
    """Keras compile options from the speed flags."""
    return {"jit_compile": bool(cfg.jit_compile), "steps_per_execution": int(cfg.steps_per_execution)}


def verbosity(value) -> int:
    """Keras fit verbosity from a flag: auto = bar on a terminal, a line per epoch otherwise."""
    if value == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(value)


def add_training_flags(parser: argparse.ArgumentParser, defaults: RecipeConfig) -> None:
    """How each phase trains: learning-rate schedule, optimizer, weight averaging, BatchNorm, augmentation."""
    from zoo.run.optim_config import OPTIMIZERS, SCHEDULES

    a = parser.add_argument
    a(
        "--lr-schedule",
        dest="lr_schedule",
        choices=SCHEDULES,
        help="learning rate within each phase: constant, cosine (decay to 1%% after a linear warm-up) or poly "
        f"(power 0.9, after the warm-up) (default {defaults.lr_schedule})",
    )
    a(
        "--warmup",
        type=float,
        help=f"warm-up of each phase: a fraction of its steps (< 1) or a number of steps (default {defaults.warmup})",
    )
    a("--optimizer", choices=OPTIMIZERS, help=f"adam or adamw (with --weight-decay) (default {defaults.optimizer})")
    a("--weight-decay", dest="weight_decay", type=float, help="AdamW's decoupled weight decay (default 0)")
    a("--clip-norm", dest="clip_norm", type=float, help="clip each gradient to this norm (default: no clipping)")
    a(
        "--ema",
        type=float,
        help="validate, keep and export an exponential moving average of the weights with "
        "this decay, e.g. 0.99 (Keras' use_ema; default off)",
    )
    a(
        "--bn-momentum",
        dest="bn_momentum",
        help="BatchNorm momentum of the layers that train: auto (a horizon of about a tenth of an epoch, 0.9 to "
        f"0.99), keras (0.99 as built) or a number (default {defaults.bn_momentum})",
    )
    a("--augment", choices=AUGMENT_CHOICES, help=f"augmentation preset (default {defaults.augment})")
    a("--no-augment", dest="augment", action="store_const", const="none", help="same as --augment none")


def add_distribution_flags(parser: argparse.ArgumentParser) -> None:
    """The tf.distribute flags both recipes share."""
    a = parser.add_argument
    a(
        "--strategy",
        choices=("auto", "default", "onedevice", "mirrored", "multiworker", "tpu"),
        help="tf.distribute strategy: auto = mirrored over several local GPUs, else one device; multiworker reads "
        "TF_CONFIG; tpu uses --tpu (default auto)",
    )
    a("--devices", help="mirrored: comma-separated devices, e.g. /gpu:0,/gpu:1 (default: all GPUs, else all CPUs)")
    a(
        "--cpu-devices",
        dest="cpu_devices",
        type=int,
        help="split the CPU into N logical devices (CPU-only machines and tests; default 1)",
    )
    a("--tpu", help="tpu: TPU name or grpc:// address for TPUClusterResolver ('local' on a TPU VM)")
    a(
        "--mixed-precision",
        dest="mixed_precision",
        choices=("auto", "off", "float16", "bfloat16"),
        help="compute in 16 bits, keep variables, the last layer and the loss in float32. auto: float16 on "
        "GPUs, bfloat16 on TPUs, float32 on every CPU: bfloat16 took a U-Net/VGG16 train step 0.35x the "
        "float32 time with AMX (3.7x without) but cost 0.01-0.08 IoU; the log names the trade on AMX CPUs, "
        "and bfloat16 takes it (not for FCN-VGG16 there: TF 2.21's AMX kernels crash on its fc6) "
        "(default auto)",
    )
    a("--jit-compile", dest="jit_compile", action="store_true", help="compile train steps with XLA")
    a(
        "--deterministic",
        action="store_true",
        help="TensorFlow op determinism: the same seed gives the same weights, also across a kill and resume "
        "(slower on GPUs; Keras' stateful augmentation layers still differ after a resume: add --no-augment "
        "for bit-identical segmentation runs)",
    )
    a(
        "--steps-per-execution",
        dest="steps_per_execution",
        type=int,
        help="batches per tf.function call (fewer Python round trips; default 1)",
    )
    a(
        "--lr-scaling",
        dest="lr_scaling",
        choices=("none", "linear"),
        help="none: the schedule's rates are for the global batch (default); linear: multiply them by the "
        "number of replicas (when you grow the global batch with the replicas)",
    )

"""Pieces both recipes share: configuration files and flags, sizes, run-directory policy."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable

from zoo.training import RunDir


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
    # Chosen by benchmarks.learning (README, "Learning quality"): light augmentation and a 10% validation
    # split learned best on every task there (segmentation and keypoints).
    val_fraction: float = 0.1
    image_key: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    data_dir: str | None = None
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
    eval_tta: str | None = None  # zoo.tta mode of the final evaluation, reported beside the plain one

    def optimizer_config(self):
        """The ``zoo.optim.OptimizerConfig`` of these settings (raises ValueError naming a bad flag)."""
        from zoo.optim import OptimizerConfig

        return OptimizerConfig(lr_schedule=self.lr_schedule, warmup=self.warmup, optimizer=self.optimizer,
                               weight_decay=self.weight_decay, clip_norm=self.clip_norm, ema=self.ema)

    def check_common(self, models: tuple[str, ...]) -> None:
        """The checks of the settings both recipes share: the model among ``models``, the optimizer
        settings, ``--bn-momentum`` and ``--augment``. Raises ValueError naming the flag."""
        if self.model not in models:
            raise ValueError(f"--model {self.model!r}: choose one of {models}")
        self.optimizer_config()
        self.batchnorm_momentum(100)
        if self.augment not in AUGMENT_CHOICES:
            raise ValueError(f"--augment {self.augment!r}: choose one of {AUGMENT_CHOICES}")
        from zoo.tta import parse_tta

        try:
            parse_tta(self.eval_tta)
        except ValueError as err:
            raise ValueError(f"--eval-{err}") from None  # "--eval-tta 'X': ..."

    def batchnorm_momentum(self, steps_per_epoch: int) -> float | None:
        """``--bn-momentum``: auto (``zoo.optim.auto_bn_momentum``), keras (as built: 0.99) or a number."""
        from zoo.optim import auto_bn_momentum

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


def imagenet_files(backbone: str, need_top: bool) -> list[str]:
    """The manifest files that can give ``backbone``'s ImageNet encoder, preferred first (the
    with-top file also holds the encoder; FCN-VGG16 needs it for fc6/fc7)."""
    from zoo.backbones import get_backbone

    spec = get_backbone(backbone)
    return [spec.weights_top] if (need_top and spec.top_dense) else [spec.weights_notop, spec.weights_top]


def resolve_encoder_weights(value: str, backbone: str, need_top: bool):
    """'imagenet' | 'auto' | 'none' | PATH -> (what the builder takes, a note for the log).

    ``auto`` uses ImageNet weights only if they are already on this machine (store or
    Keras cache) and otherwise says plainly that the encoder starts from random weights.
    """
    from zoo import weights as store

    key = str(value).lower()
    if key == "none":
        return None, "encoder starts from random initial weights (--encoder-weights none)"
    if key == "auto":
        wanted = imagenet_files(backbone, need_top)
        if any(store.locate(name)[0] is not None for name in wanted):
            return "imagenet", "using ImageNet weights found locally"
        return None, (
            f"NOTE: ImageNet weights for {backbone} ({wanted[0]}) are not in the local store or the Keras cache, "
            "so the encoder trains from its random initial weights. For real transfer learning get them with "
            f"`python -m zoo weights fetch {wanted[0]}` (or `weights import FILE`) and run again."
        )
    if key == "imagenet":
        return "imagenet", "using ImageNet weights"
    return value, f"encoder weights from {value}"


def resolve_schedule(text: str, pretrained: bool, epochs: int, scratch_lr: str = "3e-4",
                     head_lr: str = "1e-3", finetune_lr: str = "1e-4") -> str:
    """The schedule string; ``auto`` depends on whether the encoder starts pretrained.

    Pretrained: the decoder alone first (a fifth of the epochs, at least one) so that
    its random initial weights do not disturb the encoder, then everything at a
    lower rate. From random weights: everything from the start.
    """
    if text != "auto":
        return text
    if epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    if not pretrained:
        return f"all:{epochs}@{scratch_lr}"
    head = max(1, epochs // 5)
    return f"head:{head}@{head_lr}" + (f",all:{epochs - head}@{finetune_lr}" if epochs > head else "")


@dataclasses.dataclass
class Session:
    """What a recipe run has decided before it loads data: strategy, run directory, weights, schedule."""

    strategy: object
    chief: bool
    run: RunDir
    encoder_weights: object
    weights_note: str
    schedule: str
    phases: list
    state: str  # "new" | "resume" | "finished"
    settings: dict
    precision: str = "float32"
    lock: object = None  # zoo.run_safety.RunLock held until the session is closed

    def close(self) -> None:
        """Releases the run's lock."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_settings(cfg, input_size: tuple[int, int]) -> None:
    """The flag checks that need no data or device: batch size, backbone, input size for the
    backbone's stride, schedule syntax. Raises ValueError naming the flag and the fix."""
    from zoo.backbones import get_backbone
    from zoo.freezing import parse_schedule
    from zoo.layers import check_spatial_size

    if cfg.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    spec = get_backbone(cfg.backbone)
    check_spatial_size(*input_size, spec.divisor, f"{cfg.model} on {cfg.backbone}")
    parse_schedule(resolve_schedule(cfg.schedule, True, cfg.epochs))


def check_weights(cfg, need_top: bool, report) -> None:
    """Adds to ``report`` what training would find about ``--encoder-weights``: a file that does not
    exist or does not fit the backbone (error), ImageNet files that are not on this machine (a note, or
    an error with ``ZOO_OFFLINE=1``), what ``auto`` resolves to (a note)."""
    from zoo import weights as store
    from zoo.backbones import get_backbone

    key = str(cfg.encoder_weights).lower()
    spec = get_backbone(cfg.backbone)
    if key == "none":
        return
    if key in ("imagenet", "auto"):
        wanted = imagenet_files(cfg.backbone, need_top)
        if any(store.locate(name)[0] is not None for name in wanted):
            return
        if key == "auto":
            report.add(f"ImageNet weights for {cfg.backbone} are not on this machine: --encoder-weights auto "
                       "trains the encoder from random weights",
                       f"for transfer learning: python -m zoo weights fetch {wanted[0]}", error=False)
        elif os.environ.get("ZOO_OFFLINE") == "1":
            report.add(f"ImageNet weights {wanted[0]} are not on this machine and ZOO_OFFLINE=1 forbids the "
                       "download", store.how_to_get(store.manifest()[wanted[0]]))
        else:
            report.add(f"ImageNet weights {wanted[0]} are not on this machine: training downloads them first",
                       f"nothing to do with internet access; else: {store.how_to_get(store.manifest()[wanted[0]])}",
                       error=False)
        return
    from zoo.encoder import load_pretrained, resolve_weights

    try:
        load_pretrained(spec, resolve_weights(spec, cfg.encoder_weights, need_top))
    except (ValueError, OSError) as err:
        report.add(f"--encoder-weights {cfg.encoder_weights} cannot be used: {err}",
                   "give a Keras .h5 / .weights.h5 file of this backbone, imagenet, auto or none")


def run_check(cfg, input_size: tuple[int, int], check_data: Callable, log: Callable[[str], None],
              need_top: bool = False, show_all: bool = False) -> int:
    """The recipes' ``check`` command: settings, weights, then the dataset; prints every problem.

    Runs the checks training runs before its first step (the caller has run the recipe's own
    flag checks), so what ``check`` passes, training accepts. Returns 0 if nothing stops
    training, 2 otherwise.
    """
    check_settings(cfg, input_size)
    report = check_data(cfg, input_size)
    check_weights(cfg, need_top, report)
    print(report.text(show_all))
    if report.errors:
        return 2
    log("nothing stops training with these settings")
    return 0


def open_session(cfg, *, input_size: tuple[int, int], must_match: tuple[str, ...], need_top: bool,
                 log: Callable[[str], None], scratch_lr: str = "3e-4") -> Session:
    """Checks the settings both recipes share, then decides strategy, chief/worker role,
    run directory policy (default ``runs/<model>_<backbone>_<dataset name>``), weights
    and schedule for ``cfg``."""
    check_settings(cfg, input_size)
    dataset_name = cfg.dataset.split(":", 1)[-1].rstrip("/").split("/")[-1] or "data"
    default_out = f"runs/{cfg.model}_{cfg.backbone}_{dataset_name}"
    from zoo.backbones import get_backbone
    from zoo.distribute import is_chief, make_strategy, scale_learning_rate, worker_role
    from zoo.freezing import parse_schedule
    from zoo.run_safety import RunLock, check_out_folder

    out = Path(cfg.out or default_out)
    check_out_folder(out, protected=dataset_folders(cfg.dataset))
    devices = [d.strip() for d in cfg.devices.split(",")] if cfg.devices else None
    strategy = make_strategy(cfg.strategy, devices=devices, cpu_devices=cfg.cpu_devices, tpu=cfg.tpu)
    chief = is_chief()
    # Other workers keep their own backups under a name that survives their restart.
    role, index = worker_role()
    run = RunDir(out if chief else out / ".workers" / f"{role}-{index}")
    encoder_weights, note = resolve_encoder_weights(cfg.encoder_weights, cfg.backbone, need_top)
    schedule = resolve_schedule(cfg.schedule, encoder_weights is not None, cfg.epochs, scratch_lr=scratch_lr)
    replicas = strategy.num_replicas_in_sync
    phases = [dataclasses.replace(p, learning_rate=scale_learning_rate(p.learning_rate, replicas, cfg.lr_scaling))
              for p in parse_schedule(schedule)]
    settings = {k: v for k, v in {**dataclasses.asdict(cfg), "schedule": schedule}.items()
                if k not in ("overwrite", "resume")}
    has_fc6 = need_top and bool(get_backbone(cfg.backbone).top_dense)
    precision, why = choose_precision(cfg.mixed_precision, wide_kernels=has_fc6,
                                      what=f"{cfg.model} on {cfg.backbone}")
    lock = RunLock(run.root, log).acquire()
    try:
        state = prepare_run_dir(run, settings, must_match, cfg.overwrite, cfg.resume, log)
    except BaseException:
        lock.release()
        raise
    if state != "finished":
        log(note)
        import keras

        if cfg.deterministic:
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
            log("op determinism on")

        keras.mixed_precision.set_global_policy(precision)
        log(f"precision: {precision}" + (f" ({why})" if why else "") + (", XLA" if cfg.jit_compile else "")
            + (f", {cfg.steps_per_execution} steps per execution" if cfg.steps_per_execution > 1 else ""))
    return Session(strategy, chief, run, encoder_weights, note, schedule, phases, state, settings, precision, lock)


def restores_keras_policy(main: Callable) -> Callable:
    """Decorator for a recipe's ``main``: Keras' global dtype policy is as before when it returns.

    The recipes set a mixed policy for training; called from Python (a notebook, a test), the
    caller's later models would otherwise be built in 16 bits.
    """
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        import keras

        before = keras.mixed_precision.global_policy()
        try:
            return main(*args, **kwargs)
        finally:
            keras.mixed_precision.set_global_policy(before)

    return wrapper


def compile_options(cfg) -> dict:
    """Keras compile options from the speed flags."""
    return {"jit_compile": bool(cfg.jit_compile), "steps_per_execution": int(cfg.steps_per_execution)}


def check_batch(batch_size: int, strategy) -> int:
    """The number of replicas; refuses a global batch smaller than it."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < replicas:
        raise ValueError(f"--batch-size {batch_size} is smaller than the {replicas} replicas; use at least {replicas}")
    return replicas


def write_run_config(session: Session, resolved: dict) -> None:
    """config.json of a new run: settings as given, what they resolved to, library versions.

    A resumed run keeps its file, brought up to date: settings and resolved values that
    changed (e.g. ``--steps-per-epoch``, ``--no-augment``) replace the old ones, and an
    entry of ``changes`` says what they were before and when they changed.
    """
    from zoo.io import write_json_atomic
    from zoo.training import library_versions

    resolved = {**resolved, "precision": session.precision}
    if session.state == "new":
        write_json_atomic(session.run.config, {"settings": session.settings, "resolved": resolved,
                                               "versions": library_versions()})
    elif session.state == "resume":
        config = json.loads(session.run.config.read_text())
        entry = {}
        for part, now in (("settings", session.settings), ("resolved", resolved)):
            before = config.get(part, {})
            changed = {k: [before.get(k), v] for k, v in now.items()
                       if before.get(k) != v and k not in ACTION_KEYS + ("verbose",)}
            if changed:
                config[part] = {**before, **{k: now[k] for k in changed}}
                entry[part] = changed
        if entry:
            config.setdefault("changes", []).append({"resumed": time.strftime("%Y-%m-%d %H:%M:%S"), **entry})
            write_json_atomic(session.run.config, config)


def dataset_folders(dataset: str) -> list[Path]:
    """The folders of a ``folder:PATH`` dataset (none for other kinds): a run is never put in or around them."""
    kind, _, rest = dataset.partition(":")
    return [Path(rest).expanduser()] if kind == "folder" and rest else []


def load_best(model, run: RunDir) -> str:
    """Loads the best checkpoint if there is one; returns "best" or "last"."""
    if run.best_weights.is_file():
        with warnings.catch_warnings():
            # The file also holds the optimizer of the phase it came from; evaluation and export
            # need only the model's weights, so a later phase's other optimizer is not a problem.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(run.best_weights))
        return "best"
    return "last"


def verbosity(value) -> int:
    """Keras fit verbosity from a flag: auto = bar on a terminal, a line per epoch otherwise."""
    if value == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(value)


def add_training_flags(parser: argparse.ArgumentParser, defaults: RecipeConfig) -> None:
    """How each phase trains: learning-rate schedule, optimizer, weight averaging, BatchNorm, augmentation."""
    from zoo.optim import OPTIMIZERS, SCHEDULES

    a = parser.add_argument
    a("--lr-schedule", dest="lr_schedule", choices=SCHEDULES,
      help="learning rate within each phase: constant, cosine (decay to 1%% after a linear warm-up) or poly "
           f"(power 0.9, after the warm-up) (default {defaults.lr_schedule})")
    a("--warmup", type=float, help="warm-up of each phase: a fraction of its steps (< 1) or a number of steps "
                                   f"(default {defaults.warmup})")
    a("--optimizer", choices=OPTIMIZERS, help=f"adam or adamw (with --weight-decay) (default {defaults.optimizer})")
    a("--weight-decay", dest="weight_decay", type=float, help="AdamW's decoupled weight decay (default 0)")
    a("--clip-norm", dest="clip_norm", type=float, help="clip each gradient to this norm (default: no clipping)")
    a("--ema", type=float, help="validate, keep and export an exponential moving average of the weights with "
                                "this decay, e.g. 0.99 (Keras' use_ema; default off)")
    a("--bn-momentum", dest="bn_momentum",
      help="BatchNorm momentum of the layers that train: auto (a horizon of about a tenth of an epoch, 0.9 to "
           f"0.99), keras (0.99 as built) or a number (default {defaults.bn_momentum})")
    a("--augment", choices=AUGMENT_CHOICES, help=f"augmentation preset (default {defaults.augment})")
    a("--no-augment", dest="augment", action="store_const", const="none", help="same as --augment none")


def add_distribution_flags(parser: argparse.ArgumentParser) -> None:
    """The tf.distribute flags both recipes share."""
    a = parser.add_argument
    a("--strategy", choices=("auto", "default", "onedevice", "mirrored", "multiworker", "tpu"),
      help="tf.distribute strategy: auto = mirrored over several local GPUs, else one device; multiworker reads "
           "TF_CONFIG; tpu uses --tpu (default auto)")
    a("--devices", help="mirrored: comma-separated devices, e.g. /gpu:0,/gpu:1 (default: all GPUs, else all CPUs)")
    a("--cpu-devices", dest="cpu_devices", type=int,
      help="split the CPU into N logical devices (CPU-only machines and tests; default 1)")
    a("--tpu", help="tpu: TPU name or grpc:// address for TPUClusterResolver ('local' on a TPU VM)")
    a("--mixed-precision", dest="mixed_precision", choices=("auto", "off", "float16", "bfloat16"),
      help="compute in 16 bits, keep variables, the last layer and the loss in float32. auto: float16 on "
           "GPUs, bfloat16 on TPUs and on CPUs with AMX bf16 units (not for FCN-VGG16 there: TF 2.21's "
           "AMX kernels crash on its fc6), off otherwise (default auto; a U-Net/VGG16 train step took 0.35x "
           "the float32 time with AMX, 3.7x without)")
    a("--jit-compile", dest="jit_compile", action="store_true", help="compile train steps with XLA")
    a("--deterministic", action="store_true",
      help="TensorFlow op determinism: the same seed gives the same weights, also across a kill and resume "
           "(slower on GPUs; Keras' stateful augmentation layers still differ after a resume: add --no-augment "
           "for bit-identical segmentation runs)")
    a("--steps-per-execution", dest="steps_per_execution", type=int,
      help="batches per tf.function call (fewer Python round trips; default 1)")
    a("--lr-scaling", dest="lr_scaling", choices=("none", "linear"),
      help="none: the schedule's rates are for the global batch (default); linear: multiply them by the "
           "number of replicas (when you grow the global batch with the replicas)")


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def amx_in_use(flags: set[str]) -> bool:
    """True if oneDNN will run bfloat16 on AMX units: the CPU has them and ``ONEDNN_MAX_CPU_ISA``
    does not cap oneDNN below them (nor ``TF_ENABLE_ONEDNN_OPTS=0`` switch oneDNN off)."""
    if "amx_bf16" not in flags or os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip() in ("0", "false"):
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").strip().upper()
    return cap in ("", "ALL", "DEFAULT") or "AMX" in cap or "AVX10" in cap


# TensorFlow 2.21's oneDNN bfloat16 kernels for AMX corrupt the heap on a k x k (k > 1) convolution
# to 4096 channels, i.e. FCN-VGG16's fc6: measured here, 4 of 6 runs at 64 px and 4 of 4 at 224 px
# aborted ("malloc(): unaligned tcache chunk detected"); 2048 channels, U-Nets and ResNet50 FCNs ran
# clean (6 of 6); capping oneDNN at AVX512_CORE_BF16 ran clean too but slower than float32.
_FC6_BF16_PROBLEM = ("TensorFlow's oneDNN AMX bfloat16 kernels corrupt memory in fc6 (the 7x7 convolution to "
                     "4096 channels) and the process aborts")


def choose_precision(setting: str, wide_kernels: bool = False, what: str = "this model",
                     flags: set[str] | None = None) -> tuple[str, str]:
    """The Keras dtype policy for ``--mixed-precision`` on the devices at hand, and why.

    Args:
        setting: ``auto``, ``off``, ``float16`` or ``bfloat16``.
        wide_kernels: the model has FCN-VGG16's fc6 (a 7x7 convolution to 4096 channels).
        what: the model, for messages.
        flags: CPU flags (default: read from ``/proc/cpuinfo``).

    Returns:
        ``(policy, reason)``: a Keras policy name and a note for the log ("" when there is nothing to say).

    Raises:
        ValueError: ``bfloat16`` asked for where it is known to crash (``wide_kernels`` on an AMX CPU).
    """
    import tensorflow as tf

    if setting == "off":
        return "float32", ""
    accelerated = bool(tf.config.list_logical_devices("TPU") or tf.config.list_logical_devices("GPU"))
    on_amx = not accelerated and amx_in_use(cpu_flags() if flags is None else flags)
    if setting in ("float16", "bfloat16"):
        if setting == "bfloat16" and on_amx and wide_kernels:
            raise ValueError(
                f"--mixed-precision bfloat16 with {what} on this CPU: {_FC6_BF16_PROBLEM} "
                f"(TensorFlow {tf.__version__}). Use --mixed-precision off (float32), or a model without fc6 "
                "(unet, or fcn*s on resnet50), or run with ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 in the "
                "environment (oneDNN then avoids AMX; slower than float32 on the CPU we measured)")
        return f"mixed_{setting}", ""
    if tf.config.list_logical_devices("TPU"):
        return "mixed_bfloat16", "auto: TPU"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16", "auto: GPU"
    if on_amx and wide_kernels:
        return "float32", f"auto: not bfloat16 on this AMX CPU for {what}: {_FC6_BF16_PROBLEM}"
    if on_amx:
        return "mixed_bfloat16", "auto: CPU with AMX bfloat16 units"
    return "float32", "auto: CPU without AMX bfloat16 units"


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
EXECUTION_KEYS = ("verbose", "strategy", "devices", "cpu_devices", "tpu", "jit_compile", "steps_per_execution",
                  "skip_check", "data_dir", "mixed_precision", "deterministic")


def _check_type(name: str, value, annotation: str, source: str):
    """``value`` from a JSON config for a field annotated ``annotation`` (e.g. ``"int | None"``); returns it
    (ints accepted for floats, a number or [H, W] for input_size) or raises ValueError naming the setting."""
    kinds = {part.strip() for part in str(annotation).split("|")}
    if value is None:
        if "None" in kinds:
            return None
    elif name == "input_size" and (isinstance(value, (str, int)) and not isinstance(value, bool)
                                   or isinstance(value, list) and len(value) == 2
                                   and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return value
    elif isinstance(value, bool):
        if "bool" in kinds:
            return value
    elif isinstance(value, int) and ("int" in kinds or "float" in kinds):
        return value
    elif isinstance(value, float) and "float" in kinds:
        return value
    elif isinstance(value, str) and "str" in kinds:
        return value
    wanted = " or ".join(sorted(k if k != "None" else "null" for k in kinds))
    raise ValueError(f"--config {source}: setting {name!r} must be {wanted}, got {json.dumps(value)} "
                     f"({type(value).__name__})")


def merge_config(defaults, args: argparse.Namespace, log: Callable[[str], None] | None = None):
    """defaults <- ``--config FILE.json`` <- flags given on the command line.

    ``args`` must come from a parser whose defaults are ``argparse.SUPPRESS`` so that
    only the flags the user typed are present. The file is a JSON object of settings (or
    a run's ``config.json``, whose ``settings`` are used); each value is checked against
    the setting's type. ``overwrite``, ``resume`` and ``out`` are never taken from a file:
    a run's ``config.json`` has them and they are left out (said with ``log``); in a file of
    one's own they are refused.
    """
    values = dataclasses.asdict(defaults)
    given = vars(args).copy()
    config_file = given.pop("config", None)
    given.pop("debug", None)
    if config_file:
        try:
            loaded = json.loads(Path(config_file).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"--config {config_file}: cannot read it as JSON ({err})") from err
        if not isinstance(loaded, dict):
            raise ValueError(f"--config {config_file}: the file holds a JSON {type(loaded).__name__}; it must be a "
                             'JSON object of settings, e.g. {"epochs": 10, "batch_size": 8}')
        from_run = "settings" in loaded and "versions" in loaded
        settings = loaded["settings"] if from_run else loaded.get("settings", loaded)
        if not isinstance(settings, dict):
            raise ValueError(f"--config {config_file}: 'settings' must be a JSON object")
        unknown = sorted(set(settings) - set(values))
        if unknown:
            raise ValueError(f"--config {config_file}: unknown setting(s) {unknown}; known: {sorted(values)}")
        actions = [k for k in ACTION_KEYS if k in settings]
        if actions and not from_run:
            raise ValueError(f"--config {config_file}: {', '.join(actions)} are not read from a config file; give "
                             f"them on the command line ({', '.join('--' + k for k in actions)})")
        settings = {k: v for k, v in settings.items() if k not in ACTION_KEYS}
        if actions and log is not None:
            log(f"--config {config_file}: a run's config; its {', '.join(actions)} are not used (give --out and "
                "--overwrite/--resume on the command line)")
        types = {f.name: f.type for f in dataclasses.fields(defaults)}
        settings = legacy_settings(settings)
        values.update({k: _check_type(k, v, types[k], config_file) for k, v in settings.items()})
    values.update(given)
    return type(defaults)(**values)


def _differences(saved: dict, settings: dict, keys) -> dict:
    # a key the saved run does not have is a setting added since it was written: it ran with that setting's default
    return {k: (saved.get(k), settings.get(k)) for k in keys if k in saved and saved[k] != settings.get(k)}


def _described(differ: dict) -> str:
    return ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differ.items())


def prepare_run_dir(run: RunDir, settings: dict, keys_that_must_match: tuple[str, ...], overwrite: bool,
                    resume: bool, log: Callable[[str], None]) -> str:
    """Decides what to do with an existing run directory (the caller holds its lock).

    Returns ``"new"``, ``"resume"`` or ``"finished"`` (nothing to do). With ``overwrite``
    an existing run is deleted first (only a folder ``zoo.run_safety.is_run_folder``
    recognises; ``check_out_folder`` refused anything else before). A finished run run
    again with other settings, or an unfinished one resumed with other
    ``keys_that_must_match``, raises ValueError naming them. Other settings may change on
    resume (e.g. ``steps_per_epoch``, ``augment``): they are logged here, and
    ``write_run_config`` records them in ``config.json``.
    """
    from zoo.run_safety import clear_run

    if overwrite and run.has_started():
        log(f"--overwrite: deleting the previous run in {run.root}")
        clear_run(run.root)
    if not run.has_started():
        if resume:
            log(f"--resume: {run.root} has no run yet; starting a new one")
        return "new"
    config = json.loads(run.config.read_text())
    saved = legacy_settings(config.get("settings", {}))
    # Settings newer than the run (absent from its config.json) are not differences.
    comparable = [k for k in saved if k in settings and k not in ACTION_KEYS + EXECUTION_KEYS]
    if run.is_finished():
        differ = _differences(saved, settings, comparable)
        if differ:
            raise ValueError(f"{run.root} holds a finished run trained with other settings ({_described(differ)}); "
                             "it is left as it is. Add --overwrite to train it again with these settings, or "
                             "choose another --out")
        log(f"{run.root} holds a finished run (metrics.json exists): nothing to do. "
            "Use --overwrite to train it again, or choose another --out.")
        return "finished"
    differ = _differences(saved, settings, keys_that_must_match)
    if differ:
        raise ValueError(
            f"{run.root} holds an unfinished run with other settings ({_described(differ)}); re-run with the same "
            "settings to resume it, or add --overwrite to start again"
        )
    changed = _differences(saved, settings, [k for k in saved if k in settings and k not in ACTION_KEYS + ("verbose",)])
    if changed:
        log(f"resuming with changed settings: {_described(changed)} (recorded in config.json)")
    log(f"resuming the unfinished run in {run.root}")
    return "resume"


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Calls ``main``; expected errors become one message and exit code 2 (``--debug``: traceback)."""
    from zoo.weights import WeightsUnavailableError

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        return main(argv)
    except (ValueError, OSError, RuntimeError, WeightsUnavailableError) as err:
        if debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # TensorFlow's own errors (a file the data pipeline cannot decode, out of memory)
        if type(err).__module__.split(".")[0] != "tensorflow" or not hasattr(err, "message"):
            raise
        if debug:
            traceback.print_exc()
        first = next((line.strip() for line in str(err.message).splitlines() if line.strip()), "")
        print(f"error: TensorFlow stopped with {type(err).__name__}: {first[:500]}\n(the recipe's `check` command "
              "scans a folder dataset for broken files; --debug shows the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): stopped; the state saved at the end of the last finished epoch is kept in "
              "the run directory (nothing half-written). To continue from there, re-run the same command "
              "(or add --resume).", file=sys.stderr)
        return 130

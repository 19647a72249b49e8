"""A recipe run's session: the settings checked, the strategy, the run directory (its lock, what an existing
run there means, ``config.json``), the encoder's weights and the schedule; and the ``check`` command."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

from recipes.settings import ACTION_KEYS, EXECUTION_KEYS, legacy_settings
from zoo.models.schedule import parse_schedule, resolve_schedule
from zoo.run.precision import choose_precision
from zoo.run.rundir import RunDir


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
    lock: object = None  # zoo.run.safety.RunLock held until the session is closed
    precision_note: str = ""  # why that precision (zoo.run.precision.choose_precision), "" when asked for
    opened: float = dataclasses.field(default_factory=time.time)  # when this invocation opened it (wall time)

    def close(self) -> None:
        """Releases the run's lock."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_settings(cfg, input_size: tuple[int, int], any_size: bool = False) -> None:
    """The flag checks that need no data, device or TensorFlow (the driver runs them first, ``check`` and
    training alike): batch size and the other counts, seed, backbone, input size (unless ``any_size``, a
    multiple of the backbone's stride), schedule syntax. Raises ValueError naming the flag and the fix."""
    from zoo.models.backbones import get_backbone
    from zoo.models.sizes import check_spatial_size

    if cfg.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    for flag, value, low in (
        ("--steps-per-execution", cfg.steps_per_execution, 1),
        ("--steps-per-epoch", cfg.steps_per_epoch, 1),  # None: a pass over the training split
        ("--channels", cfg.channels, 1),  # None: the data's
        ("--cpu-devices", cfg.cpu_devices, 1),
        ("--synthetic-count", cfg.synthetic_count, 1),
    ):
        if value is not None and value < low:
            raise ValueError(f"{flag} must be >= {low}, got {value} (leave it out for the default)")
    if not 0 <= cfg.seed < 2**32:
        raise ValueError(f"--seed must be between 0 and {2**32 - 1} (NumPy's seed range), got {cfg.seed}")
    spec = get_backbone(cfg.backbone)
    if not any_size:
        check_spatial_size(*input_size, spec.divisor, f"{cfg.model} on {cfg.backbone}")
    parse_schedule(resolve_schedule(cfg.schedule, True, cfg.epochs))
    from zoo.run.tracking import check_tracking

    check_tracking(cfg.track)


def session_precision(cfg, need_top: bool) -> tuple[str, str]:
    """The dtype policy a run of ``cfg`` trains in and why (``zoo.run.precision.choose_precision``); the check
    and the run ask the same. Raises ValueError where ``--mixed-precision`` asks for what crashes here."""
    from zoo.models.backbones import get_backbone

    has_fc6 = need_top and bool(get_backbone(cfg.backbone).top_dense)
    return choose_precision(cfg.mixed_precision, wide_kernels=has_fc6, what=f"{cfg.model} on {cfg.backbone}")


def check_weights(cfg, need_top: bool, report) -> None:
    """Adds to ``report`` what training would find about ``--encoder-weights``
    (``zoo.models.pretrained.resolve_encoder_weights``, the rule training resolves them by): a file that does
    not exist or does not fit the backbone, ImageNet files that are not on this machine, what ``auto`` means."""
    from zoo.models.pretrained import resolve_encoder_weights

    problem = resolve_encoder_weights(cfg.encoder_weights, cfg.backbone, need_top, verify_file=True).problem
    if problem is not None:
        what, fix, stops = problem
        report.add(what, fix, error=stops)


def run_check(
    cfg,
    input_size: tuple[int, int],
    check_data: Callable,
    log: Callable[[str], None],
    need_top: bool = False,
    show_all: bool = False,
) -> int:
    """The recipes' ``check`` command: settings, weights, then the dataset; prints every problem.

    Runs the checks training runs before its first step (the caller has run ``check_settings`` and the
    recipe's own flag checks, as before training), so what ``check`` passes, training accepts. Returns 0 if
    nothing stops training, 2 otherwise.
    """
    report = check_data(cfg, input_size)
    check_weights(cfg, need_top, report)
    try:
        session_precision(cfg, need_top)
    except ValueError as err:
        report.add(f"training refuses these settings: {err}", "")
    print(report.text(show_all))
    if report.errors:
        return 2
    log("nothing stops training with these settings")
    return 0


def open_session(
    cfg,
    *,
    input_size: tuple[int, int],
    must_match: tuple[str, ...],
    need_top: bool,
    log: Callable[[str], None],
    scratch_lr: str = "1e-3",
) -> Session:
    """Decides strategy, chief/worker role, run directory policy (default
    ``runs/<model>_<backbone>_<dataset name>``), weights and schedule for ``cfg`` (the caller has run
    ``check_settings``: ``recipes.driver.main``)."""
    # A keras-hub backbone (keras_hub:mit_b0) names its folder with "_" for ":".
    default_out = f"runs/{cfg.model}_{cfg.backbone.replace(':', '_')}_{cfg.data.short_name}"
    from zoo.models.pretrained import resolve_encoder_weights
    from zoo.run.distribute import is_chief, make_strategy, scale_learning_rate, worker_role
    from zoo.run.safety import RunLock, check_out_folder

    out = Path(cfg.out or default_out)
    check_out_folder(out, protected=[cfg.data.folder] if cfg.data.folder else [])
    devices = [d.strip() for d in cfg.devices.split(",")] if cfg.devices else None
    strategy = make_strategy(cfg.strategy, devices=devices, cpu_devices=cfg.cpu_devices, tpu=cfg.tpu)
    chief = is_chief()
    # Other workers keep their own backups under a name that survives their restart.
    role, index = worker_role()
    run = RunDir(out if chief else out / ".workers" / f"{role}-{index}")
    weights = resolve_encoder_weights(cfg.encoder_weights, cfg.backbone, need_top)
    encoder_weights, note = weights.value, weights.note
    schedule = resolve_schedule(cfg.schedule, encoder_weights is not None, cfg.epochs, scratch_lr=scratch_lr)
    replicas = strategy.num_replicas_in_sync
    phases = [
        dataclasses.replace(p, learning_rate=scale_learning_rate(p.learning_rate, replicas, cfg.lr_scaling))
        for p in parse_schedule(schedule)
    ]
    settings = {
        k: v for k, v in {**dataclasses.asdict(cfg), "schedule": schedule}.items() if k not in ("overwrite", "resume")
    }
    precision, why = session_precision(cfg, need_top)
    lock = RunLock(run.root, log).acquire()
    try:
        state = prepare_run_dir(run, settings, must_match, cfg.overwrite, cfg.resume, log, cfg.schedule)
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
        log(
            f"precision: {precision}"
            + (f" ({why})" if why else "")
            + (", XLA" if cfg.jit_compile else "")
            + (f", {cfg.steps_per_execution} steps per execution" if cfg.steps_per_execution > 1 else "")
        )
    return Session(
        strategy,
        chief,
        run,
        encoder_weights,
        note,
        schedule,
        phases,
        state,
        settings,
        precision,
        lock,
        precision_note=why,
    )


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
    from zoo.utils.io import write_json_atomic
    from zoo.utils.versions import library_versions

    resolved = {**resolved, "precision": session.precision}
    if session.state == "new":
        write_json_atomic(
            session.run.config, {"settings": session.settings, "resolved": resolved, "versions": library_versions()}
        )
    elif session.state == "resume":
        config = json.loads(session.run.config.read_text())
        entry = {}
        for part, now in (("settings", session.settings), ("resolved", resolved)):
            before = config.get(part, {})
            changed = {
                k: [before.get(k), v]
                for k, v in now.items()
                if before.get(k) != v and k not in ACTION_KEYS + ("verbose",)
            }
            if changed:
                config[part] = {**before, **{k: now[k] for k in changed}}
                entry[part] = changed
        if entry:
            config.setdefault("changes", []).append({"resumed": time.strftime("%Y-%m-%d %H:%M:%S"), **entry})
            write_json_atomic(session.run.config, config)


def _differences(saved: dict, settings: dict, keys) -> dict:
    # a key the saved run does not have is a setting added since it was written: it ran with that setting's default
    return {k: (saved.get(k), settings.get(k)) for k in keys if k in saved and saved[k] != settings.get(k)}


def _described(differ: dict, schedule_given: str = "") -> str:
    text = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differ.items())
    if "schedule" in differ and schedule_given == "auto":
        old, new = differ["schedule"]
        text += (
            f"; --schedule auto now resolves to {new!r} (its defaults changed since): add --schedule {old} "
            "to keep the run as it was"
        )
    return text


def prepare_run_dir(
    run: RunDir,
    settings: dict,
    keys_that_must_match: tuple[str, ...],
    overwrite: bool,
    resume: bool,
    log: Callable[[str], None],
    schedule_given: str = "",
) -> str:
    """Decides what to do with an existing run directory (the caller holds its lock).

    Returns ``"new"``, ``"resume"`` or ``"finished"`` (nothing to do). With ``overwrite``
    an existing run is deleted first (only a folder ``zoo.run.safety.is_run_folder``
    recognises; ``check_out_folder`` refused anything else before). A finished run run
    again with other settings, or an unfinished one resumed with other
    ``keys_that_must_match``, raises ValueError naming them. Other settings may change on
    resume (e.g. ``steps_per_epoch``, ``augment``): they are logged here, and
    ``write_run_config`` records them in ``config.json``. ``schedule_given`` is ``--schedule`` as typed: where
    ``auto`` now resolves to another schedule than the run's, the error says so and how to keep it.
    """
    from zoo.run.safety import clear_run

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
            raise ValueError(
                f"{run.root} holds a finished run trained with other settings ({_described(differ, schedule_given)}); "
                "it is left as it is. Add --overwrite to train it again with these settings, or "
                "choose another --out"
            )
        log(
            f"{run.root} holds a finished run (metrics.json exists): nothing to do. "
            "Use --overwrite to train it again, or choose another --out."
        )
        return "finished"
    differ = _differences(saved, settings, keys_that_must_match)
    if differ:
        raise ValueError(
            f"{run.root} holds an unfinished run with other settings ({_described(differ, schedule_given)}); re-run "
            "with the same settings to resume it, or add --overwrite to start again"
        )
    changed = _differences(saved, settings, [k for k in saved if k in settings and k not in ACTION_KEYS + ("verbose",)])
    if changed:
        log(f"resuming with changed settings: {_described(changed)} (recorded in config.json)")
    log(f"resuming the unfinished run in {run.root}")
    return "resume"

"""One recipe driver for every task: flags, settings, checks, session, phases, evaluation, plots, export.

A recipe (``recipes/segment.py``, ``recipes/pose.py``) is a ``Recipe``: its settings
class, its own flags, its checks and the task's trainer (``zoo/tasks/*_training.py``).
``main`` does the rest the same way for each task: ``check`` or a run (session and
lock, the task's data, network, loss and metrics, ``zoo.run.phases.fit_phases``, best
weights, evaluation, plots, the SavedModel export, ``metrics.json`` last, and the
closing hint). See ``docs/architecture.md`` for the flow and how to add a task.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from zoo.run.precision import restores_keras_policy


class TaskTrainer(Protocol):
    """What the driver asks of a task during a run (``zoo.tasks.<task>.training``)."""

    num_train: int
    num_val: int
    channels: int
    description: str
    monitor: str  # the validation metric that picks the best checkpoint
    mode: str  # "max" or "min"
    curve_metric: str  # the metric curves.png draws beside the loss

    def data_line(self) -> str: ...
    def settings_line(self) -> str: ...
    def network(self): ...  # zoo.tasks.NetworkSpec
    def compile_kwargs(self) -> dict: ...  # loss (and metrics)
    def resolved(self) -> dict: ...  # the task's fields of config.json "resolved"
    def train_data(self): ...  # a new repeating tf.data pipeline (one per phase)
    # optional: calibration_pictures() -> uint8 [N, H, W, C], written to RUN_DIR/calibration.npz for int8 exports
    def val_data(self): ...
    def epoch_metrics(self, model) -> Callable[[], dict] | None: ...
    def evaluate(self, model, samples) -> dict: ...  # the final report; draws the sample plot
    def summary(self, report: dict, weights: str) -> str: ...
    def usage(self) -> list[str]: ...


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A task's recipe: what differs from the other recipes (the driver does the rest).

    Attributes:
        task: the task's name (``zoo.tasks.TASKS``); its ``recipe`` names this recipe (``python -m
            recipes.<recipe>``, the log prefix).
        description: the ``--help`` description.
        config: the settings dataclass (a ``recipes.settings.RecipeConfig``).
        models: the ``--model`` choices.
        must_match: settings a resumed or re-run run must share with the saved one.
        dataset_help: the ``--dataset`` help.
        add_flags: ``add_flags(add_argument, defaults)`` adds the task's own flags.
        validate: the task's flag checks (raise ValueError), before any data is read.
        check_data: ``check_data(settings, input_size)`` -> a ``zoo.data.checks`` report.
        trainer: ``trainer(settings, input_size, log)`` -> a ``TaskTrainer`` (loads the data).
        need_top: whether the network needs the backbone's classifier weights (FCNs on VGG16).
        scratch_lr: the learning rate of ``--schedule auto`` without pretrained weights.
        any_input_size: ``--input-size`` may be any size (the network pads to its stride inside,
            docs/4-output-sizes.md); False: multiples of the backbone's stride (keypoints: the heatmap grid
            must tile the picture exactly).
    """

    task: str
    description: str
    config: type
    models: tuple[str, ...]
    must_match: tuple[str, ...]
    dataset_help: str
    add_flags: Callable[[Callable, Any], None]
    validate: Callable[[Any], None]
    check_data: Callable[[Any, tuple[int, int]], Any]
    trainer: Callable[[Any, tuple[int, int], Callable[[str], None]], TaskTrainer]
    need_top: Callable[[Any], bool] = lambda settings: False
    scratch_lr: str = "1e-3"
    any_input_size: bool = False

    @property
    def name(self) -> str:
        """``python -m recipes.<name>``: the task's ``recipe``."""
        from zoo.tasks import get_task

        return get_task(self.task).recipe

    def log(self, message: str) -> None:
        print(f"[{self.name}] {message}", flush=True)


def build_parser(recipe: Recipe) -> argparse.ArgumentParser:
    """The recipe's command line: the flags every recipe shares, then the task's own."""
    from recipes.settings import add_distribution_flags, add_training_flags
    from zoo.models.backbones import BACKBONES

    d = recipe.config()
    p = argparse.ArgumentParser(
        prog=f"python -m recipes.{recipe.name}", description=recipe.description, argument_default=argparse.SUPPRESS
    )
    a = p.add_argument
    a("--dataset", help=f"{recipe.dataset_help} (default {d.dataset})")
    a("--model", choices=recipe.models, help=f"network (default {d.model})")
    a(
        "--backbone",
        metavar="BACKBONE",  # checked with the settings (flags and --config alike)
        help=f"one of {', '.join(sorted(BACKBONES))}, or keras_hub:mit_b0 .. keras_hub:mit_b5 (SegFormer's MiT "
        f'from keras-hub, pip install ".[hub]") (default {d.backbone})',
    )
    a(
        "--encoder-weights",
        dest="encoder_weights",
        help="imagenet (store, Keras cache, else download) | auto (imagenet if present locally, else none, said "
        f"plainly) | none | PATH (default {d.encoder_weights})",
    )
    sizes = "any size (the network pads to 32 inside)" if recipe.any_input_size else "multiples of 32"
    a("--input-size", dest="input_size", help=f"training size H or HxW, {sizes} (default {d.input_size})")
    a("--channels", type=int, help="model input channels (default: the data's; 1 for grayscale)")
    a("--batch-size", dest="batch_size", type=int, help=f"global batch, split across replicas (default {d.batch_size})")
    a(
        "--schedule",
        help="phases WHAT:EPOCHS@LR, e.g. head:2@1e-3,stage4:3@1e-4,all:5@1e-5; WHAT is head "
        "(decoder only), stageN (stage N onwards + decoder) or all. 'auto' with --epochs E: "
        f"head:E/5@1e-3,all:(rest)@1e-4 with pretrained weights, all:E@{recipe.scratch_lr} "
        "without (default auto)",
    )
    a("--epochs", type=int, help=f"total epochs of --schedule auto (default {d.epochs})")
    a("--out", help="run directory (default runs/<model>_<backbone>_<dataset name>)")
    a("--resume", action="store_true", help="continue an unfinished run (a plain re-run does the same)")
    a("--overwrite", action="store_true", help="delete an existing run in --out and start again")
    add_distribution_flags(p)
    a("--seed", type=int, help=f"random seed for data, splits and weights (default {d.seed})")
    a(
        "--track",
        metavar="mlflow[:URI]",
        help="log params, per-epoch metrics, the report and the export to MLflow: mlflow (a SQLite store "
        "mlflow.db beside the run folder) or mlflow:URI (the optional extra .[track]; default none)",
    )
    a(
        "--steps-per-epoch",
        dest="steps_per_epoch",
        type=int,
        help="batches per epoch (default: training examples // batch size)",
    )
    a(
        "--val-fraction",
        dest="val_fraction",
        type=float,
        help=f"held-out fraction when the data has no validation split (default {d.val_fraction})",
    )
    a("--image-key", dest="image_key", help="tfds: image feature name (default from the preset, else 'image')")
    a(
        "--train-split",
        dest="train_split",
        help="tfds: training split; shipped layouts: the split's name or file (voc: trainaug reads SBD's set)",
    )
    a(
        "--val-split",
        dest="val_split",
        help="tfds: validation split (default: the preset's, else 10%% of train); shipped layouts: its name or "
        "file (coco: the validation JSON)",
    )
    a(
        "--preset",
        metavar="NAME|FILE",
        help="what the dataset's files mean (classes, colours, ignored values; keypoint names, flip pairs, "
        "sigmas): a shipped preset or your own JSON (docs/datasets.md); the shipped layouts pick theirs",
    )
    a(
        "--images",
        metavar="DIR",
        help="coco: the pictures' folder (default: beside the JSON, images/, or <split>2017/ beside "
        "annotations/); mmseg: the image folder under ROOT",
    )
    a("--data-dir", dest="data_dir", help="tfds: data folder (default ~/tensorflow_datasets)")
    a(
        "--synthetic-count",
        dest="synthetic_count",
        type=int,
        help=f"synthetic: number of pictures, train + validation (default {d.synthetic_count}; synthetic:scenes: "
        "the pixels of that many pictures, in scenes of 4x the input size)",
    )
    a(
        "--skip-check",
        dest="skip_check",
        action="store_true",
        help="folder: skip the scan of every file before training (see the `check` command)",
    )
    a(
        "--eval-tta",
        dest="eval_tta",
        metavar="MODE",
        help="also evaluate with test-time augmentation, reported beside the plain figures: segmentation flip, "
        "scales:0.75,1,1.25 or flip+scales:...; keypoints flip (left/right swapped) (default: none)",
    )
    recipe.add_flags(a, d)
    add_training_flags(p, d)
    a("--verbose", help="Keras fit verbosity: auto, 0, 1 (bar) or 2 (a line per epoch) (default auto)")
    a(
        "--config",
        help="a JSON or YAML (.yaml, .yml) file with any of these settings (names with underscores, as "
        "--print-config writes them); flags override it",
    )
    a(
        "--print-config",
        dest="print_config",
        nargs="?",
        const="yaml",
        choices=("yaml", "json"),
        help="print every setting (defaults, --config and flags merged and checked) as YAML (default) or JSON, "
        "to start a --config file from, and exit without training",
    )
    a("--debug", action="store_true", help="show tracebacks")
    a(
        "--show-all",
        dest="show_all",
        action="store_true",
        help="check: name every file and record of each finding (default: the first 5 and a count)",
    )
    return p


def check_same_network(run, network) -> None:
    """Refuses to resume a run whose stored network differs from the one these settings build now (a
    builder default that changed since, for instance): its checkpoint holds other weights' meaning."""
    import json

    from zoo.tasks.base import NetworkSpec

    stored = json.loads(run.config.read_text()).get("resolved", {}).get("network")
    if stored is None:
        return
    was = NetworkSpec.from_json(stored).to_json()
    if was != network.to_json():
        raise ValueError(
            f"{run.root} was trained as {was}, but these settings build {network.to_json()} (a default "
            "changed since?); give the run's own values (e.g. --output-stride) to resume it, or add "
            "--overwrite to start again"
        )


@restores_keras_policy
def main(recipe: Recipe, argv: list[str] | None = None) -> int:
    """``python -m recipes.<name> [check] [flags]``: returns the exit code."""
    from recipes.session import check_settings, open_session, run_check
    from recipes.settings import merge_config, parse_size

    argv = list(sys.argv[1:] if argv is None else argv)
    checking = bool(argv) and argv[0] == "check"
    args = build_parser(recipe).parse_args(argv[1:] if checking else argv)
    show_all = vars(args).pop("show_all", False)
    if show_all and not checking:
        raise ValueError("--show-all is for the check command (python -m recipes.NAME check ... --show-all)")
    print_config = vars(args).pop("print_config", None)
    settings = merge_config(recipe.config(), args, recipe.log)
    input_size = parse_size(settings.input_size)
    settings.check_common(recipe.models)
    check_settings(
        settings, input_size, recipe.any_input_size
    )  # before the task's checks, which may load TensorFlow: flag errors in < 1 s
    if "epochs" in vars(args) and settings.schedule != "auto":  # typed, and a schedule that says its own epochs
        from zoo.models.schedule import parse_schedule

        total = sum(phase.epochs for phase in parse_schedule(settings.schedule))
        if total != settings.epochs:
            raise ValueError(
                f"--epochs {settings.epochs} is for --schedule auto; --schedule {settings.schedule} trains {total} "
                "epoch(s): leave --epochs out, change the schedule's epochs, or add --schedule auto"
            )
    if print_config:
        from recipes.settings import dump_settings

        sys.stdout.write(dump_settings(settings, print_config))
        return 0
    recipe.validate(settings)
    need_top = recipe.need_top(settings)
    if checking:
        return run_check(settings, input_size, recipe.check_data, recipe.log, need_top=need_top, show_all=show_all)
    session = open_session(
        settings,
        input_size=input_size,
        must_match=recipe.must_match,
        need_top=need_top,
        log=recipe.log,
        scratch_lr=recipe.scratch_lr,
    )
    with session:  # holds the run's lock until training, evaluation and export are done
        if session.state == "finished":
            return 0
        return train(recipe, settings, input_size, session)


def train(recipe: Recipe, settings, input_size: tuple[int, int], session) -> int:
    """Loads the data, builds, trains, evaluates and exports (the run's lock is held)."""
    import keras

    from recipes.session import check_batch, write_run_config
    from recipes.settings import bn_momentum_used, compile_options
    from zoo.run.distribute import build_from_spec_before_fit, shard_by_data
    from zoo.run.safety import bytes_needed, check_free_space
    from zoo.tasks import build_network
    from zoo.tasks.info import ExportInfo

    log, strategy, run, phases = recipe.log, session.strategy, session.run, session.phases
    keras.utils.set_random_seed(settings.seed)
    task = recipe.trainer(settings, input_size, log)
    replicas = check_batch(settings.batch_size, strategy)
    steps = settings.steps_per_epoch or max(1, task.num_train // settings.batch_size)
    bn_momentum = settings.batchnorm_momentum(steps)  # None: as built
    momentum = bn_momentum_used(settings, steps)  # the value in effect, for the log and config.json
    log(task.data_line())
    log(
        f"strategy: {type(strategy).__name__} with {replicas} replica(s); global batch {settings.batch_size}; "
        f"{steps} steps per epoch; schedule {session.schedule}; {settings.optimizer_config().describe()}; "
        f"BatchNorm momentum {momentum:g}; {task.settings_line()}"
    )
    train_ds = shard_by_data(task.train_data())
    val_ds = shard_by_data(task.val_data())
    network = task.network()
    if session.state == "resume":
        check_same_network(run, network)
    with strategy.scope():
        model = build_network(network, session.encoder_weights)
        compile_kwargs = {**task.compile_kwargs(), **compile_options(settings)}
    log(
        f"model: {model.name}, {model.count_params():,} parameters, input {(*input_size, task.channels)}, "
        f"output {tuple(model.output_shape[1:])}"
    )
    # a run that cannot fit on its disk stops now, not at its first checkpoint (what a run holds: zoo.run.safety)
    held = sum(f.stat().st_size for f in run.checkpoints.rglob("*") if f.is_file()) if run.checkpoints.is_dir() else 0
    if not run.phase_weights(len(phases) - 1).is_file():  # trained already (an export failed): the export checks
        check_free_space(run.root, bytes_needed(model.count_params()) - held, f"training {model.name}")
    resolved = {
        **task.resolved(),
        "steps_per_epoch": steps,
        "encoder_weights": str(session.encoder_weights),
        "weights_note": session.weights_note,
        "strategy": type(strategy).__name__,
        "replicas": replicas,
        "training": settings.optimizer_config().describe(),
        "bn_momentum": momentum,
        "network": network.to_json(),
        "why": resolved_why(settings, session, steps),
    }
    write_run_config(session, resolved)
    info = ExportInfo.from_run(session.settings, resolved)  # what the export will say it is, checked before training

    build_from_spec_before_fit(model, train_ds.element_spec)
    tracker = open_tracker(recipe, settings, session, resolved)
    try:
        return _fit_evaluate_export(
            recipe, settings, session, task, model, info, compile_kwargs, val_ds, steps, bn_momentum, tracker
        )
    except BaseException as err:
        if tracker is not None:
            tracker.fail(interrupted=isinstance(err, KeyboardInterrupt))
        raise


def resolved_why(settings, session, steps: int) -> dict:
    """Why the settings resolved as they did, by config.json "resolved" field (the report's "why" column)."""
    from zoo.run.optim_config import auto_bn_momentum

    why = {
        "encoder_weights": session.weights_note,
        "precision": session.precision_note or f"--mixed-precision {settings.mixed_precision}",
        "steps_per_epoch": f"--steps-per-epoch {settings.steps_per_epoch}"
        if settings.steps_per_epoch
        else f"training examples // --batch-size {settings.batch_size}",
    }
    if settings.schedule == "auto":
        weights = "pretrained" if session.encoder_weights is not None else "no pretrained"
        why["schedule"] = f"--schedule auto for --epochs {settings.epochs} with {weights} encoder weights"
    if settings.bn_momentum == "auto":
        why["bn_momentum"] = f"--bn-momentum auto: {auto_bn_momentum(steps):g} for {steps} steps per epoch"
    return why


def refresh_report(run, curve_metric: str, title: str) -> None:
    """curves.png and report.html of a run in progress (the chief, at each epoch's end: ``RefreshReport``)."""
    from zoo.run.curves import plot_curves
    from zoo.run.report import write_report
    from zoo.run.rundir import read_history

    plot_curves(read_history(run.history), run.curves, curve_metric, title)
    write_report(run.root)


def open_tracker(recipe: Recipe, settings, session, resolved: dict):
    """The run's MLflow run (``--track``; ``zoo.run.tracking``), opened with its params; None when off or on a
    worker that is not the chief."""
    from zoo.run.tracking import Tracker, parse_track

    uri = parse_track(settings.track)
    if uri is None or not session.chief:
        return None
    tracker = Tracker(uri, session.run.root, f"zoo-{recipe.name}", recipe.log)
    tracker.start(dataclasses.asdict(settings), resolved)
    return tracker


def _fit_evaluate_export(
    recipe, settings, session, task, model, info, compile_kwargs, val_ds, steps, bn_momentum, tracker
) -> int:
    """Trains the schedule, then (the chief) evaluates the best weights, exports and writes metrics.json."""
    from recipes.settings import verbosity
    from zoo.data.calibration import write_calibration
    from zoo.export import export_model
    from zoo.run.curves import plot_curves
    from zoo.run.distribute import shard_by_data
    from zoo.run.phases import RefreshReport, fit_phases
    from zoo.run.report import export_commands, write_report
    from zoo.run.rundir import load_best, read_history
    from zoo.utils.io import write_json_atomic

    log, strategy, run, phases = recipe.log, session.strategy, session.run, session.phases
    title = f"{model.name} on {task.description}"
    # report.html at each epoch's end, written by the chief alone (zoo.run.report)
    refresh = [RefreshReport(lambda: refresh_report(run, task.curve_metric, title), log)] if session.chief else []
    started = time.time()
    with strategy.scope():
        fit_phases(
            model,
            phases,
            run,
            compile_kwargs=compile_kwargs,
            train_data=lambda: shard_by_data(task.train_data()),
            val_data=val_ds,
            optimizer=settings.optimizer_config(),
            bn_momentum=bn_momentum,
            steps_per_epoch=steps,
            verbose=verbosity(settings.verbose),
            log=log,
            monitor=task.monitor,
            mode=task.mode,
            epoch_metrics=task.epoch_metrics(model),
            extra_callbacks=[*refresh, *([tracker.callback()] if tracker is not None else [])],
        )
    train_seconds = time.time() - started
    if not session.chief:
        shutil.rmtree(run.root, ignore_errors=True)
        return 0

    used = load_best(model, run)
    log(f"evaluating the {used} weights on the {task.num_val} validation example(s)")
    report = task.evaluate(model, run.samples)
    plot_curves(read_history(run.history), run.curves, task.curve_metric, title)
    metrics = {
        **report,
        "weights": used,
        "epochs": sum(p.epochs for p in phases),
        "split": "validation",
        "num_val": task.num_val,
        "train_seconds_this_invocation": round(train_seconds, 1),
    }
    pictures = getattr(task, "calibration_pictures", None)  # for `zoo export --quantize int8` (zoo.data.calibration)
    if pictures is not None:
        write_calibration(run.root, pictures())
    log(f"exporting the SavedModel to {run.export}")
    source = {"run": str(run.root.resolve()), "weights": used}
    export_model(model, info, "saved_model", run.export, source=source, metrics=metrics)
    metrics["wall_seconds_this_invocation"] = round(time.time() - session.opened, 1)  # data, training, ..., export
    write_json_atomic(run.metrics, metrics)  # last: marks the run finished
    try:
        log(f"report: {write_report(run.root)} (python -m zoo report {shlex.quote(str(run.root))} rebuilds it)")
    except Exception as err:  # noqa: BLE001 - the run has finished (metrics.json): a report failure only warns
        log(
            f"warning: report.html not written ({type(err).__name__}: {err}); python -m zoo report {shlex.quote(str(run.root))} writes it"
        )
    if tracker is not None:
        tracker.finish(metrics, run.export)
    log(task.summary(report, used))
    log(f"run directory: {run.root}")
    print("\n".join(["", *export_commands(str(run.root), str(run.export), task.usage()), ""]))
    return 0


# What a run's full disk means for it (zoo.utils.errors.report)
RESUME_HINT = (
    "nothing half-written is used: free some space and re-run the same command to resume from the last finished "
    "epoch (or choose an --out on another disk)"
)


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None, command: bool = False) -> int:
    """Calls ``main``; expected errors become one message and exit code 2 (``zoo.utils.errors.report``;
    ``--debug``: traceback).

    ``command``: the process is the command line (``python -m recipes.NAME``), which ends at once after a
    full disk (``zoo.utils.errors.exit_at_once``); called from Python, the code is returned.
    """
    from zoo.models.weights import WeightsUnavailableError
    from zoo.utils.errors import EXPECTED, exit_at_once, is_disk_full, report

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return main(argv)
    except KeyboardInterrupt:
        print(
            "interrupted (Ctrl-C): stopped; the state saved at the end of the last finished epoch is kept in "
            "the run directory (nothing half-written). To continue from there, re-run the same command "
            "(or add --resume).",
            file=sys.stderr,
        )
        return 130
    except Exception as err:
        hint = "the recipe's `check` command scans a folder dataset for broken files; "
        if not report(err, "--debug" in argv, (*EXPECTED, WeightsUnavailableError), RESUME_HINT, hint):
            raise
        if command and is_disk_full(err):
            exit_at_once(2)
        return 2


def cli(recipe: Recipe, argv: list[str] | None = None, command: bool = False) -> int:
    """``main`` with expected errors as one line and exit code 2 (``run_main``; ``command``: as there)."""
    return run_main(lambda args: main(recipe, args), argv, command=command)

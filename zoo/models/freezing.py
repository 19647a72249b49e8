"""Stage-wise freezing and the phase schedule of a fine-tuning run.

Every model built by ``zoo`` has encoder stages ``stage1`` .. ``stage5`` (VGG16
blocks 1-5; ResNet50 conv1, conv2_x .. conv5_x) and a ``decoder`` (everything
after the encoder). Freezing sets ``layer.trainable = False``; in Keras 3 a
BatchNormalization layer that is not trainable always runs in inference mode (its
moving mean and variance are used and not updated), so a frozen stage stays
bit-identical through training. Recompile after a change (``run_schedule`` does).

A schedule is a list of ``Phase``\\ s, written as a string such as
``"head:2@1e-3,stage4:3@1e-4,all:5@1e-5"``: each phase ``WHAT:EPOCHS@LR`` trains
``WHAT`` for ``EPOCHS`` epochs at learning rate ``LR``, where ``head`` is the
decoder only, ``stageN`` is stage N, every later stage and the decoder, and ``all``
is everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import keras

from zoo.models.backbones import BACKBONES, BackboneSpec, get_backbone
from zoo.models.layers import InputSizeCheck, PadToMultiple
from zoo.models.schedule import (  # noqa: F401 - the schedule's names, where they were before schedule.py
    DECODER,
    PARTS,
    Phase,
    format_schedule,
    parse_schedule,
    resolve_schedule,
)


def model_backbone(model: keras.Model) -> BackboneSpec:
    """The registry entry of the backbone inside ``model``.

    Models built by zoo record it in their first layer (``zoo.models.layers.InputSizeCheck`` or ``PadToMultiple``).
    For models saved before that was recorded: candidates are the backbones whose first convolution the model has. Members of a family
    share layer names (ResNet50's are all inside ResNet101) and a decoder may use only the
    first stages (PSPNet at stride 8), so each candidate is scored by how many of its feature
    layers (and its ``marker``) the model holds, then by how deep in the model they sit: the
    deeper family member wins where the shallower one's layers are also present.
    """
    for layer in model.layers:
        if isinstance(layer, (InputSizeCheck, PadToMultiple)) and layer.backbone:
            try:
                return get_backbone(layer.backbone)
            except ValueError:  # a backbone this version does not know: found by its layers below
                break
    order = {layer.name: index for index, layer in enumerate(model.layers)}
    scored = []
    for spec in BACKBONES.values():
        if spec.first_conv not in order:
            continue
        held = [order[name] for name in (*spec.feature_layers(), spec.marker) if name in order]
        scored.append((len(held), sum(held), spec))
    if not scored:
        raise ValueError(f"model {model.name!r} has no known backbone (none of {sorted(BACKBONES)} is inside it)")
    return max(scored, key=lambda item: item[:2])[2]


def layer_parts(model: keras.Model) -> dict[str, list[keras.layers.Layer]]:
    """Groups the model's layers by part: ``stage1`` .. ``stage5`` and ``decoder``.

    Input layers are left out.
    """
    spec = model_backbone(model)
    parts: dict[str, list[keras.layers.Layer]] = {part: [] for part in PARTS}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        parts[spec.stage_of(layer.name) or DECODER].append(layer)
    return parts


def set_trainable(model: keras.Model, parts: Iterable[str]) -> None:
    """Makes exactly ``parts`` trainable (names from ``PARTS``) and freezes the rest."""
    wanted = set(parts)
    unknown = wanted - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}; choose from {list(PARTS)}")
    model.trainable = True
    for part, layers in layer_parts(model).items():
        for layer in layers:
            layer.trainable = part in wanted


def freeze_encoder(model: keras.Model) -> None:
    """Freezes ``stage1`` .. ``stage5``; the decoder stays trainable."""
    set_trainable(model, [DECODER])


def trainable_parts(model: keras.Model) -> dict[str, bool]:
    """Part -> True if all of its layers are trainable."""
    return {part: all(layer.trainable for layer in layers) for part, layers in layer_parts(model).items()}


def run_schedule(
    model: keras.Model,
    phases: Sequence[Phase],
    compile_kwargs: dict,
    fit_kwargs: dict | Callable[[int, Phase], dict],
    optimizer_factory: Callable[[Phase], keras.optimizers.Optimizer] = lambda phase: keras.optimizers.Adam(
        phase.learning_rate
    ),
    initial_epoch: int = 0,
    on_phase: Callable[[int, Phase], None] | None = None,
    on_phase_end: Callable[[int, Phase], None] | None = None,
) -> dict[str, list]:
    """Runs the phases in order: freeze, recompile with a fresh optimizer, fit.

    Epochs are numbered across phases (phase 2 of ``head:2,...`` starts at epoch 2),
    so callbacks and logs see one continuous run.

    Args:
        model: a ``zoo`` model.
        phases: from ``parse_schedule`` or built by hand.
        compile_kwargs: passed to ``model.compile`` (loss, metrics, ...), without
            the optimizer.
        fit_kwargs: passed to ``model.fit`` (x, validation_data, callbacks, ...),
            without ``epochs`` / ``initial_epoch``; or a function (phase index,
            phase) -> such a dict, for per-phase callbacks.
        optimizer_factory: phase -> a new optimizer, called once per phase (default: Adam at the
            phase's rate; ``zoo.run.optim.make_optimizer`` adds schedules over the phase's steps).
        initial_epoch: skip epochs already done (resuming): phases that ended
            before it are skipped, the one it falls in is shortened.
        on_phase: called with (phase index, phase) before each phase runs.
        on_phase_end: called with (phase index, phase) after each phase's fit.

    Returns:
        The merged history: metric name -> one value per epoch run, plus
        ``"epoch"`` (0-based, across phases) and ``"phase"`` (phase index).
    """
    merged: dict[str, list] = {"epoch": [], "phase": []}
    start = 0
    for index, phase in enumerate(phases):
        end = start + phase.epochs
        if end <= initial_epoch:
            start = end
            continue
        set_trainable(model, phase.parts)
        model.compile(optimizer=optimizer_factory(phase), **compile_kwargs)
        if on_phase is not None:
            on_phase(index, phase)
        kwargs = fit_kwargs(index, phase) if callable(fit_kwargs) else fit_kwargs
        from zoo.utils.keras_internals import clear_restored_epoch  # training glue (TensorFlow): not at import

        clear_restored_epoch(model)  # else a restored epoch overrides initial_epoch in every later fit
        history = model.fit(**kwargs, initial_epoch=max(start, initial_epoch), epochs=end)
        done = len(history.epoch)
        for key, values in history.history.items():
            column = merged.setdefault(key, [None] * len(merged["epoch"]))
            column.extend(values)
        merged["epoch"].extend(history.epoch)
        merged["phase"].extend([index] * done)
        for column in merged.values():  # metrics absent in this phase
            column.extend([None] * (len(merged["epoch"]) - len(column)))
        if on_phase_end is not None:
            on_phase_end(index, phase)
        start = end
    return merged

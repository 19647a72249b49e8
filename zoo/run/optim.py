"""Optimizers, learning-rate schedules and BatchNorm momentum for the phases of a schedule.

One ``OptimizerConfig`` says how every phase trains; ``make_optimizer`` builds a phase's
optimizer from it, its peak learning rate and its length in steps:

- ``lr_schedule``: ``constant`` (the phase's rate throughout), ``cosine`` (Keras'
  ``CosineDecay`` with its linear warm-up, down to ``min_lr_ratio`` of the peak) or
  ``poly`` (Keras' ``PolynomialDecay``, power 0.9 as in mmsegmentation, after a linear
  warm-up). ``warmup``: a fraction of the phase's steps (< 1) or a number of steps.
- ``optimizer``: ``adam`` or ``adamw`` (with ``weight_decay``); ``clip_norm`` clips each
  gradient's norm; ``ema``: Keras' exponential moving average of the weights
  (``use_ema``) with that decay.

``bn_momentum``: Keras' default BatchNorm momentum (0.99) makes the moving statistics lag
about 100 steps behind the weights, which on a small dataset (a few dozen steps an epoch)
is several epochs, so the model evaluated differs from the one trained; ``auto`` picks a
momentum whose horizon is a fraction of an epoch (see ``auto_bn_momentum``).
"""

from __future__ import annotations

import dataclasses

import keras

SCHEDULES = ("constant", "cosine", "poly")
OPTIMIZERS = ("adam", "adamw")


@keras.saving.register_keras_serializable(package="zoo")
class WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up from ``peak / warmup_steps`` to ``peak`` over ``warmup_steps`` steps, then
    ``after`` (a Keras schedule) counted from the end of the warm-up."""

    def __init__(self, after, warmup_steps: int, peak: float):
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.peak = float(peak)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        later = self.after(keras.ops.maximum(step - self.warmup_steps, 0.0))
        return keras.ops.where(step < self.warmup_steps, warm, later)

    def get_config(self):
        return {
            "after": keras.optimizers.schedules.serialize(self.after),
            "warmup_steps": self.warmup_steps,
            "peak": self.peak,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["after"] = keras.optimizers.schedules.deserialize(config["after"])
        return cls(**config)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """How each phase trains (see the module doc)."""

    lr_schedule: str = "cosine"
    warmup: float = 0.05
    min_lr_ratio: float = 0.01
    optimizer: str = "adam"
    weight_decay: float = 0.0
    clip_norm: float | None = None
    ema: float | None = None

    def __post_init__(self):
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"--lr-schedule {self.lr_schedule!r}: choose one of {SCHEDULES}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer {self.optimizer!r}: choose one of {OPTIMIZERS}")
        if not self.warmup >= 0:
            raise ValueError(f"--warmup must be >= 0 (a fraction of each phase below 1, else steps), got {self.warmup}")
        if not 0 <= self.min_lr_ratio < 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1), got {self.min_lr_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.weight_decay > 0 and self.optimizer != "adamw":
            raise ValueError(
                f"--weight-decay {self.weight_decay} needs --optimizer adamw (Adam's L2 is not decoupled weight decay)"
            )
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"--clip-norm must be positive, got {self.clip_norm}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ValueError(f"--ema is a decay in (0, 1), e.g. 0.99, got {self.ema}")

    def warmup_steps(self, total_steps: int) -> int:
        """Warm-up steps for a phase of ``total_steps`` (never the whole phase)."""
        steps = round(self.warmup * total_steps) if self.warmup < 1 else int(self.warmup)
        return max(0, min(steps, total_steps - 1))

    def describe(self) -> str:
        parts = [
            self.optimizer + (f" (weight decay {self.weight_decay:g})" if self.weight_decay else ""),
            f"{self.lr_schedule} learning rate"
            + (f" after {self.warmup:g} warm-up" if self.warmup and self.lr_schedule != "constant" else ""),
        ]
        if self.clip_norm:
            parts.append(f"gradient norm clipped at {self.clip_norm:g}")
        if self.ema:
            parts.append(f"weights averaged (EMA {self.ema:g})")
        return ", ".join(parts)


def learning_rate(config: OptimizerConfig, peak: float, total_steps: int):
    """The phase's learning rate: a float (constant) or a Keras schedule over ``total_steps`` steps."""
    total_steps = max(1, int(total_steps))
    if config.lr_schedule == "constant":
        return float(peak)
    warmup = config.warmup_steps(total_steps)
    floor = peak * config.min_lr_ratio
    if config.lr_schedule == "cosine":
        if warmup == 0:
            return keras.optimizers.schedules.CosineDecay(peak, total_steps, alpha=config.min_lr_ratio)
        return keras.optimizers.schedules.CosineDecay(
            peak / warmup, total_steps - warmup, alpha=config.min_lr_ratio, warmup_target=peak, warmup_steps=warmup
        )
    decay = keras.optimizers.schedules.PolynomialDecay(peak, total_steps - warmup, end_learning_rate=floor, power=0.9)
    return WarmupThen(decay, warmup, peak) if warmup else decay


def make_optimizer(config: OptimizerConfig, peak: float, total_steps: int) -> keras.optimizers.Optimizer:
    """A new optimizer for one phase of ``total_steps`` steps at peak rate ``peak``."""
    options = {"learning_rate": learning_rate(config, peak, total_steps)}
    if config.clip_norm:
        options["clipnorm"] = float(config.clip_norm)
    if config.ema:
        options.update(use_ema=True, ema_momentum=float(config.ema))
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=float(config.weight_decay), **options)
    return keras.optimizers.Adam(**options)


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The rate the optimizer applies at its current step (schedules evaluated)."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def auto_bn_momentum(steps_per_epoch: int) -> float:
    """A BatchNorm momentum whose averaging horizon (1 / (1 - momentum) steps) is about a tenth of an
    epoch, between 0.9 (10 steps) and 0.99 (Keras' default, 100 steps)."""
    return min(0.99, max(0.9, 1.0 - 10.0 / max(1, steps_per_epoch)))


def set_bn_momentum(model: keras.Model, momentum: float) -> int:
    """Sets ``momentum`` on every BatchNormalization layer of ``model``; returns how many.

    Frozen BatchNorm layers run in inference mode and keep their statistics whatever the momentum.
    """
    count = 0
    pending = list(model.layers)
    while pending:
        layer = pending.pop()
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
        pending.extend(getattr(layer, "layers", []))
    return count

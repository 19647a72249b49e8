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

import keras

from zoo.run.optim_config import (  # noqa: F401 - the settings' names, where they were before optim_config.py
    OPTIMIZERS,
    SCHEDULES,
    OptimizerConfig,
    auto_bn_momentum,
)


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

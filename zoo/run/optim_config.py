"""How a run trains, as settings: ``OptimizerConfig`` and the BatchNorm momentum rule (plain Python: the
recipes check these flags before Keras is imported; ``zoo.run.optim`` builds the Keras objects from them)."""

from __future__ import annotations

import dataclasses

SCHEDULES = ("constant", "cosine", "poly")
OPTIMIZERS = ("adam", "adamw")


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


def auto_bn_momentum(steps_per_epoch: int) -> float:
    """A BatchNorm momentum whose averaging horizon (1 / (1 - momentum) steps) is about a tenth of an
    epoch, between 0.9 (10 steps) and 0.99 (Keras' default, 100 steps)."""
    return min(0.99, max(0.9, 1.0 - 10.0 / max(1, steps_per_epoch)))

"""The schedule of a fine-tuning run as text: ``Phase``, ``parse_schedule`` and ``resolve_schedule``.

A schedule is a list of ``Phase``\\ s, written as a string such as
``"head:2@1e-3,stage4:3@1e-4,all:5@1e-5"``: each phase ``WHAT:EPOCHS@LR`` trains
``WHAT`` for ``EPOCHS`` epochs at learning rate ``LR``, where ``head`` is the
decoder only, ``stageN`` is stage N, every later stage and the decoder, and ``all``
is everything (``zoo.models.freezing`` applies a phase to a model). Plain Python: the recipes check a
schedule before Keras is imported.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from zoo.models.backbones import STAGES

DECODER = "decoder"
PARTS = STAGES + (DECODER,)


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of a schedule: train ``what`` for ``epochs`` at ``learning_rate``.

    ``what`` is ``"head"`` (decoder only), ``"stage1"`` .. ``"stage5"`` (that stage,
    every later stage and the decoder) or ``"all"``.
    """

    what: str
    epochs: int
    learning_rate: float

    def __post_init__(self):
        if self.what not in ("head", "all") + STAGES:
            raise ValueError(f"phase trains {self.what!r}; use 'head', 'all' or one of {list(STAGES)}")
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise ValueError(f"phase {self.what!r} needs a positive whole number of epochs, got {self.epochs!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"phase {self.what!r} needs a positive learning rate, got {self.learning_rate!r}")

    @property
    def parts(self) -> tuple[str, ...]:
        """The parts this phase trains."""

        if self.what == "head":
            return (DECODER,)
        if self.what == "all":
            return PARTS
        return STAGES[STAGES.index(self.what) :] + (DECODER,)

    def __str__(self) -> str:
        return f"{self.what}:{self.epochs}@{self.learning_rate:g}"


_PHASE = re.compile(r"^\s*(head|all|stage[1-5])\s*:\s*(\d+)\s*@\s*([0-9.eE+-]+)\s*$")


def parse_schedule(text: str) -> list[Phase]:
    """Parses ``"head:2@1e-3,stage4:3@1e-4,all:5@1e-5"`` into phases.

    Raises:
        ValueError naming the piece that does not parse and the expected form.
    """
    phases = []
    pieces = [p for p in str(text).split(",") if p.strip()]
    if not pieces:
        raise ValueError(f"empty schedule {text!r}; write phases like 'head:2@1e-3,all:5@1e-5'")
    for piece in pieces:
        match = _PHASE.match(piece)
        if not match:
            raise ValueError(
                f"schedule phase {piece.strip()!r} does not parse; each phase is WHAT:EPOCHS@LR with WHAT one "
                "of head, stage1..stage5, all (e.g. 'head:2@1e-3,stage4:3@1e-4,all:5@1e-5')"
            )
        try:
            rate = float(match.group(3))
        except ValueError:
            raise ValueError(f"schedule phase {piece.strip()!r}: {match.group(3)!r} is not a number") from None
        phases.append(Phase(match.group(1), int(match.group(2)), rate))
    return phases


def format_schedule(phases: Sequence[Phase]) -> str:
    """The inverse of ``parse_schedule``."""
    return ",".join(str(p) for p in phases)


def resolve_schedule(
    text: str, pretrained: bool, epochs: int, scratch_lr: str = "1e-3", head_lr: str = "1e-3", finetune_lr: str = "1e-4"
) -> str:
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

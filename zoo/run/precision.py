"""The Keras dtype policy a run trains under, chosen per device (``--mixed-precision``).

bfloat16 ran a U-Net/VGG16 train step in 0.35x the float32 time on a CPU with AMX units and in 3.7x on
one without (AVX-512 BF16 only), but on an AMX CPU it cost a plain fit 0.045 IoU on average (0.08 on
one seed) against float32 on a binary task (docs/performance.md, "Precision"), and Keras already keeps
BatchNorm's statistics and the logits in float32. So ``auto`` trains CPUs in float32, accuracy first,
and says what ``--mixed-precision bfloat16`` would trade where the CPU has AMX; GPUs take float16 (with
loss scaling), TPUs bfloat16. The recipes and the benchmarks choose through ``choose_precision``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path


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
_FC6_BF16_PROBLEM = (
    "TensorFlow's oneDNN AMX bfloat16 kernels corrupt memory in fc6 (the 7x7 convolution to "
    "4096 channels) and the process aborts"
)


def choose_precision(
    setting: str, wide_kernels: bool = False, what: str = "this model", flags: set[str] | None = None
) -> tuple[str, str]:
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
                "environment (oneDNN then avoids AMX; slower than float32 on the CPU we measured)"
            )
        return f"mixed_{setting}", ""
    if tf.config.list_logical_devices("TPU"):
        return "mixed_bfloat16", "auto: TPU"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16", "auto: GPU (--mixed-precision off trains in float32)"
    if on_amx and wide_kernels:
        return "float32", f"auto: not bfloat16 on this AMX CPU for {what}: {_FC6_BF16_PROBLEM}"
    if on_amx:
        return "float32", AMX_TRADE
    return "float32", "auto: CPU without AMX bfloat16 units"


# What --mixed-precision auto says on an AMX CPU, where it keeps float32 (docs/performance.md, "Precision").
AMX_TRADE = (
    "auto: float32 for accuracy; this CPU has AMX bfloat16 units: --mixed-precision bfloat16 trains about "
    "2.7x faster here but cost 0.01-0.08 IoU against float32 where it was measured (docs/performance.md, "
    '"Precision")'
)


def restores_keras_policy(main: Callable) -> Callable:
    """Decorator for a recipe's ``main``: Keras' global dtype policy is as before when it returns.

    The recipes set a mixed policy for training; called from Python (a notebook, a test), the
    caller's later models would otherwise be built in 16 bits.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        # Keras is not imported for this: --help and flag errors answer before TensorFlow loads
        before = sys.modules["keras"].mixed_precision.global_policy() if "keras" in sys.modules else None
        try:
            return main(*args, **kwargs)
        finally:
            if "keras" in sys.modules:
                keras = sys.modules["keras"]
                keras.mixed_precision.set_global_policy(before or keras.config.floatx())

    return wrapper

"""What an ``--encoder-weights`` value means on this machine, decided once for ``check`` and training.

``imagenet`` (the store, Keras' cache, else a download), ``auto`` (ImageNet if it is already on this
machine, else random weights, said plainly), ``none`` (random weights) or a path to a weights file of the
backbone. The files themselves are ``zoo.models.weights``' (manifest, store, verification).
"""

from __future__ import annotations

import dataclasses
import os

from zoo.models import weights as store
from zoo.models.backbones import get_backbone
from zoo.models.hub_backbones import encoder_weights_choice, is_hub


@dataclasses.dataclass(frozen=True)
class EncoderWeights:
    """An ``--encoder-weights`` value resolved.

    Attributes:
        value: what the builders take: ``"imagenet"``, a file path, or None (random initial weights).
        note: one line for the run's log.
        problem: ``(what, fix, stops)``: what ``check`` reports (``stops``: training would fail), or None.
    """

    value: str | None
    note: str
    problem: tuple[str, str, bool] | None = None


def imagenet_files(backbone: str, need_top: bool) -> list[str]:
    """The manifest files that can give ``backbone``'s ImageNet encoder, preferred first (the
    with-top file also holds the encoder; FCN-VGG16 needs it for fc6/fc7)."""

    spec = get_backbone(backbone)
    return [spec.weights_top] if (need_top and spec.top_dense) else [spec.weights_notop, spec.weights_top]


def resolve_encoder_weights(value: str, backbone: str, need_top: bool, verify_file: bool = False) -> EncoderWeights:
    """``imagenet`` | ``auto`` | ``none`` | PATH for ``backbone`` (``need_top``: the network also takes the
    classifier's weights, as FCN-VGG16's fc6/fc7).

    ``verify_file``: load a PATH's weights into the backbone now (``check``) and report a file that does not
    exist or does not fit as a ``problem``; training finds it when the model is built.
    """
    if is_hub(backbone):  # keras-hub presets (zoo.models.hub_backbones)
        return EncoderWeights(*encoder_weights_choice(value, backbone, verify_file))
    key = str(value).lower()
    if key == "none":
        return EncoderWeights(None, "encoder starts from random initial weights (--encoder-weights none)")
    if key in ("imagenet", "auto"):
        wanted = imagenet_files(backbone, need_top)
        local = any(store.locate(name)[0] is not None for name in wanted)
        fetch = f"python -m zoo weights fetch {wanted[0]}"
        if key == "auto":
            if local:
                return EncoderWeights("imagenet", "using ImageNet weights found locally")
            return EncoderWeights(
                None,
                (
                    f"NOTE: ImageNet weights for {backbone} ({wanted[0]}) are not in the local store or the Keras cache, "
                    "so the encoder trains from its random initial weights. For real transfer learning get them with "
                    f"`{fetch}` (or `weights import FILE`) and run again."
                ),
                (
                    f"ImageNet weights for {backbone} are not on this machine: --encoder-weights auto trains the "
                    "encoder from random weights",
                    f"for transfer learning: {fetch}",
                    False,
                ),
            )
        if local:
            return EncoderWeights("imagenet", "using ImageNet weights")
        how = store.how_to_get(store.manifest()[wanted[0]])
        if os.environ.get("ZOO_OFFLINE") == "1":
            problem = (
                f"ImageNet weights {wanted[0]} are not on this machine and ZOO_OFFLINE=1 forbids the download",
                how,
                True,
            )
        else:
            problem = (
                f"ImageNet weights {wanted[0]} are not on this machine: training downloads them first",
                f"nothing to do with internet access; else: {how}",
                False,
            )
        return EncoderWeights("imagenet", "using ImageNet weights", problem)
    resolved = EncoderWeights(value, f"encoder weights from {value}")
    if verify_file:
        from zoo.models.encoder import load_pretrained, resolve_weights

        spec = get_backbone(backbone)
        try:
            load_pretrained(spec, resolve_weights(spec, value, need_top))
        except (ValueError, OSError) as err:
            return dataclasses.replace(
                resolved,
                problem=(
                    f"--encoder-weights {value} cannot be used: {err}",
                    f"give a Keras .h5 / .weights.h5 file of {backbone} (with or without its classifier), "
                    "or imagenet, auto or none",
                    True,
                ),
            )
    return resolved

"""Encoders from keras-hub as zoo backbones, an optional extra (``pip install ".[hub]"``, keras-hub 0.32.0).

Names: ``keras_hub:mit_b0`` .. ``keras_hub:mit_b5`` (SegFormer's Mix Transformer, Xie et al. 2021) and
``keras_hub:PRESET`` for each MiT preset of keras-hub (``keras_hub:mit_b0_ade20k_512``: the same network, whose
pretrained weights are that preset). ``zoo.models.backbones.get_backbone`` turns a name into a ``BackboneSpec``
from ``spec_fields`` (this table imports neither Keras nor keras-hub: ``--help``, the flag checks and the
runtimes of ONNX and LiteRT exports read it); building imports keras-hub (``zoo.models.hub_layers``).

- Layers: the encoder is built from its architecture arguments (keras-hub's, ``MIT_VARIANTS``) on the zoo
  model's input, its layers part of the zoo model as a ``keras.applications`` encoder's are.
- Features: ``output_level_0`` .. ``output_level_3`` at strides 4, 8, 16, 32 (MiT has no stride-2 map).
- Stages: MiT's four levels on zoo's five stages as ConvNeXt's: ``stage1`` is the first overlapping patch
  embedding (the 7x7 stride-4 convolution, the "stem"), ``stage2`` level 0's blocks and norm (stride 4), and
  ``stage3`` .. ``stage5`` levels 1-3, each with the patch embedding that starts it (strides 8, 16, 32).
- Preprocessing: ``torch`` (``(x / 255 - mean) / std``, ImageNet's RGB statistics), what keras-hub's SegFormer
  image converter of these presets computes (scale ``1 / (255 std)``, offset ``-mean / std``).
- Weights (``encoder_weights``): None (random), ``imagenet`` (the name's preset: ``mit_bN_ade20k_512``,
  ``mit_b5_ade20k_640``; keras-hub publishes MiT only as SegFormer's encoder, trained on ImageNet-1k and then
  on ADE20K or Cityscapes), a keras-hub preset name or handle (``mit_b0_cityscapes_1024``, ``kaggle://...``,
  ``hf://...``) or the path of a preset folder (``backbone.save_to_preset(folder)``, or a downloaded one).
  Presets download through keras-hub (Kaggle, Hugging Face) into kagglehub's cache; a failed download is one
  line saying how to bring the folder by hand, never random weights.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path

HUB_PREFIX = "keras_hub:"
INSTALL = 'pip install "dense-zoo[hub]" (or pip install ".[hub]" in a checkout: keras-hub==0.32.0)'

# MiT-B0 .. B5 as keras-hub's checkpoint conversion builds them: hidden sizes and blocks per level. The other
# arguments are the same for all six (``zoo.models.hub_layers.mit_encoder``'s defaults).
MIT_VARIANTS = {
    "mit_b0": ((32, 64, 160, 256), (2, 2, 2, 2)),
    "mit_b1": ((64, 128, 320, 512), (2, 2, 2, 2)),
    "mit_b2": ((64, 128, 320, 512), (3, 4, 6, 3)),
    "mit_b3": ((64, 128, 320, 512), (3, 4, 18, 3)),
    "mit_b4": ((64, 128, 320, 512), (3, 8, 27, 3)),
    "mit_b5": ((64, 128, 320, 512), (3, 6, 40, 3)),
}
# keras-hub 0.32's MiT presets and their Kaggle handles (``keras_hub.models.MiTBackbone.presets``;
# tests/test_hub_backbones.py checks this copy against it)
MIT_PRESETS = {
    **{f"mit_b{n}_ade20k_512": f"kaggle://keras/mit/keras/mit_b{n}_ade20k_512/{4 if n < 3 else 3}" for n in range(5)},
    "mit_b5_ade20k_640": "kaggle://keras/mit/keras/mit_b5_ade20k_640/3",
    **{f"mit_b{n}_cityscapes_1024": f"kaggle://keras/mit/keras/mit_b{n}_cityscapes_1024/3" for n in range(6)},
}
HUB_NAMES = tuple(HUB_PREFIX + name for name in (*MIT_VARIANTS, *MIT_PRESETS))
_FILES = ("config.json", "model.weights.h5")  # what a preset folder needs for a backbone


def is_hub(name) -> bool:
    """Whether ``name`` is a keras-hub backbone name (``keras_hub:...``)."""
    return str(name).lower().startswith(HUB_PREFIX)


def _architecture(name: str) -> tuple[str, str]:
    """(MiT variant, default preset) of a hub name; ValueError naming the known ones."""
    arch = str(name).lower().removeprefix(HUB_PREFIX)
    if arch in MIT_PRESETS:
        return arch[:6], arch
    if arch in MIT_VARIANTS:
        return arch, f"{arch}_ade20k_{640 if arch == 'mit_b5' else 512}"
    raise ValueError(
        f"unknown keras-hub backbone {name!r}; choose one of {', '.join(HUB_NAMES)} (MiT from keras-hub, {INSTALL})"
    )


@dataclasses.dataclass(frozen=True)
class MiTConstructor:
    """Builds MiT ``variant`` as ``BackboneSpec.constructor`` is called (imports keras-hub then)."""

    variant: str

    def __call__(self, include_top=False, weights=None, input_tensor=None, input_shape=None):
        if include_top or weights is not None:
            raise ValueError(f"MiT ({self.variant}) is built without a classifier and with weights=None only")
        hidden_dims, depths = MIT_VARIANTS[self.variant]
        return _layers().mit_encoder(
            hidden_dims, depths, input_tensor=input_tensor, input_shape=input_shape, name=self.variant
        )


def _layers():
    """``zoo.models.hub_layers`` (keras-hub); a one-line ImportError with the install line without it."""
    if importlib.util.find_spec("keras_hub") is None:
        raise ModuleNotFoundError(f"the keras-hub backbones need keras-hub, which is not installed: {INSTALL}")
    from zoo.models import hub_layers

    return hub_layers


def register_hub_layers() -> None:
    """Registers zoo's MiT layers for ``keras.models.load_model`` (a no-op without keras-hub)."""
    if importlib.util.find_spec("keras_hub") is not None:
        _layers()


def spec_fields(name: str) -> dict:
    """The ``zoo.models.backbones.BackboneSpec`` fields of hub backbone ``name`` (module docstring)."""
    variant, _ = _architecture(name)
    features = {4 << level: f"output_level_{level}" for level in range(4)}
    return dict(
        name=str(name).lower(),
        constructor=MiTConstructor(variant),
        features=features,
        fcn_features={stride: features[stride] for stride in (8, 16, 32)},
        stage_prefixes={
            "stage1": ("patch_and_embed_0",),
            "stage2": ("hierarchical_encoder_0_", "output_level_0"),
            **{
                f"stage{level + 2}": (
                    f"patch_and_embed_{level}",
                    f"hierarchical_encoder_{level}_",
                    f"output_level_{level}",
                )
                for level in (1, 2, 3)
            },
        },
        first_conv="patch_and_embed_0",  # its first weight is the 7x7 kernel (adapted for channels != 3)
        top_dense=(),
        weights_notop="",
        weights_top="",
        top_marker="",
        classifier="",
        preprocessing="torch",
    )


def default_preset(name: str) -> str:
    """The preset ``imagenet`` means for ``name``."""
    return _architecture(name)[1]


def cached_preset(preset: str) -> Path | None:
    """The folder of built-in ``preset`` in kagglehub's cache when both of its files are there, else None
    (looks, downloads nothing)."""
    handle = MIT_PRESETS.get(preset)
    if handle is None or importlib.util.find_spec("kagglehub") is None:
        return None
    try:
        from kagglehub.cache import Cache
        from kagglehub.handle import parse_model_handle

        parsed = parse_model_handle(handle.removeprefix("kaggle://"))
        found = [Cache().load_from_cache(parsed, file) for file in _FILES]
    except Exception:  # kagglehub's cache layout is its own: not found
        return None
    return Path(found[0]).parent if all(found) else None


def _how_to_get(preset: str) -> str:
    handle = MIT_PRESETS.get(preset, preset)
    kaggle = handle.removeprefix("kaggle://")
    return (
        'to get it: on a machine with Internet access run `python -c "import keras_hub; '
        f"keras_hub.models.MiTBackbone.from_preset('{preset}').save_to_preset('{Path(preset).name}')\"` "
        + (f"(or kagglehub.model_download('{kaggle}')), " if handle.startswith("kaggle://") else "")
        + "copy that folder here and pass its path as encoder_weights (--encoder-weights PATH); "
        "or build with encoder_weights=None to train from random initial weights on purpose"
    )


def _check_variant(name: str, preset: str) -> None:
    """ValueError when built-in ``preset`` is another MiT size than ``name``."""
    variant, _ = _architecture(name)
    if preset in MIT_PRESETS and preset[:6] != variant:
        raise ValueError(f"keras-hub preset {preset} is {preset[:6]}, {name} is {variant}: use keras_hub:{preset[:6]}")


def preset_directory(name: str, encoder_weights) -> Path | None:
    """The local preset folder ``encoder_weights`` names for hub backbone ``name``, downloaded through keras-hub
    when needed (module docstring); None for None.

    Raises:
        ValueError: a value that is no preset, handle or folder.
        zoo.models.weights.WeightsUnavailableError: the download failed, or ``ZOO_OFFLINE=1`` forbids it.
    """
    if encoder_weights is None:
        return None
    if not isinstance(encoder_weights, (str, os.PathLike)):
        raise ValueError(
            f"encoder_weights for {name} must be 'imagenet', None, a keras-hub preset or a preset folder, got "
            f"{encoder_weights!r}"
        )
    value = os.fspath(encoder_weights)
    preset = default_preset(name) if value.lower() == "imagenet" else value
    path = Path(preset).expanduser()
    if path.exists():
        missing = [file for file in _FILES if not (path / file).is_file()]
        if missing:
            raise ValueError(
                f"encoder_weights={value!r} is not a keras-hub preset folder (it has no {' or '.join(missing)}); "
                f"pass a folder written by backbone.save_to_preset(folder), or a preset name ({default_preset(name)})"
            )
        return path
    if preset not in MIT_PRESETS and "://" not in preset:
        raise ValueError(
            f"encoder_weights={value!r} is neither 'imagenet', None, a keras-hub MiT preset "
            f"({', '.join(MIT_PRESETS)}), a kaggle:// or hf:// handle, nor an existing preset folder"
        )
    _check_variant(name, preset)
    found = cached_preset(preset)
    if found is not None:
        return found
    from zoo.models.weights import WeightsUnavailableError

    if os.environ.get("ZOO_OFFLINE") == "1":
        raise WeightsUnavailableError(
            f"keras-hub preset {preset} for {name} is not in kagglehub's cache and ZOO_OFFLINE=1 forbids "
            f"downloading it; {_how_to_get(preset)}"
        )
    try:
        from keras_hub.src.utils.preset_utils import get_file

        return Path([get_file(preset, file) for file in _FILES][0]).parent
    except Exception as err:  # requests' ConnectionError, Kaggle's and Hugging Face's HTTP errors
        reason = " ".join(str(err).split()) or type(err).__name__
        raise WeightsUnavailableError(
            f"could not download keras-hub preset {preset} for {name} ({type(err).__name__}: {reason[:300]}); "
            f"{_how_to_get(preset)}"
        ) from err


def preset_weights(name: str, folder: Path) -> dict:
    """Layer name of zoo's MiT -> weights, read from the MiT of the preset in ``folder`` (a MiT preset, or a
    SegFormer backbone's, its ``image_encoder``). ValueError (one line) when it holds another
    network or another MiT size."""
    import warnings

    import keras

    _layers()
    from keras_hub.models import Backbone, MiTBackbone

    try:
        described = _mit_config(json.loads((Path(folder) / "config.json").read_text()))
    except (OSError, ValueError):
        described = None
    if described is not None:  # refused before keras-hub builds the preset's network
        _check_architecture(name, folder, described.get("hidden_dims", ()), described.get("layerwise_depths", ()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = Backbone.from_preset(str(folder))
    except Exception as err:
        raise ValueError(
            f"keras-hub preset folder {folder} does not load ({type(err).__name__}: {' '.join(str(err).split())[:300]})"
        ) from err
    mit = loaded if isinstance(loaded, MiTBackbone) else getattr(loaded, "image_encoder", None)
    if not isinstance(mit, MiTBackbone):
        raise ValueError(f"keras-hub preset {folder} holds a {type(loaded).__name__}, not a MiT; {name} needs a MiT")
    _check_architecture(name, folder, mit.hidden_dims, mit.layerwise_depths)
    weights = {
        layer.name: layer.get_weights()
        for layer in mit.layers
        if layer.name.startswith(("patch_and_embed_", "hierarchical_encoder_"))
    }
    norms = [layer for layer in mit.layers if isinstance(layer, keras.layers.LayerNormalization)]
    weights.update({f"output_level_{level}": norm.get_weights() for level, norm in enumerate(norms)})
    return weights


def _mit_config(config) -> dict | None:
    """The MiT arguments in a preset's ``config.json``: a MiT's, or those of SegFormer's ``image_encoder``."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        return None
    if config.get("class_name") == "MiTBackbone":
        return config["config"]
    return _mit_config(config["config"].get("image_encoder"))


def _check_architecture(name: str, folder, hidden_dims, depths) -> None:
    """One-line ValueError when a preset's MiT is not ``name``'s size."""
    variant, _ = _architecture(name)
    found = (tuple(hidden_dims), tuple(depths))
    if found != MIT_VARIANTS[variant]:
        same = [v for v, arch in MIT_VARIANTS.items() if arch == found]
        raise ValueError(
            f"keras-hub preset {folder} holds a MiT with hidden sizes {found[0]} and depths {found[1]}"
            f"{f' ({same[0]})' if same else ''}; {name} is {variant} {MIT_VARIANTS[variant]}"
            + (f": use keras_hub:{same[0]}" if same else "")
        )


def encoder_weights_choice(value: str, name: str, verify: bool = False) -> tuple:
    """``--encoder-weights`` for hub backbone ``name``: ``(value for the builders, note, problem or None)`` as
    ``zoo.models.pretrained.EncoderWeights`` (``imagenet``, ``auto``, ``none``, a preset name or handle, a
    folder); ``verify``: load a folder now (``check``)."""
    key = str(value).lower()
    if importlib.util.find_spec("keras_hub") is None:
        return (
            None if key == "none" else value,
            f"backbone {name} needs keras-hub",
            (f"backbone {name} needs keras-hub, which is not installed", INSTALL, True),
        )
    if key == "none":
        return None, "encoder starts from random initial weights (--encoder-weights none)", None
    if key in ("imagenet", "auto"):
        preset = default_preset(name)
        what = f"keras-hub preset {preset} (SegFormer's MiT encoder, ImageNet-1k then {preset.split('_')[2]})"
        if cached_preset(preset) is not None:
            return "imagenet", f"using {what}", None
        if key == "auto":
            return (
                None,
                f"NOTE: {what} is not in kagglehub's cache, so the encoder trains from its random initial weights. "
                f"For real transfer learning run with --encoder-weights imagenet on a machine with Internet access "
                f"(or {_how_to_get(preset)}).",
                (
                    f"{what} is not on this machine: --encoder-weights auto trains the encoder from random weights",
                    _how_to_get(preset),
                    False,
                ),
            )
        if os.environ.get("ZOO_OFFLINE") == "1":
            return (
                "imagenet",
                f"using {what}",
                (f"{what} is not on this machine and ZOO_OFFLINE=1 forbids the download", _how_to_get(preset), True),
            )
        return (
            "imagenet",
            f"using {what}",
            (
                f"{what} is not on this machine: training downloads it first",
                f"nothing to do with Internet access; else: {_how_to_get(preset)}",
                False,
            ),
        )
    known = value in MIT_PRESETS or "://" in value
    if not known and not Path(value).expanduser().exists():
        return (
            value,
            f"encoder weights from {value}",
            (
                f"--encoder-weights {value} is neither imagenet, auto, none, a keras-hub MiT preset, a kaggle:// or "
                "hf:// handle, nor an existing preset folder",
                f"give one of those for {name} ({', '.join(p for p in MIT_PRESETS if p[:6] == default_preset(name)[:6])})",
                True,
            ),
        )
    if verify:
        try:
            if known:
                _check_variant(name, value)
            else:
                preset_weights(name, preset_directory(name, value))
        except (ValueError, OSError, RuntimeError) as err:
            return (
                value,
                f"encoder weights from {value}",
                (
                    f"--encoder-weights {value} cannot be used: {err}",
                    f"give a keras-hub MiT preset folder of {name}, a preset name, or imagenet, auto or none",
                    True,
                ),
            )
    return value, f"encoder weights from keras-hub preset {value}", None

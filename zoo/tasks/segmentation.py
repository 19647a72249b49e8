"""Segmentation: a class index per pixel.

Serving (written by hand: Keras' exporters serve the model's own call, which takes
preprocessed floats at the training size): ``images`` uint8 ``[B, h, w, C]`` of any
size -> resize to the training size (antialiased bilinear) -> the backbone's
preprocessing -> the network -> class scores resized back to ``(h, w)`` (bilinear)
-> ``probabilities`` float32 ``[B, h, w, K]`` (softmax) and ``mask`` int32
``[B, h, w]`` (argmax).

``python -m zoo predict`` writes, per image, ``<name>_mask.png`` (a palette PNG whose
pixel values are the class indices; its colours are the training ``--palette``'s when the
run was trained on colour masks, ``class_colours`` in model.json) and ``<name>_overlay.png`` (every class but 0
tinted in its colour).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from zoo.tasks.base import NetworkSpec, palette, rgb


def _from_probabilities(probabilities) -> dict:
    """Class probabilities ``[B, h, w, K]`` -> the segmentation exports' outputs (and the argmax mask)."""
    import tensorflow as tf

    return {"probabilities": probabilities, "mask": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}


def network_probabilities(model, divisor: int):
    """``fn(x float [B, h, w, C] preprocessed, any size) -> softmax float32 [B, h, w, K]``: ``x`` padded
    with zeros (the ImageNet mean) at the bottom and right to a multiple of ``divisor``, the scores
    cropped back. ``model`` must take any size (``zoo.export.formats.any_size_copy``)."""
    import tensorflow as tf

    def run(x):
        size = tf.shape(x)[1:3]
        padded = (size + divisor - 1) // divisor * divisor
        x = tf.pad(x, [[0, 0], [0, padded[0] - size[0]], [0, padded[1] - size[1]], [0, 0]])
        return tf.nn.softmax(tf.cast(model(x, training=False), tf.float32)[:, :size[0], :size[1]], axis=-1)

    return run


def segmentation_serving_fn(model, input_size: tuple[int, int], backbone: str, tta=None):
    """``fn(images uint8 [B, h, w, C]) -> {"mask" [B, h, w], "probabilities" [B, h, w, K]}``.

    ``tta`` (a ``zoo.tta`` mode, e.g. ``"flip"``): the probabilities are the mean over its views of
    the picture resized to the training size, resized back (``zoo export --tta``)."""
    import tensorflow as tf

    from zoo.backbones import get_backbone
    from zoo.export.resize import resize_antialiased
    from zoo.tta import parse_tta, tta_probabilities_tf

    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])
    tta = parse_tta(tta)
    if tta is not None:
        from zoo.export.formats import any_size_copy

        run = network_probabilities(model if tta.scales == (1.0,) else any_size_copy(model), spec.divisor)

    def serve(images):
        size = tf.shape(images)[1:3]
        x = spec.preprocess(resize_antialiased(tf.cast(images, tf.float32), (height, width)))
        if tta is not None:
            return _from_probabilities(resize_antialiased(tta_probabilities_tf(run, x, tta), (size[0], size[1])))
        scores = tf.image.resize(tf.cast(model(x, training=False), tf.float32), size, method="bilinear")
        return _from_probabilities(tf.nn.softmax(scores, axis=-1))

    return serve


def segmentation_native_fn(model, backbone: str, tta=None):
    """``fn(images uint8 [B, h, w, C]) -> {"mask", "probabilities"}`` with the network at the pictures' own
    scale: no resize (``network_probabilities``: padded to the backbone's divisor inside). ``model``
    must take any size (``zoo.export.formats.any_size_copy``). ``tta``: as ``segmentation_serving_fn``,
    the views of the picture at its own scale."""
    import tensorflow as tf

    from zoo.backbones import get_backbone
    from zoo.tta import parse_tta, tta_probabilities_tf

    spec = get_backbone(backbone)
    run = network_probabilities(model, spec.divisor)
    tta = parse_tta(tta)

    def serve(images):
        return _from_probabilities(tta_probabilities_tf(run, spec.preprocess(tf.cast(images, tf.float32)), tta))

    return serve


def write_segmentation(image: np.ndarray, mask: np.ndarray, out: Path, stem: str, colours: np.ndarray,
                       alpha: float = 0.5) -> dict:
    """Writes ``<stem>_mask.png`` and ``<stem>_overlay.png``; returns the per-class pixel fractions."""
    from PIL import Image

    base = out / stem
    base.parent.mkdir(parents=True, exist_ok=True)
    if colours.shape[0] <= 256:
        png = Image.fromarray(mask.astype(np.uint8), mode="P")
        png.putpalette(colours.reshape(-1).tolist())
    else:  # more classes than a palette holds: 16-bit gray, values = class index
        png = Image.fromarray(mask.astype(np.uint16))
    png.save(f"{base}_mask.png")
    picture = rgb(image).astype(np.float32)
    tint = colours[np.clip(mask, 0, len(colours) - 1)].astype(np.float32)
    blend = np.where((mask > 0)[..., None], (1 - alpha) * picture + alpha * tint, picture)
    Image.fromarray(np.round(blend).astype(np.uint8)).save(f"{base}_overlay.png")
    counts = np.bincount(mask.reshape(-1), minlength=len(colours)) / mask.size
    return {"mask": f"{stem}_mask.png", "overlay": f"{stem}_overlay.png",
            "class_fractions": [round(float(c), 5) for c in counts]}


@dataclasses.dataclass
class SegmentationWriter:
    """``zoo predict``'s writer for segmentation exports."""

    info: dict
    out: Path

    def __post_init__(self):
        own = self.info.get("class_colours")
        self.colours = np.asarray(own, np.uint8) if own else palette(len(self.info["classes"]))

    def write(self, path: Path, stem: str, image: np.ndarray, outputs: dict, index: int) -> dict:
        return write_segmentation(image, outputs["mask"][index], self.out, stem, self.colours)

    def finish(self, report: dict) -> None:
        report["classes"] = self.info["classes"]


@dataclasses.dataclass(frozen=True)
class SegmentationTask:
    """The segmentation task (``zoo.tasks.base.Task``)."""

    name: str = "segmentation"
    label_field: str = "classes"
    serving_outputs: tuple[str, ...] = ("mask", "probabilities")
    network_output: str = "scores"
    per_pixel: bool = True
    extra_signatures: tuple[str, ...] = ("native",)

    def info_from_run(self, settings: dict, resolved: dict) -> dict | None:
        if "class_names" not in resolved:
            return None
        # how a picture meets the network by default (zoo.export.runtime.SCALES): runs trained on whole
        # pictures resized to the input size answer best on pictures resized the same way, runs trained on
        # crops at the pictures' own scale on pictures at their own scale
        info = {"classes": list(resolved["class_names"]),
                "scale": "native" if settings.get("train_crop") else "resize"}
        if resolved.get("class_colours"):  # trained on colour masks: predicted masks in the same colours
            info["class_colours"] = [list(c) for c in resolved["class_colours"]]
        return info

    def legacy_network(self, info: dict) -> NetworkSpec:
        return NetworkSpec(info["model"], {"backbone": info["backbone"], "num_classes": len(info["classes"]),
                                           "input_shape": (*info["input_size"], info["channels"])})

    def serving_fn(self, model, info: dict):
        return segmentation_serving_fn(model, info["input_size"], info["backbone"], tta=info.get("tta"))

    def saved_model_signatures(self, model, info: dict) -> dict:
        """The ``native`` signature (``segmentation_native_fn``): the network at the pictures' own scale."""
        import tensorflow as tf

        from zoo.export.formats import any_size_copy

        images = [tf.TensorSpec([None, None, None, info["channels"]], tf.uint8, name="images")]
        return {"native": (segmentation_native_fn(any_size_copy(model), info["backbone"], tta=info.get("tta")),
                           images)}

    def describe_outputs(self, info: dict) -> dict:
        return {
            "mask": "int32 [batch, height, width]: class index per pixel (argmax)",
            "probabilities": f"float32 [batch, height, width, {len(info['classes'])}]: softmax per pixel",
        }

    def prediction_writer(self, info: dict, out: Path, min_score: float) -> SegmentationWriter:
        return SegmentationWriter(info, Path(out))


SEGMENTATION = SegmentationTask()

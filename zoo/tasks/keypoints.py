"""Keypoints: one heatmap per keypoint, decoded to pixel coordinates.

Serving: as in training, the image is first padded around its centre to the
training size's aspect ratio (reflection; nothing is stretched), resized, given the
backbone's preprocessing -> heatmaps -> sub-pixel decoding (``zoo.heatmaps``) ->
``keypoints`` float32 ``[B, K, 2]`` (x, y) in the input image's pixels (centre of the
top-left pixel at (0, 0)), ``scores`` float32 ``[B, K]`` (peak heights) and
``heatmaps`` float32 ``[B, h', w', K]`` at the training size's heatmap resolution.

``python -m zoo predict`` writes ``keypoints.json`` (COCO keypoint results: ``image_id``,
``category_id`` 1, ``keypoints`` as ``[x1, y1, s1, ...]`` with ``s`` the keypoint's
score, ``score`` their mean, plus the ``file_name`` they came from; ``image_id``
numbers the images of the run, so map ``file_name`` to your annotation file's ids
before running COCO's evaluation) and ``<name>_keypoints.png`` (the points drawn on
the image; hollow when the score is below ``min_score``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from zoo.tasks.base import NetworkSpec, palette, rgb

KEYPOINT_MODELS = ("simple_baseline", "unet")


def keypoint_network(model: str, backbone: str, num_keypoints: int, input_shape, stride: int = 4,
                     head: str = "heatmap", split_ratio: float = 2.0) -> NetworkSpec:
    """The network of a keypoint model, as a builder and its arguments.

    Args:
        model: ``"simple_baseline"`` (one 4x4 stride-2 deconvolution of 256 filters per
            halving of the encoder's stride 32 down to ``stride``) or ``"unet"`` (stride 1).
        backbone: a ``zoo.BACKBONES`` name.
        num_keypoints: K heatmaps.
        input_shape: (H, W, C).
        stride: input pixels per heatmap pixel.

        head: ``"heatmap"`` or ``"simcc"`` (``zoo.builders.simcc`` on ``simple_baseline``'s
            deconvolutions, its 1x1 heatmap convolution replaced by SimCC's classifiers; ``split_ratio``
            bins per pixel).

    Returns:
        A ``NetworkSpec`` whose network maps ``[B, H, W, C] -> [B, H/stride, W/stride, K]`` (SimCC:
        ``[B, K, W*r + H*r]``).
    """
    if head == "simcc":
        if model != "simple_baseline":
            raise ValueError(f"--head simcc builds on simple_baseline's deconvolutions; --model {model} has its own "
                             "heatmap decoder (use --model simple_baseline, the default)")
        # on Simple Baselines' deconvolutions (stride-4 maps): at small inputs the stride-32 map has a few
        # positions only (2x2 at 64 px), from which the dense layers could not place a keypoint well
        return NetworkSpec("simcc", {"backbone": backbone, "num_keypoints": int(num_keypoints),
                                     "input_shape": tuple(input_shape), "split_ratio": float(split_ratio),
                                     "deconv_filters": (256, 256, 256)})
    if model == "simple_baseline":
        deconvs = {32: 0, 16: 1, 8: 2, 4: 3, 2: 4, 1: 5}.get(int(stride))
        if deconvs is None:
            raise ValueError(f"simple_baseline heatmap stride {stride} is not one of 1, 2, 4, 8, 16, 32")
        return NetworkSpec("simple_baseline", {"backbone": backbone, "num_keypoints": int(num_keypoints),
                                               "input_shape": tuple(input_shape),
                                               "deconv_filters": (256,) * deconvs})
    if model == "unet":
        if int(stride) != 1:
            raise ValueError(f"a U-Net's heatmaps are at the input resolution (stride 1), not {stride}")
        return NetworkSpec("unet", {"backbone": backbone, "num_classes": int(num_keypoints),
                                    "input_shape": tuple(input_shape), "name": f"unet_heatmaps_{backbone}"})
    raise ValueError(f"unknown keypoint model {model!r}; choose one of {KEYPOINT_MODELS}")


def keypoint_serving_fn(model, input_size: tuple[int, int], backbone: str, codec, flip_index=None):
    """``fn(images uint8 [B, h, w, C]) -> {"keypoints" [B, K, 2], "scores" [B, K], "heatmaps"}``.

    The network's answer is read with ``codec`` (a ``zoo.heatmaps.HeatmapCodec``: stride, sigma,
    decoding; or a ``zoo.simcc.SimccCodec``, whose logits come out as ``simcc`` instead of ``heatmaps``). With ``flip_index`` the prediction on the mirrored image is averaged in
    (flip test).
    """
    import tensorflow as tf

    from zoo.backbones import get_backbone
    from zoo.export.resize import letterbox, resize_antialiased

    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])

    def serve(images):
        padded, offset, scale = letterbox(tf.cast(images, tf.float32), (height, width))
        x = spec.preprocess(resize_antialiased(padded, (height, width)))
        heatmaps = tf.cast(model(x, training=False), tf.float32)
        if flip_index is not None:
            mirrored = tf.cast(model(tf.reverse(x, axis=[2]), training=False), tf.float32)
            heatmaps = codec.flip_average(heatmaps, mirrored, flip_index)
        frame, scores = codec.decode(heatmaps)  # in the model's input frame
        keypoints = (frame + 0.5) * scale - 0.5 - offset
        return {"keypoints": keypoints, "scores": scores, codec.output_name: heatmaps}

    return serve


def keypoint_boxes_fn(model, input_size: tuple[int, int], backbone: str, codec, flip_index=None):
    """``fn(images uint8 [B, h, w, C], boxes float32 [M, 4], box_indices int32 [M]) -> {"keypoints" [M, K, 2],
    "scores" [M, K]}``: the SavedModel's ``boxes`` signature, top-down inside the graph.

    Box ``m`` is COCO's ``(x, y, width, height)`` in the pixels of picture ``box_indices[m]``; it is
    enlarged 1.25x around its centre, grown to the training aspect ratio, and resampled onto the
    training frame through one affine map (bilinear, mirrored beyond the picture), as training and
    evaluation warp a box (``zoo.data.keypoints``); the keypoints come back through the inverse map, in
    the picture's pixels. No antialiasing: a box more than twice the training size is sampled
    sparsely (the Python runtime's ``predict_boxes`` resizes antialiased).
    """
    import tensorflow as tf

    from zoo.backbones import get_backbone
    from zoo.data.detections import BOX_ENLARGEMENT
    from zoo.data.keypoints import box_to_frame

    spec = get_backbone(backbone)
    height, width = int(input_size[0]), int(input_size[1])

    def serve(images, boxes, box_indices):
        boxes = tf.cast(boxes, tf.float32)
        # the enlarged box (x0, y0, x1, y1) onto the frame: the training pipeline's own map (box_to_frame)
        centre, half = boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:] * (BOX_ENLARGEMENT / 2)
        regions = tf.concat([centre - half, centre + half], axis=1)
        matrices = tf.map_fn(lambda box: box_to_frame(box, (height, width)), regions)  # [M, 3, 3]
        inverse = tf.linalg.inv(matrices)  # frame -> picture, what the resampler asks for
        transforms = tf.reshape(inverse, [-1, 9])[:, :8] / inverse[:, 2:3, 2]
        pictures = tf.gather(tf.cast(images, tf.float32), box_indices)
        frames = tf.raw_ops.ImageProjectiveTransformV3(
            images=pictures, transforms=transforms, output_shape=tf.constant([height, width], tf.int32),
            fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
        x = spec.preprocess(frames)
        heatmaps = tf.cast(model(x, training=False), tf.float32)
        if flip_index is not None:
            heatmaps = codec.flip_average(heatmaps, tf.cast(model(tf.reverse(x, axis=[2]), training=False),
                                                            tf.float32), flip_index)
        frame, scores = codec.decode(heatmaps)
        homogeneous = tf.concat([frame, tf.ones_like(frame[..., :1])], axis=-1)  # [M, K, 3]
        keypoints = tf.einsum("mij,mkj->mki", inverse, homogeneous)[..., :2]
        return {"keypoints": keypoints, "scores": scores}

    return serve


def write_keypoints(image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, names: list[str], out: Path,
                    stem: str, min_score: float, skeleton=(), boxes=None) -> dict:
    """Draws the keypoints on the image into ``<stem>_keypoints.png``; returns its entry.

    Args:
        keypoints: ``[K, 2]`` or, one object per box, ``[N, K, 2]`` (x, y) in the image's pixels.
        scores: ``[K]`` or ``[N, K]``.
        skeleton: 0-based keypoint pairs joined by a line where both scores reach ``min_score``.
        boxes: ``[N, 4]`` (x, y, w, h) drawn as rectangles, or None.
    """
    from PIL import Image, ImageDraw

    base = out / stem
    base.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(rgb(image))
    draw = ImageDraw.Draw(picture)
    radius = max(2.0, min(image.shape[:2]) / 60)
    colours = palette(len(names) + 1)[1:]
    keypoints, scores = np.asarray(keypoints).reshape(-1, len(names), 2), np.asarray(scores).reshape(-1, len(names))
    for x, y, w, h in ([] if boxes is None else boxes):
        draw.rectangle([x, y, x + w, y + h], outline=(255, 255, 0))
    for points, values in zip(keypoints, scores):
        for a, b in skeleton:
            if min(values[a], values[b]) >= min_score and np.isfinite(points[[a, b]]).all():
                draw.line([tuple(points[a]), tuple(points[b])], fill=(0, 255, 255), width=max(1, int(radius / 2)))
        _draw_points(draw, points, values, names, colours, radius, min_score, min(image.shape[:2]) >= 128)
    picture.save(f"{base}_keypoints.png")
    return {"drawn": f"{stem}_keypoints.png"}


def _draw_points(draw, keypoints, scores, names, colours, radius, min_score, labels) -> None:
    for k, ((x, y), s) in enumerate(zip(keypoints, scores)):
        if not np.isfinite([x, y]).all():
            continue
        box = [x - radius, y - radius, x + radius, y + radius]
        colour = tuple(int(c) for c in colours[k])
        if s >= min_score:
            draw.ellipse(box, fill=colour, outline=(255, 255, 255))
        else:
            draw.ellipse(box, outline=colour, width=max(1, int(radius / 3)))
        if labels:
            draw.text((x + radius + 1, y - radius), names[k], fill=colour)


@dataclasses.dataclass
class KeypointWriter:
    """``zoo predict``'s writer for keypoint exports: a picture per image and ``keypoints.json``."""

    info: dict
    out: Path
    min_score: float
    results: list = dataclasses.field(default_factory=list)

    def write(self, path: Path, stem: str, image: np.ndarray, outputs: dict, index: int) -> dict:
        points, scores = outputs["keypoints"][index], outputs["scores"][index]
        entry = write_keypoints(image, points, scores, self.info["keypoint_names"], self.out, stem, self.min_score,
                                self.info.get("skeleton", ()))
        flat = np.concatenate([points, scores[:, None]], axis=1).reshape(-1)
        self.results.append({"image_id": len(self.results) + 1, "file_name": str(path), "category_id": 1,
                             "keypoints": [round(float(v), 3) for v in flat],
                             "score": round(float(np.mean(scores)), 5)})
        return entry

    def write_objects(self, path: Path, stem: str, image: np.ndarray, outputs: dict, boxes: np.ndarray,
                      box_scores: np.ndarray, image_id) -> dict:
        """One picture's objects (``Predictor.predict_boxes``): all drawn on one picture, one COCO keypoint
        result per box, scored as top-down methods rescore (box score x mean confident keypoint score)."""
        from zoo.keypoint_ap import detection_scores

        points, scores = outputs["keypoints"], outputs["scores"]
        entry = write_keypoints(image, points, scores, self.info["keypoint_names"], self.out, stem, self.min_score,
                                self.info.get("skeleton", ()), boxes)
        rescored = detection_scores(scores) * box_scores if len(points) else np.zeros(0)
        number = image_id if image_id is not None else len({r["file_name"] for r in self.results}) + 1
        for n in range(len(points)):
            flat = np.concatenate([points[n], scores[n][:, None]], axis=1).reshape(-1)
            self.results.append({"image_id": number, "file_name": str(path), "category_id": 1,
                                 "bbox": [round(float(v), 2) for v in boxes[n]],
                                 "keypoints": [round(float(v), 3) for v in flat], "score": round(float(rescored[n]), 5)})
        return {**entry, "objects": len(points)}

    def finish(self, report: dict) -> None:
        (self.out / "keypoints.json").write_text(json.dumps(self.results, indent=1) + "\n")
        report["keypoint_names"] = self.info["keypoint_names"]


@dataclasses.dataclass(frozen=True)
class KeypointTask:
    """The keypoint task (``zoo.tasks.base.Task``)."""

    name: str = "keypoints"
    label_field: str = "keypoint_names"
    serving_outputs: tuple[str, ...] = ("keypoints", "scores")
    network_output: str = "heatmaps"
    per_pixel: bool = False
    extra_signatures: tuple[str, ...] = ("boxes",)

    def info_from_run(self, settings: dict, resolved: dict) -> dict | None:
        if "keypoint_names" not in resolved:
            return None
        from zoo.heatmaps import HeatmapCodec
        from zoo.simcc import SimccCodec

        if resolved.get("head") == "simcc":
            codec = SimccCodec(tuple(resolved["input_size"]), float(resolved.get("simcc_split_ratio", 2.0)),
                               float(settings.get("sigma", 2.0)), resolved.get("decode", "argmax"))
        else:
            codec = HeatmapCodec(int(resolved["heatmap_stride"]), float(settings.get("sigma", 2.0)),
                                 settings.get("decode", "dark"), settings.get("codec", "msra"))
        return {"keypoint_names": list(resolved["keypoint_names"]), "flip_index": list(resolved["flip_index"]),
                **codec.to_info(), "flip_test": bool(settings.get("flip_test", False)),
                "region": resolved.get("region", "image"), "skeleton": resolved.get("skeleton", [])}

    def legacy_network(self, info: dict) -> NetworkSpec:
        return keypoint_network(info["model"], info["backbone"], len(info["keypoint_names"]),
                                (*info["input_size"], info["channels"]), info["heatmap_stride"])

    def serving_fn(self, model, info: dict):
        from zoo.simcc import codec_from_info

        flip_index = info["flip_index"] if info.get("flip_test") else None
        return keypoint_serving_fn(model, info["input_size"], info["backbone"], flip_index=flip_index,
                                   codec=codec_from_info(info))

    def saved_model_signatures(self, model, info: dict) -> dict:
        """The ``boxes`` signature (``keypoint_boxes_fn``): pictures and boxes in, one object per box out."""
        import tensorflow as tf

        from zoo.simcc import codec_from_info

        flip_index = info["flip_index"] if info.get("flip_test") else None
        fn = keypoint_boxes_fn(model, info["input_size"], info["backbone"], codec_from_info(info), flip_index)
        spec = [tf.TensorSpec([None, None, None, info["channels"]], tf.uint8, name="images"),
                tf.TensorSpec([None, 4], tf.float32, name="boxes"), tf.TensorSpec([None], tf.int32, name="box_indices")]
        return {"boxes": (fn, spec)}

    def describe_outputs(self, info: dict) -> dict:
        k, s = len(info["keypoint_names"]), info["heatmap_stride"]
        height, width = info["input_size"]
        described = {
            "keypoints": f"float32 [batch, {k}, 2]: (x, y) in the input image's pixels, centre of the top-left "
                         "pixel at (0, 0)",
            "scores": f"float32 [batch, {k}]: heatmap peak height (about 1 = confident, near 0 = not found)",
            "heatmaps": f"float32 [batch, {height // s}, {width // s}, {k}]: at the training size, stride {s}",
        }
        if info.get("head") == "simcc":
            from zoo.simcc import SimccCodec

            bins_x, bins_y = SimccCodec.from_info(info).bins
            del described["heatmaps"]
            described["scores"] = (f"float32 [batch, {k}]: each axis's softmax peak over a target's, geometric mean "
                                   "(about 1 = as sharp as the training targets)")
            described["simcc"] = (f"float32 [batch, {k}, {bins_x + bins_y}]: logits, {bins_x} x bins then {bins_y} "
                                  "y bins at the training size")
        return described

    def prediction_writer(self, info: dict, out: Path, min_score: float) -> KeypointWriter:
        return KeypointWriter(info, Path(out), float(min_score))


KEYPOINTS = KeypointTask()

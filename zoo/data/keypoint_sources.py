"""Keypoint data sources: ``synthetic:faces``, ``tfds:NAME`` and ``folder:PATH``.

Each gives raw examples as dicts:

- ``image``: uint8 ``[h, w, c]``;
- ``keypoints``: float32 ``[K, 3]`` as (x, y, visible) in the image's pixels
  (centre of the top-left pixel at (0, 0));
- ``box``: float32 ``[4]`` (x0, y0, x1, y1), the region to look at, in pixel-edge
  coordinates (the whole image is (0, 0, w, h));
- ``norm``: float32, the PCK/NME normaliser in pixels (face or object size), or
  0 to use the larger side of the keypoints' bounding box.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.data import synthetic
from zoo.data.pipeline import decode_image_file
from zoo.data.tfds import count_examples, prepared_builder, resolve_splits


@dataclasses.dataclass
class KeypointSource:
    """Train and validation examples and what the keypoints are."""

    train: tf.data.Dataset
    val: tf.data.Dataset
    num_train: int
    num_val: int
    keypoint_names: list[str]
    flip_index: list[int]
    channels: int | None
    description: str
    eye_indices: tuple[int, int] | None = None  # for inter-ocular normalisation


def flip_index_from_pairs(count: int, pairs) -> list[int]:
    """The permutation that swaps each (left, right) pair; other keypoints map to themselves."""
    index = list(range(count))
    for a, b in pairs:
        if not (0 <= a < count and 0 <= b < count):
            raise ValueError(f"flip pair {a}-{b} (--flip-pairs) is outside the {count} keypoints 0..{count - 1}")
        index[a], index[b] = b, a
    return index


def flip_index_from_names(names: list[str]) -> list[int]:
    """Pairs ``left_X`` with ``right_X`` (also ``leftX``/``rightX``, case-insensitive)."""
    lower = [n.lower() for n in names]
    pairs = []
    for i, name in enumerate(lower):
        if name.startswith("left"):
            partner = "right" + name[4:]
            if partner in lower:
                pairs.append((i, lower.index(partner)))
    return flip_index_from_pairs(len(names), pairs)


def _face68_flip_index() -> list[int]:
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows
    pairs += [(31, 35), (32, 34)]  # nose bottom
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]  # mouth
    return flip_index_from_pairs(68, pairs)


def _split_counts(total: int, val_fraction: float) -> tuple[int, int]:
    from zoo.data.segmentation import _split_counts as split

    return split(total, val_fraction)


def synthetic_faces(count: int, size: tuple[int, int], channels: int, seed: int,
                    val_fraction: float) -> KeypointSource:
    """The built-in ``faces`` set: five landmarks per picture, seeded."""
    n_train, _ = _split_counts(count, val_fraction)
    images, keypoints, sizes = synthetic.make_faces(count, size[0], size[1], channels=channels, seed=seed)
    boxes = np.tile(np.array([0, 0, size[1], size[0]], np.float32), (count, 1))

    def dataset(sl):
        return tf.data.Dataset.from_tensor_slices(
            {"image": images[sl], "keypoints": keypoints[sl], "box": boxes[sl], "norm": sizes[sl]})

    return KeypointSource(
        train=dataset(slice(0, n_train)), val=dataset(slice(n_train, None)), num_train=n_train,
        num_val=count - n_train, keypoint_names=list(synthetic.FACE_KEYPOINTS),
        flip_index=flip_index_from_pairs(5, synthetic.FACE_FLIP_PAIRS), channels=channels,
        description=f"synthetic:faces ({count} pictures {size[0]}x{size[1]}x{channels}, seed {seed})",
        eye_indices=(0, 1),
    )


@dataclasses.dataclass(frozen=True)
class TfdsKeypointPreset:
    """How to read keypoints from one TFDS dataset."""

    image_key: str
    names: tuple[str, ...]
    flip_index: tuple[int, ...]
    read: str  # "normalized:<key>" (xy in [0, 1] of the image size) or "celeb_a"
    eye_indices: tuple[int, int] | None
    train_split: str = "train"
    val_split: str = "validation"


_CELEBA = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
TFDS_KEYPOINT_PRESETS = {
    "aflw2k3d": TfdsKeypointPreset("image", tuple(f"p{i}" for i in range(68)), tuple(_face68_flip_index()),
                                   "normalized:landmarks_68_3d_xy_normalized", (36, 45)),
    "the300w_lp": TfdsKeypointPreset("image", tuple(f"p{i}" for i in range(68)), tuple(_face68_flip_index()),
                                     "normalized:landmarks_2d", (36, 45)),
    "celeb_a": TfdsKeypointPreset("image", ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth"),
                                  (1, 0, 2, 4, 3), "celeb_a", (0, 1)),
}


def tfds_keypoint_source(name: str, *, data_dir: str | None, image_key: str | None, keypoints_key: str | None,
                         val_split: str | None, train_split: str | None) -> KeypointSource:
    """A TFDS dataset by name: presets ``aflw2k3d``, ``the300w_lp``, ``celeb_a``; or
    ``--image-key`` with ``--keypoints-key`` holding normalised (x, y) pairs ``[K, 2]``."""
    preset = TFDS_KEYPOINT_PRESETS.get(name)
    if preset is None and not keypoints_key:
        raise ValueError(f"tfds:{name} has no keypoint preset ({sorted(TFDS_KEYPOINT_PRESETS)}); pass "
                         "--keypoints-key (a [K, 2] feature of (x, y) normalised to [0, 1])")
    image_key = image_key or (preset.image_key if preset else "image")
    read = f"normalized:{keypoints_key}" if keypoints_key else preset.read
    key = "landmarks" if read == "celeb_a" else read.split(":", 1)[1]
    builder = prepared_builder(name, data_dir, (image_key, key))
    features = builder.info.features
    if read == "celeb_a":
        count = 5
    else:
        count = features[key].shape[0]
    names = list(preset.names) if preset else [f"p{i}" for i in range(count)]
    flip = list(preset.flip_index) if preset else list(range(count))

    def convert(example):
        image = example[image_key]
        shape = tf.cast(tf.shape(image), tf.float32)
        if read == "celeb_a":
            marks = example["landmarks"]
            xy = tf.stack([tf.stack([tf.cast(marks[f"{p}_x"], tf.float32), tf.cast(marks[f"{p}_y"], tf.float32)])
                           for p in _CELEBA])
        else:
            xy = tf.cast(example[key][:, :2], tf.float32) * tf.stack([shape[1], shape[0]])
        keypoints = tf.concat([xy, tf.ones_like(xy[:, :1])], axis=-1)
        box = tf.stack([0.0, 0.0, shape[1], shape[0]])
        return {"image": image, "keypoints": keypoints, "box": box, "norm": tf.constant(0.0)}

    train_split, val_split = resolve_splits(builder, train_split or (preset.train_split if preset else "train"),
                                            val_split or (preset.val_split if preset else "validation"))

    def read_split(split):
        ds = builder.as_dataset(split=split, shuffle_files=False)
        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    train, val = read_split(train_split), read_split(val_split)
    return KeypointSource(
        train=train, val=val, num_train=count_examples(builder, train_split, train),
        num_val=count_examples(builder, val_split, val),
        keypoint_names=names, flip_index=flip, channels=features[image_key].shape[-1],
        description=f"tfds:{name} ({train_split} / {val_split})",
        eye_indices=preset.eye_indices if preset else None,
    )


def _read_coco(path: Path, images_dir: Path) -> tuple[list[str], list[np.ndarray], list[np.ndarray], list[str]]:
    """``_read_annotations`` for a COCO keypoints JSON."""
    paths, points, boxes = [], [], []
    data = json.loads(path.read_text())
    for field in ("images", "annotations", "categories"):
        if field not in data:
            raise ValueError(f"COCO keypoints JSON needs {field!r}")
    names = list(data["categories"][0].get("keypoints") or [])
    files = {img["id"]: img for img in data["images"]}
    for ann in data["annotations"]:
        kp = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
        if not names:
            names = [f"kp{i}" for i in range(len(kp))]
        image = files[ann["image_id"]]
        paths.append(str(images_dir / image["file_name"]))
        points.append(np.concatenate([kp[:, :2], (kp[:, 2:] > 0).astype(np.float32)], -1))
        if ann.get("bbox"):
            x, y, w, h = ann["bbox"]  # looked at enlarged 1.25x, as top-down pose methods do
            cx, cy = x + w / 2, y + h / 2
            boxes.append(np.array([cx - 0.625 * w, cy - 0.625 * h, cx + 0.625 * w, cy + 0.625 * h], np.float32))
        else:
            boxes.append(np.array([0, 0, image.get("width", 0), image.get("height", 0)], np.float32))
    return paths, points, boxes, names


def _read_annotations(folder: Path) -> tuple[list[str], list[np.ndarray], list[np.ndarray], list[str]]:
    """(image paths, keypoints [K, 3] per example, boxes [4] per example, names) from a folder."""
    images_dir = folder / "images"
    jsons = sorted(folder.glob("*.json"))
    csvs = sorted(folder.glob("*.csv"))
    if not images_dir.is_dir() or not (jsons or csvs):
        raise ValueError(f"{folder} needs images/ and a COCO keypoints .json or a .csv (image,x0,y0,...) beside it")
    paths, points, boxes = [], [], []
    if jsons:
        try:
            return _read_coco(jsons[0], images_dir)
        except (TypeError, KeyError, AttributeError, IndexError, ValueError) as err:
            raise ValueError(f"{jsons[0]}: not a COCO keypoints file this recipe can read ({type(err).__name__}: "
                             f"{err}); the recipe's `check` command lists every problem in it") from None
    with open(csvs[0], newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    columns = header[1:]
    if len(columns) % 2:
        raise ValueError(f"{csvs[0]}: expected image,x0,y0,x1,y1,... (pairs of columns), got {len(columns)} columns")
    names = [c[:-2] if c.lower().endswith("_x") else f"kp{i}" for i, c in enumerate(columns[::2])]
    for row in body:
        values = np.array([float(v) if v.strip() else np.nan for v in row[1:]], np.float32).reshape(-1, 2)
        visible = np.isfinite(values).all(-1, keepdims=True).astype(np.float32)
        paths.append(str(images_dir / row[0]))
        points.append(np.concatenate([np.nan_to_num(values), visible], -1))
        boxes.append(np.zeros(4, np.float32))  # whole image
    return paths, points, boxes, names


def _files_dataset(paths, points, boxes, channels: int) -> tf.data.Dataset:
    def read(path, keypoints, box):
        image = decode_image_file(path, channels)
        shape = tf.cast(tf.shape(image), tf.float32)
        whole = tf.stack([0.0, 0.0, shape[1], shape[0]])
        box = tf.where(box[2] > box[0], box, whole)
        return {"image": image, "keypoints": keypoints, "box": box, "norm": tf.constant(0.0)}

    return tf.data.Dataset.from_tensor_slices((list(paths), np.stack(points), np.stack(boxes))).map(
        read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def folder_keypoint_source(path: str, *, channels: int, val_fraction: float, seed: int,
                           flip_pairs=None) -> KeypointSource:
    """``DIR/images/`` with a COCO keypoints JSON or a CSV ``image,x0,y0,...`` in ``DIR``
    (or ``DIR/train`` and ``DIR/val`` each laid out so). COCO boxes become the region
    looked at (enlarged 1.25x); left/right pairs come from ``left_*``/``right_*`` names
    unless ``flip_pairs`` is given."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"folder dataset {folder} does not exist")
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        train, val = _read_annotations(folder / "train"), _read_annotations(folder / "val")
    else:
        everything = _read_annotations(folder)
        n_train, _ = _split_counts(len(everything[0]), val_fraction)
        order = np.random.default_rng(seed).permutation(len(everything[0]))
        pick = lambda idx: tuple([part[i] for i in sorted(idx)] for part in everything[:3]) + (everything[3],)  # noqa
        train, val = pick(order[:n_train]), pick(order[n_train:])
    names = train[3]
    flip = flip_index_from_pairs(len(names), flip_pairs) if flip_pairs else flip_index_from_names(names)
    return KeypointSource(
        train=_files_dataset(*train[:3], channels), val=_files_dataset(*val[:3], channels),
        num_train=len(train[0]), num_val=len(val[0]), keypoint_names=names, flip_index=flip, channels=channels,
        description=f"folder:{folder} ({len(train[0])} train / {len(val[0])} val)",
    )

"""Keypoint data sources: ``synthetic:faces``, ``tfds:NAME`` and ``folder:PATH``.

Each gives raw examples as dicts:

- ``image``: uint8 ``[h, w, c]``;
- ``keypoints``: float32 ``[K, 3]`` as (x, y, visible) in the image's pixels
  (centre of the top-left pixel at (0, 0));
- ``box``: float32 ``[4]`` (x0, y0, x1, y1), the region to look at, in pixel-edge
  coordinates (the whole image is (0, 0, w, h));
- ``norm``: float32, the PCK/NME normaliser in pixels (face or object size), or
  0 to use the larger side of the keypoints' bounding box;
- optionally ``area`` (float32, the object's area in pixels^2 for COCO's OKS; 0 or absent:
  the normaliser squared) and ``image_id`` (int64, the picture the object is in, so that
  objects of one picture are scored together; absent: one picture per example).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.data.images import decode_image_file
from zoo.data.tfds import count_examples, prepared_builder, resolve_splits
from zoo.tasks.keypoints import synthetic
from zoo.tasks.keypoints.boxes import enlarged_box


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
    skeleton: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # 0-based pairs, drawn in pictures
    sigmas: list[float] | None = None  # OKS sigmas the data declares (a COCO category's "sigmas")
    region: str = "image"  # "box": the annotation's box enlarged 1.25x; "image": the whole picture
    val_annotations: Annotations | None = None  # folder sources: the validation split's objects (--eval-boxes)
    train_annotations: Annotations | None = None  # folder sources: the training split's objects
    warnings: list = dataclasses.field(default_factory=list)  # what reading changed (logged, and shown by check)
    preset: str | None = None  # the KeypointPreset's name, if one was applied
    no_sides: bool = False  # --flip-pairs none: no keypoint has a side, flips swap nothing
    lower_body: list = dataclasses.field(default_factory=list)  # the preset's lower half (--half-body), if any


def flip_index_from_pairs(count: int, pairs) -> list[int]:
    """The permutation that swaps each (left, right) pair; other keypoints map to themselves."""
    index = list(range(count))
    for a, b in pairs:
        if not (0 <= a < count and 0 <= b < count):
            raise ValueError(f"flip pair {a}-{b} (--flip-pairs) is outside the {count} keypoints 0..{count - 1}")
        index[a], index[b] = b, a
    return index


_SIDE_WORDS = (("left", "right"),)  # swapped anywhere in a name: left_eye, leftEye, medial_left_shoulder
_SIDE_LETTERS = {"l": "r", "r": "l"}  # swapped as a token of their own: l_eye, eye_l, eyeL, L_F_Paw, forelegL1
_TOKENS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^A-Za-z\d]+")


def _swapped_names(name: str) -> list[str]:
    """The names a keypoint's mirror image may have (lower case): ``left`` and ``right`` swapped anywhere, or
    one side letter ``l``/``r`` that stands as a token of its own (``l_eye``, ``eyeL``, ``L_F_Paw``, ``kneeR1``)."""
    lower = name.lower()
    out = []
    for left, right in _SIDE_WORDS:
        if left in lower or right in lower:
            out.append(lower.replace(left, "\0").replace(right, left).replace("\0", right))
    tokens = _TOKENS.findall(name)
    for i, token in enumerate(tokens):
        if token.lower() in _SIDE_LETTERS:
            swapped = tokens[:i] + [_SIDE_LETTERS[token.lower()]] + tokens[i + 1 :]
            out.append("".join(swapped).lower())
    return [n for n in out if n != lower]


def _partner(name: str) -> str | None:
    """A swapped form of a keypoint name that says a side (lower case), or None (kept for ``check``)."""
    swapped = _swapped_names(name)
    return swapped[0] if swapped else None


def flip_index_from_names(names: list[str]) -> list[int]:
    """Pairs left/right keypoints by name (case-insensitive): ``left``/``right`` anywhere in the name
    (``left_eye``, ``leftEye``, ``medial_left_shoulder``), or a side letter standing alone (``l_eye``/``r_eye``,
    ``eye_l``, ``eyeL``/``eyeR``, ``L_F_Paw``, ``forelegL1``/``forelegR1``); a pair needs both names present."""
    lower = [n.lower() for n in names]
    where = {n: i for i, n in enumerate(lower)}
    pairs, used = [], set()
    for i, name in enumerate(names):
        if i in used:
            continue
        for partner in _swapped_names(name):
            j = where.get(partner)
            if j is not None and j != i and j not in used:
                pairs.append((min(i, j), max(i, j)))
                used.update((i, j))
                break
    return flip_index_from_pairs(len(names), pairs)


def unmatched_sides(names: list[str]) -> list[str]:
    """Keypoint names that say a side (``left_eye``, ``l_hand``, ``kneeR``...) without a keypoint of the
    other side to swap with in a flip (``flip_index_from_names``' rule)."""
    flip = flip_index_from_names(names)
    return [n for i, n in enumerate(names) if flip[i] == i and _swapped_names(n)]


def _face68_flip_index() -> list[int]:
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows
    pairs += [(31, 35), (32, 34)]  # nose bottom
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]  # mouth
    return flip_index_from_pairs(68, pairs)


def _split_counts(total: int, val_fraction: float) -> tuple[int, int]:
    from zoo.data.layout import split_counts

    return split_counts(total, val_fraction)


def synthetic_faces(count: int, size: tuple[int, int], channels: int, seed: int, val_fraction: float) -> KeypointSource:
    """The built-in ``faces`` set: five landmarks per picture, seeded."""
    n_train, _ = _split_counts(count, val_fraction)
    images, keypoints, sizes = synthetic.make_faces(count, size[0], size[1], channels=channels, seed=seed)
    boxes = np.tile(np.array([0, 0, size[1], size[0]], np.float32), (count, 1))

    def dataset(sl):
        return tf.data.Dataset.from_tensor_slices(
            {"image": images[sl], "keypoints": keypoints[sl], "box": boxes[sl], "norm": sizes[sl]}
        )

    return KeypointSource(
        train=dataset(slice(0, n_train)),
        val=dataset(slice(n_train, None)),
        num_train=n_train,
        num_val=count - n_train,
        keypoint_names=list(synthetic.FACE_KEYPOINTS),
        flip_index=flip_index_from_pairs(5, synthetic.FACE_FLIP_PAIRS),
        channels=channels,
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
    "aflw2k3d": TfdsKeypointPreset(
        "image",
        tuple(f"p{i}" for i in range(68)),
        tuple(_face68_flip_index()),
        "normalized:landmarks_68_3d_xy_normalized",
        (36, 45),
    ),
    "the300w_lp": TfdsKeypointPreset(
        "image", tuple(f"p{i}" for i in range(68)), tuple(_face68_flip_index()), "normalized:landmarks_2d", (36, 45)
    ),
    "celeb_a": TfdsKeypointPreset(
        "image", ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth"), (1, 0, 2, 4, 3), "celeb_a", (0, 1)
    ),
}


def tfds_keypoint_source(
    name: str,
    *,
    data_dir: str | None,
    image_key: str | None,
    keypoints_key: str | None,
    val_split: str | None,
    train_split: str | None,
) -> KeypointSource:
    """A TFDS dataset by name: presets ``aflw2k3d``, ``the300w_lp``, ``celeb_a``; or
    ``--image-key`` with ``--keypoints-key`` holding normalised (x, y) pairs ``[K, 2]``."""
    preset = TFDS_KEYPOINT_PRESETS.get(name)
    if preset is None and not keypoints_key:
        raise ValueError(
            f"tfds:{name} has no keypoint preset ({sorted(TFDS_KEYPOINT_PRESETS)}); pass "
            "--keypoints-key (a [K, 2] feature of (x, y) normalised to [0, 1])"
        )
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
            xy = tf.stack(
                [
                    tf.stack([tf.cast(marks[f"{p}_x"], tf.float32), tf.cast(marks[f"{p}_y"], tf.float32)])
                    for p in _CELEBA
                ]
            )
        else:
            xy = tf.cast(example[key][:, :2], tf.float32) * tf.stack([shape[1], shape[0]])
        keypoints = tf.concat([xy, tf.ones_like(xy[:, :1])], axis=-1)
        box = tf.stack([0.0, 0.0, shape[1], shape[0]])
        return {"image": image, "keypoints": keypoints, "box": box, "norm": tf.constant(0.0)}

    train_split, val_split = resolve_splits(
        builder,
        train_split or (preset.train_split if preset else "train"),
        val_split or (preset.val_split if preset else "validation"),
    )

    def read_split(split):
        ds = builder.as_dataset(split=split, shuffle_files=False)
        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)

    train, val = read_split(train_split), read_split(val_split)
    return KeypointSource(
        train=train,
        val=val,
        num_train=count_examples(builder, train_split, train),
        num_val=count_examples(builder, val_split, val),
        keypoint_names=names,
        flip_index=flip,
        channels=features[image_key].shape[-1],
        description=f"tfds:{name} ({train_split} / {val_split})",
        eye_indices=preset.eye_indices if preset else None,
    )


@dataclasses.dataclass
class Annotations:
    """The examples of one annotation file: one per annotated object."""

    paths: list[str]
    points: list[np.ndarray]  # [K, 3] (x, y, visible 0/1) each
    boxes: list[np.ndarray]  # [4] (x0, y0, x1, y1) enlarged 1.25x, or zeros (the whole picture)
    areas: list[float]  # pixels^2 (0: unknown)
    image_ids: list[int]
    names: list[str]
    skeleton: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    sigmas: list[float] | None = None
    has_boxes: bool = False
    skipped: dict = dataclasses.field(default_factory=dict)  # reason -> count
    picture_ids: dict = dataclasses.field(default_factory=dict)  # image_ids' number -> the file's own image id
    warnings: list = dataclasses.field(default_factory=list)  # what was changed on reading (dropped links...)
    names_generated: bool = False  # the file named no keypoint: kp0, kp1, ...
    visibility: dict = dataclasses.field(default_factory=dict)  # COCO flag (0, 1, 2) -> keypoints, of the kept objects
    records: list = dataclasses.field(
        default_factory=list
    )  # per example: where it is written ("f.json annotations[3]")
    sizes: list = dataclasses.field(default_factory=list)  # per example: the picture's (height, width) as the file
    # declares it (COCO images' height and width), or None

    def record(self, index: int) -> str:
        """Where example ``index`` is written in its file, for messages."""
        if index < len(self.records):
            return self.records[index]
        return f"object {index} of {Path(self.paths[index]).name}"

    def size(self, index: int) -> tuple[int, int] | None:
        """The declared (height, width) of example ``index``'s picture, or None."""
        return self.sizes[index] if index < len(self.sizes) else None

    def subset(self, index) -> Annotations:
        """The examples at ``index`` (in the file's order), with the file's skeleton and names."""
        index = sorted(int(i) for i in index)
        pick = lambda values: [values[i] for i in index] if len(values) == len(self.paths) else []  # noqa: E731
        return dataclasses.replace(
            self,
            paths=pick(self.paths),
            points=pick(self.points),
            boxes=pick(self.boxes),
            areas=pick(self.areas),
            image_ids=pick(self.image_ids),
            records=pick(self.records),
            sizes=pick(self.sizes),
        )


def _pick_categories(data: dict, category: str | None) -> list[dict]:
    """The categories whose keypoints are read: ``--category`` (name or id; ``all``: every category with
    keypoints, which must share their count), else the only one with keypoints."""
    categories = data["categories"]
    listed = [c.get("name", c.get("id")) for c in categories]
    if category is not None and str(category).lower() == "all":
        chosen = [c for c in categories if c.get("keypoints")] or categories
        counts = {len(c.get("keypoints") or []) for c in chosen}
        if len(counts) > 1:
            raise ValueError(
                f"--category all: the categories declare different keypoint counts {sorted(counts)}; one model "
                "answers one set of keypoints: pick one with --category NAME"
            )
        return chosen
    if category is not None:
        for cat in categories:
            if str(cat.get("name")) == str(category) or str(cat.get("id")) == str(category):
                return [cat]
        raise ValueError(f"--category {category!r} is not in the file; its categories are {listed} (or all)")
    with_keypoints = [c for c in categories if c.get("keypoints")]
    if len(with_keypoints) > 1:
        raise ValueError(
            f"the file declares keypoints for several categories ({[c.get('name', c.get('id')) for c in with_keypoints]}); "
            "pick one with --category NAME, or train them as one with --category all (same keypoints)"
        )
    return with_keypoints[:1] or categories[:1]


def _read_coco(path: Path, images_dir: Path, category: str | None = None) -> Annotations:
    """``_read_annotations`` for a COCO keypoints JSON: the category's keypoint names (generated ``kp0..`` when
    the file names none, as mmpose's face files), skeleton (1-based in the file; links outside the keypoints
    are dropped with a warning) and ``sigmas``; one example per annotation of the chosen categories; crowd
    annotations and annotations without a labelled keypoint are skipped (COCO's evaluation ignores them) and
    counted in ``skipped``."""
    data = read_json(path)
    if isinstance(data, list) and data and isinstance(data[0], dict) and "joints" in data[0]:
        if category is not None:
            raise ValueError("--category is for COCO files; a list of joints records has one kind of object")
        return _read_joint_list(data, images_dir, path.name)
    for field in ("images", "annotations", "categories"):
        if field not in data:
            raise ValueError(f"COCO keypoints JSON needs {field!r}")
    cats = _pick_categories(data, category)
    cat = cats[0]
    ids = {c.get("id") for c in cats}
    names = list(cat.get("keypoints") or [])
    skeleton, dropped = [], []
    for pair in cat.get("skeleton") or []:
        a, b = int(pair[0]) - 1, int(pair[1]) - 1
        if names and not (0 <= a < len(names) and 0 <= b < len(names)):
            dropped.append(list(pair))
            continue
        skeleton.append((a, b))
    files = {img["id"]: img for img in data["images"]}
    image_number = {image_id: n for n, image_id in enumerate(files)}
    out = Annotations(
        [],
        [],
        [],
        [],
        [],
        names,
        skeleton,
        cat.get("sigmas"),
        picture_ids={n: image_id for image_id, n in image_number.items()},
    )
    if dropped:  # a skeleton written for other keypoints (CrowdPose's files carry COCO's): none of it is trusted
        out.skeleton = []
        out.warnings.append(
            f"{len(dropped)} skeleton links of {path.name} name keypoints outside 1..{len(names)}: the file's "
            f"skeleton was written for other keypoints and is dropped (it is only drawn; --preset gives one): "
            f"{dropped[:6]}"
        )
    visibility = {0: 0, 1: 0, 2: 0}
    for number, ann in enumerate(data["annotations"]):
        if "category_id" in ann and ann["category_id"] not in ids and cat.get("id") is not None:
            continue
        kp = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
        if ann.get("iscrowd"):
            out.skipped["crowd annotations"] = out.skipped.get("crowd annotations", 0) + 1
            continue
        if not (kp[:, 2] > 0).any():
            out.skipped["annotations without a labelled keypoint"] = (
                out.skipped.get("annotations without a labelled keypoint", 0) + 1
            )
            continue
        if not out.names:
            out.names = [f"kp{i}" for i in range(len(kp))]
            out.names_generated = True
        for flag, count in zip(*np.unique(kp[:, 2].astype(int), return_counts=True)):
            visibility[int(flag)] = visibility.get(int(flag), 0) + int(count)
        image = files[ann["image_id"]]
        out.records.append(f"{path.name} annotations[{number}]" + (f" (id {ann['id']})" if "id" in ann else ""))
        out.sizes.append(declared_size(image))
        out.paths.append(str(images_dir / image["file_name"]))
        out.points.append(np.concatenate([kp[:, :2], (kp[:, 2:] > 0).astype(np.float32)], -1))
        out.image_ids.append(image_number[ann["image_id"]])
        if ann.get("bbox"):
            out.has_boxes = True
            x, y, w, h = (float(v) for v in ann["bbox"])
            out.boxes.append(enlarged_box(x, y, w, h))
            out.areas.append(float(ann.get("area") or w * h))
        elif "center" in ann and "scale" in ann:  # MPII's person centre and scale (x 200 px), as mmpose keeps them
            out.has_boxes = True
            box = center_scale_box(ann["center"], ann["scale"])
            out.boxes.append(box)
            out.areas.append(float(ann.get("area") or (box[2] - box[0]) * (box[3] - box[1]) / BOX_AREA))
        else:
            out.boxes.append(np.zeros(4, np.float32))
            out.areas.append(float(ann.get("area") or 0.0))
    out.visibility = visibility
    return out


def declared_size(image: dict) -> tuple[int, int] | None:
    """A COCO ``images`` entry's (height, width) when it declares both as positive numbers, else None."""
    height, width = image.get("height"), image.get("width")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        return int(height), int(width)
    return None


@functools.lru_cache(maxsize=2)
def _parsed(path: str, stamp: tuple) -> object:
    return json.loads(Path(path).read_text())


def read_json(path: Path) -> object:
    """A JSON file, parsed once while it is unchanged (``check`` and the loading that follows read a COCO file
    of hundreds of megabytes several times). Do not modify what it returns."""
    info = Path(path).stat()
    return _parsed(str(path), (info.st_mtime_ns, info.st_size))


BOX_AREA = 1.25**2  # a box's area over the object's: the centre/scale box is the enlarged one already
MPII_SCALE = 200.0  # MPII's scale is the person's height in units of 200 pixels


def center_scale_box(center, scale, mpii: bool = False) -> np.ndarray:
    """The box looked at for a ``center`` (x, y) and ``scale`` (one number, or (sx, sy)) in MPII's units: a box
    of ``scale`` x 200 pixels around the centre, as float32 ``[4]`` (x0, y0, x1, y1). ``mpii``: MPII's own
    annotations, read as mmpose and HRNet read them: the centre moved down 15 x scale pixels and from 1-based
    to 0-based pixels, the scale enlarged 1.25 times (MPII's scale is the person's height, tightly)."""
    cx, cy = (float(v) for v in center)
    sx, sy = (float(scale), float(scale)) if np.ndim(scale) == 0 else (float(v) for v in scale)
    if mpii:
        cx, cy = cx - 1.0, cy - 1.0 + 15.0 * sy
        sx, sy = 1.25 * sx, 1.25 * sy
    half_w, half_h = sx * MPII_SCALE / 2, sy * MPII_SCALE / 2
    return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h], np.float32)


def joint_record(record: dict) -> tuple[str, np.ndarray]:
    """(picture, keypoints float32 [K, 3]) of one record of mmpose's MPII-style list (``image``, ``joints``
    [[x, y], ...] counted from 1, ``joints_vis``): x, y in 0-based pixels and 1 where the joint is labelled (shown
    and not at MPII's -1), 0 elsewhere. Used by training and ``check`` alike. Raises KeyError, TypeError or
    ValueError (naming ``joints_vis``) for a malformed record."""
    joints = np.asarray(record["joints"], np.float32).reshape(-1, 2)
    shown = np.asarray(record.get("joints_vis", np.ones(len(joints))), np.float32).reshape(-1) > 0
    if len(shown) != len(joints):
        raise ValueError(f"joints_vis has {len(shown)} entries for {len(joints)} joints")
    shown &= (joints >= 0).all(-1)  # MPII marks missing joints at -1
    joints = joints - 1.0  # MPII counts pixels from 1
    points = np.concatenate([np.where(shown[:, None], joints, 0.0), shown[:, None].astype(np.float32)], -1)
    return str(record["image"]), points


def _read_joint_list(data: list, images_dir: Path, file_name: str = "the records") -> Annotations:
    """mmpose's MPII-style list of records (``image``, ``joints`` [[x, y], ...], ``joints_vis``, ``center``,
    ``scale``): one example per record, joints and centre moved to 0-based pixels, the box from the centre and
    scale (``center_scale_box``'s MPII rule); the joints are called ``kp0..`` (``--preset mpii`` names them);
    the records of one file name are one picture."""
    count = len(data[0]["joints"])
    names = [f"kp{i}" for i in range(count)]
    out = Annotations([], [], [], [], [], names, names_generated=True)
    numbers: dict = {}
    visibility = {0: 0, 2: 0}
    for number, record in enumerate(data):
        image, points = joint_record(record)
        if len(points) != count:
            raise ValueError(f"records with {len(points)} and {count} joints; every record needs the same joints")
        shown = points[:, 2] > 0
        if not shown.any():
            out.skipped["records without a labelled joint"] = out.skipped.get("records without a labelled joint", 0) + 1
            continue
        visibility[2] += int(shown.sum())
        visibility[0] += int((~shown).sum())
        out.records.append(f"{file_name} [{number}]")
        out.paths.append(str(images_dir / image))
        out.points.append(points)
        out.image_ids.append(numbers.setdefault(image, len(numbers)))
        if "center" in record and "scale" in record:
            out.has_boxes = True
            box = center_scale_box(record["center"], record["scale"], mpii=True)
            out.boxes.append(box)
            out.areas.append(float((box[2] - box[0]) * (box[3] - box[1]) / BOX_AREA))
        else:
            out.boxes.append(np.zeros(4, np.float32))
            out.areas.append(0.0)
    out.visibility = visibility
    return out


def annotation_file(folder: Path, annotations: str | None = None) -> Path | None:
    """The annotation file of a keypoint folder: ``--annotations`` (relative to the folder or not), else the
    only ``.json``, else the only ``.csv``; None when there is none. Raises ValueError when several could be
    meant."""
    if annotations:
        path = Path(annotations).expanduser()
        path = path if path.is_absolute() or path.is_file() else folder / annotations
        if not path.is_file():
            raise ValueError(f"--annotations {annotations}: no such file (in {folder} or as given)")
        return path
    for suffix in ("json", "csv"):
        found = sorted(folder.glob(f"*.{suffix}"))
        if len(found) > 1:
            raise ValueError(
                f"{folder} holds {len(found)} .{suffix} files ({', '.join(p.name for p in found[:4])}); name the "
                "annotation file with --annotations FILE"
            )
        if found:
            return found[0]
    return None


def _read_annotations(folder: Path, category: str | None = None, annotations: str | None = None) -> Annotations:
    """The examples of a folder: ``images/`` and a COCO keypoints ``.json`` or a ``.csv`` beside it
    (``annotation_file``)."""
    images_dir = folder / "images"
    path = annotation_file(folder, annotations)
    if not images_dir.is_dir() or path is None:
        raise ValueError(f"{folder} needs images/ and a COCO keypoints .json or a .csv (image,x0,y0,...) beside it")
    jsons, csvs = ([path], []) if path.suffix.lower() == ".json" else ([], [path])
    if jsons:
        try:
            return _read_coco(jsons[0], images_dir, category)
        except (TypeError, KeyError, AttributeError, IndexError, ValueError) as err:
            if isinstance(err, ValueError) and "--category" in str(err):
                raise ValueError(f"{jsons[0]}: {err}") from None
            raise ValueError(
                f"{jsons[0]}: not a COCO keypoints file this recipe can read ({type(err).__name__}: "
                f"{err}); the recipe's `check` command lists every problem in it"
            ) from None
    if category is not None:
        raise ValueError(f"--category is for COCO files; {csvs[0].name} is a CSV of one kind of object")
    with open(csvs[0], newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    columns = header[1:]
    if len(columns) % 2:
        raise ValueError(f"{csvs[0]}: expected image,x0,y0,x1,y1,... (pairs of columns), got {len(columns)} columns")
    names = [c[:-2] if c.lower().endswith("_x") else f"kp{i}" for i, c in enumerate(columns[::2])]
    out = Annotations([], [], [], [], [], names)
    first_rows: dict[str, int] = {}
    for number, row in enumerate(body):
        line = number + 2  # the file's line: the header is line 1
        repeated = first_rows.setdefault(csv_picture_key(row[0]), line)
        if repeated != line:
            raise ValueError(csv_repeat_message(csvs[0].name, line, row[0], repeated))
        values = np.array([float(v) if v.strip() else np.nan for v in row[1:]], np.float32).reshape(-1, 2)
        visible = np.isfinite(values).all(-1, keepdims=True).astype(np.float32)
        out.records.append(f"{csvs[0].name} line {line}")
        out.paths.append(str(images_dir / row[0]))
        out.points.append(np.concatenate([np.nan_to_num(values), visible], -1))
        out.boxes.append(np.zeros(4, np.float32))  # whole image
        out.areas.append(0.0)
        out.image_ids.append(number)
    return out


def csv_picture_key(name: str) -> str:
    """The picture a CSV row names, as a key: ``a.png``, ``./a.png`` and ``sub//a.png`` vs ``sub/a.png`` alike."""
    return os.path.normpath(name.strip()).replace(os.sep, "/")


def csv_repeat_message(file: str, line: int, picture: str, first: int) -> str:
    """The one line that refuses a CSV row naming a picture an earlier row named (training and ``check``)."""
    return (
        f"{file} line {line} names the picture {picture!r} again (first on line {first}): a CSV row holds one "
        "picture's keypoints, and a repeated row would count the picture twice in training and evaluation; "
        "remove the repeated row (or merge the two)"
    )


def files_dataset(annotations: Annotations, channels: int, whole_pictures: bool) -> tf.data.Dataset:
    boxes = np.zeros((len(annotations.paths), 4), np.float32) if whole_pictures else np.stack(annotations.boxes)

    def read(path, keypoints, box, area, image_id):
        image = decode_image_file(path, channels)
        shape = tf.cast(tf.shape(image), tf.float32)
        whole = tf.stack([0.0, 0.0, shape[1], shape[0]])
        box = tf.where(box[2] > box[0], box, whole)
        return {
            "image": image,
            "keypoints": keypoints,
            "box": box,
            "norm": tf.constant(0.0),
            "area": area,
            "image_id": image_id,
        }

    return tf.data.Dataset.from_tensor_slices(
        (
            list(annotations.paths),
            np.stack(annotations.points),
            boxes,
            np.asarray(annotations.areas, np.float32),
            np.asarray(annotations.image_ids, np.int64),
        )
    ).map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


REGIONS = ("box", "image")


def resolve_region(region: str | None, annotations: Annotations, where: str) -> str:
    """``--region``: ``box`` (each annotation's box enlarged 1.25x: top-down, one crop per object) or
    ``image`` (the whole picture: one object per picture). Default: ``box`` when the file gives boxes."""
    if region is None:
        return "box" if annotations.has_boxes else "image"
    if region not in REGIONS:
        raise ValueError(f"--region {region!r}: choose box (each annotation's box) or image (the whole picture)")
    if region == "box" and not annotations.has_boxes:
        raise ValueError(f"--region box: {where} gives no boxes (COCO 'bbox'); use --region image, or add boxes")
    if region == "image":
        ids, counts = np.unique(annotations.image_ids, return_counts=True)
        if len(ids) and counts.max() > 1:
            raise ValueError(
                f"--region image: {int((counts > 1).sum())} pictures of {where} hold several annotated "
                "objects, which one whole-picture prediction cannot tell apart; use --region box "
                "(one crop per object)"
            )
    return region


def apply_preset(annotations: list[Annotations], preset, where: str) -> None:
    """Gives the annotations a ``zoo.tasks.keypoints.dataset_presets.KeypointPreset``'s names (when the file's
    are generated or agree in count), skeleton and sigmas where the file has none. Raises ValueError when
    the keypoint counts differ."""
    for ann in annotations:
        count = len(ann.names) or (len(ann.points[0]) if ann.points else len(preset.keypoints))
        if count != len(preset.keypoints):
            raise ValueError(
                f"--preset {preset.name} names {len(preset.keypoints)} keypoints but {where} has {count}; pick the "
                "preset of this dataset or write your own (docs/datasets.md)"
            )
        own_flips = flip_index_from_names(ann.names) if ann.names and not ann.names_generated else None
        if own_flips is not None and own_flips != list(range(count)):  # the file's names say their sides
            if own_flips != flip_index_from_pairs(count, preset.flip_pairs):
                raise ValueError(
                    f"--preset {preset.name} pairs left and right otherwise than the keypoint names of {where} "
                    f"({ann.names[:6]} ...): it is another dataset's preset; drop it or write your own"
                )
        else:
            ann.names, ann.names_generated = list(preset.keypoints), False
        if not ann.skeleton:
            ann.skeleton = list(preset.skeleton)
        if not ann.sigmas and preset.sigmas:
            ann.sigmas = list(preset.sigmas)


def _split_by_picture(everything: Annotations, val_fraction: float, seed: int) -> tuple[Annotations, Annotations]:
    """A seeded split by picture, so that the objects of one picture stay on one side."""
    pictures = np.unique(everything.image_ids)
    n_train, _ = _split_counts(len(pictures), val_fraction)
    order = np.random.default_rng(seed).permutation(len(pictures))
    train_pictures = set(pictures[order[:n_train]].tolist())
    in_train = np.array([i in train_pictures for i in everything.image_ids], bool)
    train, val = everything.subset(np.flatnonzero(in_train)), everything.subset(np.flatnonzero(~in_train))
    return train, dataclasses.replace(val, skipped={}, visibility={})  # the file's counts, told once


def _annotated_source(
    train: Annotations,
    val: Annotations,
    *,
    where: str,
    description: str,
    channels: int,
    region: str | None,
    flip_pairs,
    preset,
) -> KeypointSource:
    if preset is not None:
        apply_preset([train, val], preset, where)
    offset = max(train.image_ids, default=-1) + 1  # both splits' pictures apart, counted together
    both = dataclasses.replace(
        train,
        image_ids=list(train.image_ids) + [i + offset for i in val.image_ids],
        has_boxes=train.has_boxes and (val.has_boxes or not val.paths),
    )
    region = resolve_region(region, both, where)
    names = train.names
    if flip_pairs == "none":
        flip = list(range(len(names)))
    elif flip_pairs:
        flip = flip_index_from_pairs(len(names), flip_pairs)
    elif preset is not None:
        flip = flip_index_from_pairs(len(names), preset.flip_pairs)
    else:
        flip = flip_index_from_names(names)
    skipped = {k: train.skipped.get(k, 0) + val.skipped.get(k, 0) for k in {**train.skipped, **val.skipped}}
    skipped_text = "".join(f"; {n} {reason} skipped" for reason, n in sorted(skipped.items()) if n)
    return KeypointSource(
        train=files_dataset(train, channels, region == "image"),
        val=files_dataset(val, channels, region == "image"),
        num_train=len(train.paths),
        num_val=len(val.paths),
        keypoint_names=names,
        flip_index=flip,
        channels=channels,
        description=f"{description} ({len(train.paths)} train / {len(val.paths)} val objects, region {region}"
        f"{skipped_text})",
        skeleton=train.skeleton,
        sigmas=train.sigmas,
        region=region,
        val_annotations=val,
        train_annotations=train,
        warnings=list(dict.fromkeys(train.warnings + val.warnings)),
        preset=preset.name if preset is not None else None,
        no_sides=flip_pairs == "none",
        lower_body=list(preset.lower_body) if preset is not None else [],
    )


def folder_keypoint_source(
    path: str,
    *,
    channels: int,
    val_fraction: float,
    seed: int,
    flip_pairs=None,
    region: str | None = None,
    category: str | None = None,
    annotations: str | None = None,
    preset=None,
) -> KeypointSource:
    """``DIR/images/`` with a COCO keypoints JSON or a CSV ``image,x0,y0,...`` in ``DIR`` (``--annotations``
    names it when there are several), or ``DIR/train`` and ``DIR/val`` each laid out so. ``region``
    (``resolve_region``) says what the model looks at; left/right pairs come from ``flip_pairs`` (``"none"``:
    no keypoint has a side), else the ``preset`` (a ``KeypointPreset``), else the names
    (``flip_index_from_names``). A single folder is split by picture, so that the objects of one picture
    stay on one side."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"folder dataset {folder} does not exist")
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        train = _read_annotations(folder / "train", category, annotations)
        val = _read_annotations(folder / "val", category, annotations)
    else:
        train, val = _split_by_picture(_read_annotations(folder, category, annotations), val_fraction, seed)
    return _annotated_source(
        train,
        val,
        where=str(folder),
        description=f"folder:{folder}",
        channels=channels,
        region=region,
        flip_pairs=flip_pairs,
        preset=preset,
    )


def coco_val_file(path: Path, val_split: str | None) -> Path | None:
    """The validation file of ``coco:FILE.json``: ``--val-split FILE``, else the file named with ``val`` for
    ``train`` beside it (``person_keypoints_train2017.json`` -> ``person_keypoints_val2017.json``), else None."""
    if val_split:
        chosen = Path(val_split).expanduser()
        if not chosen.is_file():
            raise ValueError(f"--val-split {val_split}: no such annotation file")
        return chosen
    sibling = path.with_name(path.name.replace("train", "val"))
    return sibling if "train" in path.name and sibling.is_file() else None


def first_picture(data) -> str | None:
    """The first picture a keypoint file names: a COCO file's first ``images`` ``file_name``, or the ``image`` of
    a list of joint records (mmpose's MPII layout); None when it names none."""
    if isinstance(data, dict):
        return next((img.get("file_name") for img in data.get("images") or [] if isinstance(img, dict)), None)
    if isinstance(data, list):
        return next((r.get("image") for r in data if isinstance(r, dict) and r.get("image")), None)
    return None


def coco_keypoint_source(
    path: str,
    *,
    channels: int,
    val_fraction: float,
    seed: int,
    images: str | None = None,
    val_split: str | None = None,
    flip_pairs=None,
    region: str | None = None,
    category: str | None = None,
    preset=None,
) -> KeypointSource:
    """``coco:FILE.json``: a COCO keypoints file read where it lies; pictures found by ``file_name`` (``--images``,
    else beside the JSON, in ``images/``, or in COCO's ``<split>2017/`` beside ``annotations/``); the validation
    split is ``coco_val_file``'s, else a seeded share of the pictures."""
    from zoo.data.layout import coco_images_dir

    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"coco:{file}: no such file (give the keypoints JSON, e.g. person_keypoints_train2017.json)")

    def read(one: Path) -> Annotations:
        try:
            data = read_json(one)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"coco:{one} is not JSON ({err})") from None
        first = first_picture(data)
        if first is None:
            raise ValueError(f"coco:{one}: lists no images")
        folder = coco_images_dir(one, images, str(first))
        try:
            return _read_coco(one, folder, category)
        except (TypeError, KeyError, AttributeError, IndexError) as err:
            raise ValueError(
                f"{one}: not a keypoint file this recipe can read ({type(err).__name__}: {err}); the recipe's "
                "`check` command lists every problem in it"
            ) from None

    val_file = coco_val_file(file, val_split)
    if val_file is not None:
        train, val = read(file), read(val_file)
        rule = f"{file.name} / {val_file.name}"
    else:
        train, val = _split_by_picture(read(file), val_fraction, seed)
        rule = f"seeded {val_fraction:g} of the pictures held out"
    return _annotated_source(
        train,
        val,
        where=str(file),
        description=f"coco:{file} ({rule})",
        channels=channels,
        region=region,
        flip_pairs=flip_pairs,
        preset=preset,
    )

"""Segmentation data sources: ``synthetic:shapes``, ``synthetic:scenes``, ``tfds:NAME`` and ``folder:PATH``.

Each source gives raw examples ``(image uint8 [h, w, c], mask uint8 [h, w, 1])``
for a train and a validation split, plus what the pipeline needs to read the masks
(a label table) and what the run needs to report (class names).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.data.images import decode_image_file
from zoo.data.layout import held_out, split_counts
from zoo.data.tfds import count_examples, prepared_builder, resolve_splits
from zoo.tasks.segmentation import synthetic
from zoo.tasks.segmentation.labels import LabelEncoding, Palette, label_table
from zoo.tasks.segmentation.layout import folder_class_names, folder_pairs
from zoo.tasks.segmentation.masks import read_mask_for_pipeline


@dataclasses.dataclass
class SegmentationSource:
    """Train and validation examples and how to read them.

    Attributes:
        train, val: datasets of ``(image uint8 [h, w, c], mask [h, w, 1])``.
        num_train, num_val: example counts.
        num_classes: C.
        class_names: C names.
        table: raw mask value -> class index (``label_table``).
        channels: the images' channel count, if known.
        description: one line for logs and config.json.
        labels: how mask values become classes, for logs and config.json.
        binary_masks: masks are 0/1 or 0/255 (``zoo.tasks.segmentation.pipeline.mask_to_labels``).
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    num_train: int
    num_val: int
    num_classes: int
    class_names: list[str]
    table: np.ndarray
    channels: int | None
    description: str
    binary_masks: bool = False
    labels: str = ""  # how mask values become classes (``zoo.tasks.segmentation.labels.LabelEncoding.describe``)
    colours: list | None = None  # the classes' [r, g, b] of a colour palette (predicted masks use them)


@dataclasses.dataclass(frozen=True)
class TfdsPreset:
    """How to read one TFDS segmentation dataset."""

    image_key: str
    mask_key: str
    class_names: tuple[str, ...]
    mapping: dict | None
    train_split: str
    val_split: str


TFDS_PRESETS = {
    # Trimap: 1 = pet, 2 = background, 3 = border.
    "oxford_iiit_pet": TfdsPreset(
        "image", "segmentation_mask", ("pet", "background", "border"), {1: 0, 2: 1, 3: 2}, "train", "test"
    ),
}


def _array_source(
    images: np.ndarray, masks: np.ndarray, n_train: int, channels: int, description: str
) -> SegmentationSource:
    """A source of in-memory shapes pictures (classes ``SHAPES_CLASSES``), the first ``n_train`` for training."""
    classes = list(synthetic.SHAPES_CLASSES)
    return SegmentationSource(
        train=tf.data.Dataset.from_tensor_slices((images[:n_train], masks[:n_train])),
        val=tf.data.Dataset.from_tensor_slices((images[n_train:], masks[n_train:])),
        num_train=n_train,
        num_val=len(images) - n_train,
        num_classes=len(classes),
        class_names=classes,
        table=label_table(len(classes)),
        channels=channels,
        description=description,
        labels=f"class indices 0..{len(classes) - 1}",
    )


def synthetic_shapes(
    count: int, size: tuple[int, int], channels: int, seed: int, val_fraction: float, rare: bool = False
) -> SegmentationSource:
    """The built-in ``shapes`` set: ``count`` pictures at ``size`` (H, W), split by ``val_fraction``;
    ``rare``: ``synthetic:rare``, whose triangles cover about 1% of the pixels."""
    n_train, _ = split_counts(count, val_fraction)
    images, masks = synthetic.make_shapes(count, size[0], size[1], channels=channels, seed=seed, rare=rare)
    name = "rare" if rare else "shapes"
    return _array_source(
        images,
        masks,
        n_train,
        channels,
        f"synthetic:{name} ({count} pictures {size[0]}x{size[1]}x{channels}, seed {seed})",
    )


def synthetic_rare(
    count: int, size: tuple[int, int], channels: int, seed: int, val_fraction: float
) -> SegmentationSource:
    """``synthetic:rare``: the shapes set with triangles at about half size, about 1% of the pixels."""
    return synthetic_shapes(count, size, channels, seed, val_fraction, rare=True)


SCENE_FACTOR = 4  # synthetic:scenes are this many times the input size in height and width


def synthetic_scenes(
    count: int, size: tuple[int, int], channels: int, seed: int, val_fraction: float
) -> SegmentationSource:
    """The built-in ``scenes`` set (``synthetic.make_scenes``): scenes of ``SCENE_FACTOR`` times ``size``
    (H, W), as many as hold the pixels of ``count`` pictures of ``size`` (``count / SCENE_FACTOR**2``, at
    least 2), split by ``val_fraction`` (at least one scene each)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    scenes = max(2, -(-count // SCENE_FACTOR**2))
    n_val = min(scenes - 1, max(1, int(round(scenes * val_fraction))))
    height, width = size[0] * SCENE_FACTOR, size[1] * SCENE_FACTOR
    images, masks = synthetic.make_scenes(scenes, height, width, channels=channels, seed=seed)
    return _array_source(
        images,
        masks,
        scenes - n_val,
        channels,
        f"synthetic:scenes ({scenes} scenes {height}x{width}x{channels}, objects of "
        f"{synthetic.SCENE_OBJECT_RADIUS[0]:g}-{synthetic.SCENE_OBJECT_RADIUS[1]:g} px radius, seed {seed})",
    )


def tfds_source(
    name: str,
    *,
    num_classes: int | None,
    ignore_index: int,
    image_key: str | None,
    mask_key: str | None,
    train_split: str | None,
    val_split: str | None,
    binary_masks: bool,
    data_dir: str | None = None,
    reduce_zero_label: bool = False,
) -> SegmentationSource:
    """A TFDS dataset by name: a preset (``oxford_iiit_pet``) or generic image/mask keys.

    Download failures surface as TFDS raises them, with a hint on how to prepare the
    data elsewhere (``tfds build`` on a machine with internet, then ``--data-dir``).
    """
    preset = TFDS_PRESETS.get(name)
    image_key = image_key or (preset.image_key if preset else "image")
    mask_key = mask_key or (preset.mask_key if preset else "segmentation_mask")
    train_split = train_split or (preset.train_split if preset else "train")
    val_split = val_split or (preset.val_split if preset else "validation")
    if preset and not binary_masks and not reduce_zero_label and num_classes in (None, len(preset.class_names)):
        class_names = list(preset.class_names)
        table = label_table(len(class_names), ignore_index, mapping=preset.mapping)
        labels = f"the preset's mapping {preset.mapping}"
    else:
        if binary_masks:
            num_classes = 2
        if num_classes is None:
            raise ValueError(f"tfds:{name} has no preset: pass --num-classes (and --image-key/--mask-key)")
        class_names = ["background", "object"] if binary_masks else [f"class{i}" for i in range(num_classes)]
        encoding = LabelEncoding(num_classes, ignore_index, binary=binary_masks, reduce_zero_label=reduce_zero_label)
        table, labels = encoding.table(), encoding.describe()
    builder = prepared_builder(name, data_dir, (image_key, mask_key))
    features = builder.info.features
    train_split, val_split = resolve_splits(builder, train_split, val_split)

    def read(split):
        ds = builder.as_dataset(split=split, shuffle_files=False)
        return ds.map(lambda ex: (ex[image_key], ex[mask_key]), num_parallel_calls=tf.data.AUTOTUNE)

    channels = features[image_key].shape[-1]
    train, val = read(train_split), read(val_split)
    return SegmentationSource(
        train=train,
        val=val,
        num_train=count_examples(builder, train_split, train),
        num_val=count_examples(builder, val_split, val),
        num_classes=len(class_names),
        class_names=class_names,
        table=table,
        channels=channels,
        description=f"tfds:{name} ({train_split} / {val_split})",
        binary_masks=binary_masks,
        labels=labels,
    )


def _read_files(pairs: list[tuple[str, str]], channels: int, encoding: LabelEncoding) -> tf.data.Dataset:
    """Images by TensorFlow's decoder; masks by the one mask reader (``zoo.tasks.segmentation.masks``, colours through the
    ``encoding``'s palette), as ``check`` reads them."""
    images, masks = zip(*pairs)

    def read_mask(path):
        return read_mask_for_pipeline(path, encoding)

    def read(image_path, mask_path):
        image = decode_image_file(image_path, channels)
        mask = tf.numpy_function(read_mask, [mask_path], tf.int32, stateful=False)
        mask.set_shape([None, None, 1])
        return image, mask

    return tf.data.Dataset.from_tensor_slices((list(images), list(masks))).map(
        read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def folder_source(
    path: str,
    *,
    channels: int,
    num_classes: int | None,
    ignore_index: int,
    binary_masks: bool,
    val_fraction: float,
    seed: int,
    reduce_zero_label: bool = False,
    palette: Palette | None = None,
    tolerance: int = 0,
    labels: tuple | None = None,
) -> SegmentationSource:
    """``DIR/images/<stem>.(png|jpg|bmp)`` with ``DIR/masks/<stem>.png`` (class indices, 0/1 or 0/255
    binary masks, labels 1..C with ``reduce_zero_label``, or colours of a ``palette``: see
    ``zoo.tasks.segmentation.labels``; read by ``zoo.tasks.segmentation.masks``, as ``check`` reads them);
    optional ``DIR/classes.txt`` (one class name per line) gives the classes' names and count (a palette
    names them itself).

    With ``DIR/train/`` and ``DIR/val/`` (each with images/ and masks/) those are the
    splits; otherwise a seeded random ``val_fraction`` of the pairs is held out.
    Images are decoded to ``channels`` (gray <-> RGB converted by the decoder). ``labels``: (class names,
    ``LabelEncoding``, colours) of a preset, instead of the flags and ``classes.txt``.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"folder dataset {folder} does not exist")
    if channels not in (1, 3, 4):
        raise ValueError(f"folder images decode to 1, 3 or 4 channels, not {channels}")
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        train, val = folder_pairs(folder / "train"), folder_pairs(folder / "val")
    else:
        pairs = folder_pairs(folder)
        train_index, val_index = held_out(len(pairs), val_fraction, seed)
        train, val = [pairs[i] for i in train_index], [pairs[i] for i in val_index]
    colours = [list(c) for c in palette.colours] if palette is not None and palette.bands == 3 else None
    if labels is not None:
        names, encoding, colours = labels
    else:
        names = folder_class_names(folder, num_classes, binary_masks, palette.names if palette else None)
        encoding = LabelEncoding(
            len(names),
            ignore_index,
            binary=binary_masks,
            reduce_zero_label=reduce_zero_label,
            palette=palette,
            tolerance=tolerance,
        )
    num_classes = len(names)
    return SegmentationSource(
        train=_read_files(train, channels, encoding),
        val=_read_files(val, channels, encoding),
        num_train=len(train),
        num_val=len(val),
        num_classes=num_classes,
        class_names=names,
        table=encoding.table(),
        channels=channels,
        description=f"folder:{folder} ({len(train)} train / {len(val)} val)",
        binary_masks=binary_masks,
        labels=encoding.describe(),
        colours=colours,
    )


def layout_source(
    layout, *, channels: int, names: list[str], encoding: LabelEncoding, colours: list | None
) -> SegmentationSource:
    """A dataset as shipped (``zoo.tasks.segmentation.layouts.SegmentationLayout``): its pairs read as
    ``check`` reads them (masks through ``encoding``, drawn ones through the layout's opener)."""
    if layout.problems:
        what, fix, item = layout.problems[0]
        more = f" (and {len(layout.problems) - 1} more problems: run `check`)" if len(layout.problems) > 1 else ""
        raise ValueError(f"{layout.description}: {what}: {item}; {fix}{more}")
    for split, pairs in (("train", layout.train), ("val", layout.val)):
        if not pairs:
            raise ValueError(f"{layout.description}: the {split} split has no image/mask pairs")

    def read_mask(key):
        key = key.decode() if isinstance(key, (bytes, np.bytes_)) else str(key)
        try:
            return encoding.raw(layout.open_mask(key)).astype(np.int32)[..., None]
        except Exception as err:  # surfaces in tf.data as InvalidArgumentError: keep the mask and reason in it
            raise ValueError(f"mask {key}: {err}") from None

    def dataset(pairs):
        images, keys = zip(*pairs)

        def read(image_path, key):
            image = decode_image_file(image_path, channels)
            mask = tf.numpy_function(read_mask, [key], tf.int32, stateful=False)
            mask.set_shape([None, None, 1])
            return image, mask

        return tf.data.Dataset.from_tensor_slices((list(images), list(keys))).map(
            read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    return SegmentationSource(
        train=dataset(layout.train),
        val=dataset(layout.val),
        num_train=len(layout.train),
        num_val=len(layout.val),
        num_classes=len(names),
        class_names=list(names),
        table=encoding.table(),
        channels=channels,
        description=f"{layout.description} ({len(layout.train)} train / {len(layout.val)} val)",
        labels=encoding.describe(),
        colours=colours,
    )

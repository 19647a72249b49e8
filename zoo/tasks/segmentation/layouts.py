"""Segmentation data as other projects ship it, read where it lies (no copying or renaming; no TensorFlow).

Each ``--dataset`` kind below lists (image, mask) pairs for a train and a validation split, says which
preset (``zoo.tasks.segmentation.dataset_presets``) reads its masks, and collects the problems found
while pairing (``check`` reports them; training refuses them):

- ``voc:ROOT``: ``JPEGImages/`` + ``SegmentationClass/`` + ``ImageSets/Segmentation/{train,val}.txt``
  (ROOT may be ``VOCdevkit``, its ``VOC2012`` or the folder above); ``--train-split trainaug`` reads SBD's
  augmented set as distributed (``SegmentationClassAug/`` + ``ImageSets/Segmentation/trainaug.txt``).
- ``ade20k:ROOT``: ``ADEChallengeData2016``'s ``images/{training,validation}`` + ``annotations/...``.
- ``cityscapes:ROOT``: ``leftImg8bit/{train,val}/<city>/*_leftImg8bit.png`` + ``gtFine/.../*_gtFine_labelIds.png``
  (``*_labelTrainIds.png`` if the label ids are absent).
- ``camvid:ROOT``: SegNet's ``train/`` + ``trainannot/``, ``val/`` + ``valannot/``.
- ``mmseg:ROOT``: mmsegmentation's ``img_dir/`` + ``ann_dir/`` (or any image and mask folders: ``images``,
  ``masks``, ``labels``, ``annotations``...; ``--images``/``--masks`` name them), with ``train``/``val``
  subfolders or split files (``--train-split FILE``, ``--val-split FILE``: one name per line) or a seeded
  split; file-name suffixes are found (``x.jpg`` + ``x.png``, ``x_leftImg8bit.png`` + ``x_gtFine_labelTrainIds.png``)
  or given (``--img-suffix``, ``--mask-suffix``).
- ``coco:FILE.json``: a COCO instances file; polygons and RLE become class masks (``zoo.tasks.segmentation.polygons``).
- ``labelme:FOLDER``: labelme JSON files beside their pictures.

``folder:PATH`` (the project's own ``images/`` + ``masks/``) is ``zoo.tasks.segmentation.layout``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from zoo.data.layout import IMAGE_SUFFIXES, coco_images_dir, held_out
from zoo.tasks.segmentation.dataset_presets import SegmentationPreset
from zoo.tasks.segmentation.masks import MASK_SUFFIXES

SHIPPED = ("voc", "ade20k", "cityscapes", "camvid", "mmseg", "coco", "labelme")
IMAGE_DIRS = ("img_dir", "images", "imgs", "img", "image", "JPEGImages", "leftImg8bit")
MASK_DIRS = (
    "ann_dir", "annotations", "masks", "mask", "labels", "label", "ann", "gts", "gt", "SegmentationClass",
    "SegmentationClassPNG", "gtFine",
)  # fmt: skip
TRAIN_NAMES = ("train", "training")
NOT_LABELS = ("color", "colour", "instance", "polygon", "_vis", "_viz", "overlay")  # mask files that hold no labels
VAL_NAMES = ("val", "validation", "valid")


@dataclasses.dataclass
class SegmentationLayout:
    """The pairs of a dataset as shipped.

    Attributes:
        description: one line for logs and config.json (kind, root, split rule).
        train, val: ``(image path, mask key)`` pairs; a mask key is a file path unless ``opener`` is set.
        preset: the preset that reads the masks (a shipped name or a ``SegmentationPreset``), or None.
        problems: ``(what, fix, item)`` found while pairing (errors).
        notes: ``(what, item)`` worth saying that are no error.
        opener: key -> loaded Pillow mask, for masks drawn from annotations (None: keys are files).
        drawers: the objects that draw those masks, whose ``skipped`` says what they left out.
    """

    description: str
    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    preset: str | SegmentationPreset | None = None
    problems: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    opener: Callable | None = None
    drawers: list = dataclasses.field(default_factory=list)  # what draws masks (their ``skipped`` counts)

    def open_mask(self, key: str):
        """The loaded Pillow mask of ``key``."""
        if self.opener is not None:
            return self.opener(key)
        from PIL import Image

        with Image.open(key) as image:
            image.load()
            return image


def _first_dir(root: Path, candidates, need) -> Path | None:
    for path in candidates:
        if path.is_dir() and all((path / n).is_dir() for n in need):
            return path
    return None


def _split_file(value: str, folder: Path) -> Path | None:
    """A split given as a file path (as given, or under ``folder``: mmseg's split files are relative to ROOT), or
    as a name of ``folder/<name>.txt``."""
    path = Path(value).expanduser()
    for candidate in (path, folder / path):
        if candidate.suffix == ".txt" and candidate.is_file():
            return candidate
    return folder / f"{value}.txt" if (folder / f"{value}.txt").is_file() else None


def _read_split(path: Path) -> list[str]:
    """The names of a split file: one per line (first word; a path's stem)."""
    names = []
    for line in path.read_text().splitlines():
        word = line.strip().split()[0] if line.strip() else ""
        if word:
            names.append(Path(word).name.rsplit(".", 1)[0] if "/" in word else word)
    return names


def _files(folder: Path, suffixes) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(tuple(suffixes)))


def _seeded(pairs, val_fraction: float, seed: int):
    train_index, val_index = held_out(len(pairs), val_fraction, seed)
    return [pairs[i] for i in train_index], [pairs[i] for i in val_index]


def _pair_by_name(layout, split, stems, images: dict, masks: dict, where: str) -> list[tuple[str, str]]:
    """Pairs of the ``stems`` listed for ``split``; stems without an image or mask become problems."""
    pairs = []
    for stem in stems:
        if stem not in images:
            layout.problems.append((f"{split} names a picture that is missing", f"add it to {where}", stem))
        elif stem not in masks:
            layout.problems.append((f"{split} names a picture without a mask", f"add its mask ({where})", stem))
        else:
            pairs.append((str(images[stem]), str(masks[stem])))
    return pairs


def voc_layout(root: Path, train_split: str | None, val_split: str | None) -> SegmentationLayout:
    """``voc:ROOT`` (see the module docstring)."""
    found = _first_dir(
        root,
        [
            root,
            root / "VOC2012",
            root / "VOCdevkit" / "VOC2012",
            *sorted(root.glob("VOC*")),
            *sorted(root.glob("*/VOC*")),
        ],
        ("JPEGImages", "ImageSets"),
    )
    if found is None:
        raise ValueError(f"voc:{root}: no JPEGImages/ and ImageSets/ here or in VOC2012/ or VOCdevkit/VOC2012/")
    splits = found / "ImageSets" / "Segmentation"
    layout = SegmentationLayout(f"voc:{found}", [], [], preset="voc")
    images = {p.stem: p for p in (found / "JPEGImages").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    chosen = {}
    for role, value, default in (("train", train_split, "train"), ("val", val_split, "val")):
        path = _split_file(value or default, splits)
        if path is None:
            raise ValueError(
                f"voc:{found}: no split file {value or default!r} in {splits} (--{role}-split names one, e.g. "
                f"{', '.join(sorted(p.stem for p in splits.glob('*.txt'))) or 'train, val'})"
            )
        aug = "aug" in path.stem.lower()  # trainaug.txt, train_aug.txt, mmsegmentation's aug.txt
        mask_dir = found / ("SegmentationClassAug" if aug else "SegmentationClass")
        if not mask_dir.is_dir():
            raise ValueError(
                f"voc:{found}: {mask_dir.name}/ is missing"
                + (" (SBD's augmented masks, as PNGs of class indices)" if aug else "")
            )
        masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
        chosen[role] = (_read_split(path), masks, f"{path.name} with {mask_dir.name}/")
    train_stems = [s for s in chosen["train"][0] if s not in set(chosen["val"][0])]
    if len(train_stems) < len(chosen["train"][0]):
        layout.notes.append((f"{len(chosen['train'][0]) - len(train_stems)} validation pictures left out of training", chosen["train"][2]))  # fmt: skip
    layout.train = _pair_by_name(layout, chosen["train"][2], train_stems, images, chosen["train"][1], "JPEGImages/")
    layout.val = _pair_by_name(layout, chosen["val"][2], chosen["val"][0], images, chosen["val"][1], "JPEGImages/")
    layout.description += f" ({chosen['train'][2]} / {chosen['val'][2]})"
    if (found / "SegmentationClassAug").is_dir() and "Aug" not in chosen["train"][2]:
        layout.notes.append(("SBD's augmented masks are here: --train-split trainaug trains on them", str(found)))
    return layout


def _two_trees(layout, image_root: Path, mask_root: Path, img_suffix: str, mask_suffix: str, split: str, where):
    """Pairs of ``image_root/**/<stem><img_suffix>`` with ``mask_root/**/<stem><mask_suffix>`` (same relative folder)."""
    images = {str(p.relative_to(image_root))[: -len(img_suffix)]: p for p in _files(image_root, (img_suffix.lower(),))}
    masks = {str(p.relative_to(mask_root))[: -len(mask_suffix)]: p for p in _files(mask_root, (mask_suffix.lower(),))}
    for stem in sorted(set(images) - set(masks)):
        layout.problems.append(("image without a mask", f"add {stem}{mask_suffix} to {mask_root}", f"{where}/{stem}"))
    for stem in sorted(set(masks) - set(images)):
        layout.problems.append(("mask without an image", f"add {stem}{img_suffix} to {image_root}", f"{where}/{stem}"))
    return [(str(images[s]), str(masks[s])) for s in sorted(set(images) & set(masks))]


def _split_dirs(root: Path) -> tuple[str, str] | None:
    names = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    train = next((n for n in TRAIN_NAMES if n in names), None)
    val = next((n for n in VAL_NAMES if n in names), None)
    return (train, val) if train and val else None


def ade20k_layout(root: Path) -> SegmentationLayout:
    """``ade20k:ROOT`` (see the module docstring)."""
    found = _first_dir(root, [root, root / "ADEChallengeData2016"], ("images", "annotations"))
    if found is None:
        raise ValueError(f"ade20k:{root}: no images/ and annotations/ here or in ADEChallengeData2016/")
    layout = SegmentationLayout(f"ade20k:{found} (training / validation)", [], [], preset="ade20k")
    for split, attr in (("training", "train"), ("validation", "val")):
        if not (found / "images" / split).is_dir():
            raise ValueError(f"ade20k:{found}: images/{split}/ is missing")
        pairs = _two_trees(
            layout, found / "images" / split, found / "annotations" / split, ".jpg", ".png", split, split
        )
        setattr(layout, attr, pairs)
    return layout


def cityscapes_layout(root: Path, train_split: str | None, val_split: str | None) -> SegmentationLayout:
    """``cityscapes:ROOT`` (see the module docstring)."""
    found = _first_dir(root, [root, root / "cityscapes"], ("leftImg8bit", "gtFine"))
    if found is None:
        raise ValueError(
            f"cityscapes:{root}: no leftImg8bit/ and gtFine/ here (download leftImg8bit_trainvaltest and gtFine_trainvaltest)"
        )
    label_ids = any(found.glob("gtFine/*/*/*_gtFine_labelIds.png"))
    suffix = "_gtFine_labelIds.png" if label_ids else "_gtFine_labelTrainIds.png"
    preset = "cityscapes" if label_ids else "cityscapes_trainids"
    layout = SegmentationLayout("", [], [], preset=preset)
    splits = {"train": train_split or "train", "val": val_split or "val"}
    for attr, split in splits.items():
        if not (found / "leftImg8bit" / split).is_dir():
            raise ValueError(f"cityscapes:{found}: leftImg8bit/{split}/ is missing (--{attr}-split names another)")
        pairs = _two_trees(
            layout, found / "leftImg8bit" / split, found / "gtFine" / split, "_leftImg8bit.png", suffix, split, split
        )
        setattr(layout, attr, pairs)
    layout.description = f"cityscapes:{found} ({splits['train']} / {splits['val']}, *{suffix})"
    return layout


def camvid_layout(root: Path, train_split: str | None, val_split: str | None) -> SegmentationLayout:
    """``camvid:ROOT`` (see the module docstring)."""
    found = _first_dir(root, [root, root / "CamVid"], ("train", "trainannot"))
    if found is None:
        raise ValueError(f"camvid:{root}: no train/ and trainannot/ here or in CamVid/ (SegNet's layout)")
    layout = SegmentationLayout("", [], [], preset="camvid")
    splits = {"train": train_split or "train", "val": val_split or "val"}
    for attr, split in splits.items():
        if not (found / f"{split}annot").is_dir():
            raise ValueError(f"camvid:{found}: {split}/ and {split}annot/ are missing (--{attr}-split names another)")
        pairs = _two_trees(layout, found / split, found / f"{split}annot", ".png", ".png", split, split)
        setattr(layout, attr, pairs)
    layout.description = (
        f"camvid:{found} ({splits['train']} + {splits['train']}annot / {splits['val']} + {splits['val']}annot)"
    )
    return layout


def _candidates(name: str) -> list[str]:
    """Suffixes of a file name starting at a '.' or '_' (the extension at least)."""
    return [name[i:] for i in range(1, len(name)) if name[i] in "._"]


def find_suffixes(
    images: list[str], masks: list[str], img_suffix: str | None = None, mask_suffix: str | None = None
) -> tuple[str, str]:
    """The (image, mask) file-name suffixes that pair the most names: ``a.jpg`` + ``a.png`` -> (".jpg", ".png");
    ``a_leftImg8bit.png`` + ``a_gtFine_labelTrainIds.png`` -> ("_leftImg8bit.png", "_gtFine_labelTrainIds.png").
    A given suffix is kept. Of suffixes that pair the same files, the shortest win (the whole shared name is the
    stem: ``a_000019_leftImg8bit.png`` -> ``_leftImg8bit.png``, not ``_000019_leftImg8bit.png``, which would also
    leave out pictures not ending in ``_000019``). Raises ValueError when no suffixes pair any name."""

    def options(names, given):
        if given:
            return [given]
        counts = Counter(s for n in names for s in set(_candidates(n)))
        return [s for s, n in counts.most_common(24) if n >= 0.1 * len(names)] or [s for s, _ in counts.most_common(3)]

    def preference(suffix: str) -> int:  # several mask kinds side by side (Cityscapes' gtFine): the labels win
        lower = suffix.lower()
        if any(word in lower for word in NOT_LABELS):
            return -1
        return 1 if "trainid" in lower else 0

    best, score, paired = None, (0, 0, 0), set()
    for si in options(images, img_suffix):
        stems = {n[: -len(si)] for n in images if n.endswith(si) and len(n) > len(si)}
        for sm in options(masks, mask_suffix):
            common = stems & {n[: -len(sm)] for n in masks if n.endswith(sm) and len(n) > len(sm)}
            files = {(s + si, s + sm) for s in common}
            candidate = (len(common), preference(sm), len(si) + len(sm))
            if candidate < score if files == paired else candidate > score:
                best, score, paired = (si, sm), candidate, files
    if best is None or score[0] == 0:
        raise ValueError(
            "no image and mask file names pair up; give --img-suffix and --mask-suffix (e.g. .jpg and .png: "
            "the part after the shared name)"
        )
    return best


def mmseg_layout(
    root: Path,
    *,
    images: str | None,
    masks: str | None,
    img_suffix: str | None,
    mask_suffix: str | None,
    train_split: str | None,
    val_split: str | None,
    val_fraction: float,
    seed: int,
) -> SegmentationLayout:
    """``mmseg:ROOT`` (see the module docstring)."""
    if not root.is_dir():
        raise ValueError(f"mmseg:{root} does not exist")

    def pick(given, names, what, flag):
        if given:
            path = root / given if not Path(given).is_absolute() else Path(given)
            if not path.is_dir():
                raise ValueError(f"{flag} {given}: no such folder in {root}")
            return path
        for name in names:
            if (root / name).is_dir():
                return root / name
        raise ValueError(f"mmseg:{root}: no {what} folder ({', '.join(names)}); name it with {flag} DIR")

    image_root = pick(images, IMAGE_DIRS, "image", "--images")
    mask_root = pick(masks, MASK_DIRS, "mask", "--masks")
    layout = SegmentationLayout("", [], [])
    image_names = [str(p.relative_to(image_root)) for p in _files(image_root, IMAGE_SUFFIXES)]
    mask_names = [str(p.relative_to(mask_root)) for p in _files(mask_root, MASK_SUFFIXES)]
    if not image_names:
        raise ValueError(f"mmseg:{root}: {image_root.name}/ holds no {'/'.join(IMAGE_SUFFIXES)} pictures")
    si, sm = find_suffixes(image_names, mask_names, img_suffix, mask_suffix)
    subdirs = _split_dirs(image_root)
    names = f"{image_root.name}/*{si} + {mask_root.name}/*{sm}"
    if subdirs and not (train_split and _split_file(train_split, root)):
        train_dir, val_dir = (train_split or subdirs[0]), (val_split or subdirs[1])
        for d in (train_dir, val_dir):
            if not (image_root / d).is_dir() or not (mask_root / d).is_dir():
                raise ValueError(f"mmseg:{root}: {image_root.name}/{d} or {mask_root.name}/{d} is missing")
        layout.train = _two_trees(layout, image_root / train_dir, mask_root / train_dir, si, sm, train_dir, train_dir)
        layout.val = _two_trees(layout, image_root / val_dir, mask_root / val_dir, si, sm, val_dir, val_dir)
        layout.description = f"mmseg:{root} ({names}, {train_dir} / {val_dir})"
        return layout
    if not (train_split or val_split) and all((root / "splits" / f"{n}.txt").is_file() for n in ("train", "val")):
        train_split, val_split = "splits/train.txt", "splits/val.txt"  # mmsegmentation's own pseudo dataset
    pairs = _two_trees(layout, image_root, mask_root, si, sm, "all", image_root.name)
    by_stem = {Path(image).name[: -len(si)]: (image, mask) for image, mask in pairs}
    by_stem.update({str(Path(image).relative_to(image_root))[: -len(si)]: (image, mask) for image, mask in pairs})
    if train_split or val_split:
        lists = {}
        for role, value in (("train", train_split), ("val", val_split)):
            path = _split_file(value, root) if value else None
            if path is None:
                raise ValueError(f"--{role}-split {value}: no such split file (one name per line) in {root}")
            lists[role] = _read_split(path)
        for role in ("train", "val"):
            chosen = []
            for stem in lists[role]:
                if stem in by_stem:
                    chosen.append(by_stem[stem])
                else:
                    layout.problems.append((f"the {role} split file names a picture without an image/mask pair", "fix the split file", stem))  # fmt: skip
            setattr(layout, role, chosen)
        layout.description = f"mmseg:{root} ({names}, split files {train_split} / {val_split})"
        return layout
    if len(pairs) >= 2:
        layout.train, layout.val = _seeded(pairs, val_fraction, seed)
    layout.description = f"mmseg:{root} ({names}, seeded {val_fraction:g} held out)"
    return layout


def coco_layout(
    path: Path, images: str | None, val_split: str | None, val_fraction: float, seed: int
) -> SegmentationLayout:
    """``coco:FILE.json`` for segmentation: class masks drawn from the instances' polygons and RLE. The
    validation split is ``--val-split FILE.json``, else the file named with ``val`` for ``train``
    (``instances_train2017.json`` -> ``instances_val2017.json``) beside it, else a seeded share."""
    from zoo.tasks.segmentation.dataset_presets import SegmentationPreset
    from zoo.tasks.segmentation.polygons import VOID, CocoMasks

    if not path.is_file():
        raise ValueError(
            f"coco:{path}: no such file (give the annotation JSON, e.g. annotations/instances_train2017.json)"
        )
    val_path = Path(val_split).expanduser() if val_split else None
    if val_path is not None and not val_path.is_file():
        raise ValueError(f"--val-split {val_split}: no such file; give the validation annotation JSON")
    files = {"train": CocoMasks(path)}
    if val_path is None and "train" in path.name and path.with_name(path.name.replace("train", "val")).is_file():
        val_path = path.with_name(path.name.replace("train", "val"))
    if val_path is not None:
        files["val"] = CocoMasks(val_path)
        if files["val"].classes != files["train"].classes:
            raise ValueError(f"coco: {val_path.name} and {path.name} declare different categories")
    masks = {}
    layout = SegmentationLayout("", [], [])

    def pairs_of(role, source):
        listed = source.images()
        if not listed:
            raise ValueError(f"coco:{source.path} lists no images")
        folder = coco_images_dir(source.path, images, listed[0]["file_name"])
        out = []
        for info in listed:
            image = folder / info["file_name"]
            if not image.is_file():
                layout.problems.append(
                    ("picture listed in the file is missing", f"add it to {folder}", info["file_name"])
                )
                continue
            key = f"{role}:{info['id']}"
            masks[key] = (source, info["id"])
            out.append((str(image), key))
        return out

    layout.train = pairs_of("train", files["train"])
    if "val" in files:
        layout.val = pairs_of("val", files["val"])
        rule = f"{path.name} / {val_path.name}"
    else:
        layout.train, layout.val = (
            _seeded(layout.train, val_fraction, seed) if len(layout.train) >= 2 else (layout.train, [])
        )
        rule = f"seeded {val_fraction:g} held out"

    def opener(key):
        source, image_id = masks[key]
        return source.open(str(image_id))

    layout.opener = opener
    layout.drawers = list(files.values())
    classes = files["train"].classes
    layout.preset = SegmentationPreset(
        name=path.stem,
        classes=tuple(classes),
        ignore_values=(VOID,),
        description=f"the categories of {path.name}",
        origin=str(path),
    )
    layout.description = f"coco:{path} ({len(classes) - 1} categories + background, {rule}, crowd regions ignored)"
    return layout


def labelme_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout:
    """``labelme:FOLDER``: every ``*.json`` labelme file under it with its picture (``imagePath``), class masks
    drawn from the shapes; classes from ``labels.txt``/``classes.txt`` or the labels found; a seeded split
    (or ``train/`` and ``val/`` subfolders)."""
    import json

    from zoo.tasks.segmentation.dataset_presets import SegmentationPreset
    from zoo.tasks.segmentation.polygons import VOID, LabelmeMasks, labelme_classes, labelme_picture

    if not folder.is_dir():
        raise ValueError(f"labelme:{folder} does not exist")
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise ValueError(f"labelme:{folder} holds no labelme .json files")
    classes, _ = labelme_classes(folder, files)  # (files that are not JSON are reported below, labels.txt or not)
    layout = SegmentationLayout("", [], [])
    drawer = LabelmeMasks(classes)
    pairs = {"train": [], "val": [], "all": []}
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            item = f"{path.relative_to(folder)} ({err})"
            layout.problems.append(("labelme files that are not JSON", "save them again with labelme", item))
            continue
        if not isinstance(data, dict) or "shapes" not in data:
            continue  # another JSON file (a class list, say)
        image = labelme_picture(path, data.get("imagePath"))
        if image is None:
            layout.problems.append((
                "labelme files whose picture is missing (imagePath)",
                "put the picture beside the JSON (labelme's embedded imageData is not read)",
                str(path.relative_to(folder)),
            ))  # fmt: skip
            continue
        part = path.relative_to(folder).parts[0]
        role = "train" if part in TRAIN_NAMES else "val" if part in VAL_NAMES else "all"
        pairs[role].append((str(image), str(path)))
    if pairs["train"] and pairs["val"]:
        layout.train, layout.val = pairs["train"], pairs["val"]
        rule = "train/ / val/"
    else:
        everything = pairs["train"] + pairs["val"] + pairs["all"]
        layout.train, layout.val = _seeded(everything, val_fraction, seed) if len(everything) >= 2 else (everything, [])
        rule = f"seeded {val_fraction:g} held out"
    layout.opener = drawer.open
    layout.drawers = [drawer]
    layout.preset = SegmentationPreset(
        name="labelme",
        classes=tuple(classes),
        ignore_values=(VOID,),
        description=f"the labels of {folder}",
        origin=str(folder),
    )
    layout.description = f"labelme:{folder} ({len(classes)} classes, {rule})"
    return layout


def shipped_layout(kind: str, path: str, settings) -> SegmentationLayout:
    """The ``SegmentationLayout`` of ``--dataset KIND:PATH`` (one of ``SHIPPED``) with the flags in ``settings``."""
    root = Path(path).expanduser()
    if kind != "coco" and not root.exists():
        raise ValueError(f"{kind}:{root} does not exist")
    if kind == "voc":
        return voc_layout(root, settings.train_split, settings.val_split)
    if kind == "ade20k":
        return ade20k_layout(root)
    if kind == "cityscapes":
        return cityscapes_layout(root, settings.train_split, settings.val_split)
    if kind == "camvid":
        return camvid_layout(root, settings.train_split, settings.val_split)
    if kind == "mmseg":
        return mmseg_layout(
            root,
            images=settings.images,
            masks=settings.masks,
            img_suffix=settings.img_suffix,
            mask_suffix=settings.mask_suffix,
            train_split=settings.train_split,
            val_split=settings.val_split,
            val_fraction=settings.val_fraction,
            seed=settings.seed,
        )
    if kind == "coco":
        return coco_layout(root, settings.images, settings.val_split, settings.val_fraction, settings.seed)
    if kind == "labelme":
        return labelme_layout(root, settings.val_fraction, settings.seed)
    raise ValueError(
        f"--dataset {kind}:{path}: segmentation reads {', '.join(SHIPPED)} layouts, folder:, tfds: and synthetic:"
    )

"""The ``check`` scan of a segmentation folder: every problem of its images and masks at once, and how the
masks are stored and read (``zoo.tasks.segmentation.label_scan``); the report is ``zoo.data.checks``'."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from zoo.data.checks import DataReport, check_channels, nested_files, open_image, unsupported_files
from zoo.data.layout import IMAGE_SUFFIXES, held_out
from zoo.tasks.segmentation.label_scan import MaskScan
from zoo.tasks.segmentation.labels import LabelEncoding, Palette
from zoo.tasks.segmentation.layout import folder_class_names, folder_pairs
from zoo.tasks.segmentation.masks import LOSSY_MASK_SUFFIXES, MASK_SUFFIXES, describe_mode


def _segmentation_split(
    folder: Path, report: DataReport, scan: MaskScan, *, channels: int, resize_masks: bool, held_out: set[str] | None
) -> int:
    """Scans one ``images/`` + ``masks/`` folder; masks go to ``scan`` under the split they train in
    (``held_out``: the mask paths of a seeded validation split; None: the folder's own name)."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        report.add(
            f"{folder} has no images/ and masks/ subfolders",
            "lay the data out as DIR/images/<stem>.png|jpg and DIR/masks/<stem>.png (or DIR/train, DIR/val)",
        )
        return 0
    prefix = f"{folder.name}/" if folder.name in ("train", "val") else ""
    nested_files(images_dir, report, f"{prefix}images/")
    nested_files(masks_dir, report, f"{prefix}masks/")
    images = unsupported_files(sorted(p for p in images_dir.iterdir() if p.is_file()), IMAGE_SUFFIXES, report, "image")
    masks = unsupported_files(
        sorted(p for p in masks_dir.iterdir() if p.is_file()),
        MASK_SUFFIXES,
        report,
        "mask (masks are PNG, or JPEG read with care)",
    )
    by_stem = defaultdict(list)
    for path in images:
        by_stem[path.stem].append(path)
    for paths in by_stem.values():
        if len(paths) > 1:
            report.add(
                "duplicate image stems (two images for one mask)",
                "keep one file per stem",
                ", ".join(f"{prefix}images/{p.name}" for p in paths),
            )
    mask_by_stem = {}
    for path in masks:
        if path.stem in mask_by_stem:
            report.add(
                "duplicate mask stems (two masks for one image)",
                "keep one mask per stem",
                f"{prefix}masks/{mask_by_stem[path.stem].name}, {prefix}masks/{path.name}",
            )
        mask_by_stem.setdefault(path.stem, path)
    for stem in sorted(set(mask_by_stem) - set(by_stem)):
        report.add(
            "mask without an image", "add the image or remove the mask", f"{prefix}masks/{mask_by_stem[stem].name}"
        )
    pairs = 0
    for stem, paths in sorted(by_stem.items()):
        image_name = f"{prefix}images/{paths[0].name}"
        if stem not in mask_by_stem:
            report.add("image without a mask", "add masks/<stem>.png or move the image out", image_name)
            continue
        pairs += 1
        image = open_image(paths[0], report, image_name)
        mask_path = mask_by_stem[stem]
        mask_name = f"{prefix}masks/{mask_path.name}"
        mask = open_image(mask_path, report, mask_name)
        if image is not None:
            check_channels(image, channels, report, image_name)
        if mask is None:
            continue
        split = folder.name if held_out is None else ("val" if str(mask_path) in held_out else "train")
        why = scan.add(mask, mask_name, split, mask_path.suffix.lower() in LOSSY_MASK_SUFFIXES)
        if why is not None:
            report.add(
                f"masks that cannot be read as class indices ({describe_mode(mask.mode)})",
                f"save masks as single-channel PNGs of class indices, or colours with --palette: {why}",
                mask_name,
            )
            continue
        if image is not None and image.size != mask.size:
            if resize_masks:
                report.add(
                    "masks of another size than their image are resized to it (nearest neighbour)",
                    "nothing to do (--resize-masks)",
                    mask_name,
                    error=False,
                )
            else:
                report.add(
                    "image and mask differ in size",
                    "fix the pairs, or pass --resize-masks to resize each mask to its image",
                    f"{image_name} {image.size[0]}x{image.size[1]} vs mask {mask.size[0]}x{mask.size[1]}",
                )
    return pairs


def check_segmentation_folder(
    path: str,
    *,
    channels: int,
    num_classes: int | None,
    ignore_index: int = 255,
    binary_masks: bool = False,
    resize_masks: bool = False,
    val_fraction: float | None = None,
    seed: int = 0,
    reduce_zero_label: bool = False,
    palette: Palette | None = None,
    tolerance: int = 0,
) -> DataReport:
    """Scans ``DIR/images`` + ``DIR/masks`` (or ``DIR/train`` and ``DIR/val``) for every problem, and says
    how the masks are stored, how they are read and each class's share (``zoo.tasks.segmentation.label_scan``).

    Args:
        path: the dataset folder.
        channels: the model's input channels (1, 3 or 4).
        num_classes: C (None with ``binary_masks`` or a ``palette``, or with ``classes.txt``).
        ignore_index: the mask value left out of loss and metrics.
        binary_masks: masks are 0/1 or 0/255 (>= 128 is the object).
        resize_masks: a mask of another size is resized to its image (else an error).
        val_fraction, seed: for a folder without train/val, the held-out fraction (checked for size) and the
            seed that picks it (so the class shares are the run's splits).
        reduce_zero_label, palette, tolerance: how mask values become classes (``zoo.tasks.segmentation.labels``).

    Returns:
        The report (``raise_if_errors()`` to stop on errors).
    """
    folder = Path(path).expanduser()
    report = DataReport(f"folder:{folder}")
    if not folder.is_dir():
        report.add("the dataset folder does not exist", "check the path after folder:", str(folder))
        return report
    unknown_classes = None
    try:
        names = folder_class_names(folder, num_classes, binary_masks, palette.names if palette else None)
    except ValueError as err:
        unknown_classes = str(err)
        names = [f"class{i}" for i in range(256)]
    try:
        encoding = LabelEncoding(
            len(names),
            ignore_index,
            binary=binary_masks,
            reduce_zero_label=reduce_zero_label,
            palette=palette,
            tolerance=tolerance,
        )
    except ValueError as err:
        report.add(f"the label flags do not go together: {err}", "")
        return report
    scan = MaskScan(encoding, names, known=unknown_classes is None)
    options = dict(channels=channels, resize_masks=resize_masks)
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        counts = {
            split: _segmentation_split(folder / split, report, scan, held_out=None, **options)
            for split in ("train", "val")
        }
        for split, count in counts.items():
            if count == 0:
                report.add(f"the {split} split has no image/mask pairs", f"add pairs to {folder / split}")
        report.examined = sum(counts.values())
    else:
        held = set()
        try:
            pairs = folder_pairs(folder)
            held = {pairs[i][1] for i in held_out(len(pairs), val_fraction or 0.1, seed)[1]}
        except ValueError:
            pass  # no pairs, or a fraction that leaves nothing: reported below
        report.examined = _segmentation_split(folder, report, scan, held_out=held, **options)
        if report.examined == 0:
            report.add("the dataset is empty (no image/mask pairs)", "add images/<stem> and masks/<stem>.png pairs")
        elif val_fraction is not None and report.examined - max(1, round(report.examined * val_fraction)) < 1:
            report.add(
                f"a validation split of {val_fraction} leaves no training pairs out of {report.examined}",
                "add data or lower --val-fraction",
            )
    scan.report(report)
    if unknown_classes is not None and not scan.explains_classes:
        report.add("the classes are not known", unknown_classes)
    return report

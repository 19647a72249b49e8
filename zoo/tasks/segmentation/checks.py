"""The ``check`` scan of a segmentation folder: every problem of its images and masks at once, and how the
masks are stored and read (``zoo.tasks.segmentation.label_scan``); the report is ``zoo.data.checks``'."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from zoo.data.checks import DataReport, check_channels, nested_files, open_image, unsupported_files
from zoo.data.layout import IMAGE_SUFFIXES, held_out
from zoo.tasks.segmentation.label_scan import MaskScan
from zoo.tasks.segmentation.labels import LabelEncoding, Palette, check_class_count
from zoo.tasks.segmentation.layout import folder_class_names, folder_pairs
from zoo.tasks.segmentation.masks import LOSSY_MASK_SUFFIXES, MASK_SUFFIXES, describe_mode


def scan_pair(
    report: DataReport, scan: MaskScan, image: tuple, mask: tuple, split: str, *, channels: int, resize_masks: bool
) -> None:
    """Checks one pair: ``image`` = (path, name in the report), ``mask`` = (opened Pillow mask or None when it
    could not be opened, its name, stored lossily); the mask goes to ``scan`` under ``split``."""
    image_path, image_name = image
    mask, mask_name, lossy = mask
    opened = open_image(image_path, report, image_name)
    if opened is not None:
        check_channels(opened, channels, report, image_name)
    if mask is None:
        return
    why = scan.add(mask, mask_name, split, lossy)
    if why is not None:
        report.add(
            f"masks that cannot be read as class indices ({describe_mode(mask.mode)})",
            f"save masks as single-channel PNGs of class indices, or colours with --palette: {why}",
            mask_name,
        )
        return
    if opened is not None and opened.size != mask.size:
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
                f"{image_name} {opened.size[0]}x{opened.size[1]} vs mask {mask.size[0]}x{mask.size[1]}",
            )


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
        mask_path = mask_by_stem[stem]
        split = folder.name if held_out is None else ("val" if str(mask_path) in held_out else "train")
        mask = open_image(mask_path, report, f"{prefix}masks/{mask_path.name}")
        scan_pair(
            report,
            scan,
            (paths[0], image_name),
            (mask, f"{prefix}masks/{mask_path.name}", mask_path.suffix.lower() in LOSSY_MASK_SUFFIXES),
            split,
            channels=channels,
            resize_masks=resize_masks,
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
    labels: tuple | None = None,
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
        labels: (class names, ``LabelEncoding``, colours) of a preset, instead of the flags above.

    Returns:
        The report (``raise_if_errors()`` to stop on errors).
    """
    folder = Path(path).expanduser()
    report = DataReport(f"folder:{folder}")
    if not folder.is_dir():
        report.add("the dataset folder does not exist", "check the path after folder:", str(folder))
        return report
    unknown_classes = None
    if labels is not None:
        names, encoding, _ = labels
    else:
        try:
            names = folder_class_names(folder, num_classes, binary_masks, palette.names if palette else None)
        except ValueError as err:
            names = [f"class{i}" for i in range(256)]
            if (folder / "classes.txt").is_file() or palette is not None:  # they and the flags disagree: said as is
                report.add(str(err), "")
                unknown_classes = ""
            else:
                unknown_classes = str(err)
        if unknown_classes is None:
            try:
                origin = f"{folder / 'classes.txt'}" if (folder / "classes.txt").is_file() else "--num-classes"
                check_class_count(len(names), "--palette" if palette else origin)
            except ValueError as err:
                report.add(str(err), "")
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
    if unknown_classes and not scan.explains_classes:
        from zoo.tasks.segmentation.label_scan import class_count_advice

        advice = class_count_advice(scan.values, ignore_index) if scan.values else unknown_classes  # (no mask read)
        report.add("the classes are not known", advice)
    return report


def _short(path: str, parts: int = 2) -> str:
    return "/".join(Path(path).parts[-parts:])


def check_segmentation_layout(
    layout,
    encoding: LabelEncoding,
    names: list[str],
    *,
    channels: int,
    resize_masks: bool = False,
    unknown_classes: str | None = None,
) -> DataReport:
    """Scans a dataset as shipped (a ``zoo.tasks.segmentation.layouts.SegmentationLayout``) for every problem:
    what pairing found, every picture and mask read as training reads it (masks through ``encoding``), and
    each class's share of both splits. ``unknown_classes``: why the class count is not known (the scan then
    suggests one from the values seen)."""
    report = DataReport(layout.description)
    for what, fix, item in layout.problems:
        report.add(what, fix, item)
    for what, item in layout.notes:
        report.add(what, "nothing to do", item, error=False)
    scan = MaskScan(encoding, names, known=unknown_classes is None)
    for split, pairs in (("train", layout.train), ("val", layout.val)):
        if not pairs:
            report.add(f"the {split} split has no image/mask pairs", "check the layout and the split flags")
        for image, key in pairs:
            drawn = layout.opener is not None
            mask_name = f"{_short(image)} (mask drawn from its annotations)" if drawn else _short(key, 3)
            try:
                mask = layout.open_mask(key)
            except (OSError, ValueError, SyntaxError) as err:
                report.add(
                    "masks that cannot be read", "re-export the mask or fix its annotation", f"{mask_name}: {err}"
                )
                mask = None
            lossy = not drawn and key.lower().endswith(LOSSY_MASK_SUFFIXES)
            scan_pair(
                report,
                scan,
                (Path(image), _short(image, 3)),
                (mask, mask_name, lossy),
                split,
                channels=channels,
                resize_masks=resize_masks,
            )
    for drawer in layout.drawers:
        for why, count in sorted(drawer.skipped.items()):
            report.add(f"{count} {why} left out of the masks", "nothing to do", error=False)
    report.examined = len(layout.train) + len(layout.val)
    scan.report(report)
    if unknown_classes is not None and not scan.explains_classes:
        from zoo.tasks.segmentation.label_scan import class_count_advice

        report.add("the classes are not known", class_count_advice(scan.values, encoding.ignore_index))
    return report

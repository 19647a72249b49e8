"""A segmentation folder: ``images/<stem>`` beside ``masks/<stem>.png`` and its class names (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

from zoo.data.layout import IMAGE_SUFFIXES
from zoo.tasks.segmentation.masks import MASK_SUFFIXES


def folder_class_names(
    folder: Path, num_classes: int | None, binary_masks: bool, palette_names: tuple[str, ...] | None = None
) -> list[str]:
    """Class names of a folder dataset: a ``--palette``'s names, else ``classes.txt`` (one per line,
    class 0 first) if present, else ``background``/``object`` for binary masks, else ``class0..class{C-1}``.

    Raises ValueError when the count is unknown or ``classes.txt`` / the palette disagrees with the flags.
    """
    folder = Path(folder)
    expected = 2 if binary_masks else num_classes
    listed = folder / "classes.txt"
    if palette_names is not None:
        if expected is not None and len(palette_names) != expected:
            raise ValueError(
                f"--palette names {len(palette_names)} classes but --num-classes is {num_classes}; "
                "drop --num-classes (the palette decides)"
            )
        if listed.is_file():
            names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
            if len(names) != len(palette_names):
                raise ValueError(
                    f"{listed} names {len(names)} classes but --palette {len(palette_names)}; make "
                    "them agree or remove classes.txt (the palette's names are used)"
                )
        return list(palette_names)
    if listed.is_file():
        names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        if expected is not None and len(names) != expected:
            flag = "--binary-masks means 2" if binary_masks else f"--num-classes is {num_classes}"
            raise ValueError(
                f"{listed} names {len(names)} classes but {flag}; make them agree (or drop the flag "
                "and let classes.txt decide)"
            )
        return names
    if binary_masks:
        return ["background", "object"]
    if num_classes is None:
        raise ValueError(
            f"folder:{folder}: pass --num-classes, add classes.txt (one name per line) or use "
            "--binary-masks for 0/255 masks"
        )
    return [f"class{i}" for i in range(num_classes)]


def folder_pairs(folder: Path) -> list[tuple[str, str]]:
    """(image, mask) paths of ``folder/images`` and ``folder/masks`` with the same stem, in image name
    order (the order the seeded split of ``held_out`` indexes). Raises ValueError when there are none."""
    folder = Path(folder)
    images_dir, masks_dir = folder / "images", folder / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise ValueError(f"{folder} needs images/ and masks/ subfolders (or train/ and val/ holding them)")
    masks = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in MASK_SUFFIXES and p.is_file()}
    pairs = []
    for image in sorted(images_dir.iterdir()):
        if image.is_file() and image.suffix.lower() in IMAGE_SUFFIXES and image.stem in masks:
            pairs.append((str(image), str(masks[image.stem])))
    if not pairs:
        raise ValueError(f"{folder}: no image in images/ has a mask of the same stem in masks/")
    return pairs

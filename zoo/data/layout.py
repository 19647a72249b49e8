"""Folder dataset conventions shared by the loaders and the checks (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

# Image files the folder datasets read (TensorFlow's decoders read these; ``check`` and the loaders agree).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
# Image files ``python -m zoo predict`` reads (with Pillow, which also reads these further formats).
PREDICT_IMAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".gif", ".tif", ".tiff", ".webp")


def folder_class_names(folder: Path, num_classes: int | None, binary_masks: bool) -> list[str]:
    """Class names of a folder dataset: ``classes.txt`` (one per line, class 0 first) if present,
    else ``background``/``object`` for binary masks, else ``class0..class{C-1}``.

    Raises ValueError when the count is unknown or ``classes.txt`` disagrees with the flags.
    """
    folder = Path(folder)
    expected = 2 if binary_masks else num_classes
    listed = folder / "classes.txt"
    if listed.is_file():
        names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        if expected is not None and len(names) != expected:
            flag = "--binary-masks means 2" if binary_masks else f"--num-classes is {num_classes}"
            raise ValueError(f"{listed} names {len(names)} classes but {flag}; make them agree (or drop the flag "
                             "and let classes.txt decide)")
        return names
    if binary_masks:
        return ["background", "object"]
    if num_classes is None:
        raise ValueError(f"folder:{folder}: pass --num-classes, add classes.txt (one name per line) or use "
                         "--binary-masks for 0/255 masks")
    return [f"class{i}" for i in range(num_classes)]

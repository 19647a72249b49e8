"""``python -m zoo predict``: run any export on image files and folders, write the results.

What is written per image is the task's (``zoo.tasks``: segmentation writes
``<name>_mask.png`` and ``<name>_overlay.png``; keypoints ``<name>_keypoints.png`` and
one ``keypoints.json`` in COCO's results format). Every task writes
``predictions.json`` with a line per image and the files that were skipped and why.

Images are read with Pillow as the training pipeline reads them (TensorFlow's
decoders): the stored pixel grid, EXIF orientation not applied, converted to the
export's channel count (gray repeated, alpha dropped, colour to gray). ``batch_size``
files are read at a time and passed to the model in groups of equal size (one size
per call) holding at most ``max_pixels`` pixels, so memory stays bounded on large
folders and large photos. A file that cannot be read, run or written is reported and
skipped; the others are still written, and the reports are written in any case.
Files inside ``out`` are not read (a second run does not predict on its own outputs).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.data.channels import read_image  # noqa: F401 - predict's reader, also zoo.predict.read_image
from zoo.data.layout import PREDICT_IMAGE_SUFFIXES as IMAGE_SUFFIXES


@dataclass
class PredictSummary:
    """What ``predict_files`` did: written images and skipped files (path -> reason)."""

    written: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    out: Path | None = None


def collect_images(inputs: list[str | os.PathLike], exclude: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Image files under ``inputs`` (files, or folders searched recursively, sorted), leaving
    out anything inside the folder ``exclude``.

    Returns (path, output stem) pairs; the stem keeps a folder's sub-folders and is made
    unique (ignoring case, for case-insensitive file systems) when two inputs hold the same
    name. Raises FileNotFoundError for a missing input.
    """
    found: list[tuple[Path, str]] = []
    taken: set[str] = set()
    excluded = Path(exclude).resolve() if exclude else None
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            files = sorted(
                p
                for p in item.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
                and not (excluded and excluded in p.resolve().parents)
            )
            stems = [str(p.relative_to(item).with_suffix("")) for p in files]
        elif item.is_file():
            files, stems = [item], [item.stem]
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
        for path, stem in zip(files, stems):
            unique, n = stem, 2
            while unique.casefold() in taken:
                unique, n = f"{stem}_{n}", n + 1
            taken.add(unique.casefold())
            found.append((path, unique))
    return found


def check_out(out: Path, inputs: list[str | os.PathLike]) -> None:
    """Refuses an ``--out`` that is a file, or that is an input folder or holds one (its files would be
    left out of the inputs, as a folder's own outputs are). A folder inside an input folder is fine."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the results")
    resolved = out.resolve()
    for item in inputs:
        item = Path(item)
        if item.is_dir() and (resolved == item.resolve() or resolved in item.resolve().parents):
            raise ValueError(
                f"--out {out} {'is' if resolved == item.resolve() else 'holds'} the input folder "
                f"{item}: the results would be mixed with the images. Choose another folder (one "
                "inside the input folder is fine: it is left out of the inputs)"
            )


class ProgressLines:
    """``predict``'s progress where stderr is not a terminal (a log file, a pipe): a line every ``every``
    seconds and one at the end, ``predict: 120/5000 images, 35 s``, in place of tqdm's bar (same
    ``update`` / ``close``)."""

    def __init__(self, total: int, every: float = 10.0):
        import time

        self.total, self.every, self.done = total, every, 0
        self.clock = time.monotonic
        self.started = self.last = self.clock()

    def update(self, count: int = 1) -> None:
        self.done += count
        if self.clock() - self.last >= self.every:
            self.last = self.clock()
            self._line()

    def _line(self) -> None:
        print(
            f"predict: {self.done}/{self.total} images, {self.clock() - self.started:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.total > 1:
            self._line()


def _calls(group: list, max_pixels: int) -> list[list]:
    """Splits same-size images into calls of at most ``max_pixels`` pixels (one image at least)."""
    per_image = group[0][2].shape[0] * group[0][2].shape[1]
    size = max(1, max_pixels // max(per_image, 1))
    return [group[i : i + size] for i in range(0, len(group), size)]


def predict_files(
    export: str | os.PathLike,
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    batch_size: int = 8,
    min_score: float = 0.1,
    progress: bool | None = None,
    max_pixels: int = 8_000_000,
    scale: str | None = None,
    tile: int | None = None,
    overlap: float = 0.25,
    tta: str | None = None,
    save_probabilities: str | None = None,
    boxes: str | os.PathLike | None = None,
    box_category: str | None = None,
    min_box_score: float = 0.0,
    annotations: str | os.PathLike | None = None,
) -> PredictSummary:
    """Runs an export on image files/folders and writes the results to ``out`` (see module doc).

    Args:
        export: an export folder (or its model file) with ``model.json``.
        inputs: image files and folders.
        out: output folder (created).
        batch_size: files read at a time.
        min_score: keypoints scored below this are drawn hollow.
        progress: show a progress bar (default: when stderr is a terminal).
        max_pixels: pixels per model call (images of one size are stacked up to this).
        scale, tile, overlap, tta: as ``zoo.export.runtime.Predictor`` (segmentation: ``"native"``
            runs each picture at its own scale in blended tiles; ``tta``: ``zoo.data.tta`` modes, e.g.
            ``"flip+scales:0.75,1,1.25"``).
        save_probabilities: also write ``<stem>_probabilities.npy`` (segmentation) in this
            format (``zoo.data.tiling.PROBABILITY_FORMATS``); None: not written.
        boxes: keypoints: a JSON file of boxes (``zoo.tasks.keypoints.boxes.read_boxes``: COCO detection results or a COCO
            annotation file); each box of a picture is one object (``Predictor.predict_boxes``), written
            back in the picture's pixels. Without it a box-trained export (``region`` ``box`` in
            ``model.json``) answers whole pictures, which it was not trained on: a warning says so.
        box_category, min_box_score: keep only the boxes of this category (name or id) and score; a boxes file
            that names none of the pictures is an error.
        annotations: a COCO annotation file whose ``images`` give detection results' ``image_id`` their file names.

    Returns:
        A ``PredictSummary``. Raises FileNotFoundError / ValueError for a bad export or
        input path, or when no image files are found.
    """
    from tqdm import tqdm

    from zoo.data.tta import parse_tta
    from zoo.export.runtime import load
    from zoo.tasks.base import PredictOptions

    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    tta = parse_tta(tta)  # a bad mode is refused before any file is read
    out = Path(out)
    check_out(out, inputs)
    files = collect_images(inputs, exclude=out)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {[str(i) for i in inputs]}")
    predictor = load(export)
    info, task = predictor.info, predictor.info.spec
    asked = PredictOptions(
        min_score=min_score,
        scale=scale,
        tile=tile,
        overlap=overlap,
        tta=tta,
        save_probabilities=save_probabilities,
        boxes=boxes,
        box_category=box_category,
        min_box_score=min_box_score,
        annotations=annotations,
    )
    try:  # what does not apply to the export's task is refused, naming the flag
        # the export's info lets a task check values against it (a tile's overlap); tasks written before take options alone
        takes_info = "info" in inspect.signature(task.call_options).parameters
        options = task.call_options(asked, info=info) if takes_info else task.call_options(asked)
        box_file = task.read_boxes(asked) if boxes is not None else None
        if box_file is not None:
            from zoo.tasks.keypoints.boxes import check_boxes_match

            check_boxes_match(box_file, files, str(boxes))
    except ValueError as err:
        raise ValueError(f"{export}: {err}") from None
    warning = task.predict_warning(info, asked)
    if warning:
        warning = f"{export}: {warning}"
        print(f"warning: {warning}", file=sys.stderr)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"--out {out}: cannot create it ({err.strerror or err}); choose a folder you can write to"
        ) from None
    summary = PredictSummary(out=out)
    writer = task.prediction_writer(info, out, asked)
    entries = []

    def write(path: Path, stem: str, image: np.ndarray, outputs: dict, i: int) -> None:
        entry = {"file": str(path), "height": image.shape[0], "width": image.shape[1]}
        entry.update(writer.write(path, stem, image, outputs, i))
        entries.append(entry)
        summary.written.append(str(path))

    from zoo.utils.startup import stderr_is_terminal

    terminal = stderr_is_terminal()  # behind the command line's stderr filter, descriptor 2 is a pipe
    bar = tqdm(total=len(files), unit="image", disable=not (terminal if progress is None else progress))
    if progress is None and not terminal:  # a log, not a terminal: a line now and then instead of a bar
        bar = ProgressLines(len(files))
    try:
        for path, stem in files if box_file is not None else []:  # one picture at a time, one call per box
            try:
                image = read_image(path, info.channels)
                image_id, picture_boxes, box_scores = box_file.lookup(path, stem)
                outputs = predictor.predict_boxes(image, picture_boxes, tta=tta)
                entry = {"file": str(path), "height": image.shape[0], "width": image.shape[1]}
                entry.update(writer.write_objects(path, stem, image, outputs, picture_boxes, box_scores, image_id))
                entries.append(entry)
                summary.written.append(str(path))
            except (ValueError, OSError) as err:
                summary.skipped[str(path)] = str(err)
            bar.update(1)
        for start in range(0, len(files) if box_file is None else 0, batch_size):
            loaded = []
            for path, stem in files[start : start + batch_size]:
                try:
                    loaded.append((path, stem, read_image(path, info.channels)))
                except ValueError as err:
                    summary.skipped[str(path)] = str(err)
                    bar.update(1)
            groups: dict[tuple, list] = {}
            for item in loaded:
                groups.setdefault(item[2].shape, []).append(item)
            for call in (c for group in groups.values() for c in _calls(group, max_pixels)):
                try:
                    outputs = predictor(np.stack([image for _, _, image in call]), **options)
                except Exception as err:  # a runtime's failure on these inputs: report, go on with the rest
                    for path, _, _ in call:
                        summary.skipped[str(path)] = f"the model failed on it: {type(err).__name__}: {err}"
                    bar.update(len(call))
                    continue
                for i, (path, stem, image) in enumerate(call):
                    try:
                        write(path, stem, image, outputs, i)
                    except OSError as err:
                        summary.skipped[str(path)] = f"its results could not be written: {err}"
                    bar.update(1)
    finally:  # the reports describe whatever was done, also after an interruption
        bar.close()
        report = {
            "export": str(predictor.path),
            "format": info.format,
            **({"quantize": info.quantize} if info.quantize else {}),
            "task": info.task,
            "images": entries,
            "skipped": summary.skipped,
        }
        if box_file is not None:
            report["boxes"] = str(boxes)
        if warning:
            report["warning"] = warning
        writer.finish(report)
        (out / "predictions.json").write_text(json.dumps(report, indent=1) + "\n")
    return summary

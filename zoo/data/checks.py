"""Dataset checks: scan a folder dataset and report every problem at once, before training.

``python -m recipes.segment check ...`` / ``python -m recipes.pose check ...`` print the
report; training runs the same scan on folder datasets before its first step and stops
with the report if it found an error. Each finding names the files (the first few and a
count), what is wrong and how to fix it. Notes (conversions the pipeline makes, such as
grayscale to RGB) are reported but do not stop training.

Files are opened with Pillow and fully decoded, so truncated files are caught; the cost
is one read of the dataset (about 1-2 ms per small PNG pair here).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

SHOWN = 5  # file names listed per finding


class DatasetError(ValueError):
    """A dataset has problems that stop training; the message is the whole report."""


@dataclasses.dataclass
class Finding:
    what: str
    fix: str
    error: bool
    files: list = dataclasses.field(default_factory=list)

    def line(self, show_all: bool = False) -> str:
        shown = len(self.files) if show_all else SHOWN
        names = ", ".join(str(f) for f in self.files[:shown])
        more = f" and {len(self.files) - shown} more (--show-all names them)" if len(self.files) > shown else ""
        head = "error" if self.error else "note"
        where = f" ({len(self.files)}): {names}{more}" if self.files else ""
        fix = f"\n        {'fix' if self.error else 'so'}: {self.fix}" if self.fix else ""
        return f"  {head}: {self.what}{where}{fix}"


class DataReport:
    """Findings grouped by what is wrong; ``examined`` counts the examples looked at."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.findings: dict[str, Finding] = {}
        self.examined = 0
        self.summary: list[str] = []  # what was found, e.g. how the masks are stored
        # notes on the classes (rare, absent from a split): printed by ``check``; training logs its own
        self.advice: list[Finding] = []

    def add(self, what: str, fix: str, file=None, *, error: bool = True) -> None:
        finding = self.findings.setdefault(what, Finding(what, fix, error))
        if file is not None:
            finding.files.append(file)

    def add_files(self, what: str, fix: str, files, *, error: bool = True) -> None:
        """``add`` for several files at once (none: the finding alone)."""
        finding = self.findings.setdefault(what, Finding(what, fix, error))
        finding.files.extend(files)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings.values() if f.error]

    def text(self, show_all: bool = False) -> str:
        """The report: a head line, what was found, the errors, then the notes (``show_all``: every file)."""
        errors, notes = self.errors, [f for f in self.findings.values() if not f.error]
        head = (
            f"{self.dataset}: {len(errors)} problem(s) found in {self.examined} example(s)"
            if errors
            else f"{self.dataset}: no problems found in {self.examined} example(s)"
        )
        return "\n".join(
            [
                head,
                *(f"  found: {line}" for line in self.summary),
                *(f.line(show_all) for f in errors),
                *(f.line(show_all) for f in notes + self.advice),
            ]
        )

    def raise_if_errors(self) -> None:
        if self.errors:
            raise DatasetError(self.text() + "\n(see all problems at once with the recipe's `check` command)")


def loaded_source_report(source) -> DataReport:
    """For sources that are not scanned file by file (TFDS, synthetic): they loaded, and
    both splits have examples. ``source`` has ``description``, ``num_train``, ``num_val``."""
    report = DataReport(source.description)
    report.examined = source.num_train + source.num_val
    for split, count in (("training", source.num_train), ("validation", source.num_val)):
        if count == 0:
            report.add(f"the {split} split is empty", "choose another split (--train-split/--val-split)")
    return report


def dataset_report(dataset, scan_folder, load) -> DataReport:
    """Every problem of a ``--dataset`` (a ``zoo.data.spec.DatasetSpec``) at once: for data on disk
    (``folder:PATH`` and the shipped layouts), ``scan_folder(PATH)`` (a full file scan) and then, if it found no error, ``load(False)`` (the loading
    training does, without a second scan), so settings that loading refuses are reported too; for TFDS and
    synthetic sets, that ``load(True)`` loads and both splits have examples."""
    if dataset.on_disk:
        report = scan_folder(dataset.value)
        if not report.errors:
            add_load_errors(report, lambda: load(False))
        return report
    return loaded_source_report(load(True))


def add_load_errors(report: DataReport, load) -> None:
    """Calls ``load()`` (the loading training does) and adds the ``ValueError`` it raises, if any, to
    ``report`` as an error: ``check`` then refuses exactly what training refuses."""
    try:
        load()
    except ValueError as err:
        report.add(f"training refuses these settings: {err}", "")


def stop_on_errors(report: DataReport, log) -> list[str]:
    """Before training: raises ``DatasetError`` with the whole report if it has errors,
    else logs one line per note (conversions the pipeline makes) and returns the notes (for the run's
    data summary in ``config.json``)."""
    report.raise_if_errors()
    notes = []
    for finding in report.findings.values():
        notes.append(finding.what + (f" ({len(finding.files)})" if finding.files else ""))
        log(f"data note: {notes[-1]}")
    return notes


_BANDS = {
    "1": 1,
    "L": 1,
    "I": 1,
    "I;16": 1,
    "I;16B": 1,
    "F": 1,
    "LA": 2,
    "La": 2,
    "P": 3,
    "PA": 4,
    "RGB": 3,
    "RGBA": 4,
    "RGBa": 4,
    "RGBX": 4,
}


def open_image(path: Path, report: DataReport, name: str):
    """The decoded Pillow image of ``path``, or None after reporting why it cannot be used."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        report.add("file listed in the annotations does not exist", "add the file or remove its annotation", name)
        return None
    if path.stat().st_size == 0:
        report.add("zero-byte file", "re-copy the file or remove it", name)
        return None
    try:
        image = Image.open(path)
        image.load()  # decodes everything: a truncated file fails here
        return image
    except Image.DecompressionBombError as err:
        report.add(
            f"images larger than Pillow's safety limit of {Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f} megapixels "
            "(it refuses them as possible decompression bombs)",
            "downscale the image or cut it into tiles (each tile an image with its own mask)",
            f"{name} ({err})",
        )
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        kind = "truncated file" if "truncated" in str(err).lower() else "unreadable image file"
        report.add(kind, "re-export or re-copy the file, or remove it", name)
        return None


def check_channels(image, channels: int, report: DataReport, name: str) -> bool:
    """Reports how an image's bands meet the model's ``channels``; False if refused."""
    mode = image.mode
    have = _BANDS.get(mode)
    if have is None or mode == "CMYK":
        report.add(
            f"images in colour mode {mode!r} cannot be read as {channels}-channel input",
            "convert them to RGB or grayscale PNG/JPEG",
            name,
        )
        return False
    if have == channels:
        return True
    if channels == 3 and have in (1, 2, 4):
        what = {
            1: "grayscale images are repeated into 3 channels",
            2: "gray+alpha images: the alpha is dropped and the gray repeated into 3 channels",
            4: "RGBA images: the alpha channel is dropped",
        }[have]
        report.add(what, "nothing to do; the pipeline converts them", name, error=False)
        return True
    if channels == 1 and have in (2, 3, 4):
        report.add(
            f"{have}-channel images are converted to grayscale for the 1-channel model",
            "nothing to do, or build the model with --channels 3 to use the colour",
            name,
            error=False,
        )
        return True
    report.add(
        f"{have}-channel images cannot fill the model's {channels} input channels",
        f"build the model for them (--channels {have}) or convert the images",
        name,
    )
    return False


def unsupported_files(files, allowed, report: DataReport, what: str) -> list[Path]:
    kept = []
    for path in files:
        if path.name.startswith("."):
            continue
        if path.suffix.lower() in allowed:
            kept.append(path)
        else:
            report.add(
                f"{what} in an unsupported format ({path.suffix or 'no suffix'})",
                f"convert to {'/'.join(s.lstrip('.') for s in allowed)} or move the file out",
                path.name,
            )
    return kept


def nested_files(folder: Path, report: DataReport, shown: str) -> None:
    """Reports files in sub-folders of ``folder``: the loaders read only the files directly in it."""
    nested = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.parent != folder and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for path in nested:
        report.add(
            f"files in sub-folders of {shown.rstrip('/').split('/')[-1]}/ (only the files directly in it are read)",
            "move them up into the folder itself (or point folder: at the sub-folder, laid out the same way)",
            f"{shown}{path.relative_to(folder).as_posix()}",
        )

"""What ``check`` finds in a folder's masks: how they are stored, what values or colours they hold, each
class's share, and for each way the labels cannot be read as given, the flag that reads them.

``MaskScan.add`` reads one opened mask the way training will (``zoo.tasks.segmentation.labels.LabelEncoding``) and
keeps counts; ``MaskScan.report`` adds the findings to a ``zoo.data.checks.DataReport`` once every mask
is read (most cases, such as 0/255 masks or labels 1..C, are only clear over the whole set).
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from zoo.tasks.segmentation.labels import (
    MAX_CLASSES,
    MAX_LABEL,
    UNKNOWN,
    ClassCounter,
    LabelEncoding,
    _pack,
    colour_pixels,
    statistics_lines,
    statistics_warnings,
    unpack,
    voc_colormap,
)
from zoo.tasks.segmentation.masks import BINARY_THRESHOLD, MaskFormatError, binary_kind, describe_mode, mask_values

STRAY_VALUES = 10  # this many distinct values (or colours) beyond the expected ones look like JPEG damage
MAIN_SHARE = 0.001  # in damaged masks, a value or colour on at least this share of the pixels may be a class's
PEAK_RADIUS = 24  # in damaged masks, values or colours this close to a more frequent one are its damage
SHOWN_COLOURS = 8


def _shares(counts: Counter, limit: int = SHOWN_COLOURS, bands: int = 1) -> str:
    total = sum(counts.values()) or 1

    def name(key):
        return str(list(unpack(key, bands))) if bands == 3 else str(key)

    shown = [f"{name(k)} {100 * n / total:.1f}%" for k, n in counts.most_common(limit)]
    more = f" and {len(counts) - limit} more" if len(counts) > limit else ""
    return ", ".join(shown) + more


def _main_keys(counts: Counter, bands: int = 1) -> list[int]:
    """The values (or colours) a class may be drawn in, by pixel count: when there are few, all of them; when
    JPEG damage added many near ones (``STRAY_VALUES`` or more under ``MAIN_SHARE`` of the pixels), the
    local peaks: those on at least ``MAIN_SHARE`` of the pixels with no more frequent one within
    ``PEAK_RADIUS`` (the largest channel difference)."""
    total = sum(counts.values()) or 1
    if sum(1 for n in counts.values() if n / total < MAIN_SHARE) < STRAY_VALUES:
        return [k for k, _ in counts.most_common()]
    peaks: list[int] = []
    for key, n in counts.most_common():
        if n / total < MAIN_SHARE:
            break
        colour = np.array(unpack(key, bands))
        if all(np.abs(colour - np.array(unpack(p, bands))).max() > PEAK_RADIUS for p in peaks):
            peaks.append(key)
    return peaks


def damaged(counts: Counter) -> bool:
    """Many values (or colours) on few pixels each: JPEG damage or anti-aliased edges."""
    total = sum(counts.values()) or 1
    return sum(1 for n in counts.values() if n / total < MAIN_SHARE) >= STRAY_VALUES


def starter_palette(counts: Counter, bands: int) -> dict:
    """A ``--palette`` JSON to start from: the main colours, black first, then by pixel count (gray levels: in
    increasing order);
    names ``class0``.. for the user to replace."""
    keys = _main_keys(counts, bands)
    keys.sort(key=lambda k: (k != 0, -counts[k]) if bands == 3 else k)
    return {f"class{i}": (list(unpack(k)) if bands == 3 else int(k)) for i, k in enumerate(keys)}


def _listed(values, shown: int = 8) -> str:
    values = sorted(values)
    return ", ".join(str(v) for v in values[:shown]) + (
        f" and {len(values) - shown} more" if len(values) > shown else ""
    )


def _too_large(values) -> str:
    """The advice for stored values above ``MAX_LABEL`` (16-bit masks): no flag reads them."""
    big = [v for v in values if v > MAX_LABEL]
    return (
        f"values above {MAX_LABEL} ({_listed(big)}) can be neither a class nor the ignore index (labels are one byte "
        f"per pixel: at most {MAX_CLASSES} classes, 0..{MAX_CLASSES - 1}, and an ignore index up to {MAX_LABEL}): "
        f"save the masks with class indices 0..{MAX_CLASSES - 1} and {MAX_LABEL} for void pixels"
    )


def value_advice(values: Counter, extra: list[int], num_classes: int) -> str:
    """What to pass when masks hold values ``extra`` (all >= ``num_classes``) beyond the classes: with 0 among
    the values, ``--ignore-index V`` (one value beyond the classes, usually void) or ``--num-classes M + 1``,
    never ``--reduce-zero-label`` (that would ignore class 0 and shift every class); without 0 and values
    1..C, ``--reduce-zero-label``. Only settings training accepts are named (at most ``MAX_CLASSES`` classes,
    an ignore index up to ``MAX_LABEL``); values beyond those: how to save the masks instead."""
    total = sum(values.values()) or 1
    top = max(extra)
    if top > MAX_LABEL:
        return _too_large(extra)
    if 0 not in values and extra == [num_classes]:
        more = f"; otherwise --num-classes {num_classes + 1}" if num_classes + 1 <= MAX_CLASSES else ""
        return (
            f"the masks hold 1..{num_classes} and no 0: pass --reduce-zero-label (1..{num_classes} become classes "
            f"0..{num_classes - 1}){more}"
        )
    if len(extra) == 1:
        share = 100 * values[top] / total
        as_class = (
            f"if it is a class, --num-classes {top + 1}"
            if top + 1 <= MAX_CLASSES
            else f"it cannot be a class (at most {MAX_CLASSES} classes, 0..{MAX_CLASSES - 1})"
        )
        return (
            f"value {top} is on {share:.1f}% of the pixels: if it marks void or unlabelled pixels, pass --ignore-index "
            f"{top}; {as_class}"
        )
    if top + 1 > MAX_CLASSES:
        return (
            f"if {top} marks void pixels, pass --num-classes {top} --ignore-index {top}; the values up to {top} cannot "
            f"all be classes (at most {MAX_CLASSES} classes, 0..{MAX_CLASSES - 1})"
        )
    return (
        f"if the values up to {top} are classes, pass --num-classes {top + 1}; if {top} alone marks void pixels, "
        f"--num-classes {top} --ignore-index {top}"
    )


def class_count_advice(values: Counter, ignore_index: int) -> str:
    """The class count suggested by the values seen (``check`` without ``--num-classes``), one line; it names
    only settings training accepts (``value_advice``)."""
    seen = sorted(v for v in values if v != ignore_index)
    if not seen:
        return "the masks hold no value but the ignore index; check the masks"
    top = seen[-1]
    shown = ", ".join(str(v) for v in seen[:12]) + (" ..." if len(seen) > 12 else "")
    if top > MAX_LABEL:
        return f"the masks hold {len(seen)} values ({shown}): {_too_large(seen)}"
    share = 100 * values[top] / (sum(values.values()) or 1)
    if top + 1 > MAX_CLASSES:  # 0..255 with another ignore index: 255 can only be void
        return (
            f"the masks hold {len(seen)} values ({shown}): at most {MAX_CLASSES} classes fit; if {top} "
            f"({share:.1f}% of the pixels) marks void, pass --num-classes {top} --ignore-index {top}"
        )
    line = f"the masks hold {len(seen)} values ({shown}): pass --num-classes {top + 1}"
    if 0 not in values and seen[0] == 1:
        line += f", or --num-classes {top} --reduce-zero-label if 0 marks unlabelled pixels"
    elif len(seen) > 2:
        line += f", or --num-classes {top} --ignore-index {top} if {top} ({share:.1f}% of the pixels) marks void"
    if len(seen) < top + 1 and len(seen) > 2:
        line += f" ({top + 1 - len(seen)} of the values 0..{top} never occur)"
    return line + "; or write classes.txt (one name per line) or pick a --preset"


class MaskScan:
    """Counts over the masks of a folder, read as ``encoding`` says (class count and ignore index in it)."""

    def __init__(self, encoding: LabelEncoding, names: list[str], known: bool = True):
        self.encoding, self.names, self.known = encoding, names, known  # known: the class count is known
        self.modes: Counter = Counter()
        self.values: Counter = Counter()  # stored value -> pixels (masks read as values)
        self.colours: Counter = Counter()  # colour key -> pixels (colour masks without a palette)
        self.colour_files: list[str] = []
        self.unknown: Counter = Counter()  # colour key -> pixels not in the palette
        self.unknown_files: list[str] = []
        self.snapped = 0
        self.out_of_range: list[str] = []  # "file (values ...)"
        self.out_of_range_values: set[int] = set()
        self.many_values: list[str] = []  # masks with STRAY_VALUES or more distinct values
        self.binary_kinds: Counter = Counter()
        self.thresholded: list[str] = []
        self.not_binary: list[str] = []  # --binary-masks: masks of several values all under 128 (class indices?)
        self.not_binary_values: Counter = Counter()
        self.indexed_palettes: Counter = Counter()
        self.lossy: list[str] = []
        self.splits = {
            "train": ClassCounter(len(names), encoding.ignore_index),
            "val": ClassCounter(len(names), encoding.ignore_index),
        }

    def add(self, mask, name: str, split: str, lossy: bool) -> str | None:
        """Reads one opened Pillow mask; returns why it cannot be read as class indices at all (else None)."""
        enc = self.encoding
        if lossy:
            self.lossy.append(name)
        if enc.colour_masks:
            try:
                rgb = colour_pixels(mask)
            except MaskFormatError as err:
                return str(err)
            self.modes[describe_mode(mask.mode)] += 1
            classes, unknown, snapped = enc.colour_classes(rgb)
            if unknown:
                self.unknown.update(unknown)
                self.unknown_files.append(name)
            self.snapped += snapped
            self.splits[split].add(enc.labels(classes))
            return None
        try:
            values = mask_values(mask)
        except MaskFormatError as err:
            if mask.mode in ("RGB", "RGBA", "LA"):
                try:
                    keys, counts = np.unique(_pack(colour_pixels(mask).reshape(-1, 3)), return_counts=True)
                except MaskFormatError as alpha:
                    return str(alpha)
                self.colours.update(dict(zip(keys.tolist(), counts.tolist())))
                self.colour_files.append(name)
                return None
            return str(err)
        self.modes[describe_mode(mask.mode)] += 1
        if mask.mode == "P":
            self._indexed_palette(mask, values)
        present, counts = np.unique(values, return_counts=True)
        self.values.update(dict(zip(present.tolist(), counts.tolist())))
        if len(present) >= STRAY_VALUES:
            self.many_values.append(f"{name} ({len(present)} values)")
        if enc.binary:
            kind = binary_kind(present)
            if kind == "thresholded" and present.max() < BINARY_THRESHOLD:  # every pixel would read as background
                kind = f"values under {BINARY_THRESHOLD} other than 0/1"
                self.not_binary.append(f"{name} (values {_listed(present.tolist(), 6)})")
                self.not_binary_values.update(dict(zip(present.tolist(), counts.tolist())))
            self.binary_kinds[kind] += 1
            if kind == "thresholded":
                self.thresholded.append(
                    f"{name} (values {[int(v) for v in present[:6]]}{' ...' if len(present) > 6 else ''})"
                )
        else:
            table = enc.lookup
            bad = [
                int(v)
                for v in present
                if table[min(int(v), UNKNOWN)] == enc.ignore_index
                and v != enc.ignore_index
                and not (enc.reduce_zero_label and v == 0)
                and int(v) not in enc.ignore_values
                and not (enc.palette is not None and self._ignored_level(int(v)))
            ]
            if bad:
                self.out_of_range.append(f"{name} (values {bad[:6]}{' ...' if len(bad) > 6 else ''})")
                self.out_of_range_values.update(bad)
        self.splits[split].add(enc.labels(values))
        return None

    def _ignored_level(self, value: int) -> bool:
        return any(abs(value - c[0]) <= self.encoding.tolerance for c in self.encoding.palette.ignore)

    def _indexed_palette(self, mask, values: np.ndarray) -> None:
        colours = mask.getpalette() or []
        used = int(values.max()) + 1 if values.size else 0
        table = np.asarray(colours[: 3 * used], np.int64).reshape(-1, 3)
        voc = voc_colormap(max(used, 1)).astype(np.int64)
        if len(table) == used and np.array_equal(table, voc[:used]):
            self.indexed_palettes["the VOC colour map"] += 1
        else:
            self.indexed_palettes["a palette of their own (the indices are read, not the colours)"] += 1

    # ---- findings, once every mask is read ------------------------------------------------------

    def report(self, report) -> None:
        """Adds the findings and the summary lines to ``report`` (a ``zoo.data.checks.DataReport``)."""
        enc, summary = self.encoding, report.summary
        if self.modes:
            summary.append(
                "masks stored as "
                + ", ".join(f"{mode} ({n})" for mode, n in self.modes.most_common())
                + (f", RGB colour ({len(self.colour_files)})" if self.colour_files else "")
            )
        elif self.colour_files:
            summary.append(f"masks stored as RGB colour ({len(self.colour_files)})")
        if self.indexed_palettes:
            summary.append(
                "indexed masks' palette: "
                + ", ".join(f"{what} ({n})" for what, n in self.indexed_palettes.most_common())
            )
        summary.append(f"labels read as {enc.describe()}" if self.known else "labels: the class count is not known")
        if self.values and not enc.colour_masks:
            summary.append(f"values stored (share of pixels): {_shares(Counter(self.values))}")
        if self.binary_kinds:
            summary.append(
                "binary masks stored as "
                + ", ".join(f"{kind} ({n})" for kind, n in self.binary_kinds.most_common())
                + "; each mask is read by its own "
                "values (all 0 or 1: as is; otherwise >= 128 is the object)"
            )
        self._colour_findings(report)
        self._value_findings(report)
        if self.lossy:
            seen = bool(
                self.unknown
                or self.snapped
                or self.thresholded
                or damaged(Counter(self.values))
                or damaged(Counter(self.colours))
            )
            report.add_files(
                "JPEG masks: lossy compression changes the values near edges"
                + (" (it did here)" if seen else " (no damage seen)"),
                "save masks as PNG (lossless) where you can",
                self.lossy,
                error=False,
            )
        splits = {k: v for k, v in self.splits.items() if v.examples}
        if splits and not report.errors and self.known:
            summary.extend(statistics_lines(splits, self.names))
            from zoo.data.checks import Finding

            report.advice.extend(Finding(what, fix, False) for what, fix in statistics_warnings(splits, self.names))

    def _colour_findings(self, report) -> None:
        if self.colour_files:
            colours = Counter(self.colours)
            voc = {_pack(c).item() for c in voc_colormap().astype(np.int64)}
            main = _main_keys(colours, 3)
            strays = len(colours) - len(main)
            if set(main) <= voc:
                fix = "the colours are Pascal VOC's: pass --palette voc"
            else:
                fix = (
                    "pass --palette FILE: a JSON file naming each class's colour, class 0 first. To start from "
                    f"(rename the classes, keep the order you want): {json.dumps(starter_palette(colours, 3))}"
                )
            if damaged(colours):
                fix += (
                    f"; {strays} further colours near those look like JPEG "
                    "damage or anti-aliased edges: add --label-tolerance 40 to read near colours as the nearest "
                    "palette colour"
                )
            report.add_files(
                f"masks are RGB colour with {len(colours)} colours ({_shares(colours, bands=3)}): they "
                "are read as class indices only with a palette",
                fix,
                self.colour_files,
            )
        if self.unknown:
            what = (
                f"colours not in the palette {self.encoding.palette.origin}: "
                f"{_shares(self.unknown, bands=3)} ({sum(self.unknown.values())} pixels)"
            )
            if self.encoding.tolerance:
                report.add_files(
                    what + f", farther than --label-tolerance {self.encoding.tolerance} from every "
                    "palette colour: read as ignored",
                    "nothing to do if that is right; otherwise add them to the palette",
                    self.unknown_files,
                    error=False,
                )
            else:
                report.add_files(
                    what,
                    'add each colour to the palette (a class, or "__ignore__": [[r, g, b], ...]), '
                    "or --label-tolerance T to read colours within T of a palette colour as it (JPEG "
                    "damage)",
                    self.unknown_files,
                )
        if self.snapped:
            total = sum(c.pixels.sum() + c.ignored for c in self.splits.values()) or 1
            report.summary.append(
                f"{self.snapped} pixels ({100 * self.snapped / total:.2f}%) were near a palette "
                f"colour and read as it (--label-tolerance {self.encoding.tolerance})"
            )

    def _strays(self) -> list[int]:
        """Stored values that are no class (nor ignored), when there are so many that they look like JPEG damage
        rather than a wrong class count; with the class count unknown, the values on few pixels."""
        if self.encoding.binary or self.encoding.colour_masks:
            return []
        if self.known:
            values = self.out_of_range_values
            return sorted(values) if len(values) >= STRAY_VALUES else []
        counts = Counter(self.values)
        main = set(_main_keys(counts))
        return sorted(v for v in counts if v not in main) if damaged(counts) else []

    @property
    def explains_classes(self) -> bool:
        """A finding whose fix also settles the class count (a palette names the classes; --binary-masks)."""
        stored = set(self.values)
        return bool(self.colour_files or self._strays() or (stored <= {0, 255} and 255 in stored))

    def _not_binary_finding(self, report) -> None:
        """--binary-masks on masks of several small values (class indices 0..3, say): thresholded at 128 they
        would be background everywhere. One finding: the values, the files, the flags that read them."""
        values = self.not_binary_values
        classes = sorted(values)
        top = classes[-1]
        read = (
            f"drop --binary-masks and pass --num-classes {top + 1} (or classes.txt)"
            if top + 1 <= MAX_CLASSES
            else _too_large(classes)
        )
        report.add_files(
            f"--binary-masks, but masks hold values other than 0/1 or 0/255: {_listed(classes)} (all under "
            f"{BINARY_THRESHOLD}, so every pixel would read as background)",
            f"these look like class-index masks: {read}; or save object-vs-background masks as 0/1 or 0/255",
            self.not_binary,
        )

    def _value_findings(self, report) -> None:
        enc = self.encoding
        values = Counter(self.values)
        if self.not_binary:
            self._not_binary_finding(report)
        if self.thresholded:
            report.add_files(
                "binary masks with values other than 0/1 or 0/255 (anti-aliased edges or JPEG damage?): "
                "values >= 128 are read as the object, the rest as background",
                "nothing to do if that is right; otherwise save exact 0/255 (or 0/1) masks",
                self.thresholded,
                error=False,
            )
        if enc.binary or enc.colour_masks or not values:
            return
        if enc.palette is not None and enc.tolerance:
            levels = {c[0] for c in enc.palette.colours + enc.palette.ignore}
            near = sum(
                n
                for v, n in values.items()
                if v not in levels and v < UNKNOWN and (enc.lookup[v] != enc.ignore_index or self._ignored_level(v))
            )
            report.summary.append(
                f"{near} pixels ({100 * near / (sum(values.values()) or 1):.2f}%) were near a "
                f"palette level and read as it (--label-tolerance {enc.tolerance})"
            )
        stored = set(values)
        total = sum(values.values()) or 1
        if enc.reduce_zero_label and 0 in stored:
            report.add(
                f"value 0 covers {100 * values[0] / total:.1f}% of the pixels and is read as unlabelled "
                "(--reduce-zero-label: 0 ignored, 1..C become classes 0..C-1)",
                "nothing to do if 0 marks unlabelled pixels (ADE20K); if 0 is a class (CamVid's sky), drop "
                "--reduce-zero-label (or pick a preset without it) and name the void value with --ignore-index",
                error=False,
            )
        if not enc.reduce_zero_label and enc.palette is None and stored <= {0, 255} and 255 in stored:
            report.add(
                "every mask holds only 0 and 255: these look like binary masks, and 255 is read as 'ignore'",
                "pass --binary-masks (255 = object), or --ignore-index to keep 255 as ignore on purpose",
            )
            return
        strays = self._strays()
        if not self.out_of_range and not strays:
            return
        if strays:
            main = _main_keys(values)
            fix = (
                "masks damaged this way cannot be read exactly: re-export them losslessly (PNG) from their source"
                + (
                    "; they look like 0/255 masks: --binary-masks reads them thresholded at 128"
                    if set(main) <= {0, 255} or set(main) <= {0, 1}
                    else ""
                )
                + f"; or give the main values as a gray-level palette with a tolerance: --palette FILE "
                f"--label-tolerance 40, starting from {json.dumps(starter_palette(values, 1))}"
            )
            peaks = Counter({k: values[k] for k in main})
            report.add_files(
                f"masks hold {len(strays)} values that are no class, around the main values "
                f"({_shares(peaks)}): JPEG compression or anti-aliased edges",
                fix,
                self.many_values or self.out_of_range,
            )
            return
        if not self.known:
            return
        bad = sorted(self.out_of_range_values)
        top = enc.num_classes - 1
        if enc.palette is not None:
            what = f"mask values that are no gray level of the palette {enc.palette.origin}: {bad[:8]}"
            fix = "add them to the palette, or --label-tolerance T to read values within T of a level as it"
            if enc.tolerance:
                pixels = sum(values[v] for v in bad)
                report.add_files(
                    f"{what} ({pixels} pixels), farther than --label-tolerance {enc.tolerance} from "
                    "every level: read as ignored",
                    "nothing to do if that is right; otherwise add them to the palette",
                    self.out_of_range,
                    error=False,
                )
                return
        elif enc.mapping is not None:  # a value map ignores what it does not list: said, not refused
            report.add_files(
                f"mask values the preset {enc.preset} does not map to a class, read as ignored: {bad[:8]}",
                "nothing to do if that is right; otherwise write your own preset (--preset FILE) that maps them",
                self.out_of_range,
                error=False,
            )
            return
        elif enc.preset:
            what = f"mask values the preset {enc.preset} does not know (neither a class nor void): {bad[:8]}"
            fix = (
                "check that the preset is this dataset's; otherwise write your own (--preset FILE) that maps them "
                '("values") or names them void ("ignore_values"): docs/datasets.md'
            )
        elif enc.reduce_zero_label:
            what = (
                f"mask values above {enc.num_classes} with --reduce-zero-label (labels 1..{enc.num_classes}): {bad[:8]}"
            )
            fix = "fix the masks or pass the right --num-classes"
        else:
            what = f"mask values outside 0..{top} that are not the ignore index {enc.ignore_index}: {bad[:8]}"
            fix = "fix the masks, pass the right --num-classes, or --binary-masks for 0/1 or 0/255 masks"
            if bad and min(bad) >= enc.num_classes:
                fix = value_advice(values, bad, enc.num_classes)
        report.add_files(what, fix, self.out_of_range)

"""How users' mask files become class indices, and what the classes look like (no TensorFlow needed).

Masks come in several encodings; ``LabelEncoding`` holds the flags that say which one, and is
what ``check``, training and evaluation read masks with (one rule for all three):

- class indices (8-bit gray, indexed/palette PNG as Pascal VOC ships them, 16-bit gray):
  value v is class v; ``ignore_index`` (default 255, VOC's border) counts for nothing;
- ``binary``: 0/1 or 0/255 masks (``zoo.tasks.segmentation.masks.binary_to_01``);
- ``reduce_zero_label`` (mmsegmentation's name): labels 1..C with 0 meaning "unlabelled":
  0 is ignored and v becomes v - 1;
- ``palette``: colour-coded masks (``--palette FILE`` or ``--palette voc``): each pixel's colour
  is looked up in the palette (or its gray level, for a gray palette); colours not in it are
  errors in ``check`` unless ``tolerance`` > 0, which maps a colour within that distance (the
  largest channel difference) of a palette colour to it (JPEG-damaged masks) and ignores the rest.

``ClassCounter`` counts each class's pixels and images; ``auto_class_weights`` turns the
training split's counts into median-frequency weights.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import numpy as np

from zoo.tasks.segmentation.masks import BINARY_THRESHOLD, LABEL_SLOTS, MaskFormatError, mask_values

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
IGNORE_KEY = "__ignore__"  # palette JSON: colours read as the ignore index
UNKNOWN = LABEL_SLOTS  # raw value of a colour the palette does not hold (the label table maps it to ignore)
RARE_SHARE = 0.01  # classes under this share of the training split's labelled pixels are warned about
FEW_PICTURES = 0.1  # classes in under this share of the training pictures are warned about (--repeat-rare)
REPEAT_ADVICE = 0.3  # the --repeat-rare threshold check recommends
# What check and the training log recommend for classes under RARE_SHARE: the setting that did best on
# synthetic:rare at the demo's budget (docs/performance.md, "Rare classes"; python -m benchmarks.rare).
RARE_ADVICE = (
    "train with --loss ce+lovasz (on synthetic:rare it lifted the rare class's IoU from 0.44 to 0.81, mean of 3 "
    "seeds; --loss ohem: 0.79)"
)
WEIGHT_CAP = 10.0  # auto class weights are clipped to [1 / cap, cap]
# Labels are one byte per pixel after the label table (the pipeline caches and crops them as uint8): the classes
# and the ignore index all fit in 0..MAX_LABEL, so at most MAX_CLASSES classes (0..254) leave the ignore index a
# value of its own. Masks may be stored in 16 bits; their values above 255 are no class and read as ignored.
MAX_LABEL = 255
MAX_CLASSES = MAX_LABEL
CLASS_LINES = 20  # statistics_lines: one line per class up to this many classes, then one line for the rest


def check_class_count(num_classes: int, origin: str) -> None:
    """Refuses more classes than a label byte holds beside the ignore index (``MAX_CLASSES``), in the one message
    ``check`` and training give. ``origin`` says where the count came from (``--num-classes``, ``classes.txt``)."""
    if num_classes > MAX_CLASSES:
        raise ValueError(
            f"{origin} gives {num_classes} classes: at most {MAX_CLASSES} are supported (labels are stored as one "
            f"byte per pixel: classes 0..{MAX_CLASSES - 1} and the ignore index {MAX_LABEL}); merge classes, or "
            f"train on at most {MAX_CLASSES} of them (the others mapped to {MAX_LABEL}, ignored)"
        )


def voc_colormap(count: int = 256) -> np.ndarray:
    """Pascal VOC's colour map: uint8 ``[count, 3]``; entry i is the colour of index i (the bits of i
    spread over the high bits of r, g and b)."""
    colours = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (r, g, b)
    return colours


@dataclasses.dataclass(frozen=True)
class Palette:
    """Class colours of colour-coded masks.

    Attributes:
        names: the class names, class 0 first.
        colours: one per class: ``(r, g, b)``, or ``(v,)`` for a palette of gray levels.
        ignore: colours read as the ignore index (VOC's border colour, say).
        origin: ``"voc"`` or the JSON file it was read from.
    """

    names: tuple[str, ...]
    colours: tuple[tuple[int, ...], ...]
    ignore: tuple[tuple[int, ...], ...] = ()
    origin: str = ""

    @property
    def bands(self) -> int:
        """3 for colours, 1 for gray levels."""

        return len(self.colours[0])

    def to_json(self) -> dict:
        """The palette as the JSON ``--palette FILE`` reads (class order kept)."""

        def one(colour):
            return list(colour) if len(colour) == 3 else colour[0]

        data = {name: one(colour) for name, colour in zip(self.names, self.colours)}
        if self.ignore:
            data[IGNORE_KEY] = [one(c) for c in self.ignore]
        return data


def voc_palette() -> Palette:
    """``--palette voc``: the 21 VOC classes in VOC's colours; VOC's border colour (224, 224, 192) is ignored."""
    colours = voc_colormap()
    return Palette(
        VOC_CLASSES,
        tuple(tuple(int(v) for v in colours[i]) for i in range(len(VOC_CLASSES))),
        (tuple(int(v) for v in colours[255]),),
        "voc",
    )


def _colour(value, where: str) -> tuple[int, ...]:
    if isinstance(value, bool) or not (
        isinstance(value, int)
        or (
            isinstance(value, list)
            and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
    ):
        raise ValueError(
            f"{where}: {json.dumps(value)} is not a colour; write [r, g, b] (0-255 each) or one gray level 0-255"
        )
    colour = tuple(value) if isinstance(value, list) else (value,)
    if not all(0 <= v <= 255 for v in colour):
        raise ValueError(f"{where}: {json.dumps(value)} has values outside 0-255")
    return colour


def load_palette(spec: str) -> Palette:
    """``--palette``: ``voc`` or a JSON file ``{"class name": [r, g, b], ...}`` in class order (class 0 first;
    gray levels ``{"background": 0, "crack": 255}`` also work), with an optional ``"__ignore__"``: a colour or
    a list of colours (for a gray palette, a level or a list of levels) read as the ignore index.

    Raises:
        ValueError: the file is missing, not JSON, or its colours are malformed, mixed (RGB and gray) or repeated.
    """
    if str(spec).lower() == "voc":
        return voc_palette()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(
            f'--palette {spec}: no such file; give a JSON file {{"class name": [r, g, b], ...}} or '
            "'voc' (`check` prints a file to start from when the masks are in colour)"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--palette {spec} is not JSON ({err})") from None
    if not isinstance(data, dict) or not [k for k in data if k != IGNORE_KEY]:
        raise ValueError(
            f'--palette {spec}: write an object {{"class name": [r, g, b], ...}} with one entry per '
            "class, class 0 first"
        )
    names, colours, ignore = [], [], []
    gray = all(isinstance(v, int) for k, v in data.items() if k != IGNORE_KEY)  # a palette of gray levels
    for name, value in data.items():
        if name == IGNORE_KEY:
            several = isinstance(value, list) and value and (isinstance(value[0], list) or gray)
            values = value if several else [value]  # gray palettes: a list of levels; colours: a list of colours
            ignore.extend(_colour(v, f"--palette {spec} {IGNORE_KEY}") for v in values)
        else:
            names.append(str(name))
            colours.append(_colour(value, f"--palette {spec} {name!r}"))
    if len({len(c) for c in colours + ignore}) > 1:
        raise ValueError(f"--palette {spec} mixes [r, g, b] colours and gray levels; use one kind")
    seen: dict = {}
    for name, colour in zip(names + [IGNORE_KEY] * len(ignore), colours + ignore):
        if colour in seen:
            raise ValueError(f"--palette {spec}: {name!r} and {seen[colour]!r} have the same colour {list(colour)}")
        seen[colour] = name
    return Palette(tuple(names), tuple(colours), tuple(ignore), str(path))


def _pack(pixels: np.ndarray) -> np.ndarray:
    """int64 keys of colours ``[..., bands]`` (one band: the value itself)."""
    pixels = pixels.astype(np.int64)
    if pixels.shape[-1] == 1:
        return pixels[..., 0]
    return (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]


def unpack(key: int, bands: int = 3) -> tuple[int, ...]:
    """The colour of a ``_pack`` key."""
    return (int(key),) if bands == 1 else (int(key) >> 16 & 255, int(key) >> 8 & 255, int(key) & 255)


def colour_pixels(image) -> np.ndarray:
    """uint8 ``[H, W, 3]`` colours of an opened Pillow mask (indexed PNGs through their palette; an alpha
    channel must be fully opaque). Raises MaskFormatError otherwise."""
    if image.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(image.getchannel("A"))
        if alpha.size and alpha.min() < 255:
            raise MaskFormatError(
                f"a mask with a transparent alpha channel ({image.mode}): save the mask without transparency"
            )
    if image.mode not in ("RGB", "RGBA", "P", "PA", "L", "LA", "1"):
        raise MaskFormatError(f"a mode {image.mode!r} mask cannot be read as colours; save it as RGB or indexed PNG")
    return np.asarray(image.convert("RGB"))


@dataclasses.dataclass(frozen=True)
class LabelEncoding:
    """How mask values become class indices (see the module docstring for each field's rule)."""

    num_classes: int
    ignore_index: int = 255
    binary: bool = False
    reduce_zero_label: bool = False
    palette: Palette | None = None
    tolerance: int = 0
    mapping: tuple[tuple[int, int], ...] | None = None  # (stored value, class) pairs of a preset; the rest ignored
    ignore_values: tuple[int, ...] = ()  # stored values that mean void (a preset's): ignored, never "unknown"
    preset: str = ""  # the preset's name, for ``describe``

    def __post_init__(self):
        if self.mapping is not None and (self.palette is not None or self.binary or self.reduce_zero_label):
            raise ValueError(
                f"the preset {self.preset} maps mask values to classes itself: drop --palette / --binary-masks / "
                "--reduce-zero-label"
            )
        if self.palette is not None and (self.binary or self.reduce_zero_label):
            raise ValueError("--palette gives each colour its class: drop --binary-masks / --reduce-zero-label")
        if self.binary and self.reduce_zero_label:
            raise ValueError(
                "--binary-masks and --reduce-zero-label exclude each other: binary masks are 0/1 or "
                "0/255 with 0 the background"
            )
        if self.tolerance and self.palette is None:
            raise ValueError(
                f"--label-tolerance {self.tolerance} snaps colours to a palette: add --palette FILE "
                '(gray levels work too: {"background": 0, "object": 255})'
            )
        if not 0 <= self.tolerance <= 127:
            raise ValueError(f"--label-tolerance {self.tolerance}: give 0 (exact colours) to 127")

    @property
    def colour_masks(self) -> bool:
        """Masks are read as RGB colours (a palette of [r, g, b] colours)."""
        return self.palette is not None and self.palette.bands == 3

    def describe(self) -> str:
        """A few words for logs and config.json."""
        if self.palette is not None:
            kind = "colours" if self.colour_masks else "gray levels"
            snap = f", near {kind} within {self.tolerance} snapped" if self.tolerance else ""
            return f"{kind} of the palette {self.palette.origin} ({len(self.palette.names)} classes{snap})"
        if self.binary:
            return "binary masks (0/1 or 0/255)"
        void = f", values {list(self.ignore_values)} void" if self.ignore_values else ""
        of = f" (preset {self.preset})" if self.preset else ""
        if self.mapping is not None:
            return (
                f"{len(self.mapping)} stored values mapped to {self.num_classes} classes{of}, every other value ignored"
            )
        if self.reduce_zero_label:
            return f"class indices 1..{self.num_classes}, 0 unlabelled and ignored (--reduce-zero-label){of}"
        return f"class indices 0..{self.num_classes - 1}{void}{of}"

    def table(self) -> np.ndarray:
        """A copy of ``lookup``."""
        return self.lookup.copy()

    @functools.cached_property
    def lookup(self) -> np.ndarray:
        """Raw value (what ``raw`` gives) -> class index: int32 ``[LABEL_SLOTS + 1]``; values at or above
        ``LABEL_SLOTS`` read the last entry (the ignore index)."""
        if self.palette is not None and not self.colour_masks:  # gray levels: nearest level within the tolerance
            levels = np.array(self.palette.colours, np.int64).reshape(-1, 1)
            ignored = np.array(self.palette.ignore, np.int64).reshape(-1, 1)
            found = _nearest(np.arange(LABEL_SLOTS).reshape(-1, 1), levels, ignored, self.tolerance, self.ignore_index)
            return np.append(np.where(found == UNKNOWN, self.ignore_index, found), self.ignore_index).astype(np.int32)
        if self.mapping is not None:
            return label_table(self.num_classes, self.ignore_index, mapping=dict(self.mapping))
        if self.reduce_zero_label:
            return label_table(
                self.num_classes,
                self.ignore_index,
                mapping={v: v - 1 for v in range(1, min(self.num_classes + 1, LABEL_SLOTS))},
            )
        # colour masks: ``raw`` already gave class indices
        return label_table(self.num_classes, self.ignore_index, binary=self.binary)

    def raw(self, image) -> np.ndarray:
        """int32 ``[H, W]`` values of an opened Pillow mask for ``table``: the stored values, or with a
        colour palette each pixel's class (ignore colours: the ignore index; colours not in the palette:
        ``UNKNOWN``). Raises MaskFormatError for masks this encoding cannot read."""
        if not self.colour_masks:
            return mask_values(image)
        classes, _, _ = self.colour_classes(colour_pixels(image))
        return classes

    def colour_classes(self, rgb: np.ndarray) -> tuple[np.ndarray, dict, int]:
        """Colours ``[H, W, 3]`` -> (class or ignore index or ``UNKNOWN`` int32 ``[H, W]``, {colour key: pixels}
        of the colours not in the palette, pixels snapped to a palette colour within the tolerance)."""
        keys, inverse, counts = np.unique(_pack(rgb.reshape(-1, 3)), return_inverse=True, return_counts=True)
        colours = np.array(self.palette.colours, np.int64).reshape(-1, 3)
        ignored = np.array(self.palette.ignore, np.int64).reshape(-1, 3)
        unique = np.stack([keys >> 16 & 255, keys >> 8 & 255, keys & 255], -1)
        per_key = _nearest(unique, colours, ignored, self.tolerance, self.ignore_index)
        exact = np.isin(keys, _pack(np.concatenate([colours, ignored]))) if len(keys) else np.zeros(0, bool)
        missing = per_key == UNKNOWN
        unknown = {int(k): int(n) for k, n in zip(keys[missing], counts[missing])}
        snapped = int(counts[~missing & ~exact].sum())
        return per_key[inverse.reshape(-1)].reshape(rgb.shape[:2]), unknown, snapped

    def labels(self, raw: np.ndarray) -> np.ndarray:
        """Class indices (int32, ignore index kept) of ``raw`` values, as the pipeline computes them."""
        raw = np.asarray(raw, np.int64)
        if self.binary:
            raw = raw if raw.size == 0 or raw.max() <= 1 else (raw >= BINARY_THRESHOLD).astype(np.int64)
        return self.lookup[np.clip(raw, 0, LABEL_SLOTS)]


def _nearest(
    values: np.ndarray, levels: np.ndarray, ignored: np.ndarray, tolerance: int, ignore_index: int
) -> np.ndarray:
    """The class of each of ``values`` ``[N, bands]`` (gray levels or [r, g, b] colours) among palette entries
    ``levels`` ``[C, bands]`` and ignore colours ``ignored`` ``[I, bands]``: the nearest entry by the largest
    channel difference if within ``tolerance`` (a tie goes to the class); an ignore colour gives
    ``ignore_index``; none within it: ``UNKNOWN``. Returns int32 ``[N]``."""
    values = np.asarray(values, np.int64)
    far = np.full(len(values), tolerance + 1, np.int64)

    def closest(group):
        if not len(group):
            return np.zeros(len(values), np.int64), far
        distance = np.abs(values[:, None, :] - group[None, :, :]).max(-1)  # [N, entries]
        return distance.argmin(1), distance.min(1)

    level, level_distance = closest(levels)
    _, ignore_distance = closest(ignored)
    result = np.full(len(values), UNKNOWN, np.int32)
    result[ignore_distance <= tolerance] = ignore_index
    take = (level_distance <= tolerance) & (level_distance <= ignore_distance)
    result[take] = level[take]
    return result


def label_table(
    num_classes: int, ignore_index: int = 255, mapping: dict[int, int] | None = None, binary: bool = False
) -> np.ndarray:
    """A lookup table from raw mask values to class indices (``LABEL_SLOTS + 1`` entries).

    Raw values at or above ``LABEL_SLOTS`` (possible in 16-bit masks) all read the last
    entry, which is ``ignore_index``.

    Args:
        num_classes: C.
        ignore_index: the label excluded from loss and metrics (kept as is).
        mapping: explicit raw value -> class (e.g. {1: 0, 2: 1, 3: 2}); values not in
            it become ``ignore_index``.
        binary: for masks already turned into 0/1 by ``zoo.tasks.segmentation.masks.binary_to_01``
            (0/1 or 0/255 masks): 0 and 1 map to themselves.

    Returns:
        int32 ``[LABEL_SLOTS + 1]``. Without mapping/binary: values 0..C-1 map to themselves,
        anything else to ``ignore_index``.
    """
    table = np.full(LABEL_SLOTS + 1, ignore_index, np.int32)
    if binary:
        table[:2] = (0, 1)
    elif mapping:
        for raw, cls in mapping.items():
            if int(raw) < LABEL_SLOTS:  # (16-bit values above the table's slots read the ignore entry)
                table[int(raw)] = int(cls)
    else:
        table[: min(num_classes, LABEL_SLOTS)] = np.arange(min(num_classes, LABEL_SLOTS))
    return table


class ClassCounter:
    """Each class's labelled pixels and the images it appears in, over the masks ``add``-ed (class indices
    after the label table; the ignore index counted apart)."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.pixels = np.zeros(num_classes, np.int64)
        self.images = np.zeros(num_classes, np.int64)
        self.ignored = 0
        self.examples = 0

    def add(self, labels: np.ndarray) -> None:
        labels = np.asarray(labels).reshape(-1)
        counts = np.bincount(labels[(labels >= 0) & (labels < self.num_classes)], minlength=self.num_classes)
        self.add_counts(counts, int((labels == self.ignore_index).sum()))

    def add_counts(self, counts: np.ndarray, ignored: int) -> None:
        counts = np.asarray(counts, np.int64)[: self.num_classes]
        self.pixels += counts
        self.images += counts > 0
        self.ignored += int(ignored)
        self.examples += 1

    def share(self) -> np.ndarray:
        """Each class's share of the labelled pixels (0 when there are none)."""
        total = self.pixels.sum()
        return self.pixels / total if total else np.zeros(self.num_classes)

    def to_json(self, names: list[str]) -> dict:
        total = int(self.pixels.sum())
        every = total + self.ignored
        return {
            "examples": self.examples,
            "labelled_pixels": total,
            "ignored_pixels": self.ignored,
            "ignored_share": round(self.ignored / every, 6) if every else 0.0,
            "classes": {
                name: {
                    "pixels": int(p),
                    "pixel_share": round(float(s), 6),
                    "images": int(i),
                    "image_share": round(i / self.examples, 4) if self.examples else 0.0,
                }
                for name, p, s, i in zip(names, self.pixels, self.share(), self.images)
            },
        }


def statistics_lines(splits: dict[str, ClassCounter], names: list[str], limit: int = CLASS_LINES) -> list[str]:
    """One line per class: its share of pixels and of images in each split (past ``limit`` classes, the first
    ``limit`` and one line that sums up the rest: their range of training shares and how many are absent); then
    the ignored pixels. ``ClassCounter.to_json`` keeps every class."""
    lines = []
    shown = names if len(names) <= limit else names[:limit]
    width = max(len(n) for n in shown)
    for c, name in enumerate(shown):
        parts = [
            f"{split} {100 * counter.share()[c]:5.1f}% px, {counter.images[c]}/{counter.examples} images"
            for split, counter in splits.items()
        ]
        lines.append(f"class {c} {name:<{width}}  " + "; ".join(parts))
    if len(shown) < len(names):
        rest = slice(len(shown), len(names))
        parts = []
        for split, counter in splits.items():
            share = 100 * counter.share()[rest]
            absent = int((counter.pixels[rest] == 0).sum())
            parts.append(f"{split} {share.min():.1f}%..{share.max():.1f}% px each, {absent} absent")
        lines.append(f"classes {len(shown)}..{len(names) - 1} ({len(names) - len(shown)} more): " + "; ".join(parts))
    ignored = [
        f"{split} {100 * counter.ignored / max(1, counter.ignored + counter.pixels.sum()):.1f}%"
        for split, counter in splits.items()
        if counter.ignored
    ]
    if ignored:
        lines.append("ignored pixels: " + "; ".join(ignored))
    return lines


def _some(names: list[str], shown: int = 12) -> str:
    """``names`` joined, the first ``shown`` of them and a count of the rest (a preset of 150 classes)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def advice_in_use(fix: str, loss: str, repeat_rare: float | None) -> str:
    """``fix`` (from ``statistics_warnings``) for a run whose settings already follow it: the rare-class advice
    says which setting is in use instead of recommending it again."""
    if fix == RARE_ADVICE and "lovasz" in loss:
        return (
            f"--loss {loss} is in use (the best measured for rare classes); more epochs, or --repeat-rare "
            f"{REPEAT_ADVICE:g} where they are in few pictures, may lift them further"
        )
    if fix.startswith("--repeat-rare") and repeat_rare:
        return f"--repeat-rare {repeat_rare:g} is in use"
    return fix


def statistics_warnings(splits: dict[str, ClassCounter], names: list[str]) -> list[tuple[str, str]]:
    """(what, what to do) for classes under ``RARE_SHARE`` of the training pixels, in under ``FEW_PICTURES`` of
    the training pictures, absent from the training split or from the validation split."""
    warnings = []
    train, val = splits.get("train"), splits.get("val")
    if train is not None and train.examples:
        share = train.share()
        absent = [names[c] for c in range(len(names)) if train.pixels[c] == 0]
        if absent:
            first = (
                " (if the labels start at 1 with 0 meaning unlabelled: --reduce-zero-label)"
                if names[0] in absent
                else ""
            )
            warnings.append(
                (
                    f"classes absent from the training split: {_some(absent)}",
                    "check --num-classes / classes.txt (or the preset) against the masks" + first,
                )
            )
        rare = [f"{names[c]} {100 * share[c]:.2f}%" for c in range(len(names)) if 0 < share[c] < RARE_SHARE]
        if rare:
            warnings.append(
                (
                    f"classes under {100 * RARE_SHARE:g}% of the training pixels: {_some(rare)}",
                    RARE_ADVICE,
                )
            )
        few = [
            f"{names[c]} in {int(train.images[c])} of {train.examples}"
            for c in range(len(names))
            if 0 < train.images[c] < FEW_PICTURES * train.examples
        ]
        if few:
            warnings.append(
                (
                    f"classes in under {100 * FEW_PICTURES:g}% of the training pictures: {_some(few)}",
                    f"--repeat-rare {REPEAT_ADVICE:g} shows the pictures that hold them more often (repeat-factor "
                    "sampling)",
                )
            )
    if val is not None and val.examples:
        absent = [names[c] for c in range(len(names)) if val.pixels[c] == 0]
        if absent:
            warnings.append(
                (
                    f"classes absent from the validation split: {_some(absent)} (their IoU cannot be measured)",
                    "put pictures with them in the validation split",
                )
            )
    return warnings


def auto_class_weights(counter: ClassCounter, power: float = 0.5, cap: float = WEIGHT_CAP) -> list[float]:
    """Median-frequency balancing (Eigen & Fergus 2015) raised to ``power``: weight_c = (median(f) / f_c) ** power,
    f_c a class's share of the training split's labelled pixels (ignored pixels left out), the median over the
    classes present; clipped to [1 / cap, cap]. A class absent from the split gets weight 1 (it has no pixels
    to weigh).

    ``power`` 0.5 (``--class-weights auto``) softens it: the full rule (``--class-weights median``, power 1)
    trades the rare class's precision for its recall, and lowered its IoU on ``synthetic:rare`` (docs/performance.md,
    "Rare classes")."""
    share = counter.share()
    present = share > 0
    if not present.any():
        return [1.0] * counter.num_classes
    median = float(np.median(share[present]))
    weights = np.where(present, (median / np.where(present, share, 1.0)) ** power, 1.0)
    return [round(float(w), 4) for w in np.clip(weights, 1.0 / cap, cap)]


def repeat_factors(counter: ClassCounter, threshold: float) -> list[float]:
    """Image-level repeat-factor sampling (Gupta et al., LVIS 2019): class c's factor is
    ``max(1, sqrt(threshold / f_c))``, f_c the share of the training pictures that hold it (1 for a class in
    none); a picture is then seen ``max`` over its classes times as often (``--repeat-rare``)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"--repeat-rare {threshold!r}: give a share of the pictures in (0, 1], e.g. 0.3")
    if not counter.examples:
        return [1.0] * counter.num_classes
    share = counter.images / counter.examples
    factors = np.where(share > 0, np.sqrt(threshold / np.where(share > 0, share, 1.0)), 1.0)
    return [round(float(f), 4) for f in np.maximum(factors, 1.0)]


CLASS_WEIGHT_RULES = {"auto": 0.5, "median": 1.0}  # --class-weights NAME: the power of median-frequency balancing


def parse_class_weights(text: str | None, num_classes: int, counter: ClassCounter | None = None) -> list[float] | None:
    """``--class-weights``: None, ``auto`` (the square root of median-frequency balancing of ``counter``),
    ``median`` (median-frequency balancing itself) or ``w0,w1,...`` (C non-negative numbers, not all 0).
    Raises ValueError naming the flag."""
    if text is None or str(text).lower() in ("", "none"):
        return None
    rule = str(text).lower()
    if rule in CLASS_WEIGHT_RULES:
        if counter is None:
            raise ValueError(f"--class-weights {rule} needs the training split's class counts")
        return auto_class_weights(counter, CLASS_WEIGHT_RULES[rule])
    try:
        weights = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ValueError(f"--class-weights {text!r}: give auto, median or {num_classes} numbers w0,w1,...") from None
    if len(weights) != num_classes:
        raise ValueError(
            f"--class-weights {text!r} has {len(weights)} weights for {num_classes} classes; give one "
            "per class (class 0 first), auto or median"
        )
    if any(not math.isfinite(w) or w < 0 for w in weights) or not any(weights):
        raise ValueError(f"--class-weights {text!r}: weights must be finite, >= 0 and not all 0")
    return weights

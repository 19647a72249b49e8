"""Class masks drawn from polygon annotations: COCO files (polygons and RLE, through pycocotools) and
labelme files (one JSON per picture). No TensorFlow; the masks come back as Pillow images, so ``check``,
training and evaluation read them through the one reader of ``zoo.tasks.segmentation.labels``.

Written by hand: pycocotools decodes one annotation at a time; painting a picture's annotations into
one class mask (larger objects first, so smaller ones stay on top; crowd regions ignored) and reading
labelme's shapes are done here.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np

VOID = 255  # the stored value of ignored pixels (crowd regions, labelme's "__ignore__")
LABELME_IGNORE = "__ignore__"  # labelme's label list: shapes with this label are ignored
LABELME_BACKGROUND = "_background_"  # labelme's label list: the background class
LABELME_LIST_FILES = ("labels.txt", "classes.txt")


def _mask_image(mask: np.ndarray):
    from PIL import Image

    return Image.fromarray(mask.astype(np.uint8), mode="L")


class CocoMasks:
    """A COCO instances file (``instances_*.json``) read as class masks: class 0 is the background and
    category k (in id order) is class k + 1; crowd regions are ``VOID`` where no object covers them."""

    def __init__(self, path: str | Path):
        from pycocotools.coco import COCO

        self.path = Path(path)
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its loading times
            try:
                self.coco = COCO(str(self.path))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ValueError(f"{self.path} is not JSON ({err})") from None
            except OSError as err:
                raise ValueError(f"{self.path}: cannot be read ({err.strerror or err})") from None
            except (KeyError, TypeError, AssertionError, AttributeError) as err:
                raise ValueError(f"{self.path} is not a COCO annotation file ({type(err).__name__}: {err})") from None
        categories = sorted(self.coco.loadCats(self.coco.getCatIds()), key=lambda c: c["id"])
        if not categories:
            raise ValueError(f'{self.path} declares no categories; COCO segmentation needs "categories"')
        if len(categories) >= VOID:
            raise ValueError(f"{self.path} has {len(categories)} categories; at most {VOID - 1} fit in a class mask")
        self.classes = ["background"] + [str(c.get("name", c["id"])) for c in categories]
        self.class_of = {c["id"]: i + 1 for i, c in enumerate(categories)}
        self.skipped: Counter = Counter()  # why annotations were left out
        anns = self.coco.dataset.get("annotations") or []
        without = sum(1 for a in anns if not a.get("segmentation"))
        if anns and without == len(anns):
            raise ValueError(
                f"{self.path}: none of its {len(anns)} annotations has a segmentation (a detection file, boxes "
                "only?): segmentation needs polygons or RLE"
            )
        if without:
            self.skipped["annotations without a segmentation (boxes only)"] = without

    def images(self) -> list[dict]:
        """The file's pictures (``id``, ``file_name``, ``height``, ``width``), in id order."""
        return [self.coco.imgs[i] for i in sorted(self.coco.imgs)]

    def mask(self, image_id: int) -> np.ndarray:
        """uint8 ``[height, width]`` class mask of one picture."""
        info = self.coco.imgs[image_id]
        mask = np.zeros((int(info["height"]), int(info["width"])), np.uint8)
        crowd = np.zeros_like(mask, bool)
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id], iscrowd=None))
        for ann in sorted(anns, key=lambda a: -float(a.get("area") or 0.0)):
            if not ann.get("segmentation") or ann.get("category_id") not in self.class_of:
                continue
            if isinstance(ann["segmentation"], list):  # polygons of fewer than 3 points (COCO has a few): left out
                polygons = [p for p in ann["segmentation"] if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
                if len(polygons) < len(ann["segmentation"]):
                    self.skipped["polygons of fewer than 3 points"] += len(ann["segmentation"]) - len(polygons)
                if not polygons:
                    continue
                ann = {**ann, "segmentation": polygons}
            try:
                region = self.coco.annToMask(ann).astype(bool)
            except Exception as err:  # pycocotools raises TypeError or a bare Exception for what it cannot read
                raise ValueError(
                    f"{self.path.name}: annotation {ann.get('id')}'s segmentation cannot be read ({type(err).__name__}: {err})"
                ) from None
            if region.shape != mask.shape:
                raise ValueError(
                    f"{self.path}: annotation {ann.get('id')} is {region.shape[1]}x{region.shape[0]} but its "
                    f"picture {info.get('file_name')} is {mask.shape[1]}x{mask.shape[0]}"
                )
            if ann.get("iscrowd"):
                crowd |= region
            else:
                mask[region] = self.class_of[ann["category_id"]]
        mask[crowd & (mask == 0)] = VOID
        return mask

    def open(self, key: str):
        """The Pillow mask of ``key`` (the picture's id as text)."""
        return _mask_image(self.mask(int(key)))


def _decode_mask(text: str, path) -> np.ndarray:
    """A labelme ``mask`` shape's base64 PNG as an array (ValueError naming the file when it is not one)."""
    import base64

    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(text))) as image:
            return np.asarray(image.convert("L"))
    except (ValueError, OSError) as err:
        raise ValueError(f"{Path(path).name}: a mask shape's PNG cannot be read ({err})") from None


def labelme_picture(json_path: Path, image_path: str | None) -> Path | None:
    """The picture of a labelme file: its ``imagePath`` (relative to the JSON, Windows separators too), else
    that name beside the JSON, else a picture of the JSON's stem beside it; None when there is none."""
    from pathlib import PureWindowsPath

    from zoo.data.layout import IMAGE_SUFFIXES

    if image_path:
        written = str(image_path).replace("\\", "/")
        for candidate in (json_path.parent / written, json_path.parent / PureWindowsPath(str(image_path)).name):
            if candidate.is_file():
                return candidate
    return next((json_path.with_suffix(s) for s in IMAGE_SUFFIXES if json_path.with_suffix(s).is_file()), None)


def labelme_classes(folder: Path, files: list[Path]) -> tuple[list[str], list[str]]:
    """(class names, problems) of a labelme folder: ``labels.txt`` or ``classes.txt`` as labelme's own
    tools write it (``__ignore__`` and ``_background_`` lines first, then one class per line), else
    ``background`` and every label found, sorted."""
    for name in LABELME_LIST_FILES:
        listed = folder / name
        if listed.is_file():
            names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
            names = [n for n in names if n != LABELME_IGNORE]
            if names and names[0] == LABELME_BACKGROUND:
                names[0] = "background"
            elif "background" not in names:
                names.insert(0, "background")
            return names, []
    labels, problems = set(), []
    for path in files:
        try:
            shapes = json.loads(path.read_text()).get("shapes") or []
            labels.update(str(s.get("label")) for s in shapes if s.get("label") not in (None, LABELME_IGNORE))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
            problems.append(f"{path.name} ({err})")
    labels.discard(LABELME_BACKGROUND)
    labels.discard("background")
    return ["background", *sorted(labels)], problems


class LabelmeMasks:
    """labelme files read as class masks: each shape (polygon, rectangle, circle) painted with its label's
    class in file order (later shapes on top); ``__ignore__`` shapes are ``VOID``; lines and points are
    left out (``skipped``)."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.class_of = {name: i for i, name in enumerate(classes)}
        self.class_of[LABELME_BACKGROUND] = 0
        self.skipped: Counter = Counter()

    def mask(self, path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
        """uint8 ``[height, width]`` class mask of one labelme JSON (its ``imageHeight``/``imageWidth``, or
        ``size`` (W, H)). Raises ValueError for a label not in the classes."""
        from PIL import Image, ImageDraw

        data = json.loads(Path(path).read_text())
        width = int(data.get("imageWidth") or (size[0] if size else 0))
        height = int(data.get("imageHeight") or (size[1] if size else 0))
        if not width or not height:
            raise ValueError(f"{path}: no imageWidth/imageHeight; save it again with labelme")
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        for shape in data.get("shapes") or []:
            label = str(shape.get("label"))
            value = VOID if label == LABELME_IGNORE else self.class_of.get(label)
            if value is None:
                raise ValueError(
                    f"{Path(path).name}: label {label!r} is not one of the classes {self.classes}; add it to labels.txt"
                )
            points = [(float(x), float(y)) for x, y in shape.get("points") or []]
            kind = shape.get("shape_type") or "polygon"
            if kind == "polygon" and len(points) >= 3:
                draw.polygon(points, fill=value, outline=value)
            elif kind == "rectangle" and len(points) >= 2:  # two corners, or (newer labelme) all four
                xs, ys = [x for x, _ in points], [y for _, y in points]
                draw.rectangle([min(xs), min(ys), max(xs), max(ys)], fill=value)
            elif kind == "mask" and shape.get("mask") and points:  # labelme >= 5.3: a PNG of the box's pixels
                region = _decode_mask(shape["mask"], path)
                x0, y0 = (int(round(min(v))) for v in zip(*points))
                canvas.paste(value, (x0, y0), Image.fromarray((region > 0).astype(np.uint8) * 255, "L"))
            elif kind == "circle" and len(points) == 2:
                (cx, cy), (px, py) = points
                r = float(np.hypot(px - cx, py - cy))
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=value)
            else:
                self.skipped[f"{kind} shapes (no area)"] += 1
        return np.asarray(canvas)

    def open(self, key: str):
        """The Pillow mask of ``key`` (the JSON file's path)."""
        return _mask_image(self.mask(key))

"""Fine-tune a segmentation model, evaluate it and export it: the project's main job.

    python -m recipes.segment --dataset synthetic:shapes --model unet --backbone vgg16 \\
        --input-size 128 --batch-size 8 --schedule head:2@1e-3,all:8@1e-4 --out runs/shapes

Datasets: ``synthetic:shapes`` and ``synthetic:scenes`` (built in, offline; scenes are large
pictures of small objects, for ``--train-crop``), ``tfds:NAME`` (preset for
oxford_iiit_pet; ``--image-key/--mask-key/--num-classes`` for others) and
``folder:PATH`` (``images/<stem>.png|jpg|bmp`` + ``masks/<stem>.png``). Everything the
run produces goes to ``--out`` (see ``zoo.run.phases``); re-running the same command
resumes an unfinished run. The task's parts are in ``zoo/tasks/segmentation/training.py``,
the run itself in ``recipes/driver.py``.
"""

from __future__ import annotations

import dataclasses
import sys

if __name__ == "__main__":  # run as a command: TensorFlow's start-up lines off the terminal (zoo.utils.startup)
    from zoo.utils.startup import quiet_startup

    quiet_startup(debug="--debug" in sys.argv[1:])

from recipes.driver import Recipe  # noqa: E402
from recipes.driver import cli as run_cli
from recipes.driver import main as run_main
from recipes.settings import RecipeConfig  # noqa: E402 - after the start-up hook
from zoo.tasks.segmentation import training as task  # noqa: E402
from zoo.tasks.segmentation.loss_names import LOSSES  # noqa: E402

MUST_MATCH = (
    "dataset",
    "model",
    "backbone",
    "input_size",
    "channels",
    "num_classes",
    "binary_masks",
    "ignore_index",
    "loss",
    "batch_size",
    "seed",
    "schedule",
    "synthetic_count",
    "val_fraction",
    "encoder_weights",
    "output_stride",
    "train_crop",
    "scale_jitter",
    "reduce_zero_label",
    "palette",
    "label_tolerance",
    "class_weights",
    "ohem_fraction",
    "repeat_rare",
    "crop_max_share",
    "preset",
    "images",
    "masks",
    "img_suffix",
    "mask_suffix",
    "train_split",
    "val_split",
)


@dataclasses.dataclass
class SegmentConfig(RecipeConfig):
    """Every setting of the recipe (flags and ``--config`` JSON use the same names); shared ones in
    ``recipes.settings.RecipeConfig``."""

    dataset: str = "synthetic:shapes"
    model: str = "unet"
    backbone: str = "vgg16"
    input_size: str = "128"
    batch_size: int = 8
    num_classes: int | None = None
    binary_masks: bool = False
    ignore_index: int = 255
    resize_masks: bool = False
    loss: str = "ce"
    mask_key: str | None = None
    output_stride: int | None = None
    train_crop: bool = False
    scale_jitter: str | None = None
    reduce_zero_label: bool = False
    palette: str | None = None
    label_tolerance: int = 0
    class_weights: str | None = None
    ohem_fraction: float = 0.25
    repeat_rare: float | None = None
    crop_max_share: float | None = None
    masks: str | None = None
    img_suffix: str | None = None
    mask_suffix: str | None = None


def add_flags(a, d: SegmentConfig) -> None:
    a("--num-classes", dest="num_classes", type=int, help="classes C, 2..255 (needed for folder/tfds without a preset)")
    a(
        "--binary-masks",
        dest="binary_masks",
        action="store_true",
        help="masks are 0/1 or 0/255 (background, object): 2 classes",
    )
    a(
        "--ignore-index",
        dest="ignore_index",
        type=int,
        help=f"mask value left out of loss and metrics, from C to 255, no class (default {d.ignore_index})",
    )
    a(
        "--resize-masks",
        dest="resize_masks",
        action="store_true",
        help="folder: resize a mask whose size differs from its image's (nearest neighbour) instead of refusing",
    )
    a(
        "--reduce-zero-label",
        dest="reduce_zero_label",
        action="store_true",
        help="masks hold labels 1..C with 0 meaning unlabelled: 0 is ignored, 1..C become classes 0..C-1",
    )
    a(
        "--palette",
        metavar="FILE|voc",
        help='colour masks: a JSON file {"class name": [r, g, b], ...} in class order (gray levels work too; '
        '"__ignore__": colours to ignore), or voc (Pascal VOC\'s colours and class names); `check` prints a '
        "file to start from",
    )
    a(
        "--label-tolerance",
        dest="label_tolerance",
        type=int,
        metavar="T",
        help="with --palette: read a colour within T (largest channel difference) of a palette colour as it, and "
        "colours farther from every one as ignored (JPEG-damaged masks) (default 0: exact colours only)",
    )
    a(
        "--loss",
        choices=LOSSES,
        help=f"loss (default {d.loss}; ohem: cross-entropy over the hardest --ohem-fraction of each image's pixels; "
        "lovasz: the Lovasz-softmax surrogate of each class's IoU)",
    )
    a(
        "--class-weights",
        dest="class_weights",
        metavar="auto|median|W0,W1,...",
        help="weigh each class in the loss: auto (the square root of median-frequency balancing of the training "
        "split's pixels), median (median-frequency balancing itself, clipped to [0.1, 10]) or one weight per "
        "class (default: none)",
    )
    a(
        "--ohem-fraction",
        dest="ohem_fraction",
        type=float,
        help=f"--loss ohem: the share of each image's valid pixels with the highest loss that count (default "
        f"{d.ohem_fraction})",
    )
    a(
        "--repeat-rare",
        dest="repeat_rare",
        type=float,
        metavar="T",
        help="repeat-factor sampling: a picture holding a class found in fewer than a share T of the training "
        "pictures is shown sqrt(T / share) times per pass (e.g. 0.3; default: off)",
    )
    a(
        "--crop-max-share",
        dest="crop_max_share",
        type=float,
        metavar="S",
        help="--train-crop: draw a crop again (up to 10 times) while one class covers more than a share S of it, "
        "so crops keep small classes in view (e.g. 0.75; default: off)",
    )
    a("--mask-key", dest="mask_key", help="tfds: mask feature name (default from the preset)")
    a("--masks", metavar="DIR", help="mmseg: the mask folder under ROOT (default: ann_dir, masks, labels, ...)")
    a(
        "--img-suffix",
        dest="img_suffix",
        help="mmseg: what follows the shared name in image file names, e.g. .jpg or _leftImg8bit.png (default: found)",
    )
    a(
        "--mask-suffix",
        dest="mask_suffix",
        help="mmseg: what follows the shared name in mask file names, e.g. .png or _labelTrainIds.png (default: found)",
    )
    a(
        "--train-crop",
        dest="train_crop",
        action="store_true",
        help="train on random --input-size crops of each picture at its own scale (not the picture resized); "
        "validation in tiles of that size; the export then predicts at native scale by default",
    )
    a(
        "--scale-jitter",
        dest="scale_jitter",
        metavar="LO,HI",
        help="--train-crop: rescale each picture by a random factor in [LO, HI] before cropping (e.g. 0.75,1.25)",
    )
    a(
        "--output-stride",
        dest="output_stride",
        type=int,
        choices=(8, 16, 32),
        help="pspnet / deeplabv3plus: stride of the deepest features; 8 or 16 run the last stages dilated "
        "(VGG, ResNet v1); default: the builder's (deeplabv3plus: 16 where the backbone dilates, pspnet: 32)",
    )


RECIPE = Recipe(
    task="segmentation",
    description="Fine-tune a segmentation model (FCN or U-Net on a pretrained backbone), evaluate it, export it. "
    "`python -m recipes.segment check [flags]` scans the dataset and settings without training.",
    config=SegmentConfig,
    models=task.MODELS,
    must_match=MUST_MATCH,
    dataset_help="synthetic:shapes | synthetic:scenes (large, for --train-crop) | synthetic:rare (triangles ~1%% of "
    "the pixels) | tfds:NAME | folder:PATH | as shipped: voc:ROOT | ade20k:ROOT | cityscapes:ROOT | camvid:ROOT | "
    "mmseg:ROOT | coco:FILE.json | labelme:FOLDER (docs/datasets.md)",
    add_flags=add_flags,
    validate=task.validate,
    check_data=task.check_data,
    trainer=task.SegmentationTrainer,
    need_top=lambda settings: settings.model.startswith("fcn"),
    any_input_size=True,
)


def main(argv: list[str] | None = None) -> int:
    return run_main(RECIPE, argv)


def cli(argv: list[str] | None = None, command: bool = False) -> int:
    return run_cli(RECIPE, argv, command=command)


if __name__ == "__main__":
    sys.exit(cli(command=True))

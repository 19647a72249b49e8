"""Fine-tune a keypoint model (one heatmap per keypoint), evaluate it and export it.

    python -m recipes.pose --dataset synthetic:faces --model simple_baseline --backbone resnet50 \\
        --input-size 96 --batch-size 16 --out runs/faces

The network ends in convolutions that produce one map per keypoint; the target map
is a Gaussian centred on the keypoint (sub-pixel, unrounded), and the prediction is
where the map peaks, refined below the pixel (``--decode dark`` or ``soft-argmax``).
Same schedule syntax, strategies, run directory and resume as ``recipes.segment``. The
task's parts are in ``zoo/tasks/keypoints/training.py``, the run itself in ``recipes/driver.py``.
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
from zoo.tasks.keypoints import training as task  # noqa: E402
from zoo.tasks.keypoints.codecs import DECODINGS, GRIDS, HEADS, STRIDES  # noqa: E402
from zoo.tasks.keypoints.metrics import NORMALIZERS  # noqa: E402

MUST_MATCH = (
    "dataset",
    "model",
    "backbone",
    "input_size",
    "channels",
    "batch_size",
    "seed",
    "schedule",
    "synthetic_count",
    "val_fraction",
    "encoder_weights",
    "sigma",
    "heatmap_stride",
    "region",
    "category",
    "codec",
    "head",
    "preset",
    "images",
    "annotations",
    "flip_pairs",
    "val_split",
)


@dataclasses.dataclass
class PoseConfig(RecipeConfig):
    """Every setting of the recipe (flags and ``--config`` JSON use the same names); shared ones in
    ``recipes.settings.RecipeConfig``."""

    dataset: str = "synthetic:faces"
    model: str = "simple_baseline"
    backbone: str = "resnet50"
    input_size: str = "96"
    batch_size: int = 16
    sigma: float = 2.0
    heatmap_stride: int | None = None
    decode: str = "dark"
    codec: str = "msra"
    head: str = "heatmap"
    flip_test: bool = False
    pck_threshold: float = 0.1
    pck_normalizer: str = "size"
    keypoints_key: str | None = None
    flip_pairs: str | None = None
    num_keypoints: int | None = None
    region: str | None = None
    category: str | None = None
    annotations: str | None = None
    oks_sigmas: str | None = None
    eval_boxes: str | None = None
    half_body: float = 0.0
    lower_body: str | None = None


def add_flags(a, d: PoseConfig) -> None:
    a("--sigma", type=float, help=f"Gaussian sigma of the targets, heatmap pixels (default {d.sigma})")
    a(
        "--heatmap-stride",
        dest="heatmap_stride",
        type=int,
        choices=STRIDES,
        help="input pixels per heatmap pixel for simple_baseline (default 4); 1 for unet",
    )
    a("--decode", choices=DECODINGS, help=f"sub-pixel peak decoding (default {d.decode})")
    a(
        "--head",
        choices=tuple(HEADS),
        help="heatmap (one map per keypoint, the --model's decoder) or simcc (x and y classified in half-pixel bins, "
        "Li et al. 2022, on Simple Baselines' stride-4 maps; --sigma then in input pixels, decoding argmax or "
        "soft-argmax) (default heatmap)",
    )
    a(
        "--codec",
        choices=GRIDS,
        help="where heatmap pixels sit on the input: msra (each the centre of its stride x stride block) or udp "
        "(unbiased data processing, Huang et al. 2020: first and last pixel centres aligned) (default msra)",
    )
    a(
        "--flip-test",
        dest="flip_test",
        action="store_true",
        help="average with the prediction on the mirrored image (evaluation and export)",
    )
    a(
        "--pck-threshold",
        dest="pck_threshold",
        type=float,
        help=f"PCK threshold as a fraction of the normaliser (default {d.pck_threshold})",
    )
    a(
        "--pck-normalizer",
        dest="pck_normalizer",
        choices=NORMALIZERS,
        help="size (face/box size, else the keypoints' span), interocular, or pixels (threshold in pixels)",
    )
    a("--keypoints-key", dest="keypoints_key", help="tfds: [K, 2] feature of (x, y) normalised to [0, 1]")
    a(
        "--num-keypoints",
        dest="num_keypoints",
        type=int,
        help="folder: keypoints per annotation expected (default: the names the file declares)",
    )
    a(
        "--flip-pairs",
        dest="flip_pairs",
        help="left/right keypoint pairs swapped by flips, e.g. 0-1,3-4, or none when no keypoint has a side "
        "(default: the --preset's, else from the names: left/right anywhere, or a side letter of its own as in "
        "l_eye, eyeL, L_F_Paw; with no pair known, flips are turned off); an error where the names or --preset "
        "give the pairs",
    )
    a(
        "--region",
        choices=("box", "image"),
        help="folder: what the model looks at: box (each annotation's COCO box enlarged 1.25x, one crop per "
        "object; predict then needs --boxes) or image (the whole picture, one object per picture); "
        "default: box when the file gives boxes",
    )
    a(
        "--category",
        help="folder/coco: the COCO category whose keypoints are read (name or id) when the file has several; "
        "all: every category with the same keypoints, as one (AP-10K's species)",
    )
    a(
        "--annotations",
        metavar="FILE",
        help="folder: the annotation file (.json or .csv) when the folder holds several",
    )
    a(
        "--eval-boxes",
        dest="eval_boxes",
        metavar="JSON",
        help="folder: COCO detection results for the validation pictures (image_id or file_name, bbox, score): the "
        "final evaluation also reports AP with these boxes (metrics.json ap_detections), as COCO's benchmark "
        "scores top-down methods on a detector's boxes",
    )
    a(
        "--half-body",
        dest="half_body",
        type=float,
        metavar="P",
        help="half-body augmentation: with probability P a training object with enough labelled keypoints is seen "
        "through the box of its upper or lower half only (MMPose's HalfBodyTransform; 0.3 there) (default 0: off)",
    )
    a(
        "--lower-body",
        dest="lower_body",
        metavar="IDS|NAMES",
        help="--half-body: the lower half's keypoints, by index or name, e.g. 11,12,13,14,15,16 or left_hip,right_hip "
        "(default: the --preset's, else "
        "hips, knees, ankles, feet by name)",
    )
    a(
        "--oks-sigmas",
        dest="oks_sigmas",
        help="OKS sigmas for COCO AP: one value, or one per keypoint comma-separated (default: the file's "
        "category 'sigmas', COCO's 17 for COCO person keypoints, else a uniform 0.035)",
    )


RECIPE = Recipe(
    task="keypoints",
    description="Fine-tune a keypoint heatmap model (Simple Baselines or U-Net on ResNet50/VGG16), evaluate "
    "COCO OKS AP, PCK and NME, export a SavedModel that returns pixel coordinates. `python -m recipes.pose check "
    "[flags]` scans the dataset and settings without training.",
    config=PoseConfig,
    models=task.MODELS,
    must_match=MUST_MATCH,
    dataset_help="synthetic:faces | tfds:NAME (aflw2k3d, the300w_lp, celeb_a, or generic keys) | folder:PATH "
    "(images/ + COCO keypoints JSON or CSV) | coco:FILE.json (read where it lies; docs/datasets.md)",
    add_flags=add_flags,
    validate=task.validate,
    check_data=task.check_data,
    trainer=task.KeypointTrainer,
    scratch_lr="1e-3",
)


def main(argv: list[str] | None = None) -> int:
    return run_main(RECIPE, argv)


def cli(argv: list[str] | None = None, command: bool = False) -> int:
    return run_cli(RECIPE, argv, command=command)


if __name__ == "__main__":
    sys.exit(cli(command=True))

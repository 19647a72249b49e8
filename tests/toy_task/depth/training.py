"""Training the depth task: synthetic discs whose brightness is their depth, a U-Net with one output, MSE."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.tasks.base import NetworkSpec


def make_discs(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 pictures ``[N, size, size, 3]`` of one disc each on a dark background; depth ``[N, size, size, 1]``:
    the disc's depth (its brightness) inside it, 1 (far) outside."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = rng.normal(30, 5, (count, size, size, 3))
    depth = np.ones((count, size, size, 1), np.float32)
    for n in range(count):
        cy, cx, r, d = rng.uniform(8, size - 8), rng.uniform(8, size - 8), rng.uniform(5, size / 3), rng.uniform(0, 0.8)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        images[n][inside] = 255 * (1 - d)
        depth[n, inside, 0] = d
    return np.clip(images, 0, 255).astype(np.uint8), depth


class DepthTrainer:
    """The depth task's part of a recipe run (``recipes.driver.TaskTrainer``)."""

    monitor, mode, curve_metric = "val_mean_absolute_error", "min", "mean_absolute_error"

    def __init__(self, settings, input_size: tuple[int, int], log):
        import tensorflow as tf

        if settings.data.kind != "synthetic" or settings.data.value != "discs":
            raise ValueError(f"--dataset {settings.dataset}: the depth task reads synthetic:discs only")
        self.settings, self.input_size, self.channels = settings, input_size, 3
        images, depth = make_discs(settings.synthetic_count, input_size[0], settings.seed)
        split = max(1, int(len(images) * (1 - settings.val_fraction)))
        self.num_train, self.num_val = split, len(images) - split
        self.description = f"synthetic:discs ({len(images)} pictures {input_size[0]}px)"
        self._train = tf.data.Dataset.from_tensor_slices((images[:split], depth[:split]))
        self._val = tf.data.Dataset.from_tensor_slices((images[split:], depth[split:]))
        self.val_images, self.val_depth = images[split:], depth[split:]

    def _batches(self, data, training: bool):
        import tensorflow as tf

        from zoo.models.backbones import get_backbone

        spec = get_backbone(self.settings.backbone)
        if training:
            data = data.shuffle(256, seed=self.settings.seed).repeat()
        data = data.batch(self.settings.batch_size, drop_remainder=training)
        return data.map(lambda x, y: (spec.preprocess(tf.cast(x, tf.float32)), y)).prefetch(2)

    def data_line(self) -> str:
        return f"data: {self.description}"

    def settings_line(self) -> str:
        return "no augmentation"

    def network(self) -> NetworkSpec:
        return NetworkSpec(
            "unet",
            {
                "backbone": self.settings.backbone,
                "num_classes": 1,
                "input_shape": (*self.input_size, 3),
                "decoder_filters": (32, 16, 16, 8, 8),
            },
        )

    def compile_kwargs(self) -> dict:
        import keras

        def loss(y_true, y_pred):
            return keras.ops.mean(keras.ops.square(keras.ops.sigmoid(y_pred) - y_true))

        def mean_absolute_error(y_true, y_pred):
            return keras.ops.mean(keras.ops.abs(keras.ops.sigmoid(y_pred) - y_true))

        return {"loss": loss, "metrics": [mean_absolute_error]}

    def resolved(self) -> dict:
        return {
            "task": "depth",
            "input_size": list(self.input_size),
            "channels": 3,
            "num_train": self.num_train,
            "num_val": self.num_val,
        }

    def train_data(self):
        return self._batches(self._train, True)

    def val_data(self):
        return self._batches(self._val, False)

    def epoch_metrics(self, model):
        return None

    def evaluate(self, model, samples: Path) -> dict:
        predicted = model.predict(self.val_data(), verbose=0)
        error = float(np.mean(np.abs(1 / (1 + np.exp(-predicted)) - self.val_depth)))
        constant = float(np.mean(np.abs(self.val_depth.mean() - self.val_depth)))
        samples.write_bytes(b"")  # no plot for the toy task
        return {"mean_absolute_error": error, "constant_guess_error": constant}

    def summary(self, report: dict, weights: str) -> str:
        return f"validation MAE {report['mean_absolute_error']:.3f} ({weights} weights)"

    def usage(self) -> list[str]:
        return ["    out = serve(images=tf.zeros((1, 40, 50, 3), tf.uint8))   # out['depth']: (1, 40, 50)"]

"""What every TFDS source needs: a prepared builder with a clear error, splits, counts."""

from __future__ import annotations

import tensorflow as tf


def prepared_builder(name: str, data_dir: str | None, needed_features: tuple[str, ...]):
    """``tfds.builder(name)`` after ``download_and_prepare``, checked for ``needed_features``.

    Raises:
        RuntimeError: the data cannot be had (offline, checksum...), with how to get it.
        ValueError: a feature is missing, naming the ones there are.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare()
    except Exception as err:  # noqa: BLE001 - TFDS raises many kinds; all mean "not available"
        raise RuntimeError(
            f"could not load TFDS dataset {name!r} ({type(err).__name__}: {err}). If this machine is offline, "
            f"run `tfds build {name}` on a machine with internet and copy its data folder "
            "(~/tensorflow_datasets) here, or pass --data-dir"
        ) from err
    features = builder.info.features
    for key in needed_features:
        if key not in features:
            raise ValueError(f"tfds:{name} has no feature {key!r}; its features are {sorted(features.keys())}")
    return builder


def resolve_splits(builder, train_split: str, val_split: str) -> tuple[str, str]:
    """The (train, validation) split names; 90% / 10% of train when there is no validation split."""
    splits = builder.info.splits
    if val_split not in splits and train_split in splits:
        return f"{train_split}[:90%]", f"{train_split}[90%:]"
    return train_split, val_split


def count_examples(builder, split: str, dataset: tf.data.Dataset) -> int:
    """Examples in ``split``: from the dataset info, else the cardinality, else by counting."""
    splits = builder.info.splits
    known = splits[split].num_examples if split in splits else 0
    if known:
        return int(known)
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality >= 0 else int(dataset.reduce(0, lambda n, _: n + 1))

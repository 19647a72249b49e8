"""What every TFDS source needs: a prepared builder with a clear error, splits, counts."""

from __future__ import annotations

import tensorflow as tf


def prepared_builder(name: str, data_dir: str | None, needed_features: tuple[str, ...]):
    """``tfds.builder(name)`` after ``download_and_prepare``, checked for ``needed_features``.

    Raises:
        RuntimeError: the data cannot be had (offline, checksum...), with how to get it.
        ValueError: a feature is missing, naming the ones there are.
    """
    import difflib
    import os

    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(name, tfds.list_builders(), n=3)
        raise ValueError(
            f"unknown TFDS dataset {name!r}"
            + (f"; did you mean {close}?" if close else "")
            + " (`tfds.list_builders()` lists them all)"
        ) from None
    if os.environ.get("ZOO_OFFLINE") == "1" and not builder.is_prepared():
        raise RuntimeError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir if data_dir else '~/tensorflow_datasets'} "
            f"and ZOO_OFFLINE=1 forbids downloading it. Run `tfds build {name}` on a machine with internet and "
            "copy its data folder here (or point --data-dir at it), or unset ZOO_OFFLINE"
        )
    try:
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
    """The (train, validation) split names; 90% / 10% of train when the default ``validation``
    split does not exist. Unknown names raise ValueError listing the splits there are."""
    splits = builder.info.splits
    if not list(splits):  # split names not known before preparation (e.g. under tfds.testing.mock_data)
        return train_split, val_split

    def known(split: str) -> bool:  # "train", "train[:80%]", "train+validation"
        return all(part.split("[")[0].strip() in splits for part in split.split("+"))

    if not known(train_split):
        raise ValueError(
            f"{builder.name} has no split {train_split!r} for training; its splits are {sorted(splits)} (--train-split)"
        )
    if val_split == "validation" and val_split not in splits and train_split in splits:
        return f"{train_split}[:90%]", f"{train_split}[90%:]"  # the default name, absent: hold out 10%
    if not known(val_split):
        raise ValueError(
            f"{builder.name} has no split {val_split!r} for validation; its splits are {sorted(splits)} (--val-split)"
        )
    return train_split, val_split


def count_examples(builder, split: str, dataset: tf.data.Dataset) -> int:
    """Examples in ``split``: from the dataset info, else the cardinality, else by counting."""
    splits = builder.info.splits
    known = splits[split].num_examples if split in splits else 0
    if known:
        return int(known)
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality >= 0 else int(dataset.reduce(0, lambda n, _: n + 1))

"""The project's version and the versions of the libraries a run or an export was made with."""

from __future__ import annotations

import sys

VERSION = "0.1.0"


def library_versions() -> dict[str, str]:
    """Versions of the libraries a run depends on."""
    import keras
    import numpy
    import tensorflow as tf

    versions = {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "zoo": VERSION,
    }
    try:
        import tensorflow_datasets as tfds

        versions["tensorflow_datasets"] = tfds.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    return versions

"""Helpers every floor may use: atomic file writes (``io``), lazy package names (``lazy``), a quiet
TensorFlow start (``startup``), every private Keras name the project relies on (``keras_internals``),
versions (``versions``) and headless plots (``plotting``). Importing this package loads nothing."""

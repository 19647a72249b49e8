"""Decoders and heads, one module per family: each holds its decoder (encoder feature maps, stride -> tensor,
in; a tensor out) and the builders that put it on a backbone, registered in ``zoo/models/registry.py``."""

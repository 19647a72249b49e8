"""Decoders: each takes encoder feature maps (stride -> tensor) and returns a tensor."""

from zoo.decoders.fcn import fcn_decoder
from zoo.decoders.heatmap import heatmap_head
from zoo.decoders.unet import unet_decoder

__all__ = ["fcn_decoder", "unet_decoder", "heatmap_head"]

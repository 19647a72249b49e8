"""Decoders: each takes encoder feature maps (stride -> tensor) and returns a tensor."""

from zoo.decoders.deeplab import deeplabv3plus_decoder
from zoo.decoders.fcn import fcn_decoder
from zoo.decoders.fpn import fpn_decoder
from zoo.decoders.heatmap import heatmap_head
from zoo.decoders.linknet import linknet_decoder
from zoo.decoders.pspnet import pspnet_decoder
from zoo.decoders.unet import unet_decoder
from zoo.decoders.unetplusplus import unetplusplus_decoder

__all__ = ["deeplabv3plus_decoder", "fcn_decoder", "fpn_decoder", "heatmap_head", "linknet_decoder",
           "pspnet_decoder", "unet_decoder", "unetplusplus_decoder"]

"""inpaintlab.nn: reusable layers."""

from inpaintlab.nn.partial_conv import PartialConv2d

__all__ = ["PartialConv2d"]

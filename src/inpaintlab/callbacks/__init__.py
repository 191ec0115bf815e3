"""Callbacks: metrics, image grids."""

from inpaintlab.callbacks.image_grid import ImageGrid, inpainting_grid
from inpaintlab.callbacks.metrics import HoleGradientL1, HoleL1, HolePSNR, InpaintingMetrics, inpainting_metrics

__all__ = ["HoleGradientL1", "HoleL1", "HolePSNR", "ImageGrid", "InpaintingMetrics", "inpainting_grid", "inpainting_metrics"]

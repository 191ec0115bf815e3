"""Callbacks: metrics, image grids, the generator's moving average."""

from inpaintlab.callbacks.ema import GeneratorEMA
from inpaintlab.callbacks.image_grid import ImageGrid, inpainting_grid
from inpaintlab.callbacks.metrics import HoleGradientL1, HoleL1, HolePSNR, InpaintingMetrics, inpainting_metrics

__all__ = ["GeneratorEMA", "HoleGradientL1", "HoleL1", "HolePSNR", "ImageGrid", "InpaintingMetrics", "inpainting_grid", "inpainting_metrics"]

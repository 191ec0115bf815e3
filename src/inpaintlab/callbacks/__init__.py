"""Callbacks: metrics, image grids, the generator's moving average, validation at the last step."""

from inpaintlab.callbacks.ema import GeneratorEMA
from inpaintlab.callbacks.image_grid import ImageGrid, inpainting_grid
from inpaintlab.callbacks.last_step import ValidateLastStep
from inpaintlab.callbacks.metrics import HoleGradientL1, HoleL1, HolePSNR, InpaintingMetrics, inpainting_metrics

__all__ = ["GeneratorEMA", "HoleGradientL1", "HoleL1", "HolePSNR", "ImageGrid", "InpaintingMetrics", "ValidateLastStep", "inpainting_grid",
           "inpainting_metrics"]

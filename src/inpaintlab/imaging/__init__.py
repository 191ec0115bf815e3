"""Image processing that is not a network (Poisson blending, ...): small, batched, device-agnostic torch code."""

from inpaintlab.imaging.poisson import poisson_blend

__all__ = ["poisson_blend"]

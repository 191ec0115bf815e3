"""Image processing that is not a network (Poisson blending, colour transfer, ...): small, batched, device-agnostic
torch code."""

from inpaintlab.imaging.colour_transfer import lab_statistics, reinhard_transfer
from inpaintlab.imaging.poisson import poisson_blend

__all__ = ["lab_statistics", "poisson_blend", "reinhard_transfer"]

"""The floor every inpainting method must clear: each hole filled with its own image's mean known colour."""

from __future__ import annotations

from torch import Tensor

from inpaintlab.errors import ConfigError

__all__ = ["known_mean_fill"]


def known_mean_fill(image: Tensor, mask: Tensor) -> Tensor:
    """The composite whose hole pixels are the per-image, per-channel mean of the known pixels (B×C×H×W in
    [-1, 1], mask B×1×H×W, 1 = hole); known pixels exactly as given. An image without known pixels gets 0 (mid-grey).
    A constant fill: the L1-free baseline of the comparison (``inpaintlab-compare``'s ``mean_fill`` row)."""
    if image.dim() != 4 or mask.dim() != 4 or mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
        raise ConfigError(f"known_mean_fill: need B×C×H×W image and B×1×H×W mask, got {tuple(image.shape)}, {tuple(mask.shape)}")
    known = 1.0 - (mask[:, :1] > 0.5).to(image.dtype)
    mean = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1.0)
    return image * known + mean * (1.0 - known)

"""Reinhard et al. (2001) colour transfer: match the per-channel mean and standard deviation in CIE Lab.

BTGMI (003) Sec. 4.4 synthesises its harmonization training data by transferring the colour of a guide image
I_g to an object I_o ("we then transfer the color from I_g to I_o", after [9]); this is that transfer. The
colour conversions are kornia's (``kornia.color.rgb_to_lab`` / ``lab_to_rgb``: sRGB, D65). Batched,
device-agnostic; images are B×3×H×W RGB in [0, 1], masks B×1×H×W weights (1 = the pixels whose statistics
count; None = every pixel).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["lab_statistics", "reinhard_transfer"]


def lab_statistics(rgb: Tensor, mask: Tensor | None = None, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Per-channel (mean, std) of ``rgb`` (B×3×H×W in [0, 1]) in CIE Lab over ``mask``: two B×3×1×1 tensors."""
    import kornia.color

    lab = kornia.color.rgb_to_lab(rgb.float().clamp(0.0, 1.0))
    w = torch.ones_like(lab[:, :1]) if mask is None else mask.to(lab.dtype)
    total = w.sum((2, 3), keepdim=True).clamp_min(eps)
    mean = (lab * w).sum((2, 3), keepdim=True) / total
    var = ((lab - mean) ** 2 * w).sum((2, 3), keepdim=True) / total
    return mean, var.clamp_min(0.0).sqrt()


def reinhard_transfer(source: Tensor, reference: Tensor, source_mask: Tensor | None = None,
                      reference_mask: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """003 Sec. 4.4 (after Reinhard 2001): ``source`` with the Lab mean/std of ``reference``.

    Statistics of ``source`` are taken over ``source_mask`` and those of ``reference`` over ``reference_mask``;
    every source pixel is mapped l' = (l − μ_s)/σ_s · σ_r + μ_r per Lab channel (σ_s floored at ``eps``), L is
    clamped to [0, 100] and the result converted back to RGB and clipped to [0, 1] (out-of-gamut colours move
    the statistics slightly). Returns B×3×H×W RGB in [0, 1].
    """
    import kornia.color

    mu_s, sd_s = lab_statistics(source, source_mask, eps)
    mu_r, sd_r = lab_statistics(reference, reference_mask, eps)
    lab = kornia.color.rgb_to_lab(source.float().clamp(0.0, 1.0))
    out = (lab - mu_s) / sd_s.clamp_min(eps) * sd_r + mu_r
    out = torch.cat([out[:, :1].clamp(0.0, 100.0), out[:, 1:]], 1)
    return kornia.color.lab_to_rgb(out, clip=True).to(source.dtype)

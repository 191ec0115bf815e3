"""GLCIC's post-processing (Iizuka et al. 2017 Sec. 3.4; 004 §2.4): fast marching, then Poisson blending.

The project's one Poisson solver (``inpaintlab.imaging.poisson_blend``) blends the completion into the
fast-marching result: inside the blend region the result keeps the completion's gradients, and its values meet
the fast-marching rim exactly, which removes the colour offset at the hole's border. Not OpenCV's
``seamlessClone`` (experiments/glcic/README.md says why).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.errors import ConfigError
from inpaintlab.imaging.fast_marching import telea_inpaint
from inpaintlab.imaging.poisson import poisson_blend

__all__ = ["glcic_postprocess", "seam_gradient"]


def _erode(hole: Tensor, ring: int) -> Tensor:
    """The hole shrunk by ``ring`` pixels from its known neighbours (the image border does not erode it)."""
    if ring <= 0:
        return hole
    known = 1.0 - hole
    grown = F.max_pool2d(known, 2 * ring + 1, stride=1, padding=ring)  # max-pool pads with −inf: no border effect
    return hole * (1.0 - grown)


def glcic_postprocess(composite: Tensor, mask: Tensor, ring: int = 1, radius: int = 1) -> Tensor:
    """Iizuka Sec. 3.4: fast marching (Telea, ``radius``) fills the holes from their border, then the completion is
    Poisson-blended onto it: inside the hole shrunk by ``ring`` px, Δx = Δcomposite (the completion's own
    gradients); on the rim of ``ring`` px, x = the fast-marching fill, a smooth continuation of the known pixels.
    The blend thus takes its boundary values from fast marching and its detail from the completion, which removes
    the colour offset at the hole's border. ``ring`` must be >= 1: the composite's gradients across the hole's
    border *are* the seam, so blending the whole hole against the known pixels would reproduce it. ``ring=1``
    (default) keeps the least fast-marching content; ``ring=3`` approximates the official code, whose
    ``seamlessClone`` erodes the blend region by ~3 px. Holes thinner than 2·ring + 1 px keep the fast-marching
    fill, as in the official code.

    Never fails on a legal mask (holes touching the border, several holes, strokes thinner than 3 px, no hole, a
    hole covering the whole image — returned unchanged: nothing to blend against). Known pixels of the result
    are ``composite``'s, bit for bit. Images B×C×H×W in [-1, 1], masks B×1×H×W with 1 = hole.
    """
    if isinstance(ring, bool) or int(ring) < 1:
        raise ConfigError(f"glcic_postprocess: ring must be >= 1 pixel (the fast-marching rim), got {ring!r}")
    hole = (mask[:, :1] > 0.5).to(composite.dtype)
    marched = telea_inpaint(composite, hole, radius=radius)
    region = _erode(hole, int(ring))
    blended = poisson_blend(marched, composite, region)
    out = torch.where(region > 0.5, blended.clamp(-1.0, 1.0), marched)
    return torch.where(hole.expand_as(out) > 0.5, out, composite)


def seam_gradient(image: Tensor, mask: Tensor) -> Tensor:
    """Mean |x_i − x_j| over 4-neighbour pairs with one pixel in the hole and one outside, per image (B): the
    visible seam at the hole's border (lower is smoother). Images without a border pair give NaN."""
    hole = (mask[:, :1] > 0.5).to(image.dtype)
    dv = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True)
    dh = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True)
    cv = (hole[..., 1:, :] - hole[..., :-1, :]).abs()
    ch = (hole[..., :, 1:] - hole[..., :, :-1]).abs()
    total = (dv * cv).flatten(1).sum(1) + (dh * ch).flatten(1).sum(1)
    count = cv.flatten(1).sum(1) + ch.flatten(1).sum(1)
    return total / count

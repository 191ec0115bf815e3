"""Yeh et al. 2017 (semantic inpainting by latent search): importance weights, context loss, prior loss.

Conventions of this code base: ``mask`` is B×1×H×W with 1 = hole. Yeh's paper uses M = 1 for KNOWN pixels;
the formulas below are written in this code base's convention (``known = 1 − mask``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.conventions import check_mask
from inpaintlab.errors import ConfigError

__all__ = ["context_loss", "importance_weights", "prior_loss"]


def importance_weights(mask: Tensor, window: int = 7, weighted: bool = True) -> Tensor:
    """Yeh et al. 2017 §3.2 Eq. 3: W_i = Σ_{j∈N(i)} (1 − M_j)/|N(i)| at a known pixel i, 0 in the hole.

    In Yeh's notation M = 1 marks known pixels, so a known pixel weighs the fraction of HOLE pixels in its
    ``window``×``window`` neighbourhood N(i) (centre included): known pixels more than ``window // 2`` pixels
    from every hole weigh 0, one touching a 3×3 hole weighs 9/49. At the image border N(i) holds only the
    in-image pixels (|N(i)| counts them). ``weighted=False``: the plain binary mask of known pixels (the
    bamos port's context loss), W = 1 − mask.

    Args:
        mask: B×1×H×W, 1 = hole. Returns B×1×H×W weights in [0, 1].
    """
    check_mask(mask, who="importance_weights", error=ConfigError)
    if window < 1 or window % 2 == 0:
        raise ConfigError(f"importance_weights: window must be an odd number of pixels >= 1, got {window}")
    hole = (mask > 0.5).to(torch.float32 if not mask.is_floating_point() else mask.dtype)
    known = 1.0 - hole
    if not weighted:
        return known
    frac_hole = F.avg_pool2d(hole, window, stride=1, padding=window // 2, count_include_pad=False)
    return known * frac_hole


def context_loss(output: Tensor, image: Tensor, weights: Tensor) -> Tensor:
    """Yeh et al. 2017 §3.2 Eq. 4: L_c(z | y, M) = ‖W ⊙ (G(z) − y)‖₁, one value per image (length-B tensor).

    ``weights`` (B×1×H×W) is shared by the channels; the L1 norm sums over channels and pixels.
    """
    return (weights * (output - image)).abs().flatten(1).sum(1)


def prior_loss(fake_logits: Tensor, weight: float = 0.003) -> Tensor:
    """Yeh et al. 2017 §3.2 Eq. 5: L_p(z) = λ·log(1 − D(G(z))) with D = sigmoid(logits), per image (length B).

    log(1 − sigmoid(l)) = −softplus(l), computed stably; λ = 0.003 in the paper.
    """
    return -float(weight) * F.softplus(fake_logits.reshape(fake_logits.shape[0], -1)).mean(1)

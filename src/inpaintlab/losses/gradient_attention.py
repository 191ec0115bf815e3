"""Gradient-attention inpainting loss (Context encoder loss with gradient attention, Sec. 3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.losses.base import LossTerm
from inpaintlab.losses.reconstruction import masked_mean


def image_gradient(image: Tensor) -> tuple[Tensor, Tensor]:
    """Backward differences ∇I_ij = (I_ij − I_(i−1)j, I_ij − I_i(j−1)) of Sec. 3, zero on the first row/column.

    Returns the vertical (i) and horizontal (j) components, each the shape of ``image`` (B×C×H×W).
    """
    if image.dim() != 4:
        raise ValueError(f"image_gradient expects a B×C×H×W tensor, got shape {tuple(image.shape)}")
    d_i = F.pad(image[:, :, 1:, :] - image[:, :, :-1, :], (0, 0, 1, 0))
    d_j = F.pad(image[:, :, :, 1:] - image[:, :, :, :-1], (1, 0, 0, 0))
    return d_i, d_j


def gradient_l1_map(pred: Tensor, target: Tensor) -> Tensor:
    """Per-pixel |∇I − ∇R|_1, the summand of grad_l1 (Sec. 3): both components' absolute differences added."""
    pi, pj = image_gradient(pred)
    ti, tj = image_gradient(target)
    return (pi - ti).abs() + (pj - tj).abs()


def dilate_mask(mask: Tensor, margin: int) -> Tensor:
    """The paper's "missing region with several pixels margin": the hole grown by ``margin`` pixels (square)."""
    if margin <= 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * margin + 1, stride=1, padding=margin)


class GradientAttentionLoss(LossTerm):
    """L_inp(I,R,M,α) = M⊙(l1(I,R) + α·grad_l1(I,R)) + (1−M)⊙l1(I,R)  (Sec. 3, the equation before Sec. 4).

    Norms are means over pixels and channels (the paper's MAE). ``margin`` grows the hole mask M by a few
    pixels, as the paper's M covers "the missing region with several pixels margin".
    """

    def __init__(self, alpha: float = 1.0, margin: int = 0, weight: float = 1.0, source: str = "output") -> None:
        super().__init__(weight=weight, source=source)
        if alpha < 0:
            raise ValueError(f"GradientAttentionLoss alpha must be >= 0, got {alpha}")
        if margin < 0:
            raise ValueError(f"GradientAttentionLoss margin must be >= 0 pixels, got {margin}")
        self.alpha = float(alpha)
        self.margin = int(margin)

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        m = dilate_mask(mask, self.margin).expand_as(pred)
        l1 = (pred - target).abs()
        per_pixel = m * (l1 + self.alpha * gradient_l1_map(pred, target)) + (1.0 - m) * l1
        return per_pixel.mean()

    def components(self, pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """The curves of Fig. 2–4: l1 over the image, l1 outside/inside M, grad_l1 inside M."""
        with torch.no_grad():
            m = dilate_mask(mask, self.margin)
            l1 = (pred - target).abs()
            return {
                "l1": l1.mean(),
                "l1_valid": masked_mean(l1, 1.0 - m),
                "l1_hole": masked_mean(l1, m),
                "grad_l1": gradient_l1_map(pred, target).mean(),
                "grad_l1_hole": masked_mean(gradient_l1_map(pred, target), m),
            }

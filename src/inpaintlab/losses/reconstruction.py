"""Pixel reconstruction losses: L1 over the image, and L1 restricted to the hole or the known region."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from inpaintlab.losses.base import LossTerm


def masked_mean(values: Tensor, weight: Tensor, eps: float = 1e-8) -> Tensor:
    """Mean of ``values`` weighted by ``weight`` (broadcast over channels)."""
    weight = weight.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(eps)


class L1Loss(LossTerm):
    """Mean absolute error over the whole image (Context Encoder Sec. 3.2 with L1; DeepFill v2 Sec. 3.4)."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        return (pred - target).abs().mean()


class MaskedL1Loss(LossTerm):
    """Mean absolute error inside the hole (``region="hole"``) or the known area (``region="valid"``)."""

    def __init__(self, region: str = "hole", weight: float = 1.0, source: str = "output") -> None:
        super().__init__(weight=weight, source=source)
        if region not in ("hole", "valid"):
            raise ValueError(f"MaskedL1Loss region must be 'hole' or 'valid', got {region!r}")
        self.region = region

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        weight = mask if self.region == "hole" else 1.0 - mask
        return masked_mean((pred - target).abs(), weight)


class MaskedL2Loss(LossTerm):
    """Masked L2 (Context Encoder Eq. 1; GLCIC Eq. 2): the weighted squared error Σ w·(pred − x)² over pixels and
    channels, w = M (1 = hole), divided by ``normalize``'s count:

    - ``"weights"``: Σ w, the mean squared error over the hole (Context Encoder's "normalized masked L2");
    - ``"image"``: every element of the image tensor (B·C·H·W), the plain mean of M ⊙ (pred − x) squared, i.e.
      GLCIC's ‖M_c ⊙ (C(x, M_c) − x)‖² as a mean over the image — smaller than ``"weights"`` by the hole fraction
      (a 19 % hole: ×0.19, so the adversarial weight α counts ~5× more against it).

    ``overlap`` > 0 adds Context Encoder's overlap ring (Sec. 5.1: the network predicts a region that overlaps the
    context by ``overlap`` px): the known band of that many pixels around the hole (its Chebyshev dilation minus
    the hole), weighted ``overlap_weight`` (10) times a hole pixel.
    """

    NORMALIZE = ("weights", "image")

    def __init__(self, overlap: int = 0, overlap_weight: float = 10.0, normalize: str = "weights",
                 weight: float = 1.0, source: str = "output") -> None:
        super().__init__(weight=weight, source=source)
        if int(overlap) < 0:
            raise ValueError(f"MaskedL2Loss overlap must be >= 0 pixels, got {overlap}")
        if normalize not in self.NORMALIZE:
            raise ValueError(f"MaskedL2Loss normalize must be one of {self.NORMALIZE}, got {normalize!r}")
        self.overlap, self.overlap_weight, self.normalize = int(overlap), float(overlap_weight), normalize

    def pixel_weights(self, mask: Tensor) -> Tensor:
        if not self.overlap:
            return mask
        k = 2 * self.overlap + 1
        ring = F.max_pool2d(mask, k, stride=1, padding=self.overlap) - mask
        return mask + self.overlap_weight * ring

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        squared, w = (pred - target).pow(2), self.pixel_weights(mask)
        if self.normalize == "image":
            return (squared * w).mean()
        return masked_mean(squared, w)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, overlap={self.overlap}, overlap_weight={self.overlap_weight}, "
                f"normalize={self.normalize!r}")

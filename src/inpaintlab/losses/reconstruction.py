"""Pixel reconstruction losses: L1 over the image, and L1 restricted to the hole or the known region."""

from __future__ import annotations

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
    """Mean squared error inside the hole (``region="hole"``, the ℓ2 of Context Encoder / GLCIC that BTGMI's
    Sec. 4.3 ablation puts in place of PPL), in the known area (``"valid"``) or over the whole image (``"all"``)."""

    def __init__(self, region: str = "hole", weight: float = 1.0, source: str = "output") -> None:
        super().__init__(weight=weight, source=source)
        if region not in ("hole", "valid", "all"):
            raise ValueError(f"MaskedL2Loss region must be 'hole', 'valid' or 'all', got {region!r}")
        self.region = region

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        if self.region == "all":
            return (pred - target).pow(2).mean()
        weight = mask if self.region == "hole" else 1.0 - mask
        return masked_mean((pred - target).pow(2), weight)

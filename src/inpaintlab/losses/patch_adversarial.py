"""BTGMI's Multi-Scale Patch Adversarial Loss (003 Sec. 3.2, Eq. 3–4, and the generator side, Eq. 6).

Every critic returns a map of patch logits; Q_k (one map per critic, 1 = the patch's receptive field overlaps a
hole) says which patches of the restored image are fake. Real images are real everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.losses.adversarial import Logits, NonSaturatingGANLoss, _each


class HoleAwarePatchGANLoss(NonSaturatingGANLoss):
    """Eq. 4: Σ_k E[log D_k(s_k, x_k)] + E[log |Q_k − D_k(s_k, G(s)_k)|] as binary cross-entropy per patch:
    real patches target 1; a restored image's patches target 0 where Q = 1 and 1 (real) elsewhere. The generator
    (Eq. 6, Q̄ reverses Q) pushes its hole-overlapping patches to "real": BCE(D, 1)·Q, averaged over all patches
    like the critic's loss — patches outside every hole see only known pixels and give the generator no
    gradient, so they are left out.

    Q comes from ``labels``, or else from the critic's ``label_maps(mask)`` when the training module passes the
    mask and the critic and ``hole_aware`` is on. ``hole_aware=False`` (or no labels) is a plain PatchGAN NS-GAN
    loss.
    """

    def __init__(self, weight: float = 1.0, hole_aware: bool = True) -> None:
        super().__init__(weight=weight)
        self.hole_aware = bool(hole_aware)

    def labels(self, mask: Tensor | None, discriminator: nn.Module | None) -> Mapping[str, Tensor] | None:
        """Q per critic from the critic's receptive fields, or None (unlabelled) without hole awareness."""
        if not self.hole_aware or mask is None or discriminator is None:
            return None
        if not hasattr(discriminator, "label_maps"):
            raise ConfigError(
                f"HoleAwarePatchGANLoss needs a critic with label_maps(mask) (MultiScalePatchDiscriminator), got "
                f"{type(discriminator).__name__}; set model.adversarial.hole_aware=false for a plain PatchGAN loss"
            )
        return discriminator.label_maps(mask)

    def discriminator_loss(self, real_logits: Logits, fake_logits: Logits, mask: Tensor | None = None,
                           discriminator: nn.Module | None = None,
                           labels: Mapping[str, Tensor] | None = None) -> Tensor:
        labels = labels if labels is not None else self.labels(mask, discriminator)
        if labels is None:
            return super().discriminator_loss(real_logits, fake_logits)
        real, fake = _each(real_logits), _each(fake_logits)
        total = 0.0
        for k in real:
            q = labels[k].to(fake[k].dtype).expand_as(fake[k])
            total = total + F.binary_cross_entropy_with_logits(real[k], torch.ones_like(real[k]))
            total = total + F.binary_cross_entropy_with_logits(fake[k], 1.0 - q)
        return total

    def generator_loss(self, fake_logits: Logits, mask: Tensor | None = None, discriminator: nn.Module | None = None,
                       labels: Mapping[str, Tensor] | None = None) -> Tensor:
        labels = labels if labels is not None else self.labels(mask, discriminator)
        if labels is None:
            return super().generator_loss(fake_logits)
        fake = _each(fake_logits)
        total = 0.0
        for k, f in fake.items():
            q = labels[k].to(f.dtype).expand_as(f)
            total = total + (F.binary_cross_entropy_with_logits(f, torch.ones_like(f), reduction="none") * q).mean()
        return total

    def extra_repr(self) -> str:
        return f"weight={self.weight}, hole_aware={self.hole_aware}"

"""BTGMI's Multi-Scale Patch Adversarial Loss (003 Sec. 3.2, Eq. 3–4, and the generator side, Eq. 6).

Every critic returns a map of patch logits; Q_k (one map per critic, 1 = the patch's receptive field overlaps a
hole) says which patches of the restored image are fake. Real images are real everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.losses.adversarial import Logits, NonSaturatingGANLoss, _each


class HoleAwarePatchGANLoss(NonSaturatingGANLoss):
    """Eq. 4: Σ_k E[log D_k(s_k, x_k)] + E[log |Q_k − D_k(s_k, G(s)_k)|] as binary cross-entropy per patch:
    real patches target 1; a restored image's patches target 0 where Q = 1 and 1 (real) elsewhere. The generator
    (Eq. 6, Q̄ reverses Q) pushes its hole-overlapping patches to "real": BCE(D, 1)·Q, averaged over all patches
    like the critic's loss — patches outside every hole see only known pixels and give the generator no
    gradient, so they are left out. Without labels (``labels=None``) this is a plain PatchGAN NS-GAN loss.
    """

    def discriminator_loss(self, real_logits: Logits, fake_logits: Logits, labels: Mapping[str, Tensor] | None = None) -> Tensor:
        if labels is None:
            return super().discriminator_loss(real_logits, fake_logits)
        real, fake = _each(real_logits), _each(fake_logits)
        total = 0.0
        for k in real:
            q = labels[k].to(fake[k].dtype).expand_as(fake[k])
            total = total + F.binary_cross_entropy_with_logits(real[k], torch.ones_like(real[k]))
            total = total + F.binary_cross_entropy_with_logits(fake[k], 1.0 - q)
        return total

    def generator_loss(self, fake_logits: Logits, labels: Mapping[str, Tensor] | None = None) -> Tensor:
        if labels is None:
            return super().generator_loss(fake_logits)
        fake = _each(fake_logits)
        total = 0.0
        for k, f in fake.items():
            q = labels[k].to(f.dtype).expand_as(f)
            total = total + (F.binary_cross_entropy_with_logits(f, torch.ones_like(f), reduction="none") * q).mean()
        return total

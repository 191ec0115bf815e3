"""Adversarial objectives behind one interface (NS-GAN, WGAN-GP with a masked gradient penalty, hinge).

Every objective exposes ``generator_loss(fake_logits, mask=None, discriminator=None)``,
``discriminator_loss(real_logits, fake_logits, mask=None, discriminator=None)`` and
``penalty(discriminator, real, fake, mask)``; ``weight`` is the generator-side weight (β, λ_adv, …) that the
training module multiplies in. The training module always passes the mask (1 = hole) and the critic, so an
objective that needs them (BTGMI's hole-aware labels, from the critic's receptive fields) derives what it needs
itself — the same shape as LaMa's adversarial-loss interface. Logits may be a tensor or a dict of tensors (several critics, e.g. DeepFill
v1's global and local ones): losses are summed over the dict's entries, as the papers add their critics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.nn.precision import fp32, full_precision

Logits = Tensor | Mapping[str, Tensor]


def _each(logits: Logits) -> dict[str, Tensor]:
    """Logits by critic name, in fp32 (the losses are computed in full precision under mixed precision)."""
    items = logits.items() if isinstance(logits, Mapping) else (("", logits),)
    return {k: fp32(v) for k, v in items}


class AdversarialLoss(nn.Module):
    """Base class: a GAN objective with a generator-side weight."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = float(weight)

    def _g(self, fake: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _d(self, real: Tensor, fake: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def generator_loss(self, fake_logits: Logits, mask: Tensor | None = None,
                       discriminator: nn.Module | None = None) -> Tensor:
        return sum(self._g(f) for f in _each(fake_logits).values())

    def discriminator_loss(self, real_logits: Logits, fake_logits: Logits, mask: Tensor | None = None,
                           discriminator: nn.Module | None = None) -> Tensor:
        real, fake = _each(real_logits), _each(fake_logits)
        if real.keys() != fake.keys():
            raise ValueError(f"real and fake logits name different critics: {sorted(real)} vs {sorted(fake)}")
        return sum(self._d(real[k], fake[k]) for k in real)

    def penalty(self, discriminator: Callable[..., Logits], real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
        """Regulariser added to the discriminator loss (none by default)."""
        return real.new_zeros(())

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


class NonSaturatingGANLoss(AdversarialLoss):
    """Goodfellow et al. 2014 Eq. 1 with the non-saturating generator loss (Context Encoder, GLCIC)."""

    def _g(self, fake: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))

    def _d(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )


class HingeGANLoss(AdversarialLoss):
    """SN-PatchGAN hinge loss (DeepFill v2 Sec. 3.2 Eq. for L_D, L_G = −E[D(G(z))]; CR-Fill Eq. 1 and 3).

    ``d_scale`` multiplies both discriminator hinges: 1 in the papers, 0.5 in DeepFill v2's official code.
    ``generator_form``: "mean" is −E[D(fake)] (DeepFill v2; CR-Fill's official code), "hinge" is
    E[ReLU(1 − D(fake))], CR-Fill's Eq. 3 as printed.
    """

    GENERATOR_FORMS = ("mean", "hinge")

    def __init__(self, weight: float = 1.0, d_scale: float = 1.0, generator_form: str = "mean") -> None:
        super().__init__(weight=weight)
        if generator_form not in self.GENERATOR_FORMS:
            raise ConfigError(f"HingeGANLoss generator_form must be one of {self.GENERATOR_FORMS}, got {generator_form!r}")
        self.d_scale = float(d_scale)
        self.generator_form = generator_form

    def _g(self, fake: Tensor) -> Tensor:
        return F.relu(1.0 - fake).mean() if self.generator_form == "hinge" else -fake.mean()

    def extra_repr(self) -> str:
        return f"weight={self.weight}, d_scale={self.d_scale}, generator_form={self.generator_form!r}"

    def _d(self, real: Tensor, fake: Tensor) -> Tensor:
        return self.d_scale * (F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())


class WGANGPLoss(AdversarialLoss):
    """WGAN with gradient penalty (Gulrajani et al. 2017, Alg. 1; λ=10), optionally on hole pixels only.

    ``masked_penalty=True`` is DeepFill v1 Sec. 4.2: the gradient norm is taken over the missing pixels only,
    ‖∇D(x̂) ⊙ m‖ with x̂ on the line between real and fake. One penalty per critic when D returns a dict.
    """

    def __init__(self, weight: float = 1.0, gp_weight: float = 10.0, masked_penalty: bool = False) -> None:
        super().__init__(weight=weight)
        self.gp_weight = float(gp_weight)
        self.masked_penalty = bool(masked_penalty)

    def _g(self, fake: Tensor) -> Tensor:
        return -fake.mean()

    def _d(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def penalty(self, discriminator: Callable[..., Logits], real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
        """Eq. 3's penalty; the critic's forward and double backward run in fp32 even under mixed precision."""
        real, fake, mask = fp32(real), fp32(fake), fp32(mask)
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
        with torch.enable_grad(), full_precision(real.device.type):
            outs = _each(discriminator(x_hat, mask))
            total = real.new_zeros(())
            for out in outs.values():
                (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
                total = total + gradient_penalty_from_grad(grad, mask if self.masked_penalty else None)
        return self.gp_weight * total

    def extra_repr(self) -> str:
        return f"weight={self.weight}, gp_weight={self.gp_weight}, masked_penalty={self.masked_penalty}"


def gradient_penalty_from_grad(grad: Tensor, mask: Tensor | None = None) -> Tensor:
    """E[(‖∇D(x̂)⊙m‖₂ − 1)²] (WGAN-GP Eq. 3; DeepFill v1 Sec. 4.2 when ``mask`` is given, 1 = hole)."""
    sq = grad.pow(2)
    if mask is not None:
        sq = sq * mask.expand_as(grad)
    norms = torch.sqrt(sq.flatten(1).sum(1) + 1e-12)
    return (norms - 1.0).pow(2).mean()

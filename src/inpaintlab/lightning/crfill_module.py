"""CR-Fill training (Zeng et al., "Image Inpainting with Contextual Reconstruction Loss", Sec. 3–4, Eq. 1–7).

:class:`CRFillModule` is :class:`~inpaintlab.lightning.InpaintingModule` with five hooks overridden, nothing
else: ``generator_forward`` asks the generator for its 1/4-resolution features and, in training only, builds
the auxiliary image A(U) (Eq. 5–6); ``generator_loss`` adds λ·L_CR (Eq. 2, 7); ``discriminator_loss`` adds the
auxiliary image's own critic loss (official ``D_Fake_aux + D_real_aux``); ``generator_parameters`` /
``discriminator_parameters`` put the auxiliary network with the generator and the auxiliary critic with the
discriminator. The coarse L1, the refinement's β·L1 and the adversarial term (Eq. 3) stay the base module's named
terms, and every base-module argument (``phases``, ``generator_batch``, …) works as for any module. In eval mode
the generator runs alone, so a CR-trained model has the baseline's parameters and cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.lightning.inpainting_module import InpaintingModule
from inpaintlab.losses.contextual_reconstruction import ContextualReconstructionLoss

DISCRIMINATOR_MASKS = ("none", "mask", "ones")


def _ones_mask_pre_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Official CR-Fill critics see a ones channel instead of the mask (``--d_mask_in`` off)."""
    if len(args) > 1 and args[1] is not None:
        args = (args[0], torch.ones_like(args[1]), *args[2:])
    elif kwargs.get("mask") is not None:
        kwargs = {**kwargs, "mask": torch.ones_like(kwargs["mask"])}
    return args, kwargs


class CRFillModule(InpaintingModule):
    """CR-Fill Sec. 3–4: Eq. 2 objective L(Y) + λ·L_CR, with L_CR = L(A(U)) (Eq. 7) from a training-only branch.

    ``cr_loss`` (a :class:`ContextualReconstructionLoss`) owns λ (``weight``), β for the auxiliary image
    (``l1_weight``), the auxiliary network and the auxiliary critic; ``cr_loss=None`` or λ = 0 trains the
    Baseline (the same generator without the CR term). ``discriminator_mask``: what the critics see besides the
    image — ``"none"`` (Eq. 1 and 3: D(X), D(Y∘M+U), the default; critics with ``in_channels=3``), ``"mask"``
    (SN-PatchGAN's fourth channel as in DeepFill v2) or ``"ones"`` (official CR-Fill code, ``--d_mask_in`` off:
    a channel of ones); a critic whose ``in_channels`` does not fit is refused. Other arguments as
    :class:`InpaintingModule`. Logged: ``loss/cr`` (L_CR before λ), ``loss/cr_l1``, ``loss/cr_adv`` and the
    auxiliary critic's ``loss/adv_d_aux``.
    """

    def __init__(self, *args: Any, cr_loss: ContextualReconstructionLoss | None = None,
                 discriminator_mask: str = "none", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        discriminator = self.discriminator
        if cr_loss is not None and not isinstance(cr_loss, ContextualReconstructionLoss):
            raise ConfigError(
                f"model.cr_loss must be a ContextualReconstructionLoss (or null for the Baseline), got "
                f"{type(cr_loss).__name__}"
            )
        if cr_loss is not None and cr_loss.discriminator is not None and discriminator is None:
            # the base module takes critic steps only when model.discriminator is set
            raise ConfigError(
                "model.cr_loss.discriminator needs model.discriminator: the auxiliary critic trains in the "
                "discriminator step of a GAN; set model.cr_loss.discriminator=null for an L1-only CR loss"
            )
        if discriminator_mask not in DISCRIMINATOR_MASKS:
            raise ConfigError(
                f"model.discriminator_mask must be one of {DISCRIMINATOR_MASKS}, got {discriminator_mask!r}"
            )
        channels = 3 + (discriminator_mask != "none")
        for name, critic in (("model.discriminator", discriminator),
                             ("model.cr_loss.discriminator", None if cr_loss is None else cr_loss.discriminator)):
            found = getattr(critic, "in_channels", None)
            if found is not None and int(found) != channels:
                raise ConfigError(
                    f"{name}.in_channels={found} does not fit model.discriminator_mask={discriminator_mask!r}: "
                    f"expected {channels} (the image{'' if channels == 3 else ' + a ' + discriminator_mask + ' channel'})"
                )
        self.cr_loss = cr_loss
        self.discriminator_mask = discriminator_mask
        if discriminator_mask == "ones":
            for critic in (discriminator, self.aux_discriminator):
                if critic is not None:
                    critic.register_forward_pre_hook(_ones_mask_pre_hook, with_kwargs=True)

    # ---------------------------------------------------------------- helpers
    @property
    def aux_discriminator(self) -> nn.Module | None:
        return None if self.cr_loss is None else self.cr_loss.discriminator

    @property
    def uses_cr(self) -> bool:
        """Whether training builds the auxiliary image (λ > 0); λ = 0 is exactly the Baseline."""
        return self.cr_loss is not None and self.cr_loss.weight != 0

    def cr_terms(self, out: Mapping[str, Tensor], image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """L_CR = β·‖A(U) − X‖₁ + w_adv·adv_G(D_aux(A(U)∘M + U)) (Eq. 3 applied to A(U), Eq. 7), unweighted by λ.

        The same value as ``ContextualReconstructionLoss.forward`` returns divided by λ, computed from the
        auxiliary image built in ``generator_forward`` (before this step's critic update).
        """
        cr = self.cr_loss
        l1 = (out["aux"] - image).abs().mean()
        if cr.discriminator is not None:
            adv = cr.adversarial.generator_loss(cr.discriminator(out["aux_composite"], mask), mask=mask,
                                                discriminator=cr.discriminator)
        else:
            adv = l1.new_zeros(())
        return {"cr": cr.l1_weight * l1 + cr.adversarial.weight * adv, "cr_l1": l1, "cr_adv": adv}

    # ---------------------------------------------------------------- hooks
    def generator_forward(self, image: Tensor, mask: Tensor) -> Mapping[str, Tensor]:
        """Eval: the generator alone (inference path). Training: also its features and A(U) (Eq. 4–6)."""
        if not (self.training and self.uses_cr):
            return super().generator_forward(image, mask)
        out = dict(self.generator(image * (1.0 - mask), mask, return_features=True))
        if "attention_features" not in out:
            raise ConfigError(
                f"the CR loss needs the generator's 1/4-resolution features: {type(self.generator).__name__} "
                f"returned {sorted(out)} with return_features=True (use a CoarseToFineGenerator)"
            )
        # built once per batch and shared by the critic step (detached there) and the generator step
        aux = self.cr_loss.auxiliary_image(out.pop("attention_features"), out["output"], image, mask)
        out["aux"], out["aux_composite"] = aux["aux"], aux["aux_composite"]
        return out

    def generator_loss(
        self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 2: the base module's named terms (coarse L1, β·L1, adversarial) + λ·L_CR."""
        total, logs = super().generator_loss(batch, out)
        if "aux" in out:
            terms = self.cr_terms(out, batch["image"], batch["mask"])
            logs.update({f"loss/{k}": v.detach() for k, v in terms.items()})
            total = total + self.cr_loss.weight * terms["cr"]
            logs["loss/total"] = total.detach()
        return total, logs

    def discriminator_loss(
        self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 1 for the main critic, plus the same hinge for the auxiliary critic on A(U)∘M + U."""
        d_total, logs = super().discriminator_loss(batch, out)
        if "aux" in out and self.aux_discriminator is not None:
            d_aux = self.cr_loss.discriminator_loss(out["aux"], batch["image"], batch["mask"])
            logs["loss/adv_d_aux"] = d_aux.detach()
            d_total = d_total + d_aux
        return d_total, logs

    def generator_parameters(self) -> list[nn.Parameter]:
        """The generator's and the auxiliary network's (official ``ArrangeModel.create_optimizers``)."""
        extra = self.cr_loss.generator_parameters() if self.cr_loss is not None else []
        return [*super().generator_parameters(), *extra]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """The critic's and the auxiliary critic's, in one optimiser."""
        extra = self.cr_loss.discriminator_parameters() if self.cr_loss is not None else []
        return [*super().discriminator_parameters(), *extra]

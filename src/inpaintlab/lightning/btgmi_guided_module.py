"""BTGMI's joint inpainting + harmonization training (003 Sec. 4.4) on synthesised guided composites.

:class:`GuidedBTGMIModule` is :class:`~inpaintlab.lightning.BTGMIModule` (PPL + MSPAL, block growth, ALA) with
small hooks: the generator reads the batch's composite and [box, foreground] planes (``forward_batch``), the
MSPAL critics judge both outputs (``adversarial_sources``) conditioned on that same input s as Eq. 1 says
(``discriminator_inputs``), and evaluation scores the combined image of
:func:`inpaintlab.inference.guided.guided_result` — plus the un-harmonized paste as ``composite_paste`` and
the inpainting output alone as ``composite_inpainted``. Batches (``inpaintlab.data.coco.CocoGuided``): "image"
= I (the ground truth of both outputs), "mask" = the box I_b (the hole of every loss), "composite",
"foreground".
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from inpaintlab.conventions import composite
from inpaintlab.errors import ConfigError
from inpaintlab.lightning.btgmi_module import BTGMIModule


class GuidedBTGMIModule(BTGMIModule):
    """Sec. 4.4: "the model is modified to output two images, one for inpainting result and the other for
    harmonization result. We use the original I as the ground truth for both tasks." Loss terms name their output
    by ``source`` ("output" / "harmonized"); arguments as :class:`BTGMIModule`."""

    adversarial_sources = ("output", "harmonized")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        want = getattr(self.generator, "image_channels", 3) + 2  # s = [composite, box, foreground]
        have = getattr(self.discriminator, "condition_channels", want)
        if self.discriminator is not None and have != want:
            raise ConfigError(f"the guided BTGMI critic is conditioned on s = [composite, box, foreground] (Eq. 1): "
                              f"set model.discriminator.condition_channels={want}, got {have}")

    def generator_input(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """s of Sec. 4.4: the composite "together with the foreground/background segmentation mask of I_b" —
        (composite, planes [box, foreground])."""
        missing = [k for k in ("composite", "foreground") if k not in batch]
        if missing:
            raise ConfigError(
                f"the guided BTGMI model needs batches with {missing} (data=coco_guided: CocoGuided composites)"
            )
        composite_ = batch["composite"]
        planes = torch.cat([batch["mask"], batch["foreground"] * batch["mask"]], 1).to(composite_.dtype)
        return composite_, planes

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        out = self.generator(*self.generator_input(batch))
        if "harmonized" not in out:
            raise ConfigError("the guided BTGMI model needs a two-output generator (model/generator=btgmi_guided)")
        return out

    def discriminator_inputs(self, batch: Mapping[str, Tensor], x: Tensor, real: bool = False) -> tuple[Tensor, ...]:
        """Eq. 1's D(s, x) with the guided model's s: the critic sees [x, composite, box, foreground], for I and for
        both outputs alike (``model.discriminator.condition_channels`` = image channels + 2)."""
        return x, batch["mask"], torch.cat(self.generator_input(batch), 1)

    def generator_forward(self, image: Tensor, mask: Tensor) -> Mapping[str, Tensor]:
        """Plain inpainting without a guide (``module(image, mask)``, predict): the hole zeroed, no foreground — as
        ``GuidedAdapter.fill``."""
        return self.generator(image * (1.0 - mask), torch.cat([mask, torch.zeros_like(mask)], 1).to(image.dtype))

    def eval_outputs(self, batch: Mapping[str, Tensor], stage: str) -> dict[str, Tensor]:
        """Scores the combined image (harmonized object, inpainted background) as "composite"; the plain paste
        and the inpainting output alone as variants."""
        from inpaintlab.inference.guided import guided_result

        image, mask = batch["image"], batch["mask"]
        out = self.forward_batch(batch)
        final = guided_result(out["output"], out["harmonized"], batch["composite"], mask, batch["foreground"])
        return {"loss": self.reconstruction_loss(batch, out), "output": out["output"], "composite": final,
                "composite_paste": batch["composite"], "composite_inpainted": composite(out["output"], image, mask)}

"""Yeh et al. 2017: train the unconditional DCGAN prior with the base module, evaluate by latent search."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import adapter_for
from inpaintlab.lightning.inpainting_module import InpaintingModule, OptimizerFactory, composite
from inpaintlab.losses.adversarial import AdversarialLoss
from inpaintlab.losses.base import LossTerm


class LatentPriorModule(InpaintingModule):
    """The base module's G/D schedule on an unconditional GAN (Yeh et al. 2017 §3.1, DCGAN prior).

    Training: ``generator_forward`` ignores the masked image and returns G(z) for z drawn from the prior
    (one z per batch image); the critic sees G(z) against the real images (``fake_input="output"``) with the
    standard GAN loss — the base module's ``training_step`` unchanged, no reconstruction term.
    Evaluation: validation and test inpaint by latent search + Poisson blending through the generator's
    inference adapter (``LatentSearchAdapter``), with ``val_search`` / ``test_search`` options (validation
    during training uses fewer steps), and log ``<stage>/sec_per_image``, the search's cost.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        adversarial: AdversarialLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        losses: Mapping[str, LossTerm] | None = None,
        val_search: Mapping[str, Any] | None = None,
        test_search: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("fake_input", "output") != "output":
            raise ConfigError("LatentPriorModule: the critic compares G(z) with real images: fake_input must be 'output'")
        kwargs["fake_input"] = "output"
        super().__init__(generator=generator, losses=losses or {}, optimizer_g=optimizer_g,
                         discriminator=discriminator, adversarial=adversarial, optimizer_d=optimizer_d, **kwargs)
        if not hasattr(generator, "sample_z"):
            raise ConfigError(f"LatentPriorModule needs a latent-variable generator with sample_z(); got {type(generator).__name__}")
        self.val_search = dict(val_search or {})
        self.test_search = dict(test_search or {})
        for opts in (self.val_search, self.test_search):
            adapter_for(generator, discriminator, **opts)  # unknown options fail now, not after training

    def generator_forward(self, image: Tensor, mask: Tensor) -> Mapping[str, Tensor]:
        """G(z), z ~ U(−1, 1)^100, one per batch image (the inputs only set the batch size and device)."""
        z = self.generator.sample_z(image.shape[0], device=image.device)
        return {"output": self.generator(z)}

    def inference_adapter(self, stage: str = "test", **overrides: Any):
        """The generator's adapter (latent search + blend) with this stage's options."""
        opts = {**(self.val_search if stage == "val" else self.test_search), **overrides}
        return adapter_for(self.generator, self.discriminator, **opts)

    def forward(self, image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Inpaint by latent search and Poisson blending (the test options); "composite" keeps known pixels."""
        return self._search(image, mask, "test")

    def _search(self, image: Tensor, mask: Tensor, stage: str) -> dict[str, Tensor]:
        adapter = self.inference_adapter(stage)
        start = time.perf_counter()
        filled = adapter.fill(image, mask)
        seconds = (time.perf_counter() - start) / max(1, image.shape[0])
        raw = adapter.last_search["output"]
        return {"output": filled, "raw": raw, "composite": composite(filled, image, mask),
                "sec_per_image": torch.tensor(seconds)}

    def _eval_step(self, batch: Mapping[str, Tensor], stage: str) -> dict[str, Tensor]:
        image, mask = batch["image"], batch["mask"]
        out = self._search(image, mask, stage)
        n = image.shape[0]
        hole = mask.expand_as(image)
        l1_hole = ((out["composite"] - image).abs() * hole).sum() / hole.sum().clamp_min(1.0)
        self.log(f"{stage}/loss", l1_hole, on_step=False, on_epoch=True, sync_dist=True, batch_size=n)
        self.log(f"{stage}/sec_per_image", out["sec_per_image"], on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=n)
        return {"output": out["output"], "composite": out["composite"]}

    def predict_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        return self._search(batch["image"], batch["mask"], "test")

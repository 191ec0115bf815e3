"""Yeh et al. 2017: train the unconditional DCGAN prior with the base module, evaluate by latent search."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import adapter_for, fill_composite
from inpaintlab.lightning.inpainting_module import InpaintingModule, OptimizerFactory
from inpaintlab.losses.adversarial import AdversarialLoss
from inpaintlab.losses.base import LossTerm


class LatentPriorModule(InpaintingModule):
    """The base module's G/D schedule on an unconditional GAN (Yeh et al. 2017 §3.1, DCGAN prior).

    Training: ``generator_forward`` ignores the masked image and returns G(z) for z drawn from the prior
    (one z per batch image); the critic sees G(z) against the real images (``fake_input="output"``) with the
    standard GAN loss — the base module's ``training_step`` unchanged, no reconstruction term.
    Evaluation: validation and test inpaint by latent search + Poisson blending through the generator's
    inference adapter (``LatentSearchAdapter``): the test with ``inference_options`` (the base module's
    ``inference_adapter``; the adapter's defaults are the paper's 1,500 steps), validation during training
    with ``val_search`` merged over them (fewer steps). Both log ``<stage>/sec_per_image``, the search's cost.
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
        **kwargs: Any,
    ) -> None:
        if kwargs.get("fake_input", "output") != "output":
            raise ConfigError("LatentPriorModule: the critic compares G(z) with real images: fake_input must be 'output'")
        kwargs["fake_input"] = "output"
        super().__init__(generator=generator, losses=losses or {}, optimizer_g=optimizer_g,
                         discriminator=discriminator, adversarial=adversarial, optimizer_d=optimizer_d, **kwargs)
        if not hasattr(generator, "sample_z"):
            raise ConfigError(
                f"LatentPriorModule needs a latent-variable generator with sample_z(); got {type(generator).__name__}"
            )
        self.val_search = dict(val_search or {})
        adapter_for(generator, discriminator, **self.val_search)  # unknown options fail now, not after training

    def generator_forward(self, image: Tensor, mask: Tensor) -> Mapping[str, Tensor]:
        """G(z), z ~ U(−1, 1)^100, one per batch image (the inputs only set the batch size and device)."""
        z = self.generator.sample_z(image.shape[0], device=image.device)
        return {"output": self.generator(z)}

    def stage_adapter(self, stage: str):
        """The adapter of a stage: ``inference_adapter`` (test, inference), with ``val_search`` for "val"."""
        if stage == "val" and self.val_search:
            return adapter_for(self.generator, self.discriminator, **{**(self.inference_options or {}), **self.val_search})
        return self.inference_adapter

    def forward(self, image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Inpaint by latent search and Poisson blending; "composite" keeps the known pixels exactly."""
        return self._search(image, mask, "test")

    def _search(self, image: Tensor, mask: Tensor, stage: str) -> dict[str, Tensor]:
        adapter = self.stage_adapter(stage)
        start = time.perf_counter()
        result = fill_composite(adapter, image, mask)
        seconds = (time.perf_counter() - start) / max(1, image.shape[0])
        found = adapter.last_search
        return {"output": found["output"] if found is not None else result, "composite": result,
                "sec_per_image": torch.tensor(seconds)}

    def eval_outputs(self, batch: Mapping[str, Tensor], stage: str) -> dict[str, Tensor]:
        """The search's composite and its cost; "loss" is the L1 in the hole (the prior has no reconstruction
        term)."""
        image, mask = batch["image"], batch["mask"]
        out = self._search(image, mask, stage)
        hole = mask.expand_as(image)
        l1_hole = ((out["composite"] - image).abs() * hole).sum() / hole.sum().clamp_min(1.0)
        return {"loss": l1_hole, "sec_per_image": out["sec_per_image"], "output": out["output"],
                "composite": out["composite"]}

    def predict_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        return self._search(batch["image"], batch["mask"], "test")

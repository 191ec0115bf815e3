"""GLCIC's training module: the base module with its three-phase schedule, scored with and without post-processing."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from inpaintlab.conventions import composite
from inpaintlab.lightning.inpainting_module import InpaintingModule


class GLCICModule(InpaintingModule):
    """Iizuka et al. 2017 Alg. 1 is the base module with ``phases`` (completion network alone on the MSE for T_C,
    the discriminator alone for T_D, then both); nothing of the training step changes here.

    Validation and test score what inference produces (the base module: the adapter with ``inference_options``;
    GLCIC's adapter post-processes by default — Sec. 3.4, fast marching + Poisson blending). With
    ``eval_both=True`` the step also returns the other variant, so one evaluation reports the metrics with and
    without post-processing: ``{val,test}/…`` as inference runs, plus ``{val,test}/raw/…`` (no post-processing)
    or ``{val,test}/post/…`` (with it) when inference runs without.
    """

    def __init__(self, *args, eval_both: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.eval_both = bool(eval_both)

    def eval_outputs(self, batch: Mapping[str, Tensor], stage: str) -> dict[str, Tensor]:
        out = super().eval_outputs(batch, stage)
        if self.eval_both:
            image, mask = batch["image"], batch["mask"]
            adapter = self.inference_adapter
            raw = composite(out["output"], image, mask)
            if adapter.settings["postprocess"]:
                out["composite_raw"] = raw
            else:
                from inpaintlab.imaging.postprocess import glcic_postprocess

                post = glcic_postprocess(raw, mask, ring=adapter.settings["blend_ring"])
                out["composite_post"] = composite(post, image, mask)
        return out

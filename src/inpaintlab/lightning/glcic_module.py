"""GLCIC's training module: the base module with its three-phase schedule, plus post-processed evaluation."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from inpaintlab.lightning.inpainting_module import InpaintingModule


class GLCICModule(InpaintingModule):
    """Iizuka et al. 2017 Alg. 1 is the base module with ``phases`` (completion network alone on the MSE for T_C,
    the discriminator alone for T_D, then both); nothing of the training step changes here.

    ``postprocess_eval=True`` also scores the paper's post-processing (Sec. 3.4: fast marching + Poisson blending,
    ``inpaintlab.imaging.postprocess.glcic_postprocess``) at validation and test: the step returns
    ``composite_post`` beside ``composite`` and the metrics callback logs ``{val,test}/post/…`` next to the raw
    numbers, so one evaluation reports the metrics with and without it.
    """

    def __init__(self, *args, postprocess_eval: bool = True, postprocess_ring: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.postprocess_eval = bool(postprocess_eval)
        self.postprocess_ring = int(postprocess_ring)

    def _eval_step(self, batch: Mapping[str, Tensor], stage: str) -> dict[str, Tensor]:
        out = super()._eval_step(batch, stage)
        if self.postprocess_eval:
            from inpaintlab.imaging.postprocess import glcic_postprocess

            out["composite_post"] = glcic_postprocess(out["composite"], batch["mask"], ring=self.postprocess_ring)
        return out

"""GLCIC's training module: the base module with its three-phase schedule, scored with and without post-processing."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

from inpaintlab.conventions import composite
from inpaintlab.lightning.inpainting_module import InpaintingModule


class GLCICModule(InpaintingModule):
    """Iizuka et al. 2017 Alg. 1 is the base module with ``phases`` (completion network alone on the MSE for T_C,
    the discriminator alone for T_D, then both); nothing of the training step changes here.

    ``real_mask``: the generator of M_d, the masks real images are scored with (Alg. 1: "generate masks M_d with
    random holes for each image" besides the fake batch's M_c; the local discriminator looks at M_d's hole in a
    real image). The experiments pass the training mask generator; ``None`` scores real images at the fake
    batch's holes M_c (the local critic then compares the same place of the real and the completed image).
    M_d is drawn from torch's global RNG, which checkpoints save and resume restores.

    Validation and test score what inference produces (the base module: the adapter with ``inference_options``;
    GLCIC's adapter post-processes by default — Sec. 3.4, fast marching + Poisson blending). With
    ``eval_both=True`` the step also returns the other variant, so one evaluation reports the metrics with and
    without post-processing: ``{val,test}/…`` as inference runs, plus ``{val,test}/raw/…`` (no post-processing)
    or ``{val,test}/post/…`` (with it) when inference runs without.
    """

    def __init__(self, *args, eval_both: bool = True, real_mask: Callable[..., Tensor] | None = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.eval_both = bool(eval_both)
        self.real_mask = real_mask

    def discriminator_inputs(self, batch: Mapping[str, Tensor], x: Tensor, real: bool = False) -> tuple[Tensor, ...]:
        """Alg. 1: real images with their own random masks M_d, fakes with the holes M_c they were completed in."""
        if not real or self.real_mask is None:
            return super().discriminator_inputs(batch, x, real)
        b, _, h, w = x.shape
        m_d = self.real_mask(b, h, w).to(device=x.device, dtype=batch["mask"].dtype)
        return x, m_d

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

"""The coarse-to-fine family (DeepFill v1/v2, CR-Fill) at inference: its size rules and the high-resolution mode.

* ``size_multiple``: 8 with contextual attention (two stride-2 convs, then matching at rate 2), 4 for CR-Fill;
  with the coarse network at ``coarse_scale`` also whatever makes that size an exact multiple of its own (4).
* ``min_size``: networks with mirror-padded convs (DeepFill v1 with its paper's ``padding=reflect``) need
  1/4-scale maps wider than their dilation 16, so smaller images are padded up to 68 px (136 at half scale).
* Option ``coarse_scale`` (``--highres`` = 0.5): CR-Fill Sec. 5.1 "High-resolution inpainting" — the coarse
  network runs at that fraction of the input size (area-averaged input; a small pixel is a hole if any pixel
  under it is) and its output is interpolated back bilinearly before the refinement network.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.conventions import composite
from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import Adapter, register_adapter
from inpaintlab.models.coarse_to_fine import COARSE_BOTTLENECK, HALLUCINATION, CoarseToFineGenerator

COARSE_MULTIPLE = 4  # the coarse network's two stride-2 convs


def _generator(model: Any) -> Any:
    gen = getattr(model, "generator", None)  # an InpaintingModule: use its generator
    return gen if gen is not None and hasattr(gen, "forward") and hasattr(model, "training_step") else model


def pad_multiple(model: Any, coarse_scale: float = 1.0) -> int:
    """Height and width are padded to a multiple of this: the generator's ``size_multiple`` and, when the
    coarse network runs at ``coarse_scale``, whatever makes that size an exact multiple of its own (4)."""
    m = int(getattr(_generator(model), "size_multiple", 1))
    k = COARSE_MULTIPLE / coarse_scale
    if coarse_scale != 1.0 and abs(k - round(k)) < 1e-9:
        m = math.lcm(m, round(k))
    return m


def least_size(model: Any, coarse_scale: float = 1.0) -> int:
    """The smallest height/width the network runs at: with mirror-padded convs (DeepFill v1's paper padding,
    ``padding="reflect"``) the 1/4-scale maps must be wider than the largest dilation (16), in the coarse
    network at ``coarse_scale`` too; other paddings have no minimum."""
    gen = _generator(model)
    if getattr(gen, "padding", None) != "reflect":
        return 1
    dilation = max(spec[4] for spec in COARSE_BOTTLENECK + HALLUCINATION)
    return math.ceil(4 * (dilation + 1) / coarse_scale)


def _out_act(gen: Any, x: Tensor) -> Tensor:
    act = getattr(gen, "out_act", "tanh")
    if act == "tanh":
        return torch.tanh(x)
    if act == "clip":
        return x.clamp(-1.0, 1.0)
    return x


def check_coarse_scale(scale: Any) -> float:
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise ConfigError(f"coarse_scale must be a number in (0, 1], got {scale!r}") from None
    if not (0.0 < scale <= 1.0) or not math.isfinite(scale):
        raise ConfigError(f"coarse_scale must be in (0, 1], got {scale}")
    return scale


def coarse_to_fine(
    gen: Any, masked: Tensor, mask: Tensor, coarse_scale: float = 1.0, composited: bool = False
) -> dict:
    """``CoarseToFineGenerator.forward`` with the coarse network at ``coarse_scale`` of the input size.

    CR-Fill Sec. 5.1 ("High-resolution inpainting", ``coarse_scale=0.5``). ``coarse_scale=1`` is the
    generator's own forward. Inputs: B×C×H×W masked image and B×1×H×W mask (1 = hole), H and W multiples of
    ``pad_multiple(gen, coarse_scale)``; returns ``{"output", "coarse"}`` (coarse at full size).
    ``composited=True``: only the hole pixels of ``"output"`` are used, so the attention runs only where it
    can reach them (exact there; ``CoarseToFineGenerator.attention_region``)."""
    check_coarse_scale(coarse_scale)
    if coarse_scale == 1.0:
        return gen(masked, mask, composited=composited) if composited else gen(masked, mask)
    if not (hasattr(gen, "coarse") and hasattr(gen, "refine")):
        raise ConfigError(
            f"{type(gen).__name__} has no coarse/refine networks: a reduced coarse scale needs a "
            "coarse-to-fine generator (deepfill_v1, deepfill_v2, crfill)"
        )
    h, w = masked.shape[-2:]
    hs = max(COARSE_MULTIPLE, round(h * coarse_scale / COARSE_MULTIPLE) * COARSE_MULTIPLE)
    ws = max(COARSE_MULTIPLE, round(w * coarse_scale / COARSE_MULTIPLE) * COARSE_MULTIPLE)
    mask = mask.to(masked.dtype)
    small_mask = (F.interpolate(mask, size=(hs, ws), mode="area") > 0).to(masked.dtype)
    small = F.interpolate(masked, size=(hs, ws), mode="area") * (1.0 - small_mask)
    ones = torch.ones_like(small_mask)
    coarse_small = _out_act(gen, gen.coarse(torch.cat([small, ones, small_mask], dim=1)))
    coarse = F.interpolate(coarse_small, size=(h, w), mode="bilinear", align_corners=False)
    pasted = composite(coarse, masked, mask)
    if getattr(gen, "refine_with_mask", False):
        pasted = torch.cat([pasted, torch.ones_like(mask), mask], dim=1)
    region = gen.attention_region(mask, composited) if hasattr(gen, "attention_region") else None
    raw, _ = gen.refine(pasted, mask, region)
    return {"output": _out_act(gen, raw), "coarse": coarse}


@register_adapter(CoarseToFineGenerator)
class CoarseToFineAdapter(Adapter):
    """DeepFill v1/v2 and CR-Fill: ``generator(image·(1−mask), mask)``, optionally with a reduced coarse scale."""

    options = {
        "coarse_scale": (1.0, "run the coarse network at this fraction of the input size, 0 < s <= 1 "
                              "(CR-Fill Sec. 5.1 high-resolution mode: 0.5)"),
    }

    def __init__(self, generator, discriminator=None, **options: Any) -> None:
        super().__init__(generator, discriminator, **options)
        self.settings["coarse_scale"] = check_coarse_scale(self.settings["coarse_scale"])

    @property
    def size_multiple(self) -> int:
        return pad_multiple(self.generator, self.settings["coarse_scale"])

    @property
    def min_size(self) -> int:
        return least_size(self.generator, self.settings["coarse_scale"])

    @property
    def fill_is_forward(self) -> bool:
        return self.settings["coarse_scale"] == 1.0

    def fill(self, image: Tensor, mask: Tensor) -> Tensor:
        masked = image * (1.0 - mask)
        return coarse_to_fine(self.generator, masked, mask, self.settings["coarse_scale"], self.composited)["output"]

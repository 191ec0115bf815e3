"""BTGMI (003) Sec. 4.4 training composites for joint inpainting + harmonization, one sample at a time.

Given an image I with an object I_o (its segmentation mask) and another image I_g, both H×W:

1. the colour of I_g is transferred to I_o (Reinhard mean/std in Lab, ``inpaintlab.imaging.reinhard_transfer``;
   statistics of I_o over its mask, of I_g over all its pixels);
2. I_o is pasted onto I_g at a random location;
3. a box I_b of I_g containing the pasted I_o is cropped: the object's bounding box grown by random margins
   (``margin``: a fraction of the object's height/width drawn per side), limited so that the box fits in I_g and,
   placed back, in I;
4. I_b is pasted back into I at the object's place (the object lands on its original pixels).

Outputs (images in [-1, 1], masks 1×H×W float):

* ``composite`` — I with I_b pasted: equal to I outside the box, bit for bit;
* ``mask`` — 1 on I_b's region (the hole of both outputs' losses), 0 elsewhere;
* ``foreground`` — 1 on I_o's pixels (the foreground/background segmentation of I_b the network also gets),
  always inside ``mask``;
* ``box`` — (x, y, w, h) of I_b in I, int64.

The ground truth of both outputs is I itself. The draws come from the ``torch.Generator`` passed in, so a
sample is a function of its seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from inpaintlab.conventions import hole_boxes
from inpaintlab.errors import ConfigError
from inpaintlab.imaging.colour_transfer import reinhard_transfer

__all__ = ["object_box", "synthesize_guided"]


def object_box(mask: Tensor) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the non-zero pixels of a 1×H×W or H×W mask (``conventions.hole_boxes``)."""
    m = mask.reshape(1, 1, *mask.shape[-2:])
    if not bool((m > 0).any()):
        raise ConfigError("synthesize_guided: the object mask is empty")
    top, left, height, width = (int(v) for v in hole_boxes(m)[0])
    return top, left, height, width


def _randint(lo: int, hi: int, generator: torch.Generator | None) -> int:
    """Uniform integer in [lo, hi] (inclusive)."""
    return lo if hi <= lo else int(torch.randint(lo, hi + 1, (), generator=generator))


def _uniform(lo: float, hi: float, generator: torch.Generator | None) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def synthesize_guided(image: Tensor, object_mask: Tensor, guide: Tensor, generator: torch.Generator | None = None,
                      margin: Sequence[float] = (0.1, 0.5), colour_transfer: bool = True) -> dict[str, Tensor]:
    """003 Sec. 4.4: one composite from ``image`` I (3×H×W, [-1, 1]), ``object_mask`` (1×H×W, > 0 = I_o) and
    ``guide`` I_g (3×H×W, same size). See the module docstring for the steps and outputs."""
    if image.shape != guide.shape:
        raise ConfigError(f"synthesize_guided: image {tuple(image.shape)} and guide {tuple(guide.shape)} differ in size")
    lo, hi = float(margin[0]), float(margin[1])
    if not 0 <= lo <= hi:
        raise ConfigError(f"margin must be [low, high] with 0 <= low <= high, got {list(margin)}")
    _, h, w = image.shape
    fg = (object_mask.reshape(1, h, w) > 0).to(image.dtype)
    y0, x0, oh, ow = object_box(fg)
    y1, x1 = y0 + oh, x0 + ow
    # 1. colour of I_g onto I_o (statistics of the object pixels → those of the whole guide)
    obj = image
    if colour_transfer:
        unit = reinhard_transfer(image[None].add(1).mul(0.5), guide[None].add(1).mul(0.5), source_mask=fg[None])[0]
        obj = unit.mul(2).sub(1).to(image.dtype)
    # 3. (drawn first) the box I_b around the object: margins per side, inside I
    top = min(y0, round(_uniform(lo, hi, generator) * oh))
    bottom = min(h - y1, round(_uniform(lo, hi, generator) * oh))
    left = min(x0, round(_uniform(lo, hi, generator) * ow))
    right = min(w - x1, round(_uniform(lo, hi, generator) * ow))
    by0, by1, bx0, bx1 = y0 - top, y1 + bottom, x0 - left, x1 + right
    bh, bw = by1 - by0, bx1 - bx0
    # 2. I_o pasted onto I_g at a random location where its box I_b fits
    gy, gx = _randint(0, h - bh, generator), _randint(0, w - bw, generator)
    crop = guide[:, gy:gy + bh, gx:gx + bw]
    obj_box, fg_box = obj[:, by0:by1, bx0:bx1], fg[:, by0:by1, bx0:bx1]
    pasted = obj_box * fg_box + crop * (1 - fg_box)  # I_b: the object over I_g's background
    # 4. I_b back into I at the object's place
    composite = image.clone()
    composite[:, by0:by1, bx0:bx1] = pasted
    hole = torch.zeros_like(fg)
    hole[:, by0:by1, bx0:bx1] = 1
    return {
        "composite": composite,
        "mask": hole,
        "foreground": fg,
        "box": torch.tensor([bx0, by0, bw, bh], dtype=torch.int64),
    }

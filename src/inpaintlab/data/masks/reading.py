"""The one rule for what a hole is in a mask picture, used by ``inpaintlab-inpaint``, the web app, the Python API
(``Inpainter.fill``), the datasets' mask files (``IrregularFileMask``, ``ObjectShapeMask``) and frozen mask sets.

1. **Levels.** Each pixel has a level between 0 (known) and the mask's *top* (hole): its grey value, or for
   colour pixels the largest channel (a red or blue stroke counts as fully bright). The top is the format's full
   scale — 255 for 8 bits, 65535 for 16 bits, 1.0 for float pictures whose values stay within [0, 1] — except
   that a mask of **two levels**, 0 and v, is binary and v is its top: a **0/1 mask** (NumPy and label-map
   exports), 0/255, a stroke of one grey. Palette pictures are read as they look (palette colours, not
   indices); 1-bit pictures are 0/1.
2. **Alpha.** When the colours of the visible pixels (alpha > 0) are all the same and the alpha varies — a
   painted transparent layer as GIMP or Photoshop export it, often black — **the alpha is the mask**. Otherwise
   a pixel is as bright as it looks over black: level × opacity (a fully transparent pixel is known whatever
   colour it stores); a uniform alpha above zero is ignored.
3. **Half way.** A pixel is a hole when its level is at least half the top. Anti-aliased edges and JPEG noise
   are therefore cut at half coverage, the threshold the datasets' bilinear resizing uses too; ``grey`` counts
   the pixels strictly between the two extremes, which is what the tools warn about (a 0/1 or 0/255 mask has
   none).

``MaskReading.coverage`` (level / top, in [0, 1]) is what a dataset resizes before applying the same half-way
threshold; ``MaskReading.inverted()`` swaps hole and known (``--invert-mask``, ``white_is_hole=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from inpaintlab.errors import InpaintlabError

__all__ = ["MaskReading", "read_mask_levels"]


@dataclass(frozen=True)
class MaskReading:
    """A mask picture read by the rule above: per-pixel ``levels`` (0 = known … ``top`` = hole) and which
    channel carried them (``via``: "grey", "colour", "alpha" or "colour × alpha")."""

    levels: np.ndarray  # H×W, integer or float
    top: float
    via: str

    @property
    def hole(self) -> np.ndarray:
        """H×W bool, True = hole: level ≥ half the top."""
        if np.issubdtype(self.levels.dtype, np.integer) and float(self.top).is_integer():
            return self.levels >= (int(self.top) + 1) // 2  # 255 → 128, 65535 → 32768, 1 → 1
        return self.levels >= self.top / 2

    @property
    def coverage(self) -> np.ndarray:
        """H×W float32 in [0, 1]: how much of each pixel is hole."""
        return np.clip(self.levels.astype(np.float32) / np.float32(self.top), 0.0, 1.0)

    @property
    def grey(self) -> int:
        """Pixels strictly between known (0) and hole (top): anti-aliased edges, JPEG noise, soft brushes."""
        return int(np.count_nonzero((self.levels > 0) & (self.levels < self.top)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.levels.shape

    def inverted(self) -> MaskReading:
        """Hole and known swapped (black = hole), on the same scale."""
        return MaskReading(np.asarray(self.top, dtype=self.levels.dtype) - self.levels, self.top, self.via)


def _top(a: np.ndarray) -> float:
    """The level of a full hole in channel ``a``: its format's full scale, or v for a channel of two levels 0 and v."""
    peak = a.max() if a.size else 0
    if peak > 0 and not np.any((a != 0) & (a != peak)):
        return float(peak)  # two levels: a binary mask (0/1 from NumPy, 0/255, …)
    peak = float(peak)
    if np.issubdtype(a.dtype, np.floating):
        return 1.0 if peak <= 1.0 else 255.0 if peak <= 255.0 else 65535.0
    if a.dtype == np.uint8:
        return 255.0
    return 65535.0 if peak > 255 else 255.0  # 16- and 32-bit integers: the same rule as data.transforms.to_rgb


def _as_array(mask: Any) -> np.ndarray:
    """H×W or H×W×C array of a PIL image (palette and exotic modes as they look) or of an array."""
    from PIL import Image

    if isinstance(mask, Image.Image):
        mode = mask.mode
        if mode in ("1", "L", "I", "F", "LA", "RGB", "RGBA") or mode.startswith("I;16"):
            a = np.asarray(mask)
            return a.astype(np.uint16) if mode.startswith("I;16") else a
        if mode == "La":
            return np.asarray(mask.convert("LA"))
        if mode in ("PA", "RGBa") or (mode == "P" and "transparency" in mask.info):
            return np.asarray(mask.convert("RGBA"))
        return np.asarray(mask.convert("RGB"))  # palette (as it looks), CMYK, YCbCr, LAB, HSV
    if isinstance(mask, np.ndarray):
        if not (mask.ndim == 2 or (mask.ndim == 3 and 1 <= mask.shape[2] <= 4)) or 0 in mask.shape[:2]:
            raise InpaintlabError(
                f"mask array has shape {mask.shape}: expected H×W or H×W×C (C ≤ 4, alpha last for 2 and 4)"
            )
        if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
            raise InpaintlabError(f"mask array has dtype {mask.dtype}: expected bool, integers or floats")
        return mask
    raise InpaintlabError(f"mask must be a PIL image or a numpy array, got {type(mask).__name__}")


def _value(colour: np.ndarray) -> np.ndarray:
    """A pixel's level from its colour channels (H×W×C): the largest channel."""
    return colour[..., 0] if colour.shape[2] == 1 else colour.max(axis=2)


def read_mask_levels(mask: Any) -> MaskReading:
    """The ``MaskReading`` of a PIL image or an array (H×W, or H×W×C with C ≤ 4 and alpha last for 2 and 4)."""
    a = _as_array(mask)
    if a.dtype == bool:  # 1-bit pictures and bool arrays: 0/1 masks
        a = a.view(np.uint8)
    if np.issubdtype(a.dtype, np.signedinteger):
        a = np.clip(a, 0, None)
    if a.ndim == 2 or a.shape[2] in (1, 3):
        colour = a if a.ndim == 3 else a[..., None]
        levels = _value(colour)
        return MaskReading(levels, _top(levels), "grey" if colour.shape[2] == 1 else "colour")
    colour, alpha = a[..., :-1], a[..., -1]
    visible = alpha > 0
    lo, hi = (alpha.min(), alpha.max()) if alpha.size else (0, 0)
    if lo != hi:
        seen = colour[visible]
        if seen.size == 0 or (seen == seen[:1]).all():
            return MaskReading(alpha, _top(alpha), "alpha")  # one colour painted through the alpha
    elif hi > 0:  # uniformly (semi-)opaque: the colours alone
        levels = _value(colour)
        return MaskReading(levels, _top(levels), "grey" if colour.shape[2] == 1 else "colour")
    value = _value(colour)
    over_black = (value.astype(np.float32) / np.float32(_top(value))) * (alpha.astype(np.float32) / np.float32(_top(alpha)))
    return MaskReading(over_black, 1.0, "colour × alpha")

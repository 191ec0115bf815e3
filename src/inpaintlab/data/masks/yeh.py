"""The mask families of Yeh et al. 2017 §4 beyond the centre block: random pixels, half image, random pattern."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from inpaintlab.data.masks.base import MaskGenerator, _randint, _uniform
from inpaintlab.errors import ConfigError

__all__ = ["HalfImageMask", "RandomPatternMask", "RandomPixelMask"]


class RandomPixelMask(MaskGenerator):
    """Each pixel is a hole independently with probability ``ratio`` (Yeh et al. 2017 §4: 80 % missing)."""

    def __init__(self, ratio: float = 0.8, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(ratio) <= 1.0:
            raise ConfigError(f"RandomPixelMask: ratio must lie in [0, 1], got {ratio}")
        self.ratio = float(ratio)

    def _generate(self, n, height, width, g):
        return (torch.rand(n, 1, height, width, generator=g) < self.ratio).float()

    def extra_repr(self):
        return f"ratio={self.ratio}"


class HalfImageMask(MaskGenerator):
    """Half of the image is missing (Yeh et al. 2017 §4 "half"): one of ``sides`` picked uniformly per mask.

    ``sides`` ⊂ {left, right, top, bottom}; the hole covers ⌈W/2⌉ columns (or ⌈H/2⌉ rows) on that side.
    """

    SIDES = ("left", "right", "top", "bottom")

    def __init__(self, sides: Sequence[str] = SIDES, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(sides, str):
            sides = [sides]
        sides = list(sides)
        bad = [s for s in sides if s not in self.SIDES]
        if not sides or bad:
            raise ConfigError(f"HalfImageMask: sides must be a non-empty subset of {list(self.SIDES)}, got {sides}")
        self.sides = sides

    def _generate(self, n, height, width, g):
        pick = _randint(n, 0, len(self.sides) - 1, g)
        side = torch.tensor([self.SIDES.index(s) for s in self.sides])[pick]  # n indices into SIDES
        rows = torch.arange(height).view(1, height, 1)
        cols = torch.arange(width).view(1, 1, width)
        hh, hw = (height + 1) // 2, (width + 1) // 2
        s = side.view(n, 1, 1)
        hole = ((s == 0) & (cols < hw)) | ((s == 1) & (cols >= width - hw)) | ((s == 2) & (rows < hh)) | (
            (s == 3) & (rows >= height - hh)
        )
        return hole[:, None].float()

    def extra_repr(self):
        return f"sides={self.sides}"


class RandomPatternMask(MaskGenerator):
    """Random blob-shaped regions (Yeh et al. 2017 §4 "pattern", after Context Encoder's random-region masks).

    Context Encoder (reference-notes): uniform noise upsampled smoothly and thresholded (< 0.25), a window
    accepted only if 20–30 % of it is hole. Here: U(0, 1) noise on a grid of ``cells`` cells across the image
    (the Context Encoder's 600² → 10000² noise cropped to 128² has ≈ 7.7 cells across), bilinearly
    interpolated at a random sub-cell offset, thresholded below ``threshold``, redrawn until the hole ratio
    lies in [``min_hole_ratio``, ``max_hole_ratio``] (default 0.2–0.3).
    """

    def __init__(self, cells: float = 7.68, threshold: float = 0.25, min_hole_ratio: float | None = 0.2,
                 max_hole_ratio: float | None = 0.3, max_tries: int = 1000, **kwargs) -> None:
        super().__init__(min_hole_ratio=min_hole_ratio, max_hole_ratio=max_hole_ratio, max_tries=max_tries, **kwargs)
        if float(cells) <= 0:
            raise ConfigError(f"RandomPatternMask: cells must be > 0, got {cells}")
        if not 0.0 < float(threshold) < 1.0:
            raise ConfigError(f"RandomPatternMask: threshold must lie in (0, 1), got {threshold}")
        self.cells, self.threshold = float(cells), float(threshold)

    def _generate(self, n, height, width, g):
        if n == 0:
            return torch.zeros(0, 1, height, width)
        side = max(height, width)
        k = int(self.cells) + 3  # noise grid, with room for the random offset
        noise = torch.rand(n, 1, k, k, generator=g)
        offset = _uniform((n, 1, 1, 2), 0.0, 1.0, g).float()  # sub-cell shift (x, y)
        ys = torch.arange(height, dtype=torch.float32) * self.cells / side
        xs = torch.arange(width, dtype=torch.float32) * self.cells / side
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        pos = torch.stack([gx, gy], -1)[None] + offset  # in cell units, within [0, k - 2]
        grid = pos / (k - 1) * 2 - 1  # align_corners=True coordinates
        smooth = F.grid_sample(noise, grid, mode="bilinear", align_corners=True)
        return (smooth < self.threshold).float()

    def extra_repr(self):
        return f"cells={self.cells}, threshold={self.threshold}"

"""Context Encoder's random-region masks: windows of one large thresholded, upsampled noise pattern."""

from __future__ import annotations

import torch
from torch import Tensor

from inpaintlab.data.masks.base import MaskGenerator
from inpaintlab.errors import ConfigError

__all__ = ["ContextEncoderRegionMask"]


class ContextEncoderRegionMask(MaskGenerator):
    """Pathak Sec. 3.3 "random region" as the released ``train_random.lua`` makes it (reference-notes).

    One big pattern — ``noise_size``² uniform noise bilinearly upsampled to ``pattern_size``² and thresholded
    ``< threshold`` — drawn once from ``pattern_seed``; every mask is an H×W window of it at a random position,
    redrawn until its hole ratio lies in [``min_hole_ratio``, ``max_hole_ratio``] (20–30 %). One mask per batch
    (``per_batch=True``), as the released code does. The 10000² pattern is never materialised: a window is
    interpolated from the ~H·noise/pattern noise cells under it, vectorised over the batch.

    The released code makes 128² masks; other sizes scale the pattern by min(H, W)/``reference_size`` (128), so a
    256² mask looks like a 128² one upsampled (the same hole shapes and the same chance to be 20–30 % hole).
    About 0.5 % of windows are 20–30 % hole (mean 10.6 %): ``max_tries`` = 10,000 redraw rounds leave a failure
    probability of 0.995^10000 ≈ 1e-22 per mask.
    """

    def __init__(
        self,
        noise_size: int = 600,
        pattern_size: int = 10000,
        threshold: float = 0.25,
        pattern_seed: int = 0,
        per_batch: bool = True,
        min_hole_ratio: float | None = 0.2,
        max_hole_ratio: float | None = 0.3,
        max_tries: int = 10000,
        reference_size: int = 128,
    ) -> None:
        super().__init__(per_batch=per_batch, min_hole_ratio=min_hole_ratio, max_hole_ratio=max_hole_ratio,
                         max_tries=max_tries)
        if not 2 <= int(noise_size) <= int(pattern_size):
            raise ConfigError(f"ContextEncoderRegionMask: need 2 <= noise_size <= pattern_size, got {noise_size}, {pattern_size}")
        self.noise_size, self.pattern_size = int(noise_size), int(pattern_size)
        self.threshold, self.pattern_seed = float(threshold), int(pattern_seed)
        self.reference_size = int(reference_size)
        self.noise = torch.rand(self.noise_size, self.noise_size, generator=torch.Generator().manual_seed(self.pattern_seed),
                                dtype=torch.float64)

    def _coords(self, start: Tensor, extent: int, pattern: int) -> tuple[Tensor, Tensor, Tensor]:
        """Bilinear source indices (i0, i1) and weights for pixels start..start+extent of a ``pattern``² upsampling
        of the noise (align_corners=False)."""
        pos = start[:, None].double() + torch.arange(extent, dtype=torch.float64)[None]
        src = ((pos + 0.5) * (self.noise_size / pattern) - 0.5).clamp(0, self.noise_size - 1)
        i0 = src.floor().long()
        i1 = (i0 + 1).clamp(max=self.noise_size - 1)
        return i0, i1, src - i0

    def _generate(self, n, height, width, g):
        pattern = max(1, round(self.pattern_size * min(height, width) / self.reference_size))
        if height > pattern or width > pattern:
            raise ConfigError(f"ContextEncoderRegionMask: {height}×{width} masks exceed the {pattern}² pattern")
        top = torch.randint(0, pattern - height + 1, (n,), generator=g)
        left = torch.randint(0, pattern - width + 1, (n,), generator=g)
        r0, r1, wr = self._coords(top, height, pattern)  # n×H
        c0, c1, wc = self._coords(left, width, pattern)  # n×W
        z = self.noise

        def at(r: Tensor, c: Tensor) -> Tensor:
            return z[r[:, :, None], c[:, None, :]]  # n×H×W

        wr, wc = wr[:, :, None], wc[:, None, :]
        v = (at(r0, c0) * (1 - wr) * (1 - wc) + at(r0, c1) * (1 - wr) * wc + at(r1, c0) * wr * (1 - wc)
             + at(r1, c1) * wr * wc)
        return (v < self.threshold).float()[:, None]

    def extra_repr(self):
        return (f"noise_size={self.noise_size}, pattern_size={self.pattern_size}, threshold={self.threshold}, "
                f"pattern_seed={self.pattern_seed}, reference_size={self.reference_size}")

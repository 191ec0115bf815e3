"""Rectangular holes: the centre square, random rectangles, DeepFill v1's jittered box, BTGMI's and CR-Fill's boxes."""

from __future__ import annotations

import torch
from torch import Tensor

from inpaintlab.data.masks.base import MaskGenerator, _pair, _randint, _uniform
from inpaintlab.errors import ConfigError

__all__ = ["CenterSquareMask", "DeepFillBoxMask", "RandomBoxMask", "boxes_to_masks"]


def boxes_to_masks(boxes: Tensor, height: int, width: int, active: Tensor | None = None) -> Tensor:
    """Rasterise n×K boxes (top, left, h, w) into n×1×H×W holes; ``active`` (n×K bool) drops unused slots."""
    if boxes.dim() == 2:
        boxes = boxes[:, None]
    t, l, h, w = boxes.unbind(-1)  # each n×K
    rows = torch.arange(height)
    cols = torch.arange(width)
    in_rows = (rows >= t[..., None]) & (rows < (t + h)[..., None])  # n×K×H
    in_cols = (cols >= l[..., None]) & (cols < (l + w)[..., None])  # n×K×W
    if active is not None:
        in_rows = in_rows & active[..., None]
    # a pixel is a hole if some box covers both its row and its column: Σ_k rows[k] ⊗ cols[k], capped at 1
    # (a batched outer product on the small n×K×H / n×K×W factors; comparisons on n×H×W would be slower)
    holes = torch.bmm(in_rows.float().transpose(1, 2), in_cols.float())
    return holes.clamp_(max=1.0)[:, None]


def _side(size: float, extent: int, name: str) -> int:
    """``size`` in pixels (int), or as a fraction of ``extent`` (float in (0, 1])."""
    if isinstance(size, float) and size <= 1.0:
        return max(1, round(size * extent))
    if isinstance(size, float) and not size.is_integer():
        raise ConfigError(f"{name} must be whole pixels (int) or a fraction in (0, 1], got {size}")
    return int(size)


def _vertical_horizontal(value, name: str) -> tuple[int, int]:
    """``v`` or ``(vertical, horizontal)``."""
    if isinstance(value, (int, float)):
        return int(value), int(value)
    try:
        v, h = value
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an int or a [vertical, horizontal] pair, got {value!r}") from None
    return int(v), int(h)


class CenterSquareMask(MaskGenerator):
    """A ``size``×``size`` hole in the image centre (Context Encoder Sec. 3.3; gradient attention Sec. 4: 64² in 128²).

    ``size``: pixels (int) or a fraction of the shorter side (float ≤ 1, e.g. 0.5 → 14 px on MNIST's 28²).
    ``margin`` shrinks the hole by that many pixels on each side, as Context Encoder's ``overlapPred`` does:
    the network then sees a (size − 2·margin)² hole inside the size² region it predicts.
    """

    def __init__(self, size: float = 0.5, margin: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0:
            raise ConfigError(f"CenterSquareMask: size must be a positive int (pixels) or a fraction in (0, 1], got {size!r}")
        if int(margin) < 0:
            raise ConfigError(f"CenterSquareMask: margin must be >= 0 pixels, got {margin}")
        self.size = size
        self.margin = int(margin)

    def _generate(self, n, height, width, g):
        s = _side(self.size, min(height, width), "CenterSquareMask size")
        if s > min(height, width):
            raise ConfigError(f"CenterSquareMask: a {s}-pixel square does not fit a {height}×{width} image")
        inner = s - 2 * self.margin
        if inner <= 0:
            raise ConfigError(f"CenterSquareMask: margin {self.margin} leaves no hole inside a {s}-pixel square")
        out = torch.zeros(n, 1, height, width)
        top, left = (height - s) // 2 + self.margin, (width - s) // 2 + self.margin
        out[:, :, top : top + inner, left : left + inner] = 1.0
        return out

    def extra_repr(self):
        return f"size={self.size}, margin={self.margin}"


class RandomBoxMask(MaskGenerator):
    """``count`` random axis-aligned rectangles (BTGMI Sec. 4: one or two of 1/4–1/2 of the side; LaMa's boxes).

    ``size``: [min, max] side in pixels (both inclusive), or ``size_ratio``: [min, max] as fractions of the image
    height (for the box height) and width (for the box width). ``square=True`` draws one side for both (CR-Fill
    Sec. 5's 64–128 px squares, taken relative to the shorter side with ``size_ratio``). Boxes keep ``margin``
    pixels from the border and may overlap; the largest size is clamped to what fits, as LaMa does.
    """

    def __init__(
        self,
        count: int | tuple[int, int] = 1,
        size: int | tuple[int, int] | None = None,
        size_ratio: float | tuple[float, float] | None = None,
        square: bool = False,
        margin: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.count = _pair(count, "RandomBoxMask count")
        if self.count[0] < 0:
            raise ConfigError(f"RandomBoxMask: count must be >= 0, got {self.count}")
        if (size is None) == (size_ratio is None):
            raise ConfigError("RandomBoxMask: give exactly one of size (pixels) or size_ratio (fractions of the side)")
        self.size = None if size is None else _pair(size, "RandomBoxMask size")
        self.size_ratio = None if size_ratio is None else _pair(size_ratio, "RandomBoxMask size_ratio", float)
        if self.size is not None and self.size[0] < 1:
            raise ConfigError(f"RandomBoxMask: size must be >= 1 pixel, got {self.size}")
        if self.size_ratio is not None and not (0 < self.size_ratio[0] and self.size_ratio[1] <= 1):
            raise ConfigError(f"RandomBoxMask: size_ratio must lie in (0, 1], got {self.size_ratio}")
        self.square = bool(square)
        self.margin = int(margin)
        if self.margin < 0:
            raise ConfigError(f"RandomBoxMask: margin must be >= 0, got {margin}")

    def _range(self, extent: int) -> tuple[int, int]:
        if self.size is not None:
            lo, hi = self.size
        else:
            lo = max(1, round(self.size_ratio[0] * extent))
            hi = max(lo, round(self.size_ratio[1] * extent))
        room = extent - 2 * self.margin
        if lo > room:
            raise ConfigError(
                f"RandomBoxMask: boxes of at least {lo} px do not fit {extent} px with margin {self.margin}"
            )
        return lo, min(hi, room)

    def _generate(self, n, height, width, g):
        k_max = self.count[1]
        if k_max == 0 or n == 0:
            return torch.zeros(n, 1, height, width)
        counts = _randint(n, *self.count, g)
        active = torch.arange(k_max)[None] < counts[:, None]
        if self.square:
            hs = _randint((n, k_max), *self._range(min(height, width)), g)
            ws = hs
        else:
            hs = _randint((n, k_max), *self._range(height), g)
            ws = _randint((n, k_max), *self._range(width), g)
        # uniform positions in [margin, extent - margin - side], drawn as fractions to stay vectorised
        ts = self.margin + (_uniform((n, k_max), 0, 1, g) * (height - 2 * self.margin - hs + 1)).long()
        ls = self.margin + (_uniform((n, k_max), 0, 1, g) * (width - 2 * self.margin - ws + 1)).long()
        return boxes_to_masks(torch.stack([ts, ls, hs, ws], -1), height, width, active)

    def extra_repr(self):
        size = f"size={list(self.size)}" if self.size else f"size_ratio={list(self.size_ratio)}"
        return f"count={list(self.count)}, {size}, square={self.square}, margin={self.margin}"


class DeepFillBoxMask(MaskGenerator):
    """DeepFill v1's hole (Sec. 4; official ``random_bbox`` + ``bbox2mask``): a ``height``×``width`` box at a random
    position, each side pair shrunk by randint(0..max_delta/2) pixels (128² on 256², max_delta 32).

    ``sample_boxes`` also returns the unshrunk box (top, left, h, w), the crop of DeepFill v1's local critic.
    """

    def __init__(
        self,
        height: int = 128,
        width: int = 128,
        max_delta: int | tuple[int, int] = 32,
        margin: int | tuple[int, int] = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)
        self.max_delta = _vertical_horizontal(max_delta, "DeepFillBoxMask max_delta")
        self.margin = _vertical_horizontal(margin, "DeepFillBoxMask margin")
        if self.height < 1 or self.width < 1 or min(self.max_delta) < 0 or min(self.margin) < 0:
            raise ConfigError(
                f"DeepFillBoxMask: need height, width >= 1 and max_delta, margin >= 0, got {self.height}, "
                f"{self.width}, {self.max_delta}, {self.margin}"
            )
        if self.max_delta[0] // 2 * 2 >= self.height or self.max_delta[1] // 2 * 2 >= self.width:
            raise ConfigError(f"DeepFillBoxMask: max_delta {self.max_delta} could shrink the box to nothing")

    def sample_boxes(self, n: int, height: int, width: int, g: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(masks n×1×H×W, outer boxes n×4 as top, left, height, width)."""
        vm, hm = self.margin
        max_t, max_l = height - vm - self.height, width - hm - self.width
        if max_t < vm or max_l < hm:
            raise ConfigError(
                f"DeepFillBoxMask: a {self.height}×{self.width} box with margin {self.margin} does not fit "
                f"{height}×{width}"
            )
        # tf.random_uniform(minval=margin, maxval=max) excludes max; allow it when the range would be empty
        t = _randint(n, vm, max(vm, max_t - 1), g)
        l = _randint(n, hm, max(hm, max_l - 1), g)
        dh = _randint(n, 0, self.max_delta[0] // 2, g)
        dw = _randint(n, 0, self.max_delta[1] // 2, g)
        inner = torch.stack([t + dh, l + dw, self.height - 2 * dh, self.width - 2 * dw], -1)
        outer = torch.stack([t, l, torch.full_like(t, self.height), torch.full_like(l, self.width)], -1)
        return boxes_to_masks(inner, height, width), outer

    def _generate(self, n, height, width, g):
        return self.sample_boxes(n, height, width, g)[0]

    def extra_repr(self):
        return f"height={self.height}, width={self.width}, max_delta={list(self.max_delta)}, margin={list(self.margin)}"

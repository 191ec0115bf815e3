"""DeepFill v1's spatially discounted reconstruction loss (Yu et al. 2018, Sec. 3 "Spatially discounted
reconstruction loss"): hole pixels far from the known region get the weight γ^l, l their distance to it.

Two ways to measure l (``distance``):

- ``"hole"`` (the paper, default): l is the distance of each hole pixel to the nearest known pixel (1 for a hole
  pixel touching the known region). Measured in the Chebyshev metric, which for DeepFill v1's rectangular holes
  equals the Euclidean distance (the nearest known pixel is straight across the nearest side), and works for
  any hole shape. The loss is the discounted mean absolute error over the hole pixels.
- ``"box"`` (official code v1.0.0, ``spatial_discounting_mask`` + ``local_patch``): a fixed ``box_size`` window
  (the unshrunk 128² box of ``DeepFillBoxMask``, found as the window centred on the hole's bounding box) with the
  weights max(γ^min(i, h−i), γ^min(j, w−j)) for row i, column j of the window; the loss is the weighted mean
  over the whole window, known margin included, exactly as the official code reduces it.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch
from torch import Tensor

from inpaintlab.conventions import centred_crop, check_mask, hole_boxes
from inpaintlab.errors import ConfigError
from inpaintlab.losses.base import LossTerm

DISTANCES = ("hole", "box")


def _dilate3(reached: Tensor) -> Tensor:
    """3×3 binary dilation of an N×H×W bool tensor (separable shifted ORs: far cheaper than max-pooling)."""
    rows = reached.clone()
    rows[:, 1:] |= reached[:, :-1]
    rows[:, :-1] |= reached[:, 1:]
    out = rows.clone()
    out[:, :, 1:] |= rows[:, :, :-1]
    out[:, :, :-1] |= rows[:, :, 1:]
    return out


@torch.no_grad()
def hole_distance(mask: Tensor) -> Tensor:
    """B×1×H×W: Chebyshev distance of each hole pixel to the nearest known pixel, 0 on known pixels (DeepFill v1
    Sec. 3, the l of γ^l).

    Grows the known region one 3×3 ring at a time for the whole batch at once, so the cost is (largest
    distance) dilations; a batch sharing one mask (DeepFill v1's one box per batch) is computed once. A sample
    without any known pixel has no distance: it gets 0 everywhere (no discount).
    """
    check_mask(mask, who="spatial discount")
    b = mask.shape[0]
    if b > 1 and bool((mask == mask[:1]).all()):
        return hole_distance(mask[:1]).expand_as(mask).contiguous()
    reached = mask[:, 0] < 0.5  # True = known, or already reached by a ring
    has_known = reached.flatten(1).any(1)
    reached |= ~has_known.view(-1, 1, 1)
    # d = the ring at which a pixel is reached = rings run − rings in which it was already reached
    count = torch.zeros(reached.shape, dtype=torch.int32, device=mask.device)
    rings, limit = 0, max(mask.shape[-2:])  # a hole pixel is at most max(H, W) rings from a known one
    while rings < limit:
        if rings % 8 == 0 and bool(reached.all()):  # extra rings past full coverage change nothing
            break
        count += reached
        reached = _dilate3(reached)
        rings += 1
    return (rings - count).to(torch.float32)[:, None]


def discount_weights(mask: Tensor, gamma: float) -> Tensor:
    """B×1×H×W weights γ^l on the hole (l = ``hole_distance``), 0 on known pixels (DeepFill v1 Sec. 3)."""
    hole = (mask >= 0.5).to(torch.float32)
    return torch.pow(torch.tensor(float(gamma), device=mask.device), hole_distance(mask)) * hole


def box_discount_window(height: int, width: int, gamma: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """height×width official ``spatial_discounting_mask``: max(γ^min(i, h−i), γ^min(j, w−j)) (DeepFill v1 Sec. 3,
    code v1.0.0). Row 0 and column 0 weigh 1, the last row and column γ (the code's h−i, not h−1−i)."""
    i = torch.arange(height, dtype=torch.float64)
    j = torch.arange(width, dtype=torch.float64)
    di = torch.minimum(i, height - i)[:, None]
    dj = torch.minimum(j, width - j)[None, :]
    return torch.pow(torch.tensor(float(gamma), dtype=torch.float64), torch.minimum(di, dj)).to(dtype)


# The coarse and the refined terms see the same mask tensor in one step: compute its weights once.
_CACHE: dict[str, object] = {}


def _cached_weights(mask: Tensor, gamma: float) -> Tensor:
    if mask.is_inference():  # inference tensors have no version counter to validate a cache entry
        return discount_weights(mask, gamma)
    ref = _CACHE.get("mask")
    if (
        ref is not None
        and ref() is mask
        and _CACHE["version"] == mask._version
        and _CACHE["gamma"] == gamma
    ):
        return _CACHE["weights"]  # type: ignore[return-value]
    weights = discount_weights(mask, gamma)
    _CACHE.update(mask=weakref.ref(mask), version=mask._version, gamma=gamma, weights=weights)
    return weights


class SpatiallyDiscountedL1(LossTerm):
    """DeepFill v1 Sec. 3: L1 on the hole weighted by γ^l, l = distance to the known region (γ 0.99; code 0.9).

    ``distance="hole"`` (paper): Σ γ^l·|pred − target| over hole pixels / (channels · hole pixels).
    ``distance="box"`` (official code): the weighted mean over the ``box_size`` window centred on each sample's
    hole, with the official window weights (see the module docstring). Weights need no gradient.
    """

    def __init__(
        self,
        gamma: float = 0.99,
        distance: str = "hole",
        box_size: int | Sequence[int] = 128,
        weight: float = 1.0,
        source: str = "output",
    ) -> None:
        super().__init__(weight=weight, source=source)
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 < float(gamma) <= 1.0:
            raise ConfigError(
                f"SpatiallyDiscountedL1: gamma must lie in (0, 1] (paper 0.99, code 0.9), got {gamma!r}"
            )
        if distance not in DISTANCES:
            raise ConfigError(
                f"SpatiallyDiscountedL1: distance must be one of {', '.join(DISTANCES)} "
                f"(hole: paper, box: official code), got {distance!r}"
            )
        if isinstance(box_size, int):
            box = (box_size, box_size)
        else:
            try:
                box = tuple(int(s) for s in box_size)
            except (TypeError, ValueError):
                box = ()
        if len(box) != 2 or min(box) < 1:
            raise ConfigError(
                f"SpatiallyDiscountedL1: box_size must be a positive int or [height, width], got {box_size!r}"
            )
        self.gamma = float(gamma)
        self.distance = distance
        self.box_size = box
        # float64 and not a buffer: cast per call (16 K values), so .float()/.half() never round γ^k twice
        self.window = box_discount_window(*box, self.gamma, torch.float64) if distance == "box" else None

    def _check(self, pred: Tensor, target: Tensor, mask: Tensor) -> None:
        check_mask(mask, who="spatial discount")
        if pred.shape != target.shape or pred.dim() != 4:
            raise ValueError(
                f"SpatiallyDiscountedL1 expects B×C×H×W pred and target of one shape, got {tuple(pred.shape)} "
                f"and {tuple(target.shape)}"
            )
        if mask.shape[0] != pred.shape[0] or mask.shape[2:] != pred.shape[2:]:
            raise ValueError(
                f"SpatiallyDiscountedL1: mask {tuple(mask.shape)} does not match the images {tuple(pred.shape)}"
            )

    def weights(self, mask: Tensor) -> Tensor:
        """B×1×H×W per-pixel weights of the ``"hole"`` mode (γ^l in the hole, 0 outside)."""
        return _cached_weights(mask, self.gamma)

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        self._check(pred, target, mask)
        if self.distance == "box":
            h, w = self.box_size
            if h > pred.shape[-2] or w > pred.shape[-1]:
                raise ValueError(
                    f"SpatiallyDiscountedL1: box_size {self.box_size} does not fit {tuple(pred.shape[-2:])} "
                    "images; set box_size to the mask generator's box (mask.height, mask.width)"
                )
            # the window of the official local_patch: centred on the hole's bounding box (the unshrunk box)
            both, _ = centred_crop(torch.cat([pred, target], dim=1), (h, w), hole_boxes(mask))
            c = pred.shape[1]
            diff = (both[:, :c] - both[:, c:]).abs()
            return (diff * self.window.to(diff)).mean()
        wts = self.weights(mask).to(pred.dtype)
        hole = (mask >= 0.5).to(pred.dtype)
        return ((pred - target).abs() * wts).sum() / (hole.sum() * pred.shape[1]).clamp_min(1.0)

    def extra_repr(self) -> str:
        box = f", box_size={list(self.box_size)}" if self.distance == "box" else ""
        return f"gamma={self.gamma}, distance={self.distance!r}{box}, {super().extra_repr()}"

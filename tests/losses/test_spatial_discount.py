"""DeepFill v1's spatially discounted L1: distances, weights and loss values against hand-computed numbers."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.losses import MaskedL1Loss
from inpaintlab.losses.spatial_discount import (
    SpatiallyDiscountedL1,
    box_discount_window,
    discount_weights,
    hole_distance,
)


def _mask(h, w, *boxes):
    m = torch.zeros(1, 1, h, w)
    for t, l, bh, bw in boxes:
        m[..., t : t + bh, l : l + bw] = 1
    return m


def test_hole_distance_rectangle_l_shape_and_border():
    # a 3×4 hole: its outer ring is 1 px from the known region, the two inner pixels 2 px
    d = hole_distance(_mask(5, 6, (1, 1, 3, 4)))[0, 0]
    assert d.tolist() == [
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 0],
        [0, 1, 2, 2, 1, 0],
        [0, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    # an L-shaped hole touching the image border (outside the image is not known): Chebyshev distances,
    # e.g. (3, 0) is 2 rows and 2 columns from the nearest known pixel (1, 2)
    d = hole_distance(_mask(4, 5, (0, 0, 4, 2), (2, 0, 2, 5)))[0, 0]
    assert d.tolist() == [
        [2, 1, 0, 0, 0],
        [2, 1, 0, 0, 0],
        [2, 1, 1, 1, 1],
        [2, 2, 2, 2, 2],
    ]


def test_hole_distance_batch_and_edge_cases():
    a, b = _mask(6, 6, (0, 0, 6, 3)), _mask(6, 6, (2, 2, 2, 2))
    both = hole_distance(torch.cat([a, b]))
    assert torch.equal(both[:1], hole_distance(a)) and torch.equal(both[1:], hole_distance(b))
    assert hole_distance(a)[0, 0, 0].tolist() == [3, 2, 1, 0, 0, 0]
    # a batch sharing one mask (DeepFill v1: one box per batch) gives the same as each alone
    shared = hole_distance(b.expand(3, 1, 6, 6))
    assert torch.equal(shared, hole_distance(b).expand(3, 1, 6, 6))
    # no hole: all zero; no known pixel: no distance is defined, no discount (0)
    assert hole_distance(torch.zeros(1, 1, 3, 3)).abs().sum() == 0
    assert hole_distance(torch.ones(1, 1, 3, 3)).abs().sum() == 0
    with pytest.raises(ValueError, match="B×1×H×W"):
        hole_distance(torch.zeros(1, 3, 4, 4))


def test_discount_weights_are_gamma_to_the_distance():
    w = discount_weights(_mask(5, 6, (1, 1, 3, 4)), 0.5)[0, 0]
    assert w[1, 1:5].tolist() == [0.5] * 4 and w[2, 1:5].tolist() == [0.5, 0.25, 0.25, 0.5]
    assert w[0].abs().sum() == 0 and w[:, 0].abs().sum() == 0  # known pixels weigh nothing


def test_box_window_is_the_official_spatial_discounting_mask():
    # max(γ^min(i, h−i), γ^min(j, w−j)) for a 4×4 window, γ = 0.5 (row/column 0 weigh 1, the last ones γ)
    assert box_discount_window(4, 4, 0.5).tolist() == [
        [1, 1, 1, 1],
        [1, 0.5, 0.5, 0.5],
        [1, 0.5, 0.25, 0.5],
        [1, 0.5, 0.5, 0.5],
    ]
    assert box_discount_window(2, 3, 0.9).flatten().tolist() == pytest.approx([1, 1, 1, 1, 0.9, 0.9])


def test_hole_mode_loss_value():
    # hole 3×4 at (1, 1), γ = 0.5, 2 channels; |pred − target| = 1 on the ring, 3 on the two inner pixels,
    # 100 on the known pixels (must not count):
    # Σ γ^l·|diff| per channel = 10·0.5·1 + 2·0.25·3 = 6.5, over 2 channels 13, / (2 · 12 hole pixels)
    mask = _mask(5, 6, (1, 1, 3, 4))
    target = torch.zeros(1, 2, 5, 6)
    pred = torch.full((1, 2, 5, 6), 100.0)
    pred[..., 1:4, 1:5] = 1.0
    pred[..., 2, 2:4] = -3.0
    loss = SpatiallyDiscountedL1(gamma=0.5)(pred, target, mask)
    assert loss.item() == pytest.approx(13 / 24, rel=1e-6)


def test_hole_mode_gamma_one_is_masked_l1_and_gradient_flows():
    torch.manual_seed(0)
    mask = torch.cat([_mask(8, 8, (2, 1, 4, 5)), _mask(8, 8, (0, 0, 3, 8))])
    pred = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.randn(2, 3, 8, 8)
    plain = MaskedL1Loss(region="hole")(pred, target, mask)
    assert SpatiallyDiscountedL1(gamma=1.0)(pred, target, mask).item() == pytest.approx(plain.item(), rel=1e-6)
    SpatiallyDiscountedL1(gamma=0.9)(pred, target, mask).backward()
    assert (pred.grad * (1 - mask)).abs().sum() == 0  # known pixels get no gradient
    assert (pred.grad * mask).abs().sum() > 0


def test_box_mode_loss_value():
    # official mode: the 4×4 window centred on a 2×2 hole (an outer 4² box shrunk by 1 px per side) at rows and
    # columns 2..5 of an 8×8 image; |diff| = 1 in the window and 100 outside it (must not count).
    # Window sum of the weights above = 4 + 2.5 + 2.25 + 2.5 = 11.25, mean over 3 channels · 16 px = 11.25/16
    mask = _mask(8, 8, (3, 3, 2, 2))
    target = torch.zeros(1, 3, 8, 8)
    pred = torch.full((1, 3, 8, 8), 100.0)
    pred[..., 2:6, 2:6] = 1.0
    loss = SpatiallyDiscountedL1(gamma=0.5, distance="box", box_size=4)(pred, target, mask)
    assert loss.item() == pytest.approx(11.25 / 16, rel=1e-6)
    # per-sample windows: a second sample's hole elsewhere moves its window with it
    mask2 = torch.cat([mask, _mask(8, 8, (0, 4, 3, 3))])  # 3×3 hole → window rows 0..3, cols 3..6 (clamped)
    pred2 = torch.cat([pred, torch.full((1, 3, 8, 8), 100.0)])
    pred2[1, :, 0:4, 3:7] = 1.0
    both = SpatiallyDiscountedL1(gamma=0.5, distance="box", box_size=4)(pred2, torch.zeros_like(pred2), mask2)
    assert both.item() == pytest.approx(11.25 / 16, rel=1e-6)


def test_cache_follows_in_place_mask_changes():
    loss = SpatiallyDiscountedL1(gamma=0.5)
    mask = _mask(5, 6, (1, 1, 3, 4))
    pred, target = torch.ones(1, 1, 5, 6), torch.zeros(1, 1, 5, 6)
    first = loss(pred, target, mask)
    mask[..., 1:4, 1:5] = 0
    mask[..., 2, 2] = 1  # now one hole pixel at distance 1
    assert loss(pred, target, mask).item() == pytest.approx(0.5) and first.item() == pytest.approx(5.5 / 12)


def test_errors():
    for gamma in (0, 1.5, -0.1, "0.9", True):
        with pytest.raises(ConfigError, match="gamma"):
            SpatiallyDiscountedL1(gamma=gamma)
    with pytest.raises(ConfigError, match="hole: paper, box: official"):
        SpatiallyDiscountedL1(distance="border")
    with pytest.raises(ConfigError, match="box_size"):
        SpatiallyDiscountedL1(distance="box", box_size=[128])
    loss = SpatiallyDiscountedL1()
    with pytest.raises(ValueError, match="same shape|one shape"):
        loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="does not match"):
        loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="does not fit"):
        SpatiallyDiscountedL1(distance="box", box_size=8)(
            torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4)
        )

"""Rectangular holes: centre square, random boxes (BTGMI, CR-Fill squares, LaMa boxes), DeepFill v1's box."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.data.masks import CenterSquareMask, DeepFillBoxMask, RandomBoxMask, boxes_to_masks, hole_ratio
from inpaintlab.errors import ConfigError


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bbox(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the holes of one 1×H×W mask."""
    rows = mask[0].any(1).nonzero().flatten()
    cols = mask[0].any(0).nonzero().flatten()
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def test_center_square_is_exactly_the_centre():
    m = CenterSquareMask(64)(2, 128, 128)
    assert bbox(m[0]) == (32, 32, 64, 64) and float(m.sum()) == 2 * 64 * 64
    assert bbox(CenterSquareMask(0.5)(1, 28, 28)[0]) == (7, 7, 14, 14)  # MNIST: 14² in 28²
    assert bbox(CenterSquareMask(64, margin=4)(1, 128, 128)[0]) == (36, 36, 56, 56)  # Context Encoder overlap
    assert bbox(CenterSquareMask(10)(1, 20, 40)[0]) == (5, 15, 10, 10)


def test_center_square_errors():
    with pytest.raises(ConfigError, match="does not fit"):
        CenterSquareMask(64)(1, 32, 32)
    with pytest.raises(ConfigError, match="leaves no hole"):
        CenterSquareMask(8, margin=4)(1, 32, 32)
    with pytest.raises(ConfigError, match="positive int"):
        CenterSquareMask(-3)
    with pytest.raises(ConfigError, match="whole pixels"):
        CenterSquareMask(12.5)(1, 32, 32)


def test_single_random_box_sides_and_positions_in_range():
    gen = RandomBoxMask(count=1, size=(10, 20), margin=3)
    masks = gen(300, 64, 80, g(0))
    sides_h, sides_w = [], []
    for m in masks:
        t, l, h, w = bbox(m)
        assert float(m.sum()) == h * w, "one box: the hole is its bounding box"
        assert 10 <= h <= 20 and 10 <= w <= 20
        assert t >= 3 and l >= 3 and t + h <= 64 - 3 and l + w <= 80 - 3
        sides_h.append(h)
        sides_w.append(w)
    assert min(sides_h) == 10 and max(sides_h) == 20, "both ends of the inclusive size range occur"
    assert abs(sum(sides_h) / 300 - 15) < 0.6  # U{10..20}: mean 15, s.e. 0.18


def test_btgmi_boxes_one_or_two_of_a_quarter_to_half_the_side():
    gen = RandomBoxMask(count=(1, 2), size_ratio=(0.25, 0.5))
    r = hole_ratio(gen(400, 256, 256, g(1)))
    # one box covers 1/16..1/4 of the image, two boxes at most 1/2
    assert float(r.min()) >= 64 * 64 / 256**2 - 1e-9 and float(r.max()) <= 2 * 0.25
    assert float(r.max()) > 0.25, "two boxes occur"
    # E[one box] = E[h]E[w]/HW = (96/256)² = 0.1406; two boxes add up to that again minus overlaps
    assert 0.14 < float(r.mean()) < 2 * 0.1406


def test_crfill_squares_are_square_64_to_128_on_256():
    masks = RandomBoxMask(count=1, size_ratio=(0.25, 0.5), square=True)(100, 256, 256, g(2))
    for m in masks:
        _, _, h, w = bbox(m)
        assert h == w and 64 <= h <= 128


def test_random_box_clamps_large_boxes_and_rejects_impossible_ones():
    m = RandomBoxMask(count=1, size=(10, 500))(20, 32, 32, g(0))
    assert all(bbox(x)[2] <= 32 for x in m)
    with pytest.raises(ConfigError, match="do not fit"):
        RandomBoxMask(count=1, size=(40, 50))(1, 32, 32)
    with pytest.raises(ConfigError, match="exactly one of"):
        RandomBoxMask(size=(1, 2), size_ratio=(0.1, 0.2))
    with pytest.raises(ConfigError, match="min <= max"):
        RandomBoxMask(size=(20, 10))
    assert float(RandomBoxMask(count=0, size=4)(3, 16, 16).sum()) == 0


def test_boxes_to_masks_rasterises_union_of_boxes():
    boxes = torch.tensor([[[1, 2, 3, 4], [2, 3, 3, 3]]])  # overlapping
    m = boxes_to_masks(boxes, 8, 8)
    expected = torch.zeros(8, 8)
    expected[1:4, 2:6] = 1
    expected[2:5, 3:6] = 1
    assert torch.equal(m[0, 0], expected)
    only_first = boxes_to_masks(boxes, 8, 8, active=torch.tensor([[True, False]]))
    assert float(only_first.sum()) == 12


def test_deepfill_v1_box_statistics_match_the_official_jitter():
    gen = DeepFillBoxMask()  # 128² box, each side pair shrunk by randint(0..16)
    masks, outer = gen.sample_boxes(500, 256, 256, g(3))
    r = hole_ratio(masks)
    # sides 128 - 2d, d ~ U{0..16}: ratio in [96², 128²]/256², mean (112/256)² = 0.1914
    assert float(r.min()) >= 96**2 / 65536 and float(r.max()) <= 128**2 / 65536
    assert abs(float(r.mean()) - 112**2 / 65536) < 0.006  # s.d. of the ratio 0.03 → s.e. 0.0013
    for m, (t, l, h, w) in zip(masks[:50], outer[:50].tolist()):
        it, il, ih, iw = bbox(m)
        assert (h, w) == (128, 128) and 0 <= t <= 127 and 0 <= l <= 127
        assert it - t == t + h - (it + ih) and il - l == l + w - (il + iw), "shrunk symmetrically"
        assert 0 <= it - t <= 16
    per_batch = DeepFillBoxMask(per_batch=True)(4, 256, 256, g(0))
    assert all(torch.equal(per_batch[0], x) for x in per_batch)


def test_deepfill_box_errors():
    with pytest.raises(ConfigError, match="does not fit"):
        DeepFillBoxMask()(1, 100, 100)
    with pytest.raises(ConfigError, match="shrink the box to nothing"):
        DeepFillBoxMask(height=16, width=16, max_delta=32)

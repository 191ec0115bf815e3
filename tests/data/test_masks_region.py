"""Context Encoder's random-region masks: windows of one thresholded, upsampled noise pattern, 20–30 % hole."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from inpaintlab.data.masks import ContextEncoderRegionMask, hole_ratio


def test_hole_ratio_per_batch_and_seeded():
    gen = ContextEncoderRegionMask()
    m = gen(4, 128, 128, torch.Generator().manual_seed(0))
    assert m.shape == (4, 1, 128, 128) and set(m.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m[0], m[3])  # one mask per batch, as the released code
    assert 0.2 <= hole_ratio(m)[0] <= 0.3
    assert torch.equal(m, gen(4, 128, 128, torch.Generator().manual_seed(0)))
    assert not torch.equal(m, gen(4, 128, 128, torch.Generator().manual_seed(1)))


def test_windows_equal_the_materialised_pattern():
    """On a small pattern, a window equals the same window of the whole upsampled, thresholded pattern."""
    gen = ContextEncoderRegionMask(noise_size=12, pattern_size=200, min_hole_ratio=None, max_hole_ratio=None,
                                   per_batch=False, reference_size=40)
    full = F.interpolate(gen.noise[None, None], size=(200, 200), mode="bilinear", align_corners=False)[0, 0] < 0.25
    g = torch.Generator().manual_seed(3)
    masks = gen(5, 40, 40, g)  # 40² = reference_size: the 200² pattern itself
    g = torch.Generator().manual_seed(3)
    top = torch.randint(0, 200 - 40 + 1, (5,), generator=g)
    left = torch.randint(0, 200 - 40 + 1, (5,), generator=g)
    for i in range(5):
        window = full[top[i] : top[i] + 40, left[i] : left[i] + 40]
        assert (masks[i, 0].bool() != window).sum() <= 2  # float rounding at the threshold only


def test_fast_without_the_10000_pattern():
    gen = ContextEncoderRegionMask()
    start = time.perf_counter()
    gen(64, 128, 128, torch.Generator().manual_seed(0))
    assert time.perf_counter() - start < 2.0
    assert gen.noise.numel() == 600 * 600


def test_other_sizes_scale_the_pattern():
    gen = ContextEncoderRegionMask(min_hole_ratio=None, max_hole_ratio=None, per_batch=False)
    r128 = hole_ratio(gen(200, 128, 128, torch.Generator().manual_seed(0))).mean()
    r256 = hole_ratio(gen(100, 256, 256, torch.Generator().manual_seed(0))).mean()
    assert abs(r128 - r256) < 0.03  # same statistics at any size
    m = ContextEncoderRegionMask()(2, 256, 256, torch.Generator().manual_seed(0))
    assert 0.2 <= hole_ratio(m)[0] <= 0.3

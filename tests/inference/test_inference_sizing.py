"""Large pictures (``inference.sizing``, ``inference.memory``): the memory a fill needs is measured and planned before
it starts, tiles give the whole-picture fill wherever a tile sees the network's reach, cuts run through known
pixels, tiles without holes are not run, and a fill that cannot fit is one line with the options that would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import Adapter
from inpaintlab.inference.memory import format_bytes, measure_peak, parse_bytes
from inpaintlab.inference.sizing import (
    FillPlan,
    bytes_per_pixel,
    composite_planned,
    fill_tiled,
    plan_fill,
    tile_cuts,
)


class LocalNet(torch.nn.Module):
    """A fully convolutional 'generator' whose output at a pixel depends on the masked input within ``radius``
    pixels (``radius`` 3×3 box blurs), and that counts its calls."""

    def __init__(self, radius: int = 0, width: int = 3) -> None:
        super().__init__()
        self.radius, self.width, self.calls = radius, width, 0

    def forward(self, masked, mask):
        self.calls += 1
        x = torch.tanh(masked * 3 + mask)
        if self.width > 3:  # an intermediate of ``width`` channels (memory the probe must see)
            x = x.repeat(1, self.width // 3, 1, 1)[:, : self.width].sin()[:, :3]
        for _ in range(self.radius):
            x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)
        return x


def _picture(h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, h, w, generator=g) * 2 - 1
    mask = torch.zeros(1, 1, h, w)
    return image, mask


def test_cuts_run_through_the_line_with_fewest_hole_pixels():
    profile = np.ones(100, int)
    profile[27] = 0  # one fully known column inside the first overlap's middle third
    starts, cuts = tile_cuts(profile, 100, 40, 5)
    assert starts == [0, 20, 40, 60]  # ceil((100-40)/(40-15)) + 1 tiles, evenly spread
    assert cuts == [27, 50, 70]  # the known column; elsewhere the middle of [b+5, a+35]
    assert tile_cuts(profile, 40, 40, 5) == ([0], [])


@pytest.mark.parametrize("radius", [0, 3])
def test_tiles_equal_the_whole_fill_within_the_networks_reach(radius):
    """Every pixel a tile contributes to sees at least ``margin − fade`` pixels of context: a network reaching no
    further gives the whole picture's fill (up to the cross-fade's rounding)."""
    image, mask = _picture(150, 230)
    mask[..., 20:130, 30:200] = 1  # a hole spanning every overlap: cuts must cross it and cross-fade
    adapter = Adapter(LocalNet(radius))
    whole = composite_planned(adapter, image, mask, None)
    plan = FillPlan((150, 230), (150, 230), 64, 0, 1, 0)  # margin 8, fade 4 ≥ radius 3
    tiled = composite_planned(adapter, image, mask, plan)
    assert torch.allclose(tiled, whole, atol=1e-6)
    known = mask[0, 0] == 0
    assert torch.equal(tiled[..., known], image[..., known])  # known pixels bit for bit


def test_tiles_without_a_hole_pixel_are_not_run_and_seams_stay_in_known_pixels():
    image, mask = _picture(200, 200)
    mask[..., 10:30, 170:190] = 1  # one hole, top right
    net = LocalNet()
    out = fill_tiled(Adapter(net), image, mask, 64)
    assert net.calls == 1  # of the 5×5 tiles only the one owning the hole ran
    assert torch.all(out[..., 100:, :] == 0)  # nothing was filled where no tile ran
    profile = mask.sum(dim=(0, 1, 2)).numpy()
    _, cuts = tile_cuts(profile, 200, 64, 8)
    assert all(profile[c] == 0 for c in cuts)  # every vertical cut runs through known pixels


def test_measure_peak_counts_live_tensors():
    def fn():
        a = torch.ones(1000)
        b = a * 2
        del a
        return b + 1

    assert measure_peak(fn) == 8000  # two 1000-float tensors alive at once, never three


def test_bytes_per_pixel_sees_the_networks_intermediates():
    hole = np.zeros((200, 300), bool)
    hole[50:100, 60:200] = True
    small = bytes_per_pixel(Adapter(LocalNet(width=3)), hole)
    wide = bytes_per_pixel(Adapter(LocalNet(width=66)), hole)  # + 63 float channels of intermediates
    assert 40 <= small <= 200
    assert wide - small == pytest.approx(63 * 4 * 2, rel=0.15)  # the repeat and its sine are both alive


def test_plan_whole_tiles_or_one_line():
    hole = np.zeros((600, 900), bool)
    hole[100:300, 200:500] = True
    adapter = Adapter(LocalNet(width=66))
    per_px = bytes_per_pixel(adapter, hole) * 1.25
    big = plan_fill(adapter, hole, 2**40)
    assert big.tile is None and big.estimate == big.whole_estimate < 2**40
    budget = int(big.whole_estimate - per_px * 600 * 900 / 2)  # half the network's share is missing
    tiled = plan_fill(adapter, hole, budget)
    assert tiled.tile is not None and tiled.estimate <= budget and tiled.tile < 900
    forced = plan_fill(adapter, hole, 2**40, tile=100)
    assert forced.tile == 100
    with pytest.raises(ConfigError) as e:
        plan_fill(adapter, hole, budget, tile="off")
    msg = str(e.value)
    assert "a 900×600 fill needs about" in msg and "is available" in msg and f"--tile {tiled.tile}" in msg
    assert "--max-side" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="the picture alone takes"):
        plan_fill(adapter, hole, 10 * 2**20)
    reduced = plan_fill(adapter, hole, 2**40, max_side=300)
    assert reduced.work == (200, 300)


def test_reduced_working_size_keeps_known_pixels():
    image, mask = _picture(90, 120)
    mask[..., 30:60, 40:90] = 1
    out = composite_planned(Adapter(LocalNet(1)), image, mask, FillPlan((90, 120), (45, 60), None, 0, 1, 0))
    known = mask[0, 0] == 0
    assert torch.equal(out[..., known], image[..., known])
    assert out.shape == image.shape


def test_memory_sizes_parse_and_print():
    assert parse_bytes("8G") == 8 * 2**30 and parse_bytes("512m") == 512 * 2**20 and parse_bytes("1.5GB") == 3 * 2**29
    assert parse_bytes("1000") == 1000 and format_bytes(1.5 * 2**30) == "1.5 GB"
    with pytest.raises(ConfigError, match="memory size"):
        parse_bytes("lots")

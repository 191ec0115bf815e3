"""Free-form strokes: DeepFill v2's brush strokes, LaMa-style random walks and presets, CR-Fill's strokes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from inpaintlab.data.masks import FreeFormMask, RandomWalkStrokeMask, draw_polyline, hole_ratio, lama_preset
from inpaintlab.errors import ConfigError


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_draw_polyline_area_is_length_times_width_plus_round_caps():
    img = Image.new("L", (200, 100), 0)
    draw_polyline(ImageDraw.Draw(img), np.array([[20, 50], [120, 50]]), 10)
    area = int((np.asarray(img) > 0).sum())
    expected = 100 * 10 + math.pi * 5**2  # a 100×10 band plus two half-discs of radius 5
    assert abs(area - expected) / expected < 0.05
    rows = np.nonzero((np.asarray(img) > 0).any(1))[0]
    assert 9 <= rows[-1] - rows[0] + 1 <= 11  # the band is `width` pixels thick


def test_free_form_strokes_follow_deepfill_v2_parameters():
    gen = FreeFormMask()
    verts, n_vert, widths, n_strokes = gen.sample_strokes(300, 256, 256, g(0))
    R = math.sqrt(2 * 256**2) / 8
    assert set(n_strokes.tolist()) == {1, 2, 3}
    assert int(n_vert.min()) == 4 and int(n_vert.max()) == 11
    assert int(widths.min()) >= 12 and int(widths.max()) <= 39  # int(U(12, 40))
    assert int(verts.min()) >= 0 and int(verts[..., 0].max()) <= 256 and int(verts[..., 1].max()) <= 256
    steps = (verts[:, :, 1:] - verts[:, :, :-1]).double()
    assert float(steps.norm(dim=-1).max()) <= 2 * R + 2  # N(R, R/2) clipped to [0, 2R], then truncated
    # angles alternate: even steps 2π − a (upwards: dy <= 0), odd steps a (downwards), a ∈ 2π/5 ± 2π/15
    dy = steps[..., 1]
    assert float(dy[:, :, 0::2].max()) <= 1 and float(dy[:, :, 1::2].min()) >= -1


def test_free_form_hole_ratios_lie_in_the_range_the_strokes_imply():
    gen = FreeFormMask()
    n, H, W = 300, 256, 256
    verts, n_vert, widths, n_strokes = gen.sample_strokes(n, H, W, g(5))
    masks = gen(n, H, W, g(5))  # the same draws rasterised
    area = masks.flatten(1).sum(1)
    upper, lower = [], []
    for b in range(n):
        ub, lb = 0.0, 0.0
        for s in range(int(n_strokes[b])):
            v = verts[b, s, : int(n_vert[b, s]) + 1].double()
            w = int(widths[b, s])
            seg = (v[1:] - v[:-1]).norm(dim=-1)
            ub += float(((seg + 2) * (w + 2)).sum()) + len(v) * (2 * (w // 2) + 1) ** 2
            lb = max(lb, (w // 2) ** 2 / 2)  # a vertex disc, even in a corner, covers a quarter disc
        upper.append(ub)
        lower.append(lb)
    assert bool((area <= torch.tensor(upper)).all()), "a union never exceeds the sum of its strokes"
    assert bool((area >= torch.tensor(lower)).all())
    r = hole_ratio(masks)
    assert 0.12 < float(r.mean()) < 0.19  # measured 0.15 at 256²; s.e. over 300 masks ≈ 0.005


def test_free_form_random_flip_keeps_ratios_and_is_off_by_default():
    a = FreeFormMask()(20, 64, 96, g(1))
    b = FreeFormMask(random_flip=True)(20, 64, 96, g(1))
    assert torch.allclose(hole_ratio(a), hole_ratio(b)) and not torch.equal(a, b)


def test_random_walk_segments_follow_their_parameters():
    gen = RandomWalkStrokeMask(num_strokes=(2, 6), num_segments=(1, 5), length=(10, 40), width=(3, 9))
    pts, widths, n_seg, n_strokes = gen.sample_segments(200, 128, 128, g(0))
    assert int(n_strokes.min()) == 2 and int(n_strokes.max()) == 6
    assert int(n_seg.min()) == 1 and int(n_seg.max()) == 5
    assert int(widths.min()) == 3 and int(widths.max()) == 9
    seg = (pts[:, :, 1:] - pts[:, :, :-1]).double().norm(dim=-1)
    assert float(seg.max()) <= 40 + 2
    # LaMa mirrors the angle on even strokes: integer angles 0.01..3.01 rad, so stroke 0 only goes up
    assert float((pts[:, 0, 1:, 1] - pts[:, 0, :-1, 1]).max()) <= 1
    assert float((pts[:, 1, 1:, 1] - pts[:, 1, :-1, 1]).min()) >= -1
    masks = gen(200, 128, 128, g(0))
    upper = []
    for b in range(200):
        ub = 0.0
        for s in range(int(n_strokes[b])):
            for k in range(int(n_seg[b, s])):
                w = int(widths[b, s, k])
                ub += (float(seg[b, s, k]) + 2) * (w + 2) + 2 * (2 * (w // 2) + 1) ** 2
        upper.append(ub)
    assert bool((masks.flatten(1).sum(1) <= torch.tensor(upper)).all())
    assert float(hole_ratio(masks).min()) > 0


def test_random_walk_relative_to_scales_lengths_and_widths():
    gen = RandomWalkStrokeMask(num_strokes=(1, 5), length=(0, 128), width=(12, 51), max_angle=math.pi,
                               integer_angles=False, alternate="segment", relative_to=256)
    _, w256, _, _ = gen.sample_segments(100, 256, 256, g(0))
    pts, w512, _, _ = gen.sample_segments(100, 512, 512, g(0))
    assert int(w256.max()) <= 51 and int(w512.min()) >= 24 and int(w512.max()) <= 102
    assert float((pts[:, :, 1:] - pts[:, :, :-1]).double().norm(dim=-1).max()) <= 256 + 2
    r256 = float(hole_ratio(gen(100, 256, 256, g(1))).mean())
    r512 = float(hole_ratio(gen(100, 512, 512, g(1))).mean())
    assert abs(r256 - r512) < 0.03, "scaled parameters give the same hole ratio at any size"


@pytest.mark.parametrize("name", ["thin", "medium", "thick"])
def test_lama_presets_respect_max_area_and_widths(name):
    gen = lama_preset(name)
    r = hole_ratio(gen(200, 256, 256, g(0)))
    assert float(r.max()) <= 0.5 and float(r.min()) > 0
    strokes = gen.generators[0]
    _, widths, _, _ = strokes.sample_segments(50, 256, 256, g(0))
    cap = {"thin": 14, "medium": 54, "thick": 104}[name]
    assert int(widths.max()) <= cap and int(widths.min()) >= 5
    assert 0.1 < float(r.mean()) < 0.35


def test_lama_preset_and_stroke_errors():
    with pytest.raises(ConfigError, match="unknown preset"):
        lama_preset("huge")
    assert len(lama_preset("thick", 512).generators) == 2
    with pytest.raises(ConfigError, match="alternate"):
        RandomWalkStrokeMask(alternate="sometimes")
    with pytest.raises(ConfigError, match="num_vertices >= 1"):
        FreeFormMask(num_vertices=(0, 3))
    with pytest.raises(ConfigError, match="min <= max"):
        FreeFormMask(width=(40, 12))

"""The Poisson solver (Yeh et al. 2017 §3.3): exact known pixels, harmonic fills, borders, several holes, batches."""

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.imaging import poisson_blend
from inpaintlab.imaging.poisson import neumann_laplacian


def _ramp(n, c=3, b=1):
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    return (0.3 * x - 0.6 * y + 0.1).expand(b, c, n, n).contiguous()


def test_neumann_laplacian_hand_computed():
    x = torch.tensor([[[[1.0, 2.0], [4.0, 8.0]]]])
    # corner (0,0): neighbours 2 and 4 -> (1-2)+(1-4) = -4 ; (1,1): (8-2)+(8-4) = 10
    assert neumann_laplacian(x).tolist() == [[[[-4.0, -5.0], [-1.0, 10.0]]]]
    # constant image has zero Laplacian, also at the border
    assert neumann_laplacian(torch.full((1, 1, 5, 7), 3.0)).abs().max() == 0


def test_known_pixels_exact_and_hole_changed():
    g = torch.Generator().manual_seed(0)
    t = torch.rand(2, 3, 32, 32, generator=g)
    s = torch.rand(2, 3, 32, 32, generator=g)
    m = torch.zeros(2, 1, 32, 32)
    m[0, :, 8:20, 5:17] = 1
    m[1, :, 20:30, 10:31] = 1
    out = poisson_blend(t, s, m)
    known = (m == 0).expand_as(t)
    assert torch.equal(out[known], t[known])
    assert not torch.allclose(out[~known], t[~known])


@pytest.mark.parametrize("n", [32, 64])
def test_linear_ramp_harmonic_fill_with_zero_gradient_guidance(n):
    """A linear ramp is harmonic: with a constant source (zero gradient) the fill reproduces it to 1e-4."""
    t = _ramp(n)
    m = torch.zeros(1, 1, n, n)
    m[..., n // 4 : 3 * n // 4, n // 4 + 2 : 3 * n // 4 + 3] = 1
    corrupted = t * (1 - m) + 5.0 * m  # hole values must not matter
    out = poisson_blend(corrupted, torch.full_like(t, -2.0), m)
    assert (out - t).abs().max() < 1e-4


def test_border_touching_hole_neumann():
    """A hole touching the right border: Neumann there (only existing neighbours), so with zero guidance the fill
    of a ramp along y (harmonic, zero normal derivative at the right border) is the ramp itself."""
    n = 32
    y = torch.linspace(-1, 1, n).view(1, 1, n, 1).expand(1, 1, n, n)
    t = (0.5 * y).contiguous()
    m = torch.zeros(1, 1, n, n)
    m[..., 8:24, 20:] = 1  # touches the right border
    out = poisson_blend(t * (1 - m), torch.zeros_like(t), m)
    assert (out - t).abs().max() < 1e-4


def test_border_hole_guidance_gradients_are_kept():
    """Guidance with its own gradient: the hole reproduces the source up to the offset fixed by the border."""
    n = 32
    t = torch.full((1, 1, n, n), 0.25)
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    s = (0.01 * x + 0.02 * y).float().view(1, 1, n, n)
    m = torch.zeros(1, 1, n, n)
    m[..., 0:10, 0:12] = 1  # top-left corner hole
    out = poisson_blend(t, s, m)
    # the blended hole is a smooth, bounded function close to the known value at the seam
    hole = m.bool()
    assert out[hole].isfinite().all()
    assert (out[..., 10, 0:12] - 0.25).abs().max() == 0  # known row untouched
    assert (out[..., 9, 0:12] - 0.25).abs().max() < 0.05  # seam continuity


def test_several_holes_and_batch_of_different_masks():
    """Guidance with the target's own gradients (source = target + an offset per image and channel):
    whatever the holes (several, touching borders, a full-width band), the blend restores the target."""
    n = 48
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    t = torch.stack([torch.sin(3 * x + k) * torch.cos(2 * y - k) for k in range(9)]).view(3, 3, n, n)
    offset = torch.linspace(-2, 2, 9).view(3, 3, 1, 1)
    m = torch.zeros(3, 1, n, n)
    m[0, :, 2:10, 2:10] = 1
    m[0, :, 30:40, 25:45] = 1  # two holes
    m[1, :, 0:12, 30:48] = 1  # corner hole touching two borders
    m[2, :, 20:28, :] = 1  # a band across the whole width
    out = poisson_blend(t * (1 - m), t + offset, m)
    assert (out - t).abs().max() < 1e-4
    # each image solved independently: the same image alone gives the same result
    alone = poisson_blend((t * (1 - m))[1:2], (t + offset)[1:2], m[1:2])
    assert torch.allclose(alone, out[1:2], atol=1e-5)


def test_all_hole_image_returns_source_and_no_hole_returns_target():
    t = torch.rand(1, 3, 16, 16)
    s = torch.rand(1, 3, 16, 16)
    assert torch.allclose(poisson_blend(t, s, torch.ones(1, 1, 16, 16)), s, atol=1e-5)
    assert torch.equal(poisson_blend(t, s, torch.zeros(1, 1, 16, 16)), t)


def test_coarse_init_same_solution():
    n = 64
    g = torch.Generator().manual_seed(1)
    t = torch.rand(1, 2, n, n, generator=g)
    s = torch.rand(1, 2, n, n, generator=g)
    m = torch.zeros(1, 1, n, n)
    m[..., 10:50, 5:40] = 1
    a = poisson_blend(t, s, m, coarse_init=True)
    b = poisson_blend(t, s, m, coarse_init=False)
    assert (a - b).abs().max() < 1e-4


def test_bad_shapes_raise_config_error():
    with pytest.raises(ConfigError, match="mask"):
        poisson_blend(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), torch.zeros(1, 1, 4, 8))
    with pytest.raises(ConfigError, match="same"):
        poisson_blend(torch.zeros(1, 3, 8, 8), torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_zero_right_hand_side_stops_early():
    """A flat source over a flat target: the system's right-hand side is exactly 0, the solution the target's
    value in the hole; the solve stops on the relative residual instead of running all 4·max(H, W)+50 steps."""
    from inpaintlab.imaging import poisson

    target = torch.zeros(1, 3, 64, 64, dtype=torch.float64)
    source = torch.full_like(target, 0.7)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    out = poisson.poisson_blend(target, source, mask, coarse_init=False)
    assert poisson._LAST_ITERS[0] < 200  # was 4·64 + 50 = 306
    assert out.abs().max() < 1e-5

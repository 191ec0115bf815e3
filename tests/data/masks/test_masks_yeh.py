"""Yeh et al. 2017 §4 mask families: random pixels (80 %), half image, random pattern."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import CONF_DIR
from inpaintlab.data.masks import HalfImageMask, RandomPatternMask, RandomPixelMask, hole_ratio
from inpaintlab.errors import ConfigError


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_random_pixels_ratio_and_seeding():
    m = RandomPixelMask(0.8)(4, 64, 64, _g())
    assert m.shape == (4, 1, 64, 64) and set(m.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(hole_ratio(m), torch.full((4,), 0.8), atol=0.03)
    assert torch.equal(m, RandomPixelMask(0.8)(4, 64, 64, _g()))
    with pytest.raises(ConfigError):
        RandomPixelMask(1.5)


def test_half_image_sides():
    for side, region in (("left", (slice(None), slice(0, 4))), ("right", (slice(None), slice(3, 7))),
                         ("top", (slice(0, 3), slice(None))), ("bottom", (slice(3, 6), slice(None)))):
        m = HalfImageMask([side])(2, 6, 7, _g())[0, 0]
        expected = torch.zeros(6, 7)
        expected[region] = 1
        assert torch.equal(m, expected), side
    m = HalfImageMask()(200, 8, 8, _g())
    assert torch.allclose(hole_ratio(m), torch.full((200,), 0.5))
    # all four sides occur
    kinds = {(int(x[0, 0, 0]), int(x[0, 0, -1]), int(x[0, -1, 0])) for x in m}
    assert len(kinds) == 4
    with pytest.raises(ConfigError):
        HalfImageMask(["middle"])


def test_random_pattern_hole_ratio_range_and_blobs():
    m = RandomPatternMask()(16, 64, 64, _g())
    r = hole_ratio(m)
    assert ((r >= 0.2) & (r <= 0.3)).all()
    assert torch.equal(m, RandomPatternMask()(16, 64, 64, _g()))
    # blobs, not salt-and-pepper: most hole pixels have a hole neighbour to their right or below
    h = m[:, 0]
    neigh = torch.maximum(h[:, :, 1:] * h[:, :, :-1], torch.zeros(1)).sum() / h[:, :, :-1].sum()
    assert neigh > 0.8


@pytest.mark.parametrize("name", ["random_pixels", "half_image", "random_pattern"])
def test_mask_configs_instantiate(name):
    gen = instantiate(OmegaConf.load(CONF_DIR / "mask" / f"{name}.yaml"))
    assert gen(2, 32, 32, _g()).shape == (2, 1, 32, 32)

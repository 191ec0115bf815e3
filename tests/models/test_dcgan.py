"""DCGAN prior and Yeh et al. 2017's latent search + Poisson blend through the inference adapter."""

import pytest
import torch
from torch import nn

from inpaintlab.errors import ConfigError
from inpaintlab.imaging import poisson_blend
from inpaintlab.inference import adapter_for, fill_composite
from inpaintlab.models.dcgan import DCGANDiscriminator, DCGANGenerator, LatentSearchAdapter, latent_search


@pytest.mark.parametrize("size, channels, first", [(64, 3, 512), (32, 1, 256)])
def test_generator_and_discriminator_shapes(size, channels, first):
    g = DCGANGenerator(image_size=size, channels=channels)
    d = DCGANDiscriminator(image_size=size, channels=channels)
    assert g.net[0].out_channels == first  # 4×4×512 for 64² (Radford et al. Fig. 1)
    z = g.sample_z(3)
    assert z.shape == (3, 100) and z.min() >= -1 and z.max() <= 1
    x = g(z)
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1
    assert d(x).shape == (3,)
    assert g.native_size == size and g.image_channels == channels


def test_bad_sizes():
    with pytest.raises(ConfigError, match="power of two"):
        DCGANGenerator(image_size=48)
    with pytest.raises(ConfigError, match="image_size"):
        DCGANDiscriminator(image_size=32, channels=1)(torch.zeros(1, 1, 64, 64))


def _small_prior(seed=0):
    """A 16² generator with enough contrast to make a search meaningful (weights N(0, 0.5), BN stats set)."""
    torch.manual_seed(seed)
    g = DCGANGenerator(image_size=16, channels=1, z_dim=8, width=8)
    for m in g.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.5)
    d = DCGANDiscriminator(image_size=16, channels=1, width=8)
    g.train()
    with torch.no_grad():
        for _ in range(5):
            g(g.sample_z(64))
    g.eval()
    return g, d


def _centre_hole(b, n=16, a=4):
    m = torch.zeros(b, 1, n, n)
    m[..., a : n - a, a : n - a] = 1
    return m


def test_recovery_of_a_generated_image():
    """Yeh et al. §3.2: for y = G(z*) with a centre hole, the search finds G(ẑ) ≈ y inside the hole."""
    g, d = _small_prior()
    z_star = g.sample_z(4, generator=torch.Generator().manual_seed(5)) * 0.8
    with torch.no_grad():
        y = g(z_star)
    m = _centre_hole(4)
    found = latent_search(g, d, y * (1 - m), m, steps=200, restarts=2, lambda_p=0.003, lr=0.05, seed=1)
    err = ((found["output"] - y).abs() * m).sum((1, 2, 3)) / m.sum((1, 2, 3))
    mean_fill = (y * (1 - m)).sum((2, 3), keepdim=True) / (1 - m).sum((2, 3), keepdim=True)
    baseline = ((mean_fill - y).abs() * m).sum((1, 2, 3)) / m.sum((1, 2, 3))
    assert (err < 0.05 * baseline).all(), (err, baseline)
    assert found["z"].abs().max() <= 1  # clipped to the prior's range


def test_search_is_batched_without_cross_talk_and_frozen():
    """Each image's z follows its own gradient: image 0 searched in a batch of 3 = searched alone. G and D
    keep their mode, parameters and requires_grad flags."""
    g, d = _small_prior()
    g.train()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    y = torch.rand(3, 1, 16, 16) * 2 - 1
    m = _centre_hole(3)
    batch = latent_search(g, d, y, m, steps=20, lr=0.05, seed=3)
    alone = latent_search(g, d, y[:1], m[:1], steps=20, lr=0.05, seed=3)
    # equal up to float reassociation (batched matmuls sum in another order; Adam amplifies it a little):
    # cross-talk between images would move z by orders of magnitude more
    assert torch.allclose(batch["z"][0], alone["z"][0], atol=1e-3)
    assert torch.allclose(batch["output"][:1], alone["output"], atol=1e-3)
    assert g.training
    assert all(p.requires_grad for p in g.parameters()) and all(p.requires_grad for p in d.parameters())
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())


def test_restarts_keep_the_lowest_loss():
    g, d = _small_prior()
    y = torch.rand(2, 1, 16, 16) * 2 - 1
    m = _centre_hole(2)
    one = latent_search(g, d, y, m, steps=10, restarts=1, lr=0.05, seed=7)
    four = latent_search(g, d, y, m, steps=10, restarts=4, lr=0.05, seed=7)
    # restart 0 of four draws the same initial z as the single run, so the minimum can only be lower
    assert (four["loss"] <= one["loss"] + 1e-5).all()


def test_adapter_contract_and_blend():
    g, d = _small_prior()
    with pytest.raises(ConfigError, match="discriminator"):
        adapter_for(g)
    with pytest.raises(ConfigError, match="unknown"):
        adapter_for(g, d, iterations=3)
    ad = adapter_for(g, d, steps=15, lr=0.05)
    assert isinstance(ad, LatentSearchAdapter) and ad.native_size == (16, 16) and ad.channels == 1
    assert ad.settings["restarts"] == 1 and ad.settings["lambda_p"] == 0.003 and ad.settings["weighted"] is True
    y = torch.rand(2, 1, 16, 16) * 2 - 1
    m = _centre_hole(2)
    m[1, :, :, 12:] = 1  # a hole touching the border
    calls = []
    ad.progress = lambda step, total: calls.append((step, total))
    out = fill_composite(ad, y, m)
    assert calls[-1] == (15, 15) and len(calls) == 15
    assert torch.equal(out[m.expand_as(y) == 0], y[m.expand_as(y) == 0])  # known pixels exact
    assert ad.last_seconds_per_image > 0
    # the fill is the Poisson blend of G(ẑ) (clamped to [-1, 1]); blend=False pastes G(ẑ)
    raw = ad.last_search["output"]
    assert torch.allclose(out, poisson_blend(y, raw, m).clamp(-1, 1) * m + y * (1 - m), atol=1e-6)
    pasted = fill_composite(adapter_for(g, d, steps=15, lr=0.05, blend=False), y, m)
    assert torch.allclose(pasted, raw * m + y * (1 - m), atol=1e-6)


def test_blend_removes_the_seam():
    """G(ẑ) off by a constant in the hole: pasting leaves a seam, blending restores the image exactly."""
    y = torch.linspace(-0.5, 0.5, 16).view(1, 1, 1, 16).expand(1, 1, 16, 16).contiguous()
    m = _centre_hole(1)
    shifted = y + 0.3
    blended = poisson_blend(y, shifted, m)
    assert (blended - y).abs().max() < 1e-4
    assert ((shifted * m + y * (1 - m)) - y).abs().max() > 0.29

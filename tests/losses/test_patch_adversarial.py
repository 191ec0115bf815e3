"""MSPAL (003 Eq. 4, Eq. 6): hand-computed BCE values with hole label maps."""

from __future__ import annotations

import math

import torch

from inpaintlab.losses import HoleAwarePatchGANLoss, NonSaturatingGANLoss

LOG2 = math.log(2.0)


def test_zero_logits_hand_values():
    loss = HoleAwarePatchGANLoss()
    zeros = {"d1": torch.zeros(2, 1, 4, 4), "d2": torch.zeros(2, 1, 2, 2)}
    q = {"d1": torch.zeros(2, 1, 4, 4), "d2": torch.ones(2, 1, 2, 2)}
    q["d1"][:, :, :2, :2] = 1  # a quarter of the patches overlap the hole
    # BCE(0, t) = log 2 for any target: two critics × (real + fake)
    assert math.isclose(float(loss.discriminator_loss(zeros, zeros, labels=q)), 4 * LOG2, rel_tol=1e-6)
    # generator: BCE(0, 1)·Q averaged over all patches — ¼·log 2 + 1·log 2
    assert math.isclose(float(loss.generator_loss(zeros, labels=q)), 1.25 * LOG2, rel_tol=1e-6)


def test_labels_decide_which_fake_patches_are_fake():
    loss = HoleAwarePatchGANLoss()
    real = {"d1": torch.full((1, 1, 1, 2), 50.0)}  # confidently real: ~0 loss
    fake = {"d1": torch.tensor([[[[-50.0, 50.0]]]])}  # left patch called fake, right patch called real
    q = {"d1": torch.tensor([[[[1.0, 0.0]]]])}  # only the left patch overlaps the hole
    assert float(loss.discriminator_loss(real, fake, labels=q)) < 1e-6
    # labelled all-fake (plain PatchGAN), the right patch costs BCE(50, 0) = 50 / 2 patches
    assert math.isclose(float(loss.discriminator_loss(real, fake)), 25.0, rel_tol=1e-4)
    # the generator pays for the hole patch only: BCE(−50, 1)·1, averaged over 2 patches
    assert math.isclose(float(loss.generator_loss(fake, labels=q)), 25.0, rel_tol=1e-4)


def test_without_labels_it_is_ns_gan():
    torch.manual_seed(0)
    r, f = {"a": torch.randn(2, 1, 3, 3)}, {"a": torch.randn(2, 1, 3, 3)}
    ref = NonSaturatingGANLoss()
    assert torch.equal(HoleAwarePatchGANLoss().discriminator_loss(r, f), ref.discriminator_loss(r, f))
    assert torch.equal(HoleAwarePatchGANLoss().generator_loss(f), ref.generator_loss(f))


def test_labels_come_from_the_critic_it_is_handed():
    """The training module hands the loss the mask and the critic: Q is the critic's ``label_maps(mask)``;
    ``hole_aware=False`` is the plain PatchGAN loss; a critic without label maps is refused in one line."""
    import pytest

    from inpaintlab.errors import ConfigError
    from inpaintlab.models.btgmi import MultiScalePatchDiscriminator

    torch.manual_seed(0)
    critic = MultiScalePatchDiscriminator(ndf=4, num_scales=2, norm="none")
    mask = torch.zeros(2, 1, 64, 64)
    mask[:, :, 2:6, 2:6] = 1
    real, fake = critic(torch.rand(2, 3, 64, 64), mask), critic(torch.rand(2, 3, 64, 64), mask)
    q = critic.label_maps(mask)
    assert any(0 < float(v.mean()) < 1 for v in q.values())  # some patches overlap the hole, some do not
    loss, plain = HoleAwarePatchGANLoss(), HoleAwarePatchGANLoss(hole_aware=False)
    assert torch.equal(loss.generator_loss(fake, mask=mask, discriminator=critic), loss.generator_loss(fake, labels=q))
    assert torch.equal(loss.discriminator_loss(real, fake, mask=mask, discriminator=critic),
                       loss.discriminator_loss(real, fake, labels=q))
    assert torch.equal(plain.generator_loss(fake, mask=mask, discriminator=critic), NonSaturatingGANLoss().generator_loss(fake))
    assert not torch.equal(plain.generator_loss(fake, mask=mask, discriminator=critic), loss.generator_loss(fake, labels=q))
    with pytest.raises(ConfigError, match="label_maps"):
        loss.generator_loss(fake, mask=mask, discriminator=torch.nn.Identity())

"""LatentPriorModule: the base module's G/D schedule on an unconditional DCGAN; evaluation by latent search."""

import functools

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.lightning import InpaintingModule, LatentPriorModule
from inpaintlab.losses import NonSaturatingGANLoss
from inpaintlab.models.dcgan import DCGANDiscriminator, DCGANGenerator

ADAM = functools.partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))


def _module(**kw):
    return LatentPriorModule(
        generator=DCGANGenerator(image_size=16, channels=1, z_dim=8, width=8),
        discriminator=DCGANDiscriminator(image_size=16, channels=1, width=8),
        adversarial=NonSaturatingGANLoss(weight=1.0), optimizer_g=ADAM, optimizer_d=ADAM, **kw,
    )


def test_generator_forward_samples_the_prior():
    m = _module()
    image, mask = torch.zeros(5, 1, 16, 16), torch.ones(5, 1, 16, 16)
    out = m.generator_forward(image, mask)["output"]
    assert out.shape == (5, 1, 16, 16)
    assert (out[0] - out[1]).abs().max() > 0  # one z per image
    assert m.fake_input == "output" and len(m.losses) == 0


def test_generator_loss_is_the_gan_loss_alone():
    m = _module()
    batch = {"image": torch.rand(4, 1, 16, 16) * 2 - 1, "mask": torch.zeros(4, 1, 16, 16)}
    out = m.generator_forward(batch["image"], batch["mask"])
    total, logs = m.generator_loss(batch, out)
    expected = NonSaturatingGANLoss().generator_loss(m.discriminator(out["output"]))
    assert torch.allclose(total, expected) and set(logs) == {"loss/adv_g", "loss/total"}


def test_eval_step_runs_the_search_through_the_adapter():
    m = _module(val_search={"steps": 3})
    m.inference_options = {"steps": 4, "blend": False}
    assert m.stage_adapter("val").settings["steps"] == 3 and m.stage_adapter("val").settings["blend"] is False
    settings = m.stage_adapter("test").settings
    assert settings["steps"] == 4 and settings["blend"] is False and settings["lambda_p"] == 0.003
    image = torch.rand(2, 1, 16, 16) * 2 - 1
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    out = m(image, mask)
    assert torch.equal(out["composite"][mask.expand_as(image) == 0], image[mask.expand_as(image) == 0])
    assert out["sec_per_image"] > 0


def test_config_errors():
    with pytest.raises(ConfigError, match="fake_input"):
        _module(fake_input="composite")
    with pytest.raises(ConfigError, match="unknown inference option"):
        _module(val_search={"iterations": 5})
    with pytest.raises(ConfigError, match="losses is empty"):
        InpaintingModule(generator=DCGANGenerator(image_size=16), losses={}, optimizer_g=ADAM)

import pytest
import torch
from torch import nn

from inpaintlab.losses import HingeGANLoss, NonSaturatingGANLoss, WGANGPLoss
from inpaintlab.losses.adversarial import gradient_penalty_from_grad


def test_hinge_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    loss = HingeGANLoss()
    # relu(1-real) = [0, .5] → .25 ; relu(1+fake) = [0, 1] → .5
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(0.75)
    assert HingeGANLoss(d_scale=0.5).discriminator_loss(real, fake).item() == pytest.approx(0.375)
    assert loss.generator_loss(fake).item() == pytest.approx(1.0)


def test_wgan_values_and_dict_of_critics():
    loss = WGANGPLoss()
    real = {"global": torch.tensor([1.0, 3.0]), "local": torch.tensor([0.0])}
    fake = {"global": torch.tensor([0.0, 1.0]), "local": torch.tensor([-1.0])}
    # (mean fake − mean real) summed over critics: (0.5 − 2) + (−1 − 0)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(-2.5)
    assert loss.generator_loss(fake).item() == pytest.approx(-0.5 + 1.0)
    with pytest.raises(ValueError, match="different critics"):
        loss.discriminator_loss(real, {"global": fake["global"]})


def test_nsgan_values():
    loss = NonSaturatingGANLoss()
    z = torch.zeros(3)
    assert loss.generator_loss(z).item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert loss.discriminator_loss(z, z).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())


def test_gradient_penalty_from_grad_masked():
    grad = torch.zeros(2, 1, 2, 2)
    grad[0, 0, 0, 0] = 3.0  # in the hole
    grad[0, 0, 1, 1] = 4.0  # outside the hole
    grad[1, 0, 0, 0] = 1.0
    mask = torch.zeros(2, 1, 2, 2)
    mask[:, :, 0, 0] = 1
    # unmasked norms 5 and 1 → ((5-1)² + 0)/2 = 8 ; masked norms 3 and 1 → ((3-1)² + 0)/2 = 2
    assert gradient_penalty_from_grad(grad).item() == pytest.approx(8.0, rel=1e-5)
    assert gradient_penalty_from_grad(grad, mask).item() == pytest.approx(2.0, rel=1e-5)


class _Linear(nn.Module):
    """D(x) = Σ w⊙x, so ∇D = w everywhere: the penalty is known in closed form."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, mask=None):
        return (x * self.w).flatten(1).sum(1)


def test_wgan_gp_penalty_closed_form():
    w = torch.zeros(1, 1, 2, 2)
    w[0, 0, 0, 0], w[0, 0, 1, 1] = 3.0, 4.0
    d = _Linear(w)
    real, fake = torch.rand(4, 1, 2, 2), torch.rand(4, 1, 2, 2)
    mask = torch.zeros(4, 1, 2, 2)
    mask[:, :, 0, 0] = 1
    full = WGANGPLoss(gp_weight=10.0).penalty(d, real, fake, mask)
    masked = WGANGPLoss(gp_weight=10.0, masked_penalty=True).penalty(d, real, fake, mask)
    assert full.item() == pytest.approx(10 * (5 - 1) ** 2, rel=1e-4)
    assert masked.item() == pytest.approx(10 * (3 - 1) ** 2, rel=1e-4)
    masked.backward()  # the penalty trains the critic: second-order graph exists
    assert d.w.grad is not None and d.w.grad.abs().sum() > 0

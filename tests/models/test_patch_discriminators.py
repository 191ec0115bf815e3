import pytest
import torch
from torch import nn

from inpaintlab.models.patch_discriminators import SNPatchGAN


def test_shapes_and_layers():
    torch.manual_seed(0)
    d = SNPatchGAN()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 256, 256]
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs)
    assert convs[0].in_channels == 4
    image, mask = torch.rand(2, 3, 256, 256) * 2 - 1, torch.zeros(2, 1, 256, 256)
    assert d(image, mask).shape == (2, 256, 4, 4)
    assert d(image[..., :128, :192], mask[..., :128, :192]).shape == (2, 256, 2, 3)
    # CR-Fill settings: zero padding 2 and slope 0.01 keep the shapes
    cr = SNPatchGAN(leaky_slope=0.01, padding="zeros")
    assert cr(image, mask).shape == (2, 256, 4, 4)
    assert [m.negative_slope for m in cr.modules() if isinstance(m, nn.LeakyReLU)] == [0.01] * 6


def test_mask_is_concatenated():
    torch.manual_seed(0)
    d = SNPatchGAN().eval()
    image = torch.rand(1, 3, 64, 64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 10:40, 10:40] = 1
    with_mask = d(image, mask)
    assert torch.equal(with_mask, d(torch.cat([image, mask], 1)))  # a 4-channel input is taken as is
    assert not torch.equal(with_mask, d(image, torch.zeros_like(mask)))


def test_spectral_norm_bounds_each_layer():
    torch.manual_seed(0)
    d = SNPatchGAN(cnum=8)
    x = torch.rand(2, 3, 64, 64)
    for _ in range(30):  # power iteration converges in train mode
        d(x, torch.zeros(2, 1, 64, 64))
    for m in d.modules():
        if isinstance(m, nn.Conv2d):
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
            assert abs(sigma.item() - 1.0) < 1e-2


def test_errors():
    d = SNPatchGAN()
    with pytest.raises(ValueError, match="pass mask"):
        d(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="B×1×H×W mask"):
        d(torch.rand(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="5-channel"):
        d(torch.rand(1, 5, 64, 64))
    with pytest.raises(ValueError, match="padding"):
        SNPatchGAN(padding="valid")

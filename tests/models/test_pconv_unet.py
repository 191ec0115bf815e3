"""The PConv U-Net: architecture of the paper's appendix, hole invariance (the method's defining property)."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.inference import fill_composite
from inpaintlab.inference.adapters import Adapter, adapter_for
from inpaintlab.models.pconv_unet import PConvUNet
from inpaintlab.nn import PartialConv2d


def _net(conv_type="partial", levels=4, channels=3):
    torch.manual_seed(0)
    return PConvUNet(image_channels=channels, levels=levels, base_channels=8, max_channels=32, conv_type=conv_type)


def _inputs(b=2, c=3, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, c, size, size, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, size, size)
    mask[0, :, 4:20, 6:22] = 1
    mask[1, :, 10:30, 2:12] = 1
    return image, mask


def test_paper_architecture_at_512_has_8_levels_with_the_appendix_widths():
    net = PConvUNet(levels=8)
    enc = [(b.conv.in_channels, b.conv.out_channels, b.conv.kernel_size[0], b.conv.stride[0]) for b in net.encoder]
    assert enc == [(3, 64, 7, 2), (64, 128, 5, 2), (128, 256, 5, 2), (256, 512, 3, 2), (512, 512, 3, 2),
                   (512, 512, 3, 2), (512, 512, 3, 2), (512, 512, 3, 2)]
    dec = [(b.conv.in_channels, b.conv.out_channels) for b in net.decoder]
    assert dec == [(1024, 512), (1024, 512), (1024, 512), (1024, 512), (768, 256), (384, 128), (192, 64), (67, 3)]
    assert all(isinstance(b.conv, PartialConv2d) and b.conv.multi_channel for b in net.decoder)
    assert isinstance(net.encoder[0].bn, torch.nn.Identity) and isinstance(net.decoder[-1].bn, torch.nn.Identity)
    assert all(isinstance(b.bn, torch.nn.BatchNorm2d) for b in [*net.encoder[1:], *net.decoder[:-1]])
    assert net.decoder[-1].conv.bias is not None and isinstance(net.decoder[0].act, torch.nn.LeakyReLU)
    assert net.decoder[0].act.negative_slope == 0.2
    assert net.size_multiple == 256 and net.image_channels == 3


@pytest.mark.parametrize("train_mode", [False, True])
def test_partial_output_does_not_depend_on_hole_values(train_mode):
    net = _net().train(train_mode)
    image, mask = _inputs()
    outs = []
    for fill in (torch.zeros_like(image), torch.full_like(image, 0.37), torch.randn_like(image) * 5):
        x = image * (1 - mask) + fill * mask
        with torch.no_grad():
            outs.append(net(x, mask)["output"])
    assert outs[0].shape == image.shape
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def test_vanilla_output_depends_on_hole_values():
    net = _net("vanilla").eval()
    image, mask = _inputs()
    with torch.no_grad():
        a = net(image * (1 - mask), mask)["output"]
        b = net(image * (1 - mask) + 0.5 * mask, mask)["output"]
    assert not torch.equal(a, b) and (a - b).abs().max() > 1e-3


def test_size_not_a_multiple_is_one_clear_error():
    with pytest.raises(ConfigError, match="divisible by 16"):
        _net()(torch.zeros(1, 3, 24, 32), torch.zeros(1, 1, 24, 32))
    with pytest.raises(ConfigError, match="conv_type"):
        PConvUNet(conv_type="gated")


def test_default_adapter_fills_and_keeps_known_pixels_bit_exact():
    net = _net(channels=1).eval()
    adapter = adapter_for(net)
    assert type(adapter) is Adapter and adapter.size_multiple == 16 and adapter.channels == 1
    image, mask = _inputs(c=1)
    out = fill_composite(adapter, image, mask)
    assert out.shape == image.shape
    assert torch.equal(out[mask.expand_as(out) == 0], image[mask.expand_as(image) == 0])
    assert not torch.equal(out[mask.expand_as(out) == 1], image[mask.expand_as(image) == 1])


def test_weights_start_from_he_initialisation():
    """Sec. 4.2 initialises the weights as He et al. 2015: N(0, 2/fan_in), zero biases (PyTorch's default draws
    U(±1/√fan_in), a std of 1/√(3·fan_in), 2.4× smaller, and random biases); init=pytorch keeps the default."""
    torch.manual_seed(0)
    net = PConvUNet(levels=8)
    conv = net.encoder[3].conv  # 256→512, 3×3: fan_in 2,304, 1,179,648 weights
    assert conv.weight.std().item() == pytest.approx((2 / 2304) ** 0.5, rel=0.01)
    assert abs(conv.weight.mean().item()) < 1e-4
    first, last = net.encoder[0].conv, net.decoder[-1].conv  # the two convolutions with a bias
    assert torch.equal(first.bias, torch.zeros(64)) and torch.equal(last.bias, torch.zeros(3))
    assert last.weight.std().item() == pytest.approx((2 / (67 * 9)) ** 0.5, rel=0.1)
    default = PConvUNet(levels=8, init="pytorch").encoder[3].conv
    assert default.weight.std().item() == pytest.approx((1 / (3 * 2304)) ** 0.5, rel=0.01)
    with pytest.raises(ConfigError, match="init must be one of"):
        PConvUNet(levels=4, init="xavier")

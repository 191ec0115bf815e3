import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inpaintlab.nn.gated_conv import ConvBlock, GatedConv2d, UpConv, get_activation, make_conv
from inpaintlab.nn.padding import pad_same_tf


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_gated_conv_hand_numbers():
    g = GatedConv2d(1, 1, kernel_size=1)
    with torch.no_grad():
        g.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))  # feature, gate
        g.conv.bias.zero_()
    x = torch.tensor([1.0, -1.0]).view(1, 1, 1, 2)
    out = g(x).flatten().tolist()
    # ELU(2)·σ(−1) and ELU(−2)·σ(1)
    assert out == pytest.approx([2 * _sigmoid(-1), (math.exp(-2) - 1) * _sigmoid(1)], abs=1e-6)
    assert out == pytest.approx([0.537883, -0.632121], abs=1e-6)


@pytest.mark.parametrize("activation", ["elu", "relu", None])
def test_gated_conv_matches_manual(activation):
    torch.manual_seed(0)
    g = GatedConv2d(3, 4, 3, stride=2, padding="same_tf", activation=activation)
    x = torch.randn(2, 3, 8, 6)
    y = F.conv2d(pad_same_tf(x, 3, 2), g.conv.weight, g.conv.bias, stride=2)
    feat = {"elu": F.elu, "relu": F.relu, None: lambda t: t}[activation](y[:, :4])
    expected = feat * torch.sigmoid(y[:, 4:])
    assert g.conv.weight.shape == (8, 3, 3, 3)
    assert torch.allclose(g(x), expected, atol=1e-6)
    with torch.no_grad():  # the in-place inference path gives the same numbers
        assert torch.allclose(g(x), expected, atol=1e-6)
    assert g(x).shape == (2, 4, 4, 3)


def test_conv_block_and_upconv():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 5)
    block = ConvBlock(2, 3, 3, dilation=2)
    assert torch.allclose(
        block(x), F.elu(F.conv2d(x, block.conv.weight, block.conv.bias, padding=2, dilation=2))
    )
    up = UpConv(2, 3, conv_type="vanilla")
    ref = F.elu(
        F.conv2d(
            x.repeat_interleave(2, 2).repeat_interleave(2, 3),
            up.conv.conv.weight,
            up.conv.conv.bias,
            padding=1,
        )
    )
    assert torch.allclose(up(x), ref, atol=1e-6)
    assert UpConv(2, 3)(x).shape == (1, 3, 8, 10)  # gated by default


def test_factories_and_errors():
    assert isinstance(make_conv("gated", 1, 2), GatedConv2d)
    assert isinstance(make_conv("vanilla", 1, 2), ConvBlock)
    assert isinstance(get_activation("relu"), nn.ReLU) and get_activation("none") is None
    lrelu = get_activation("leaky_relu")
    assert isinstance(lrelu, nn.LeakyReLU) and lrelu.negative_slope == 0.2
    with pytest.raises(ValueError, match="conv_type"):
        make_conv("partial", 1, 2)
    with pytest.raises(ValueError, match="activation"):
        get_activation("swishy")

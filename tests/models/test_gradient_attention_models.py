import pytest
import torch

from inpaintlab.models.gradient_attention import DilatedFCN, FullyConnectedAutoencoder, GradientAttentionCritic


def test_fc_autoencoder_shape_and_widths():
    net = FullyConnectedAutoencoder()
    x, m = torch.zeros(5, 1, 28, 28), torch.zeros(5, 1, 28, 28)
    out = net(x, m)["output"]
    assert out.shape == (5, 1, 28, 28)
    assert out.abs().max() <= 1
    widths = [l.out_features for l in net.net if isinstance(l, torch.nn.Linear)]
    assert widths == [256, 128, 64, 32, 64, 128, 256, 784]  # Table 1, then back to the image


def test_fc_autoencoder_rejects_wrong_size():
    with pytest.raises(ValueError, match="28×28"):
        FullyConnectedAutoencoder()(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32))


def test_dilated_fcn_layers_and_shape():
    net = DilatedFCN()
    convs = [l for l in net.net if isinstance(l, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    spec = [(c.out_channels, c.stride[0], c.dilation[0], isinstance(c, torch.nn.ConvTranspose2d)) for c in convs]
    assert spec[:16] == [
        (32, 1, 1, False), (64, 2, 1, False), (64, 1, 1, False), (128, 2, 1, False), (128, 1, 1, False),
        (128, 1, 1, False), (128, 1, 2, False), (128, 1, 4, False), (128, 1, 8, False), (128, 1, 16, False),
        (128, 1, 1, False), (128, 1, 1, False), (64, 2, 1, True), (64, 1, 1, False), (32, 2, 1, True),
        (32, 1, 1, False),
    ]
    out = net.eval()(torch.zeros(2, 3, 128, 128), torch.zeros(2, 1, 128, 128))["output"]
    assert out.shape == (2, 3, 128, 128)


def test_dilated_fcn_rejects_odd_size_and_bad_mask():
    net = DilatedFCN(width=0.25)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 3, 30, 30), torch.zeros(1, 1, 30, 30))
    with pytest.raises(ValueError, match="mask"):
        net(torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 16, 16))


def test_critic_shape():
    d = GradientAttentionCritic()
    assert d(torch.zeros(3, 3, 128, 128)).shape == (3, 1)
    assert d.fc.in_features == 256 * 8 * 8
    with pytest.raises(ValueError, match="128×128"):
        d(torch.zeros(1, 3, 64, 64))

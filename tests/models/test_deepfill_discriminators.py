import pytest
import torch
from torch import nn

from inpaintlab.models.deepfill_discriminators import (
    GlobalCritic,
    GlobalLocalCritic,
    LocalCritic,
)


def test_critic_layers_and_shapes():
    glob, loc = GlobalCritic(), LocalCritic()
    assert [m.out_channels for m in glob.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 256]
    assert [m.out_channels for m in loc.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512]
    assert glob.fc.in_features == 256 * 16 * 16 and loc.fc.in_features == 512 * 8 * 8
    assert glob(torch.rand(2, 3, 256, 256)).shape == (2, 1)
    assert loc(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    assert GlobalCritic(input_size=(64, 96), cnum=8)(torch.rand(1, 3, 64, 96)).shape == (1, 1)
    assert GlobalCritic(with_mask=True, cnum=8).features[0].in_channels == 4


def test_global_local_critic_reproduces_v1_local_patch():
    torch.manual_seed(0)
    d = GlobalLocalCritic(global_size=64, local_size=32, cnum=8)
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    mask = torch.zeros(2, 1, 64, 64)
    # DeepFill v1: a 32² box at (t, l), shrunk by the same amount on opposite sides
    mask[0, :, 10 + 3 : 10 + 32 - 3, 20 + 5 : 20 + 32 - 5] = 1
    mask[1, :, 30:62, 0:32] = 1
    out = d(image, mask)
    assert set(out) == {"global", "local"} and out["global"].shape == out["local"].shape == (2, 1)
    expected = torch.cat(
        [d.local_critic(image[:1, :, 10:42, 20:52]), d.local_critic(image[1:, :, 30:62, 0:32])]
    )
    assert torch.allclose(out["local"], expected, atol=1e-6)
    # a batch-shared box (official: one box per batch)
    shared = d(image, mask, bbox=(10, 20, 32, 32))["local"]
    assert torch.allclose(shared[:1], expected[:1], atol=1e-6)


def test_critic_errors():
    with pytest.raises(ValueError, match="built for 256×256"):
        GlobalCritic()(torch.rand(1, 3, 128, 128))
    with pytest.raises(ValueError, match="needs the mask"):
        LocalCritic(with_mask=True, cnum=8)(torch.rand(1, 3, 128, 128))
    with pytest.raises(ValueError, match="B×1×H×W mask"):
        GlobalLocalCritic(cnum=8)(torch.rand(1, 3, 256, 256), torch.zeros(1, 1, 128, 128))

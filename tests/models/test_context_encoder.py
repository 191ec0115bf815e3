"""Context Encoder: parameter counts against the layer lists, the channel-wise FC layer, centre/random outputs,
the mean-pixel fill, a critic that never sees the mask, the adapter's centre-region rule."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.inference import adapter_for, fill_composite
from inpaintlab.models.context_encoder import (
    MEAN_PIXEL,
    ChannelWiseFC,
    ContextEncoderAdapter,
    ContextEncoderDiscriminator,
    ContextEncoderGenerator,
)


def _n(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# Encoder (no biases; BatchNorm γ, β after all but the first conv): 4×4 convs 3→64→64→128→256→512
ENCODER = 16 * (3 * 64 + 64 * 64 + 64 * 128 + 128 * 256 + 256 * 512) + 2 * (64 + 128 + 256 + 512)  # 2,823,040
# Sec. 3.1's channel-wise FC (the feature-learning network's; option): 512·(4²)² + 1×1 conv 512·512 + BN(512)
CHANNELWISE = 512 * 16 * 16 + 512 * 512 + 2 * 512  # 394,240
# Sec. 5.1's 4000-unit bottleneck (default; built as released): 4×4 conv 512→4000 + BN, 4×4 deconv 4000→512 + BN
FC4000 = 16 * 512 * 4000 + 2 * 4000 + 16 * 4000 * 512 + 2 * 512  # 65,545,024
# Decoder to the 64² patch: deconvs 512→256→128→64 (+BN) → 3
DECODER_CENTER = 16 * (512 * 256 + 256 * 128 + 128 * 64 + 64 * 3) + 2 * (256 + 128 + 64)  # 2,756,480
# Decoder to the 128² image: one more 64→64 deconv + BN
DECODER_RANDOM = DECODER_CENTER + 16 * 64 * 64 + 2 * 64  # 2,822,144


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ENCODER + FC4000 + DECODER_CENTER),  # 71,124,544: the paper's inpainting net (and the released one)
        ({"bottleneck": "channelwise"}, ENCODER + CHANNELWISE + DECODER_CENTER),  # 5,973,760
        ({"region": "random"}, ENCODER + FC4000 + DECODER_RANDOM),  # 71,190,208
        ({"region": "random", "bottleneck": "channelwise"}, ENCODER + CHANNELWISE + DECODER_RANDOM),  # 6,039,424
    ],
)
def test_generator_parameter_counts(kwargs, expected):
    assert ENCODER == 2_823_040 and CHANNELWISE == 394_240 and FC4000 == 65_545_024 and DECODER_CENTER == 2_756_480
    g = ContextEncoderGenerator(**kwargs)
    assert _n(g) == expected
    assert _n(g.encoder) == ENCODER


def test_discriminator_parameter_counts():
    # 4×4 convs 3→64→128→256→512 (BN after the first), 4×4 conv 512→1; no biases
    assert _n(ContextEncoderDiscriminator(64)) == 16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512) + 2 * (
        128 + 256 + 512
    ) == 2_765_568
    # whole 128² image: one more layer 512→1024
    assert _n(ContextEncoderDiscriminator(128, crop=None)) == 16 * (
        3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512 * 1024 + 1024
    ) + 2 * (128 + 256 + 512 + 1024)


def test_channelwise_fc_equals_block_diagonal_dense():
    torch.manual_seed(0)
    layer = ChannelWiseFC(3, 2, bias=True)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(5, 3, 2, 2)
    dense = torch.block_diag(*layer.weight)  # 12×12, the 3 blocks of 4×4 on the diagonal
    expected = (x.flatten(1) @ dense.T + layer.bias.flatten()).view(5, 3, 2, 2)
    torch.testing.assert_close(layer(x), expected)
    assert layer.weight.numel() == 3 * 2**4  # m·n⁴ (Pathak Sec. 3.1)
    # a change of one channel's input leaves the others' outputs alone
    x2 = x.clone()
    x2[:, 1] += 1
    torch.testing.assert_close(layer(x2)[:, [0, 2]], layer(x)[:, [0, 2]])


def test_centre_output_is_full_size_with_the_patch_in_the_centre():
    torch.manual_seed(0)
    g = ContextEncoderGenerator(image_size=32, nef=8, ngf=8).eval()
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    out = g(image * (1 - mask), mask)
    assert out["output"].shape == (2, 3, 32, 32) and out["patch"].shape == (2, 3, 16, 16)
    torch.testing.assert_close(out["output"][..., 8:24, 8:24], out["patch"])
    # outside the centre: the input (known pixels); the hole entered the network as the mean pixel
    ring = torch.ones(32, 32, dtype=torch.bool)
    ring[8:24, 8:24] = False
    assert torch.equal(out["output"][..., ring], image[..., ring])
    assert out["patch"].abs().max() <= 1  # tanh


def test_hole_content_never_reaches_the_network_and_is_the_mean_pixel():
    torch.manual_seed(0)
    g = ContextEncoderGenerator(image_size=32, region="random", nef=8, ngf=8).eval()
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 4:12, 10:30] = 1
    other = torch.where(mask > 0, torch.rand_like(image), image)
    torch.testing.assert_close(g(image, mask)["output"], g(other, mask)["output"])
    seen = {}
    g.encoder.register_forward_pre_hook(lambda m, i: seen.update(x=i[0]))
    g(image * (1 - mask), mask)
    torch.testing.assert_close(seen["x"][0, :, 5, 11], torch.tensor(MEAN_PIXEL))
    assert MEAN_PIXEL[0] == pytest.approx(2 * 117 / 255 - 1)


def test_discriminator_never_sees_the_mask_and_crops_the_centre():
    torch.manual_seed(0)
    d = ContextEncoderDiscriminator(16, ndf=8).eval()
    image = torch.randn(3, 3, 32, 32)
    a = d(image, torch.zeros(3, 1, 32, 32))
    b = d(image, torch.ones(3, 1, 32, 32))
    assert a.shape == (3, 1) and torch.equal(a, b)
    torch.testing.assert_close(d(image[..., 8:24, 8:24]), a)


def test_adapter_centre_rule():
    torch.manual_seed(0)
    g = ContextEncoderGenerator(image_size=32, nef=8, ngf=8).eval()
    assert isinstance(adapter_for(g), ContextEncoderAdapter) and adapter_for(g).native_size == (32, 32)
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    centre = torch.zeros(1, 1, 32, 32)
    centre[..., 10:20, 10:20] = 1
    out = fill_composite(adapter_for(g), image, centre)
    assert torch.equal(out[..., centre[0, 0] == 0], image[..., centre[0, 0] == 0])
    corner = centre.clone()
    corner[..., 0:3, 0:3] = 1  # 9 hole pixels outside the centre 16²
    with pytest.raises(ConfigError, match="9 hole pixels outside"):
        fill_composite(adapter_for(g), image, corner)
    out = fill_composite(adapter_for(g, outside="mean"), image, corner)
    torch.testing.assert_close(out[0, :, 1, 1], torch.tensor(MEAN_PIXEL))


def test_bad_settings_raise_one_clear_error():
    with pytest.raises(ConfigError, match="power of two"):
        ContextEncoderGenerator(image_size=100)
    with pytest.raises(ConfigError, match="works on 32"):
        ContextEncoderGenerator(image_size=32, nef=8, ngf=8)(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))

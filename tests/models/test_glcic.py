"""GLCIC: parameter counts against Iizuka Tables 1–3, shapes, the batched hole-centred local crop."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.inference import adapter_for
from inpaintlab.models.glcic import GLCICAdapter, GLCICCompletionNetwork, GLCICDiscriminator, hole_centred_crop


def _n(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _conv(cin, cout, k):  # weights + bias + BatchNorm γ, β
    return cin * cout * k * k + cout + 2 * cout


# Table 1: conv5 4→64; conv3 s2 64→128; conv3 128; conv3 s2 128→256; 2× conv3 256; 4 dilated 256; 2× conv3 256;
# deconv4 256→128; conv3 128; deconv4 128→64; conv3 64→32; output conv3 32→3 (bias, no BN).
COMPLETION = (
    _conv(4, 64, 5) + _conv(64, 128, 3) + _conv(128, 128, 3) + _conv(128, 256, 3) + 8 * _conv(256, 256, 3)
    + _conv(256, 128, 4) + _conv(128, 128, 3) + _conv(128, 64, 4) + _conv(64, 32, 3) + 32 * 3 * 9 + 3
)
# Tables 2–3: 5×5 s2 convs 64,128,256,512,512(,512) → FC 512·4·4 → 1024; concat 2048 → FC 1.
_LOCAL_CONVS = _conv(3, 64, 5) + _conv(64, 128, 5) + _conv(128, 256, 5) + _conv(256, 512, 5) + _conv(512, 512, 5)
LOCAL = _LOCAL_CONVS + 8192 * 1024 + 1024
GLOBAL = _LOCAL_CONVS + _conv(512, 512, 5) + 8192 * 1024 + 1024
CRITIC = LOCAL + GLOBAL + 2048 + 1


def test_parameter_counts():
    assert COMPLETION == 6_072_131 and LOCAL == 19_253_248 and GLOBAL == 25_808_384
    assert _n(GLCICCompletionNetwork()) == COMPLETION
    d = GLCICDiscriminator()
    assert (_n(d.local_d), _n(d.global_d), _n(d)) == (LOCAL, GLOBAL, CRITIC) == (LOCAL, GLOBAL, 45_063_681)


def test_completion_network_shapes_range_and_fill():
    torch.manual_seed(0)
    g = GLCICCompletionNetwork(cnum=8, fill_value=[0.1, -0.2, 0.3]).eval()
    image = torch.rand(2, 3, 36, 44) * 2 - 1
    mask = torch.zeros(2, 1, 36, 44)
    mask[..., 5:20, 7:30] = 1
    out = g(image * (1 - mask), mask)["output"]
    assert out.shape == image.shape and out.min() >= -1 and out.max() <= 1
    noisy = torch.where(mask > 0, torch.rand_like(image), image)
    torch.testing.assert_close(g(noisy, mask)["output"], out)  # hole content never used
    with pytest.raises(ConfigError, match="multiples of 4"):
        g(torch.zeros(1, 3, 30, 32), torch.zeros(1, 1, 30, 32))
    assert adapter_for(g).size_multiple == 4 and isinstance(adapter_for(g), GLCICAdapter)
    assert adapter_for(g).settings == {"postprocess": True, "blend_ring": 1}  # the paper post-processes


def _loop_crop(image, mask, size):
    """Reference: one sample at a time."""
    out = []
    h, w = image.shape[-2:]
    for x, m in zip(image, mask):
        ys, xs = torch.nonzero(m[0] > 0.5, as_tuple=True)
        cy = (int(ys.min()) + int(ys.max()) + 1) // 2 if len(ys) else h // 2
        cx = (int(xs.min()) + int(xs.max()) + 1) // 2 if len(xs) else w // 2
        t = min(max(cy - size // 2, 0), h - size)
        l = min(max(cx - size // 2, 0), w - size)
        out.append(x[:, t : t + size, l : l + size])
    return torch.stack(out)


def test_hole_centred_crop_matches_a_loop_and_contains_the_hole():
    image = torch.randn(4, 3, 40, 48)
    mask = torch.zeros(4, 1, 40, 48)
    mask[0, :, 10:20, 12:30] = 1  # inside
    mask[1, :, 0:8, 40:48] = 1  # corner: the crop is shifted inside the image
    mask[2, :, 30:40, 0:5] = 1
    crop = hole_centred_crop(image, mask, 24)
    assert crop.shape == (4, 3, 24, 24)
    torch.testing.assert_close(crop, _loop_crop(image, mask, 24))
    torch.testing.assert_close(crop[3], image[3, :, 8:32, 12:36])  # no hole: the centre
    mcrop = hole_centred_crop(mask, mask, 24)
    assert torch.equal(mcrop.flatten(1).sum(1)[:3], mask.flatten(1).sum(1)[:3])  # every hole pixel inside


def test_discriminator_output_and_size_check():
    torch.manual_seed(0)
    d = GLCICDiscriminator(global_size=64, local_size=32, cnum=4, fc_units=16).eval()
    image = torch.randn(3, 3, 64, 64)
    mask = torch.zeros(3, 1, 64, 64)
    mask[..., 20:40, 10:30] = 1
    assert d(image, mask).shape == (3, 1)
    # the local crop follows the hole: moving the hole changes the score
    moved = torch.zeros_like(mask)
    moved[..., 40:60, 40:60] = 1
    assert not torch.allclose(d(image, mask), d(image, moved))
    with pytest.raises(ConfigError, match="global_size"):
        d(torch.randn(1, 3, 32, 32), torch.zeros(1, 1, 32, 32))


def test_fill_value_is_measured_from_data_and_travels_in_the_state_dict():
    """Sec. 3.1: the hole holds the training set's mean pixel — 'dataset' until measured (a clear error if never),
    then a buffer saved with the weights; a state dict without it (older checkpoints) keeps the configured value."""
    torch.manual_seed(0)
    g = GLCICCompletionNetwork(cnum=4).eval()
    assert g.fill_from_data and torch.isnan(g.fill_value).all()
    image, mask = torch.zeros(1, 3, 16, 16), torch.ones(1, 1, 16, 16)
    with pytest.raises(ConfigError, match="fill_value 'dataset' was never measured"):
        g(image, mask)
    g.fill_value.copy_(torch.tensor([0.25, -0.5, 0.75]))
    seen = {}
    g.net[0].register_forward_pre_hook(lambda m, i: seen.update(x=i[0]))
    g(image, mask)
    torch.testing.assert_close(seen["x"][0, :3, 5, 5], torch.tensor([0.25, -0.5, 0.75]))
    assert torch.equal(seen["x"][0, 3], mask[0, 0])
    fresh = GLCICCompletionNetwork(cnum=4)
    fresh.load_state_dict(g.state_dict())
    assert torch.equal(fresh.fill_value, g.fill_value)
    old = {k: v for k, v in g.state_dict().items() if k != "fill_value"}
    configured = GLCICCompletionNetwork(cnum=4, fill_value=[0.0, 0.1, 0.2])
    configured.load_state_dict(old)  # strict, yet the missing fill value is not an error
    torch.testing.assert_close(configured.fill_value, torch.tensor([0.0, 0.1, 0.2]))
    with pytest.raises(ConfigError, match="'dataset' or 3 numbers"):
        GLCICCompletionNetwork(fill_value="imagenet")

import pytest
import torch
import torch.nn.functional as F

from inpaintlab.nn.padding import PaddedConv2d, SamePad2d, pad_same_tf, same_tf_pads, symmetric_padding


def test_same_tf_pads_hand_computed():
    # out = ceil(n/s); total = (out-1)·s + (k-1)·d + 1 - n, extra pixel after
    assert same_tf_pads(4, 3, 2) == (0, 1)  # DeepFill's 3×3 s2 on an even size: 0 top/left, 1 bottom/right
    assert same_tf_pads(5, 3, 2) == (1, 1)
    assert same_tf_pads(256, 5, 2) == (1, 2)
    assert same_tf_pads(7, 5, 2) == (2, 2)
    assert same_tf_pads(4, 3, 1, dilation=2) == (2, 2)
    assert same_tf_pads(4, 4, 1) == (1, 2)
    assert same_tf_pads(3, 1, 2) == (0, 0)
    assert symmetric_padding(3, 16) == 16 and symmetric_padding(5) == 2


def test_stride2_same_tf_conv_matches_hand_sum():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    conv = PaddedConv2d(1, 1, 3, stride=2, padding="same_tf")
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    # window sums of x padded with 0 rows/cols before and 1 after
    assert conv(x).squeeze().tolist() == [[45.0, 39.0], [66.0, 50.0]]
    assert pad_same_tf(x, 3, 2).shape == (1, 1, 5, 5)
    assert pad_same_tf(x, 3, 2)[0, 0, :4, :4].equal(x[0, 0])
    # PyTorch symmetric zero padding samples a different grid (CR-Fill)
    zeros = PaddedConv2d(1, 1, 3, stride=2, padding="zeros")
    zeros.load_state_dict(conv.state_dict())
    assert zeros(x).squeeze().tolist() == [[10.0, 24.0], [51.0, 90.0]]


def test_stride1_same_tf_equals_symmetric_and_module():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 10)
    for k, d in [(3, 1), (3, 4), (5, 1)]:
        a = PaddedConv2d(3, 4, k, dilation=d, padding="same_tf")
        b = PaddedConv2d(3, 4, k, dilation=d, padding="zeros")
        b.load_state_dict(a.state_dict())
        assert torch.allclose(a(x), b(x))
        ref = F.conv2d(SamePad2d(k, 1, d)(x), a.weight, a.bias, dilation=d)
        assert torch.allclose(a(x), ref, atol=1e-6)
        assert a(x).shape == (2, 4, 9, 10)


def test_odd_sizes_and_state_dict_keys():
    conv = PaddedConv2d(2, 3, 3, stride=2, padding="same_tf")
    assert conv(torch.zeros(1, 2, 5, 7)).shape == (1, 3, 3, 4)
    assert set(conv.state_dict()) == {"weight", "bias"}
    assert PaddedConv2d(2, 3, 3, padding="reflect")(torch.zeros(1, 2, 5, 7)).shape == (1, 3, 5, 7)


def test_bad_padding_names_the_choices():
    with pytest.raises(ValueError, match="same_tf"):
        PaddedConv2d(1, 1, 3, padding="same")
    with pytest.raises(ValueError, match="positive"):
        same_tf_pads(0, 3, 1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_padding_equals_f_pad_bit_for_bit(channels_last):
    """Without autograd, "same_tf" writes each element once instead of F.pad's fill-then-copy: same values, same
    strides (so the following conv rounds the same), channels-last kept."""
    torch.manual_seed(0)
    for shape in [(2, 5, 17, 16), (1, 3, 64, 48), (3, 4, 7, 9)]:
        x = torch.randn(*shape)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for k, s, d in [(3, 1, 1), (3, 2, 1), (5, 1, 1), (3, 1, 4), (4, 2, 1)]:
            t, b = same_tf_pads(x.shape[-2], k, s, d)
            left, r = same_tf_pads(x.shape[-1], k, s, d)
            ref = F.pad(x, (left, r, t, b))
            with torch.no_grad():
                got = pad_same_tf(x, k, s, d)
            assert torch.equal(got, ref) and got.stride() == ref.stride(), (shape, k, s, d)
    x = torch.randn(1, 2, 8, 8, requires_grad=True)  # with autograd: F.pad itself
    pad_same_tf(x, 3, 2).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


@pytest.mark.parametrize("batch, size", [(1, (128, 96)), (2, (64, 64))])
def test_builtin_padding_gives_the_explicit_pads_bits_in_deepfill_v2(batch, size):
    """Stride-1 "same_tf" layers with at most BUILTIN_PAD_MAX padding use the convolution's own padding: every
    such DeepFill v2 layer (real widths) computes exactly the bits of an explicit TF pad + unpadded conv, so the
    reference-fixture parity is unchanged; the dilation-8/16 and stride-2 layers still pad explicitly."""
    from inpaintlab.models.coarse_to_fine import deepfill_v2

    torch.manual_seed(0)
    gen = deepfill_v2().eval()
    convs = [m for m in gen.modules() if isinstance(m, PaddedConv2d)]
    builtin = [m for m in convs if not m.tf_same]
    assert {(m.stride[0], m.dilation[0]) for m in convs if m.tf_same} == {(2, 1), (1, 8), (1, 16)}
    assert len(builtin) == 32 and all(m.padding[0] <= PaddedConv2d.BUILTIN_PAD_MAX for m in builtin)
    seen = []

    def check(mod, inputs, out):
        (x,) = inputs
        k, d = mod.kernel_size[0], mod.dilation[0]
        t, b = same_tf_pads(x.shape[-2], k, 1, d)
        left, r = same_tf_pads(x.shape[-1], k, 1, d)
        ref = F.conv2d(F.pad(x, (left, r, t, b)), mod.weight, mod.bias, dilation=d)
        seen.append(torch.equal(out, ref))

    hooks = [m.register_forward_hook(check) for m in builtin]
    image = torch.rand(batch, 3, *size) * 2 - 1
    mask = torch.zeros(batch, 1, *size)
    mask[..., size[0] // 4 : size[0] // 2, size[1] // 3 : 2 * size[1] // 3] = 1
    with torch.no_grad():
        gen(image * (1 - mask), mask)
    for h in hooks:
        h.remove()
    assert len(seen) == 32 and all(seen)

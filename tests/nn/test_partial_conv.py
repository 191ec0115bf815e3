"""PartialConv2d (Partial Convolutions Sec. 3.1): reference parity, the renormalisation, fp32 mask path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import reference_fixture
from inpaintlab.nn import PartialConv2d


def _layer(case) -> PartialConv2d:
    layer = PartialConv2d(case["in_channels"], case["out_channels"], case["kernel_size"], stride=case["stride"],
                          padding=case["padding"], dilation=case["dilation"], bias=case["bias"],
                          multi_channel=case["multi_channel"])
    with torch.no_grad():
        layer.weight.copy_(case["weight"])
        if case["bias"]:
            layer.bias.copy_(case["bias_value"])
    return layer


CASES = torch.load(reference_fixture("partialconv2d.pt"))


MODES = {"autograd": torch.enable_grad, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("index", range(len(CASES)))
def test_matches_nvidia_reference(index, mode):
    """With autograd (two in-place passes) and without (one fused pass, a reused buffer for x·(1−m))."""
    case = CASES[index]
    layer = _layer(case)
    # the fixture is in the reference's convention (1 = valid); the layer takes and returns 1 = hole
    with MODES[mode]():
        y, new_mask = layer(case["input"], 1.0 - case["mask"])
    assert y.shape == case["output"].shape and new_mask.shape == case["updated_mask"].shape
    assert (y - case["output"]).abs().max().item() <= 1e-5
    assert torch.equal(1.0 - new_mask, case["updated_mask"])


def test_eight_reference_cases_cover_both_mask_kinds():
    assert len(CASES) == 8 and {c["multi_channel"] for c in CASES} == {True, False}


def test_hand_computed_renormalisation():
    layer = PartialConv2d(1, 1, 3, padding=1, bias=True)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.fill_(0.5)
    x = torch.full((1, 1, 3, 3), 2.0)
    hole = torch.ones(1, 1, 3, 3)
    hole[0, 0, 0, 0] = 0.0  # one known pixel, top-left
    y, new = layer(x, hole)
    # centre window sees 1 known pixel of 9: 2·9/1 + 0.5; (0,0) window sees it among 4 in-image pixels: 2·9/1 + 0.5
    assert y[0, 0, 1, 1].item() == pytest.approx(18.5)
    assert y[0, 0, 0, 0].item() == pytest.approx(18.5)
    # (2,2) sees no known pixel: 0 and still a hole
    assert y[0, 0, 2, 2].item() == 0.0 and new[0, 0, 2, 2].item() == 1.0
    assert new[0, 0, :2, :2].eq(0).all() and new.sum().item() == 5  # 4 windows reach the known pixel


def test_fully_known_equals_plain_convolution_with_zero_padding_rescaled_at_borders():
    torch.manual_seed(0)
    layer = PartialConv2d(4, 5, 3, padding=1)
    x = torch.randn(2, 4, 8, 8)
    y, new = layer(x, torch.zeros(2, 1, 8, 8))
    plain = nn.functional.conv2d(x, layer.weight, layer.bias, padding=1)
    assert torch.allclose(y[..., 1:-1, 1:-1], plain[..., 1:-1, 1:-1], atol=1e-5)  # interior: ratio 1
    assert new.eq(0).all()


def test_multi_channel_mask_returns_c_out_identical_channels():
    layer = PartialConv2d(3, 7, 3, padding=1, multi_channel=True)
    hole = (torch.rand(2, 3, 6, 6) > 0.7).float()
    _, new = layer(torch.randn(2, 3, 6, 6), hole)
    assert new.shape == (2, 7, 6, 6) and (new == new[:, :1]).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_all_hole_windows_give_zero_under_autocast(dtype):
    torch.manual_seed(0)
    layer = PartialConv2d(8, 8, 3, padding=1, multi_channel=True)
    x = torch.randn(1, 8, 12, 12) * 100
    hole = torch.zeros(1, 8, 12, 12)
    hole[..., :6, :] = 1.0  # the top half is a hole: rows 0..4 see no known pixel
    try:
        with torch.autocast("cpu", dtype=dtype):
            y, new = layer(x, hole)
    except RuntimeError as err:  # pragma: no cover - CPU autocast without fp16 convolutions
        pytest.skip(f"CPU autocast {dtype}: {err}")
    assert torch.isfinite(y).all()
    assert y[..., :5, :].eq(0).all() and new[:, :, :5].eq(1).all() and new[:, :, 5:].eq(0).all()


def test_wrong_mask_shape_is_one_clear_error():
    with pytest.raises(ValueError, match="B×3×H×W"):
        PartialConv2d(3, 4, 3, multi_channel=True)(torch.randn(1, 3, 5, 5), torch.zeros(1, 1, 5, 5))


def _nvidia(case, x, valid):
    """NVIDIA/partialconv's forward written out (its multi-channel count: a C_in·k² convolution of the mask)."""
    w = case["weight"]
    c, kh, kw = valid.shape[1], *w.shape[-2:]
    geo = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    count = F.conv2d(valid, torch.ones(1, c, kh, kw), **geo)
    update = count.clamp(0, 1)
    ratio = c * kh * kw / (count + 1e-8) * update
    if not case["bias"]:
        return F.conv2d(x * valid, w, **geo) * ratio, update
    b = case["bias_value"].view(1, -1, 1, 1)
    return ((F.conv2d(x * valid, w, case["bias_value"], **geo) - b) * ratio + b) * update, update


MULTI = [i for i, c in enumerate(CASES) if c["multi_channel"]]


@pytest.mark.parametrize("index", MULTI)
def test_expanded_multichannel_mask_counts_every_channel(index):
    """A B×C mask that is one channel expanded (stride 0) takes the layer's fast count (one channel × C): it
    equals NVIDIA's layer, which is checked against the fixture first, on that mask."""
    case = CASES[index]
    ref_y, ref_update = _nvidia(case, case["input"], case["mask"])
    assert (ref_y - case["output"]).abs().max() <= 1e-5 and case["updated_mask"].eq(ref_update).all()
    hole = (1.0 - case["mask"][:, :1]).expand_as(case["mask"])  # the first channel's mask for every channel
    assert hole.stride(1) == 0
    ref_y, ref_update = _nvidia(case, case["input"], 1.0 - hole)
    layer = _layer(case)
    for mode in MODES.values():
        with mode():
            y, new_mask = layer(case["input"], hole)
        assert (1.0 - new_mask).eq(ref_update).all()
        assert torch.allclose(y, ref_y, rtol=1e-6, atol=1e-5)  # float rounding only (outputs up to ~40)


def test_inference_windows_without_known_pixel_are_zero_and_buffer_follows_the_mode():
    """The one-pass renormalisation b + y·ratio puts the bias in windows without a known pixel: they are set
    back to 0 (as with autograd); the reused buffer is re-made across inference_mode / no_grad and keeps a
    channels-last input's layout."""
    torch.manual_seed(0)
    layer = PartialConv2d(4, 6, 3, padding=1, multi_channel=True)
    with torch.no_grad():
        layer.bias.fill_(3.0)
    x = torch.randn(2, 4, 10, 12)
    hole = torch.zeros(2, 4, 10, 12)
    hole[..., :5, :] = 1.0  # rows 0..3 see no known pixel
    y_grad, m_grad = layer(x, hole)
    for mode in (torch.inference_mode, torch.no_grad, torch.inference_mode):
        with mode():
            y, m = layer(x, hole)
            y_cl, _ = layer(x.contiguous(memory_format=torch.channels_last), hole)
        assert y[..., :4, :].eq(0).all() and y[..., 5:, :].sub(3.0).abs().gt(0).any()
        assert torch.equal(m, m_grad) and (y - y_grad).abs().max() <= 1e-5
        assert (y_cl - y).abs().max() <= 1e-5

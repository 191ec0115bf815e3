"""PartialConv2d (Partial Convolutions Sec. 3.1): reference parity, the renormalisation, fp32 mask path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import reference_fixture
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


@pytest.mark.parametrize("index", range(len(CASES)))
def test_matches_nvidia_reference(index):
    case = CASES[index]
    layer = _layer(case)
    # the fixture is in the reference's convention (1 = valid); the layer takes and returns 1 = hole
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

"""CR-Fill auxiliary encoder-decoder: patch pasting, shapes, official key mapping."""


import pytest
import torch

from helpers import reference_fixture
from inpaintlab.models.crfill_aux import (
    CRFILL_KEY_MAP,
    CRFillAuxNet,
    convert_crfill_aux_state_dict,
    paste_patches,
)


def test_paste_identity_sums_or_averages_overlaps():
    feats = torch.rand(2, 3, 32, 32) + 1.0  # positive, so the overlap count is summed / feats
    eye = torch.eye(9).expand(2, 9, 9)  # 16×16 stride-8 patches of 32×32: a 3×3 grid
    assert torch.allclose(paste_patches(eye, feats, 16, 8, average=True), feats, atol=1e-6)
    summed = paste_patches(eye, feats, 16, 8)
    # overlaps: corners 1 patch, edge bands 2, the centre 4 (official: summed, not averaged)
    count = summed / feats
    assert torch.allclose(count[..., 0, 0], torch.ones(2, 3))
    assert torch.allclose(count[..., 0, 12], torch.full((2, 3), 2.0))
    assert torch.allclose(count[..., 12, 12], torch.full((2, 3), 4.0))


def test_paste_moves_the_chosen_patch_and_mixes_by_weight():
    feats = torch.arange(2 * 16 * 16, dtype=torch.float32).view(1, 2, 16, 16)
    # 8×8 patches at stride 8: a 2×2 grid; every destination takes 0.25·patch 0 + 0.75·patch 3
    w = torch.zeros(1, 4, 4)
    w[..., 0], w[..., 3] = 0.25, 0.75
    out = paste_patches(w, feats, 8, 8)
    expected_patch = 0.25 * feats[..., :8, :8] + 0.75 * feats[..., 8:, 8:]
    for y in (0, 8):
        for x in (0, 8):
            assert torch.allclose(out[..., y : y + 8, x : x + 8], expected_patch)


def test_aux_net_shapes_and_range():
    net = CRFillAuxNet(cnum=8)
    image = torch.rand(2, 3, 32, 48) * 2 - 1
    feats = net.encode(image)
    assert feats.shape == (2, 4, 32, 48)
    weights = torch.softmax(torch.randn(2, 15, 15), dim=2)  # (32-16)/8+1 = 3 rows, (48-16)/8+1 = 5 cols
    out = net(image, weights)
    assert out.shape == image.shape
    assert out.abs().max() <= 1


def test_official_key_mapping_loads_the_fixture_strictly():
    sd = torch.load(reference_fixture("crfill_generator.pt"))["state_dict"]
    converted = convert_crfill_aux_state_dict(sd)
    net = CRFillAuxNet()
    net.load_state_dict(converted, strict=True)
    assert torch.equal(net.enc1.conv.weight, sd["bconv1.weight"])
    assert torch.equal(net.enc5_up.conv.conv.bias, sd["conv13_upsample_conv.bias"])
    assert torch.equal(net.dec2.conv.weight, sd["conv17.weight"])
    assert len(converted) == 2 * len(CRFILL_KEY_MAP) == 20
    # DataParallel prefix is stripped
    assert convert_crfill_aux_state_dict({f"module.{k}": v for k, v in sd.items()}).keys() == converted.keys()


def test_key_mapping_errors_name_the_key():
    sd = {f"{k}.{p}": torch.zeros(1) for k in CRFILL_KEY_MAP for p in ("weight", "bias")}
    with pytest.raises(KeyError, match="bconv9.weight"):
        convert_crfill_aux_state_dict({**sd, "bconv9.weight": torch.zeros(1)})
    del sd["conv16_2.bias"]
    with pytest.raises(KeyError, match="conv16_2.bias"):
        convert_crfill_aux_state_dict(sd)


def test_bad_inputs_raise_clear_errors():
    net = CRFillAuxNet(cnum=8)
    with pytest.raises(ValueError, match="B×3×H×W"):
        net(torch.zeros(1, 4, 32, 32), torch.eye(9)[None])
    with pytest.raises(ValueError, match="weights expect 16"):
        net(torch.zeros(1, 3, 32, 32), torch.eye(16)[None])
    with pytest.raises(ValueError, match="B×L×L"):
        paste_patches(torch.zeros(1, 9, 8), torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of 4"):
        CRFillAuxNet(cnum=6)

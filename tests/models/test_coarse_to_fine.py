
import pytest
import torch

from helpers import reference_fixture
from inpaintlab.models.coarse_to_fine import (
    OFFICIAL_LAYERS,
    CoarseToFineGenerator,
    crfill,
    deepfill_v1,
    deepfill_v2,
)


def _fixture(name: str) -> dict:
    return torch.load(reference_fixture(name))


def _inputs(b: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, h, w)
    mask[:, :, h // 4 : h // 2, w // 3 : w // 2 + 4] = 1
    return image * (1 - mask), mask


def test_crfill_fixture_parity_and_auxiliary_keys():
    ref = _fixture("crfill_generator.pt")
    gen = crfill().eval()
    aux = gen.load_official_state_dict(ref["state_dict"])
    # the auxiliary branch (helper CRFILL's) is handed back untouched, generator keys are consumed
    assert len(aux) == 24 and all(not k.startswith("baseg.") for k in aux)
    assert {"bconv1.weight", "conv16_2.bias", "sconv1.weight", "conv13_upsample_conv.weight"} <= set(aux)
    assert (
        sum(p.numel() for p in gen.parameters())
        == sum(v.numel() for k, v in ref["state_dict"].items() if k.startswith("baseg."))
        == 4_052_478
    )
    with torch.no_grad():
        out = gen(ref["masked_image"], ref["mask"])
    assert (out["coarse"] - ref["eval_stage1"]).abs().max() < 1e-4
    assert (out["output"] - ref["eval_stage2"]).abs().max() < 1e-4


def test_deepfill_v2_fixture_parity():
    ref = _fixture("deepfill_v2_generator.pt")
    gen = deepfill_v2(attention_kwargs={"official_compat": True, "fuse": True}).eval()
    assert gen.load_official_state_dict(ref["state_dict"]) == {}
    masked = ref["image"] * (1 - ref["mask"])
    assert torch.equal(torch.cat([masked, torch.ones_like(ref["mask"]), ref["mask"]], 1), ref["input"])
    with torch.no_grad():
        out = gen(masked, ref["mask"])
    assert (out["coarse"] - ref["stage1"]).abs().max() < 1e-4
    assert (out["output"] - ref["stage2"]).abs().max() < 1e-4


@pytest.mark.parametrize("factory", [deepfill_v1, deepfill_v2, crfill])
@pytest.mark.parametrize("size", [(256, 256), (64, 136)])
def test_output_shapes(factory, size):
    torch.manual_seed(0)
    gen = factory(return_features=True).eval()
    masked, mask = _inputs(2 if size[0] < 256 else 1, *size)
    with torch.no_grad():
        out = gen(masked, mask)
    b, (h, w) = masked.shape[0], size
    assert out["output"].shape == out["coarse"].shape == (b, 3, h, w)
    c = gen.cnum * 4 // (2 if gen.conv_type == "gated" else 1)  # pmconv6 effective width: 96 / 128
    assert out["attention_features"].shape == (b, c, h // 4, w // 4)
    assert (out["attention_features"] >= 0).all()  # pmconv6 is ReLU(·)·σ(·) / ReLU
    assert out["output"].abs().max() <= 1 and out["coarse"].abs().max() <= 1


def test_variant_settings_and_widths():
    v1, v2, cr = deepfill_v1(), deepfill_v2(), crfill()
    assert (v1.conv_type, v1.cnum, v1.padding, v1.out_act, v1.refine_with_mask) == (
        "vanilla",
        32,
        "same_tf",
        "clip",
        True,
    )
    assert (v2.conv_type, v2.cnum, v2.padding, v2.out_act, v2.has_attention) == (
        "gated",
        48,
        "same_tf",
        "tanh",
        True,
    )
    assert (cr.padding, cr.has_attention, cr.refine.attention) == ("zeros", False, None)
    # v1: plain convs 32..128 wide, refine input 5 channels; v2: conv1 48 outputs → 24 gated features
    assert v1.coarse.encoder[0].conv.weight.shape == (32, 5, 5, 5)
    assert v1.refine.hallucination[0].conv.weight.shape == (32, 5, 5, 5)
    assert v1.refine.bottleneck[0].conv.weight.shape == (128, 256, 3, 3)
    assert v2.coarse.encoder[0].conv.weight.shape == (48, 5, 5, 5)
    assert v2.refine.hallucination[0].conv.weight.shape == (48, 3, 5, 5)
    assert v2.coarse.to_rgb.conv.weight.shape == (3, 12, 3, 3)
    assert v2.refine.attention_encoder[5].act.__class__.__name__ == "ReLU"
    # hand count from the v1.0.0 layer list: coarse 1,448,227 + refine 2,153,315
    assert sum(p.numel() for p in v1.parameters()) == 3_601_542


def test_deepfill_v1_clips_and_flow():
    gen = deepfill_v1(return_flow=True).eval()
    masked, mask = _inputs(1, 64, 64)
    with torch.no_grad():
        for p in gen.parameters():
            p.mul_(3)  # push pre-activations past ±1 so the clip acts
        out = gen(masked, mask)
    assert out["output"].abs().max() == 1 and out["coarse"].abs().max() == 1
    assert out["flow"].shape[0] == 1 and out["flow"].shape[-2:] == (16, 16)


def test_batch_is_vectorised_without_attention():
    torch.manual_seed(0)
    gen = crfill().eval()
    masked, mask = _inputs(2, 32, 48)
    mask[1] = mask[1].roll(7, dims=-1)
    with torch.no_grad():
        both = gen(masked, mask)["output"]
        one = gen(masked[1:], mask[1:])["output"]
    assert torch.allclose(both[1:], one, atol=1e-6)


def test_gradients_reach_both_stages():
    torch.manual_seed(0)
    gen = crfill(cnum=8)
    masked, mask = _inputs(2, 32, 32)
    out = gen(masked, mask)
    (out["output"].mean() + out["coarse"].mean()).backward()
    assert gen.coarse.encoder[0].conv.weight.grad.abs().sum() > 0
    assert gen.refine.to_rgb.conv.weight.grad.abs().sum() > 0
    assert "attention_features" not in out and "attention_features" in gen(masked, mask, return_features=True)


@pytest.mark.parametrize("style", ["deepfill_v2", "crfill", "tf"])
def test_official_naming_round_trip(style):
    torch.manual_seed(0)
    src = deepfill_v1(cnum=8)
    sd = src.official_state_dict(style)
    if style == "deepfill_v2":
        assert sd["conv13_upsample.conv.conv.weight"].shape == (16, 32, 3, 3)
        assert sd["allconv17.conv.bias"].shape == (3,)
    elif style == "crfill":
        assert "baseg.allconv15_upsample_conv.weight" in sd
    else:  # TF kernels are H×W×in×out
        k = sd["inpaint_net/conv2_downsample/kernel"]
        assert torch.equal(k.permute(3, 2, 0, 1), src.coarse.encoder[1].conv.weight)
        assert "inpaint_net/conv13_upsample/conv13_upsample_conv/kernel" in sd
    assert len(sd) == 2 * len(OFFICIAL_LAYERS) == 2 * 42
    dst = deepfill_v1(cnum=8)
    assert dst.load_official_state_dict(sd) == {}
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_official_loader_errors_name_the_keys():
    gen = deepfill_v2(cnum=8)
    sd = gen.official_state_dict()
    missing = {k: v for k, v in sd.items() if not k.startswith("conv5.")}
    with pytest.raises(ValueError, match="missing layers \\['conv5'"):
        gen.load_official_state_dict(missing)
    with pytest.raises(ValueError, match="unexpected keys \\['discriminator.conv1.weight'"):
        gen.load_official_state_dict({**sd, "discriminator.conv1.weight": torch.zeros(1)})
    assert "discriminator.conv1.weight" in gen.load_official_state_dict(
        {**sd, "discriminator.conv1.weight": torch.zeros(1)}, strict=False
    )
    with pytest.raises(ValueError, match="shape mismatch for 'conv1.conv.weight'"):
        deepfill_v2(cnum=16).load_official_state_dict(sd)


def test_bad_inputs_and_arguments():
    gen = crfill(cnum=8)
    masked, mask = _inputs(1, 32, 32)
    with pytest.raises(ValueError, match="B×3×H×W masked image"):
        gen(torch.cat([masked, mask], 1), mask)
    with pytest.raises(ValueError, match="B×1×H×W mask"):
        gen(masked, mask.expand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="divisible by 4"):
        gen(masked[..., :30], mask[..., :30])
    with pytest.raises(ValueError, match="divisible by 8"):
        deepfill_v2(cnum=8)(masked[..., :28], mask[..., :28])
    with pytest.raises(ValueError, match="conv_type"):
        CoarseToFineGenerator(conv_type="partial")
    with pytest.raises(ValueError, match="padding"):
        CoarseToFineGenerator(padding="same")
    with pytest.raises(ValueError, match="attention=True"):
        crfill(return_flow=True)

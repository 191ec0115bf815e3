"""CR-Fill contextual reconstruction loss: fixture parity, the allowed-patch rule, gradient wiring."""


import pytest
import torch

from helpers import reference_fixture
from inpaintlab.losses.adversarial import HingeGANLoss
from inpaintlab.losses.contextual_reconstruction import (
    ContextualReconstructionLoss,
    allowed_patches,
    known_fraction,
    patch_similarity,
    pieced_image,
)
from inpaintlab.models.coarse_to_fine import crfill
from inpaintlab.models.crfill_aux import CRFillAuxNet, convert_crfill_aux_state_dict
from inpaintlab.models.patch_discriminators import SNPatchGAN


def _fixture() -> dict:
    return torch.load(reference_fixture("crfill_generator.pt"))


def _hand_mask() -> torch.Tensor:
    """64×16 image = seven 16×16 stride-8 patches in one column (rows 8k..8k+15), hole rows chosen below."""
    mask = torch.zeros(1, 1, 64, 16)
    for lo, hi in ((0, 2), (20, 24), (30, 40), (44, 48)):
        mask[..., lo:hi, :] = 1.0
    return mask


# known fractions of the seven patches of _hand_mask(): 14/16, 12/16, 10/16, 6/16, 4/16, 12/16, 16/16
HAND_KNOWN = [0.875, 0.75, 0.625, 0.375, 0.25, 0.75, 1.0]
# row i = foreground patch, column j = background patch: j allowed if fully known (j=6), or
# known_j > known_i and known_i > 0.5 (rows 0, 1, 2, 5); ties (row 5 vs column 1) are not allowed
HAND_ALLOWED = [
    [0, 0, 0, 0, 0, 0, 1],
    [1, 0, 0, 0, 0, 0, 1],
    [1, 1, 0, 0, 0, 1, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [1, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
]


def test_fixture_parity_train_mode_aux_path():
    ref = _fixture()
    assert ref["opt"] == {"baseG": "baseconv", "norm_type": 1, "use_th": False, "th": 0.5}
    gen = crfill()
    leftover = gen.load_official_state_dict(ref["state_dict"])
    aux = CRFillAuxNet()
    aux.load_state_dict(convert_crfill_aux_state_dict(leftover))
    # the official options: norm_type=1, zeroed disallowed scores, threshold 0.5
    loss = ContextualReconstructionLoss(
        aux_net=aux, normalization="feature_map", disallowed="zero_score", l1_weight=1.0
    )
    gen.train()
    loss.train()
    with torch.no_grad():
        out = gen(ref["masked_image"], ref["mask"], return_features=True)
        res = loss(out["attention_features"], out["output"], ref["image"], ref["mask"])
    assert (out["coarse"] - ref["train_stage1"]).abs().max() < 1e-4
    assert (out["output"] - ref["train_stage2"]).abs().max() < 1e-4
    assert (res["aux"] - ref["train_aux"]).abs().max() < 1e-4
    assert res["weights"].shape == (1, 31 * 31, 31 * 31)
    # L_CR = λ·β·L1 with no discriminator, on the reference auxiliary image
    expected = 0.5 * (ref["train_aux"] - ref["image"]).abs().mean()
    assert torch.allclose(res["loss"], expected, atol=1e-5)
    # the paper's default (cosine similarity, known patches only) changes the result on the same weights
    paper = ContextualReconstructionLoss(aux_net=aux)
    with torch.no_grad():
        paper_aux = paper(out["attention_features"], out["output"], ref["image"], ref["mask"])["aux"]
    assert (paper_aux - ref["train_aux"]).abs().max() > 1e-2


def test_allowed_patch_rule_on_hand_built_mask():
    mask = _hand_mask()
    known = known_fraction(mask, 16, 8)
    assert known.tolist() == [HAND_KNOWN]
    expected = torch.tensor(HAND_ALLOWED, dtype=torch.bool)
    assert torch.equal(allowed_patches(known)[0], expected)
    # batched: a second sample with the mask flipped upside down reverses the patch order
    known2 = known_fraction(torch.cat([mask, mask.flip(2)]), 16, 8)
    allowed2 = allowed_patches(known2)
    assert torch.equal(allowed2[0], expected)
    assert torch.equal(allowed2[1], expected.flip(0).flip(1))
    # official --use_th: every patch more than half known is allowed, for every foreground patch
    absolute = allowed_patches(known, rule="absolute")[0]
    assert torch.equal(absolute, torch.tensor([[1, 1, 1, 0, 0, 1, 1]] * 7, dtype=torch.bool))


def test_similarity_weights_follow_the_rule():
    torch.manual_seed(0)
    mask = _hand_mask()
    feats = torch.randn(1, 5, 16, 4)  # 1/4 resolution of the 64×16 image
    allowed = torch.tensor(HAND_ALLOWED, dtype=torch.bool)
    w = patch_similarity(feats, mask)
    assert w.shape == (1, 7, 7)
    assert torch.all(w[0][~allowed] == 0)
    assert torch.allclose(w.sum(2), torch.ones(1, 7))
    # official: disallowed scores are zeroed but still take part in the softmax, each with weight exp(0)/Z
    # (small features keep the allowed scores small, so exp(0)/Z does not underflow)
    w_off = patch_similarity(0.05 * feats, mask, normalization="feature_map", disallowed="zero_score")
    assert torch.allclose(w_off.sum(2), torch.ones(1, 7))
    for i in range(7):
        row = w_off[0, i][~allowed[i]]
        assert torch.all(row > 0) and torch.allclose(row, row[0].expand_as(row))
    # cosine similarity of a patch with itself is 1: alone among allowed patches it gets the largest weight
    only_self = torch.zeros(1, 1, 64, 16)
    w_self = patch_similarity(torch.randn(1, 8, 16, 4), only_self, softmax_scale=1000.0)
    assert torch.allclose(w_self[0], torch.eye(7), atol=1e-4)


def test_no_allowed_patch_gives_zero_weights_not_nan():
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 12:20, :] = 1.0  # a band through every patch: known fractions 0.75, 0.5, 0.75, none fully known
    assert known_fraction(mask, 16, 8).unique().tolist() == [0.5, 0.75]
    feats = torch.randn(1, 4, 8, 8, requires_grad=True)
    w = patch_similarity(feats, mask)
    assert torch.all(w == 0)
    w.sum().backward()
    assert torch.isfinite(feats.grad).all()


def _small_problem(batch: int = 2, size: int = 32):
    torch.manual_seed(0)
    image = torch.rand(batch, 3, size, size) * 2 - 1
    mask = torch.zeros(batch, 1, size, size)
    mask[0, :, 8:20, 10:24] = 1.0
    mask[-1, :, 16:30, 2:12] = 1.0
    features = torch.randn(batch, 6, size // 4, size // 4, requires_grad=True)
    output = (torch.rand(batch, 3, size, size) * 2 - 1).requires_grad_(True)
    return image, mask, features, output


def test_one_sgd_step_on_the_aux_network_lowers_the_loss_and_gradients_reach_the_generator():
    image, mask, features, output = _small_problem()
    loss = ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8))
    res = loss(features, output, image, mask)
    res["loss"].backward()
    # the CR loss trains the generator through both its features and its output (in the hole only)
    assert features.grad.abs().sum() > 0
    assert output.grad[mask.expand_as(output) > 0].abs().sum() > 0
    assert torch.all(output.grad[mask.expand_as(output) == 0] == 0)
    before = res["loss"].item()
    with torch.no_grad():
        for p in loss.generator_parameters():
            p -= 0.05 * p.grad
        after = loss(features, output, image, mask)["loss"].item()
    assert after < before


def test_batched_equals_per_sample():
    image, mask, features, output = _small_problem()
    loss = ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8))
    with torch.no_grad():
        both = loss.auxiliary_image(features, output, image, mask)["aux"]
        one = [
            loss.auxiliary_image(features[i : i + 1], output[i : i + 1], image[i : i + 1], mask[i : i + 1])[
                "aux"
            ]
            for i in range(2)
        ]
    assert torch.allclose(both, torch.cat(one), atol=1e-5)


def test_aux_network_adds_no_parameters_to_the_generator():
    gen = crfill(cnum=8)
    names = [n for n, _ in gen.named_parameters()]
    count = sum(p.numel() for p in gen.parameters())
    loss = ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8), discriminator=SNPatchGAN(cnum=4))
    image, mask, _, _ = _small_problem(batch=1, size=64)
    gen.train()
    out = gen(image * (1 - mask), mask, return_features=True)
    loss(out["attention_features"], out["output"], image, mask)["loss"].backward()
    assert [n for n, _ in gen.named_parameters()] == names
    assert sum(p.numel() for p in gen.parameters()) == count
    gen_ids = {id(p) for p in gen.parameters()}
    assert not gen_ids & {id(p) for p in loss.generator_parameters() + loss.discriminator_parameters()}
    # the generator (pmconv6 included) gets CR gradients
    assert gen.refine.attention_encoder[-1].conv.weight.grad.abs().sum() > 0
    # the official aux network has the fixture's 367,899 parameters (bconv*, conv13..conv17)
    assert sum(p.numel() for p in CRFillAuxNet().parameters()) == 367_899


def test_discriminator_terms():
    image, mask, features, output = _small_problem()
    d = SNPatchGAN(cnum=4).eval()  # eval: spectral norm does no power iteration, so calls are repeatable
    hinge = HingeGANLoss(weight=2.0)
    loss = ContextualReconstructionLoss(
        aux_net=CRFillAuxNet(cnum=8), discriminator=d, adversarial=hinge, weight=0.5, l1_weight=1.5
    )
    res = loss(features, output, image, mask)
    fake_logits = d(res["aux"] * mask + image * (1 - mask), mask)
    assert torch.allclose(res["adv"], -fake_logits.mean())
    assert torch.allclose(res["loss"], 0.5 * (1.5 * res["l1"] + 2.0 * res["adv"]))
    d_loss = loss.discriminator_loss(res["aux"], image, mask)
    expected = torch.relu(1 - d(image, mask)).mean() + torch.relu(1 + fake_logits).mean()
    assert torch.allclose(d_loss, expected, atol=1e-6)
    d_loss.backward()
    assert all(p.grad is None for p in loss.aux_net.parameters())  # aux image detached in the D step
    assert any(p.grad is not None for p in loss.discriminator_parameters())


def test_pieced_image_with_self_matches_is_the_image():
    image = torch.rand(2, 3, 32, 32)
    eye = torch.eye(9).expand(2, 9, 9)
    assert torch.allclose(pieced_image(eye, image), image, atol=1e-6)


def test_bad_inputs_raise_clear_errors():
    mask = torch.zeros(1, 1, 32, 32)
    with pytest.raises(ValueError, match="integer multiple"):
        patch_similarity(torch.randn(1, 4, 7, 8), mask)
    with pytest.raises(ValueError, match="divisible by 8"):
        patch_similarity(torch.randn(1, 4, 9, 9), torch.zeros(1, 1, 36, 36))
    with pytest.raises(ValueError, match="B×1×H×W"):
        patch_similarity(torch.randn(1, 4, 8, 8), torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="normalization"):
        ContextualReconstructionLoss(normalization="l2")
    with pytest.raises(ValueError, match="disallowed"):
        patch_similarity(torch.randn(1, 4, 8, 8), mask, disallowed="drop")
    with pytest.raises(RuntimeError, match="no discriminator"):
        ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=4)).discriminator_loss(
            torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), mask
        )

"""PConv's loss terms (Sec. 3.4): hand-computed Gram / TV / L1 values, and one VGG pass shared by the terms.

VGG-16 is built with random weights here (pretrained=False: no ImageNet weights on the test machines)."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.losses import PConvL1Loss, TotalVariationLoss, VGGPerceptualLoss, VGGStyleLoss, gram_matrix
from inpaintlab.losses.perceptual import VGG16Features, shared_vgg16_features


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H·W=2
    # Ψ Ψᵀ = [[5, 11], [11, 25]], divided by C·H·W = 4
    assert torch.allclose(gram_matrix(f), torch.tensor([[[1.25, 2.75], [2.75, 6.25]]]))


def test_tv_over_the_dilated_hole_by_hand():
    target = torch.arange(16.0).view(1, 1, 4, 4)
    pred = torch.full_like(target, 100.0)
    mask = torch.zeros_like(target)
    mask[..., 0, 0] = 1  # R = rows 0–1 × cols 0–1; I_comp(0,0) = 100
    # pairs inside R: |1−100| + |5−4| (horizontal), |4−100| + |5−1| (vertical) = 200, over N = 16 values
    assert TotalVariationLoss()(pred, target, mask).item() == pytest.approx(12.5)
    mask = torch.zeros(1, 1, 3, 3)
    mask[..., 1, 1] = 1
    t = torch.arange(9.0).view(1, 1, 3, 3)
    p = torch.full_like(t, 10.0)
    # R = the whole 3×3: horizontal 1+1+7+5+1+1 = 16, vertical 3+3+9+3+3+3 = 24
    assert TotalVariationLoss()(p, t, mask).item() == pytest.approx(40 / 9)
    assert TotalVariationLoss(dilation=0)(p, t, mask).item() == 0.0  # a single pixel has no pair inside R


def test_hole_and_valid_l1_are_size_averaged_by_hand():
    target = torch.zeros(1, 1, 2, 2)
    pred = torch.tensor([[2.0, -1.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    assert PConvL1Loss("hole")(pred, target, mask).item() == pytest.approx(2 / 4)
    assert PConvL1Loss("valid")(pred, target, mask).item() == pytest.approx(8 / 4)


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return shared_vgg16_features(("pool1", "pool2", "pool3"), pretrained=False)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    pred = (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1).requires_grad_()
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:20, 8:24] = 1
    return pred, target, mask


def test_vgg_features_are_pool1_to_pool3_on_imagenet_normalised_input(vgg):
    x = torch.zeros(1, 3, 32, 32)
    feats = vgg(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 16, 16), (128, 8, 8), (256, 4, 4)]
    # input −1..1 → 0..1 → (x − mean)/std: the first conv sees (0.5 − mean)/std for an all-0 image
    seen = {}
    h = vgg.features[0].register_forward_hook(lambda m, i, o: seen.update(inp=i[0]))
    vgg(x)
    h.remove()
    expect = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(seen["inp"][0, :, 0, 0], expect)
    assert vgg(torch.zeros(1, 1, 32, 32))[0].shape == (1, 64, 16, 16)  # grey images repeat to RGB


def test_perceptual_and_style_equal_their_equations(vgg):
    pred, target, mask = _batch()
    comp = pred * mask + target * (1 - mask)
    with torch.no_grad():
        fo, fc, fg = vgg(pred), vgg(comp), vgg(target)
    perc = sum((a - g).abs().mean() + (c - g).abs().mean() for a, c, g in zip(fo, fc, fg))
    style = sum((gram_matrix(a) - gram_matrix(g)).abs().mean() + (gram_matrix(c) - gram_matrix(g)).abs().mean()
                for a, c, g in zip(fo, fc, fg))
    p = VGGPerceptualLoss(pretrained=False)(pred, target, mask)
    s = VGGStyleLoss(pretrained=False)(pred, target, mask)
    assert p.item() == pytest.approx(perc.item(), rel=1e-5) and s.item() == pytest.approx(style.item(), rel=1e-5)
    only_out = VGGPerceptualLoss(images=["output"], pretrained=False)(pred, target, mask)
    assert only_out.item() == pytest.approx(sum((a - g).abs().mean() for a, g in zip(fo, fg)).item(), rel=1e-5)
    (p + s).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert VGGPerceptualLoss(pretrained=False)(target, target, mask).item() == 0.0


def test_perceptual_and_style_share_one_vgg_pass_per_batch(vgg):
    perc, style = VGGPerceptualLoss(pretrained=False), VGGStyleLoss(pretrained=False)
    assert perc.vgg is style.vgg is vgg
    calls = []
    h = vgg.features[0].register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]) and None)
    pred, target, mask = _batch()
    perc(pred, target, mask), style(pred, target, mask), perc(pred, target, mask)
    assert calls == [6]  # output, composite and ground truth batched in one pass
    pred2, _, _ = _batch(seed=1)
    style(pred2, target, mask)
    assert calls == [6, 6]
    h.remove()


def test_bad_options_are_one_clear_error():
    with pytest.raises(ConfigError, match="unknown VGG-16 layer"):
        VGG16Features(["pool9"], pretrained=False)
    with pytest.raises(ConfigError, match="images must be"):
        VGGPerceptualLoss(images=["input"], pretrained=False)

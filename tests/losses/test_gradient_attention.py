import pytest
import torch

from inpaintlab.losses import GradientAttentionLoss, gradient_l1_map, image_gradient
from inpaintlab.losses.gradient_attention import dilate_mask


def test_image_gradient_backward_differences():
    img = torch.tensor([[1.0, 2.0, 4.0], [3.0, 7.0, 8.0]]).view(1, 1, 2, 3)
    d_i, d_j = image_gradient(img)
    # ∇I_ij = (I_ij − I_(i−1)j, I_ij − I_i(j−1)), zero where the previous pixel does not exist
    assert d_i[0, 0].tolist() == [[0.0, 0.0, 0.0], [2.0, 5.0, 4.0]]
    assert d_j[0, 0].tolist() == [[0.0, 1.0, 2.0], [0.0, 4.0, 1.0]]


def test_image_gradient_rejects_non_4d():
    with pytest.raises(ValueError, match="B×C×H×W"):
        image_gradient(torch.zeros(3, 4))


def test_gradient_l1_map_hand_computed():
    target = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    pred = torch.tensor([[0.0, 0.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    # target: d_i = [[0,0],[0,0]], d_j = [[0,1],[0,1]]; pred: d_i = [[0,0],[0,1]], d_j = [[0,0],[0,1]]
    # |Δd_i| + |Δd_j| = [[0,1],[0,1]]
    assert gradient_l1_map(pred, target)[0, 0].tolist() == [[0.0, 1.0], [0.0, 1.0]]


def test_loss_hand_computed_values():
    target = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    pred = torch.tensor([[0.0, 0.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    mask = torch.tensor([[0.0, 1.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    # l1 map = [[0,1],[0,0]], grad map = [[0,1],[0,1]]
    # hole pixel (0,1): l1 + α·grad = 1 + α; others: l1 → 0, 0, 0  (the grad at (1,1) lies outside M)
    for alpha in (0.0, 0.3, 1.0, 2.5):
        loss = GradientAttentionLoss(alpha=alpha)(pred, target, mask)
        assert loss.item() == pytest.approx((1 + alpha) / 4)
    # margin 1 grows M over the whole 2×2 image: mean(l1 + α·grad) = (1 + 2α)/4
    loss = GradientAttentionLoss(alpha=1.0, margin=1)(pred, target, mask)
    assert loss.item() == pytest.approx(3 / 4)


def test_loss_alpha_zero_is_plain_l1_and_components():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1
    term = GradientAttentionLoss(alpha=0.0)
    assert term(pred, target, mask).item() == pytest.approx((pred - target).abs().mean().item(), rel=1e-6)
    comps = term.components(pred, target, mask)
    l1 = (pred - target).abs()
    assert comps["l1_hole"].item() == pytest.approx(l1[:, :, 2:6, 2:6].mean().item(), rel=1e-6)
    g = gradient_l1_map(pred, target)
    assert comps["grad_l1_hole"].item() == pytest.approx(g[:, :, 2:6, 2:6].mean().item(), rel=1e-6)


def test_dilate_mask_margin():
    mask = torch.zeros(1, 1, 7, 7)
    mask[0, 0, 3, 3] = 1
    assert dilate_mask(mask, 2).sum().item() == 25
    assert dilate_mask(mask, 0) is mask


def test_invalid_parameters():
    with pytest.raises(ValueError, match="alpha"):
        GradientAttentionLoss(alpha=-1)
    with pytest.raises(ValueError, match="margin"):
        GradientAttentionLoss(margin=-2)


def test_loss_gradient_flows():
    pred = torch.zeros(1, 1, 4, 4, requires_grad=True)
    target = torch.ones(1, 1, 4, 4)
    mask = torch.ones(1, 1, 4, 4)
    GradientAttentionLoss(alpha=1.0)(pred, target, mask).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0

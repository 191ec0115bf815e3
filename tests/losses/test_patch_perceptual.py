"""BTGMI's patch perceptual loss (003 Eq. 2) and ℓ2 ablation: batched holes and crops vs per-sample references.

The LPIPS network is built with a random AlexNet (no ImageNet weights in CI); its linear heads are the lpips
package's learned weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from inpaintlab.data.masks.box import RandomBoxMask
from inpaintlab.errors import ConfigError
from inpaintlab.losses.patch_perceptual import (
    PatchPerceptualLoss,
    build_lpips,
    component_boxes,
    crop_patches,
    padded_lpips,
    zoom_boxes,
)
from inpaintlab.losses.reconstruction import MaskedL2Loss


@pytest.fixture(scope="module")
def lpips_net():
    torch.manual_seed(0)
    return build_lpips(pretrained=False)


def _reference_boxes(mask: torch.Tensor) -> list[tuple[int, int, int, int, int]]:
    """Per-sample scipy labelling (8-connectivity): (sample, top, left, height, width) sorted like component_boxes."""
    out = []
    for b in range(mask.shape[0]):
        labels, n = ndimage.label(mask[b, 0].numpy() > 0, structure=np.ones((3, 3)))
        found = []
        for i in range(1, n + 1):
            ys, xs = np.nonzero(labels == i)
            flat_max = int((ys * mask.shape[-1] + xs).max())
            top, left = int(ys.min()), int(xs.min())
            found.append((flat_max, (b, top, left, int(ys.max()) + 1 - top, int(xs.max()) + 1 - left)))
        out += [box for _, box in sorted(found)]
    return out


def test_component_boxes_match_per_sample_labelling():
    masks = RandomBoxMask(count=(1, 2), size_ratio=(0.25, 0.5))(16, 48, 40, torch.Generator().manual_seed(3))
    extra = torch.zeros(3, 1, 48, 40)
    extra[0, :, 2:10, 3:9] = 1
    extra[0, :, 10:14, 9:20] = 1  # touches the first box diagonally: one hole
    extra[1, :, 5:6, 5:35] = 1  # a thin line
    extra[1, :, 30:40, 0:40] = 1  # a full-width band
    masks = torch.cat([masks, extra])  # extra[2]: no hole at all
    index, boxes = component_boxes(masks)
    got = [(int(i), *map(int, b)) for i, b in zip(index, boxes)]
    assert got == _reference_boxes(masks)
    assert (index == 16).sum() == 1 and (index == 18).sum() == 0


def test_zoom_boxes_stay_inside_the_image():
    boxes = torch.tensor([[10, 10, 20, 10], [0, 0, 8, 8], [20, 30, 20, 10]])  # (top, left, height, width)
    z = zoom_boxes(boxes, 2.0, 40, 40)
    assert torch.equal(z[0], torch.tensor([0.0, 5.0, 40.0, 20.0]))  # 20×10 → 40×20, centred, clipped in height
    assert torch.equal(z[1], torch.tensor([0.0, 0.0, 16.0, 16.0]))  # shifted back inside
    assert torch.equal(z[2], torch.tensor([0.0, 20.0, 40.0, 20.0]))


def test_batched_crops_equal_per_sample_slicing():
    """One roi_align call = per-sample slices resampled by area averaging (boxes of 1× and 2× the crop size)."""
    torch.manual_seed(0)
    images = torch.randn(3, 3, 48, 48)
    boxes = torch.tensor([[6, 4, 16, 16], [2, 10, 32, 32], [16, 0, 16, 16], [30, 30, 16, 16]], dtype=torch.float32)
    index = torch.tensor([0, 1, 2, 2])
    crops = crop_patches(images, index, boxes, 16)
    for k, (b, (t, left, h, w)) in enumerate(zip(index.tolist(), boxes.long().tolist())):
        ref = F.interpolate(images[b : b + 1, :, t : t + h, left : left + w], size=(16, 16), mode="area")
        torch.testing.assert_close(crops[k : k + 1], ref, atol=1e-6, rtol=0)


def test_loss_equals_per_hole_loop(lpips_net):
    """Eq. 2: Σ over holes and the two scales of LPIPS, averaged over images — against a loop over samples."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    pred = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    mask = RandomBoxMask(count=(1, 2), size_ratio=(0.25, 0.5))(4, 64, 64, torch.Generator().manual_seed(1))
    loss = PatchPerceptualLoss(crop_size=32, zoom=1.5, lpips=lpips_net)
    value = loss(pred, target, mask)
    ref = 0.0
    for b in range(4):
        comp = pred[b : b + 1] * mask[b : b + 1] + target[b : b + 1] * (1 - mask[b : b + 1])
        for _, *box in _reference_boxes(mask[b : b + 1]):
            local = torch.tensor([box])
            for box in (local.float(), zoom_boxes(local, 1.5, 64, 64)):
                p = crop_patches(comp, torch.zeros(1, dtype=torch.long), box, 32)
                t = crop_patches(target[b : b + 1], torch.zeros(1, dtype=torch.long), box, 32)
                ref += float(lpips_net(p, t).sum())
    assert math.isclose(float(value), ref / 4, rel_tol=1e-5)
    assert float(loss(target, target, mask)) == 0.0


def test_gradient_only_in_the_hole_and_lpips_frozen_in_eval(lpips_net):
    loss = PatchPerceptualLoss(crop_size=32, lpips=lpips_net)
    loss.train()
    assert not loss.lpips.training and not any(m.training for m in loss.lpips.modules())
    assert all(not p.requires_grad for p in loss.lpips.parameters())
    target = torch.rand(2, 3, 48, 48) * 2 - 1
    pred = (torch.rand(2, 3, 48, 48) * 2 - 1).requires_grad_(True)
    mask = torch.zeros(2, 1, 48, 48)
    mask[:, :, 10:30, 12:36] = 1
    loss(pred, target, mask).backward()
    assert pred.grad[:, :, 10:30, 12:36].abs().sum() > 0
    assert pred.grad.masked_select(mask.expand_as(pred) == 0).abs().sum() == 0
    assert float(loss(pred, target, torch.zeros_like(mask)).detach()) == 0.0  # no hole, no patch


def test_lpips_gets_torchvision_alexnet_and_package_heads(monkeypatch):
    """The AlexNet of utils.backbones goes into lpips' slices layer by layer; linear heads are the package's."""
    import os

    import lpips
    import torchvision

    torch.manual_seed(5)
    alex = torchvision.models.alexnet(weights=None)
    monkeypatch.setattr("inpaintlab.utils.backbones.torchvision_backbone", lambda name, pretrained=True: alex)
    net = build_lpips(pretrained=True)
    assert torch.equal(net.net.slice1._modules["0"].weight, alex.features[0].weight)
    assert torch.equal(net.net.slice5._modules["10"].bias, alex.features[10].bias)
    heads = torch.load(os.path.join(os.path.dirname(lpips.__file__), "weights/v0.1/alex.pth"), map_location="cpu")
    assert torch.equal(net.lin0.model[1].weight, heads["lin0.model.1.weight"])
    assert not net.training


def test_bad_options(lpips_net):
    with pytest.raises(ConfigError, match="31"):
        PatchPerceptualLoss(crop_size=16, lpips=lpips_net)
    with pytest.raises(ConfigError, match="zoom"):
        PatchPerceptualLoss(zoom=0.5, lpips=lpips_net)


def test_masked_l2():
    pred, target = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert float(MaskedL2Loss()(pred, target, mask)) == (1 + 16) / 2


def test_padded_lpips_is_lpips_of_each_crop(lpips_net):
    """Patches of different sizes on one zero canvas score exactly what lpips gives each crop alone."""
    g = torch.Generator().manual_seed(2)
    x0, x1 = (torch.rand(4, 3, 70, 90, generator=g) * 2 - 1 for _ in range(2))
    heights, widths = torch.tensor([70, 40, 31, 64]), torch.tensor([90, 57, 33, 31])
    got = padded_lpips(lpips_net, x0, x1, heights, widths)
    for k, (h, w) in enumerate(zip(heights.tolist(), widths.tolist())):
        ref = lpips_net(x0[k : k + 1, :, :h, :w], x1[k : k + 1, :, :h, :w]).flatten()[0]
        assert math.isclose(float(got[k]), float(ref), rel_tol=1e-5), k
    # what lies beyond a crop's extent does not count
    other = x0.clone()
    other[1, :, 40:] = 5.0
    other[1, :, :, 57:] = -5.0
    assert torch.equal(padded_lpips(lpips_net, other, x1, heights, widths)[1], got[1])



def test_native_size_patches_equal_lpips_on_hand_cut_crops(lpips_net):
    """Eq. 2 at the patches' own size (the default): a 32×40 hole (zoomed 48×60) and a 44×60 hole (zoomed 66×90)
    score the LPIPS of exactly those slices of the composite and the target — no resampling, no squashing."""
    g = torch.Generator().manual_seed(4)
    target = torch.rand(2, 3, 96, 96, generator=g) * 2 - 1
    pred = torch.rand(2, 3, 96, 96, generator=g) * 2 - 1
    mask = torch.zeros(2, 1, 96, 96)
    mask[0, :, 12:44, 10:50] = 1
    mask[1, :, 30:74, 20:80] = 1
    loss = PatchPerceptualLoss(lpips=lpips_net)  # crop_size=None: native
    assert loss.crop_size is None
    _, _, _, extents = loss.patches(pred, target, mask)
    assert extents.tolist() == [[32, 40], [44, 60], [48, 60], [66, 90]]  # local boxes, then the zoomed ones
    comp = pred * mask + target * (1 - mask)
    crops = [(0, slice(12, 44), slice(10, 50)), (0, slice(4, 52), slice(0, 60)),  # zoomed: centre (30, 28)
             (1, slice(30, 74), slice(20, 80)), (1, slice(19, 85), slice(5, 95))]  # zoomed: centre (50, 52)
    ref = sum(float(lpips_net(comp[b : b + 1, :, ys, xs], target[b : b + 1, :, ys, xs])) for b, ys, xs in crops)
    assert math.isclose(float(loss(pred, target, mask)), ref / 2, rel_tol=1e-5)



def test_native_size_small_sides_are_resampled_to_alexnets_minimum(lpips_net):
    """A side below 31 px goes up to 31 (AlexNet's smallest input); the other side keeps its pixels."""
    target = torch.rand(1, 3, 64, 64) * 2 - 1
    pred = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
    mask = torch.zeros(1, 1, 64, 64)
    mask[:, :, 4:14, 8:48] = 1  # 10×40: zoomed 15×60
    loss = PatchPerceptualLoss(lpips=lpips_net)
    p, t, _, extents = loss.patches(pred, target, mask)
    assert extents.tolist() == [[31, 40], [31, 60]] and p.shape[-2:] == (31, 60)
    value = loss(pred, target, mask)
    value.backward()
    assert float(value.detach()) > 0 and torch.isfinite(pred.grad).all()
    assert pred.grad.masked_select(mask.expand_as(pred) == 0).abs().sum() == 0

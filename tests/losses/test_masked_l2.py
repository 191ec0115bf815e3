"""Normalised masked L2 (Context Encoder Eq. 1, GLCIC Eq. 1) and the released code's overlap ring."""

from __future__ import annotations

import torch

from inpaintlab.losses import MaskedL2Loss


def test_mean_squared_error_over_the_hole():
    pred = torch.zeros(1, 1, 4, 4)
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 1], target[0, 0, 1, 2] = 2.0, 1.0  # errors 4 and 1 inside the hole
    target[0, 0, 3, 3] = 10.0  # outside: ignored
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1
    assert MaskedL2Loss()(pred, target, mask).item() == (4 + 1) / 4


def test_overlap_ring_weighs_ten_times():
    # 1-px hole at the centre of 5²; overlap 1: its 8 neighbours form the ring (weight 10)
    mask = torch.zeros(1, 1, 5, 5)
    mask[..., 2, 2] = 1
    loss = MaskedL2Loss(overlap=1, overlap_weight=10.0)
    w = loss.pixel_weights(mask)[0, 0]
    assert w[2, 2] == 1 and w[1:4, 1:4].sum() == 1 + 8 * 10 and w.sum() == 81
    pred = torch.zeros(1, 3, 5, 5)
    target = torch.zeros(1, 3, 5, 5)
    target[..., 1, 1] = 1.0  # a ring pixel, error 1 in 3 channels
    target[..., 2, 2] = 3.0  # the hole pixel, error 9
    assert torch.isclose(loss(pred, target, mask), torch.tensor((3 * 10 * 1 + 3 * 9) / (3 * 81)))
    # the released layout: a 56² hole with a 4-px ring is exactly the 64² centre patch
    m = torch.zeros(1, 1, 128, 128)
    m[..., 36:92, 36:92] = 1
    w = MaskedL2Loss(overlap=4).pixel_weights(m)[0, 0]
    assert (w > 0).sum() == 64 * 64 and (w == 10).sum() == 64 * 64 - 56 * 56 and w[32:96, 32:96].min() == 1

"""Masked L2 (Context Encoder Eq. 1, GLCIC Eq. 2): over the hole or over the image, and the overlap ring."""

from __future__ import annotations

import pytest
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
    # GLCIC Eq. 2's ‖M ⊙ (C − x)‖² as a mean over the image's 16 pixels: the hole mean × the hole fraction 4/16
    assert MaskedL2Loss(normalize="image")(pred, target, mask).item() == (4 + 1) / 16


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


def test_the_papers_overlap_is_7_px_of_the_64_px_patch():
    """Sec. 5.1: the 64² prediction overlaps the context by 7 px — a 50² hole plus a 7-px ring weighted 10×."""
    m = torch.zeros(1, 1, 128, 128)
    m[..., 39:89, 39:89] = 1
    w = MaskedL2Loss(overlap=7).pixel_weights(m)[0, 0]
    assert (w > 0).sum() == 64 * 64 and (w == 10).sum() == 64 * 64 - 50 * 50 and w[32:96, 32:96].min() == 1


def test_glcic_uses_the_image_mean_and_context_encoder_the_hole_mean(tmp_path):
    from hydra.core.global_hydra import GlobalHydra

    from helpers import compose_config

    for experiment, normalize in (("glcic_places2", "image"), ("context_encoder_imagenet_center", "weights")):
        cfg = compose_config([f"experiment={experiment}"], tmp_path)
        GlobalHydra.instance().clear()
        assert cfg.model.losses.rec.get("normalize", "weights") == normalize
    with pytest.raises(ValueError, match="normalize must be one of"):
        MaskedL2Loss(normalize="hole")

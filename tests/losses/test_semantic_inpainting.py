"""Yeh et al. 2017 §3.2: importance weights W (Eq. 3), context loss (Eq. 4), prior loss (Eq. 5)."""

import math

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.losses.semantic_inpainting import context_loss, importance_weights, prior_loss


def _hole_3x3(n=21):
    m = torch.zeros(1, 1, n, n)
    m[..., 9:12, 9:12] = 1  # rows/cols 9, 10, 11
    return m


def test_weights_hand_computed():
    w = importance_weights(_hole_3x3())[0, 0]
    assert w[10, 12] == pytest.approx(9 / 49)  # next to the hole: the whole 3×3 hole is in its 7×7 window
    assert w[8, 8] == pytest.approx(9 / 49)  # diagonal neighbour: still the whole hole
    assert w[10, 13] == pytest.approx(6 / 49)  # window cols 10..16: two hole columns × 3 rows
    assert w[10, 14] == pytest.approx(3 / 49)  # window cols 11..17: one hole column × 3 rows
    assert w[10, 15] == 0  # window cols 12..18: no hole pixel
    assert w[0, 0] == 0 and w[20, 20] == 0  # far from the hole: weight 0
    assert (w[9:12, 9:12] == 0).all()  # hole pixels weigh 0


def test_weights_border_counts_only_in_image_neighbours():
    m = torch.zeros(1, 1, 10, 10)
    m[..., 0, 0] = 1
    w = importance_weights(m)[0, 0]
    # |N(i)| of (0, 1): rows −3..3 → 0..3 (4 rows) × cols −2..4 → 0..4 (5 columns) = 20 in-image pixels
    assert w[0, 1] == pytest.approx(1 / 20)
    assert w[3, 3] == pytest.approx(1 / 49)  # a full window


def test_unweighted_is_binary_known_mask():
    m = _hole_3x3()
    assert torch.equal(importance_weights(m, weighted=False), 1 - m)


def test_weights_bad_input():
    with pytest.raises(ConfigError):
        importance_weights(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ConfigError):
        importance_weights(torch.zeros(1, 1, 8, 8), window=4)


def test_context_loss_is_weighted_l1_per_image():
    out = torch.zeros(2, 3, 4, 4)
    img = torch.ones(2, 3, 4, 4)
    w = torch.zeros(2, 1, 4, 4)
    w[0, 0, 0, 0] = 0.5
    w[1, 0, 1, :] = 1.0
    assert context_loss(out, img, w).tolist() == [1.5, 12.0]  # 0.5·1·3 channels; 4 px · 3 channels


def test_prior_loss_is_lambda_log_one_minus_d():
    logits = torch.tensor([0.0, 2.0, -3.0])
    d = torch.sigmoid(logits)
    expected = [0.003 * math.log(1 - v) for v in d.tolist()]
    assert prior_loss(logits, 0.003).tolist() == pytest.approx(expected, rel=1e-6)

"""Reinhard Lab mean/std transfer (003 Sec. 4.4's colour transfer)."""

from __future__ import annotations

import torch

from inpaintlab.imaging import lab_statistics, reinhard_transfer


def test_transfer_matches_reference_statistics_over_masks():
    g = torch.Generator().manual_seed(0)
    source = 0.3 + 0.4 * torch.rand(2, 3, 24, 24, generator=g)
    reference = torch.tensor([0.55, 0.35, 0.25]).view(1, 3, 1, 1) + 0.2 * torch.rand(2, 3, 24, 24, generator=g)
    smask = torch.zeros(2, 1, 24, 24)
    smask[:, :, 4:16, 6:20] = 1
    out = reinhard_transfer(source, reference, source_mask=smask)
    mu_o, sd_o = lab_statistics(out, smask)
    mu_r, sd_r = lab_statistics(reference)
    assert torch.allclose(mu_o, mu_r, atol=0.5) and torch.allclose(sd_o, sd_r, atol=0.5)
    # the source's own statistics were far from the reference's: the transfer did the work
    mu_s, _ = lab_statistics(source, smask)
    assert (mu_s - mu_r).abs().max() > 5


def test_identity_when_reference_is_source():
    source = 0.2 + 0.6 * torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(reinhard_transfer(source, source), source, atol=2e-3)

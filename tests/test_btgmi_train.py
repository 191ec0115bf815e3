"""BTGMI's documented two-command run: the head alone, then the growth resumed from the head's checkpoint."""

from __future__ import annotations

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from helpers import clamped
from inpaintlab.train import train


def test_growth_starts_from_a_trained_heads_checkpoint(tmp_path, tmp_path_factory):
    head = tmp_path / "head"
    train(clamped("btgmi_places2", head, tmp_path_factory, extra=["test=false", "trainer.max_steps=1"]))
    ckpt = head / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["global_step"] == 1 and int(state["state_dict"]["generator.active_blocks"]) == 0
    GlobalHydra.instance().clear()
    grown = tmp_path / "grown"
    train(clamped("btgmi_places2", grown, tmp_path_factory, extra=["test=false", f"ckpt_path={ckpt}"]))
    state = torch.load(grown / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 4 and state["inpaintlab"]["phase"] == "block3"
    assert int(state["state_dict"]["generator.active_blocks"]) == 3 and float(state["state_dict"]["generator.fade"]) == 1.0
    # lr_3 = 0.1³·lr_0 for the generator and the critics
    assert [g["lr"] for s in state["optimizer_states"] for g in s["param_groups"]] == pytest.approx([2e-7, 2e-7])

"""Principle 6: a NaN/inf loss term stops the run naming the term and the step (one line through the CLI's
guard), or with ``model.nonfinite=skip`` skips that optimiser step and counts it."""

from __future__ import annotations

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from helpers import compose_config
from inpaintlab.lightning.inpainting_module import InpaintingModule

BASE = ["experiment=ga_mnist", "data=fashion_mnist", "logger=csv", "data.batch_size=8", "data.eval_batch_size=8",
        "data.val_size=16", "trainer=cpu", "trainer.max_steps=4", "trainer.enable_progress_bar=false",
        "trainer.limit_val_batches=1", "test=false"]


@pytest.fixture
def nan_at_step_2(monkeypatch):
    original = InpaintingModule.generator_loss
    done = []

    def poisoned(self, batch, out):  # the first batch seen at step 2 gives a NaN term
        total, logs = original(self, batch, out)
        if self.global_step == 2 and not done:
            done.append(1)
            logs = {**logs, "loss/inp": torch.tensor(float("nan"))}
            total = total * float("nan")
        return total, logs

    monkeypatch.setattr(InpaintingModule, "generator_loss", poisoned)


def test_nan_loss_stops_with_term_and_step(idx_root, tmp_path, capsys, monkeypatch, nan_at_step_2):
    from inpaintlab.train import train
    from inpaintlab.utils.runtime import guarded

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    try:
        cfg = compose_config([*BASE, f"data.root={idx_root}"], tmp_path)
        with pytest.raises(SystemExit) as e:
            guarded(train)(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert e.value.code == 1
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("inpaintlab: error:")]
    assert len(err) == 1 and "generator loss term 'inp' is nan at step 2" in err[0], err


def test_nan_loss_skipped_and_counted(idx_root, tmp_path, nan_at_step_2):
    from inpaintlab.train import train

    try:
        train(compose_config([*BASE, f"data.root={idx_root}", "model.nonfinite=skip"], tmp_path))
    finally:
        GlobalHydra.instance().clear()
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4 and ckpt["inpaintlab"]["skipped_steps"] == 1
    weights = [v for k, v in ckpt["state_dict"].items() if k.startswith("generator.")]
    assert all(torch.isfinite(w).all() for w in weights)  # the poisoned step never reached the weights

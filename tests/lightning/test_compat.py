"""The Lightning internals inpaintlab relies on (``inpaintlab.lightning.compat``): a Lightning release that renames or
changes them fails here, naming what changed, before a training run would silently count critic steps."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import lightning as L
from inpaintlab.lightning.compat import STEP_HOOKS, batches_that_stepped, uncounted_step


class _ThreeSteps(L.LightningModule):
    """Manual optimisation: per batch one counted step and two uncounted ones (as critic steps are)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = torch.nn.Linear(2, 1)
        self.calls = 0
        self.stepped: list[int] = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.net.parameters(), lr=0.1)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        self.stepped.append(batches_that_stepped(self.trainer))
        for counted in (False, False, True):
            opt.zero_grad()
            self.manual_backward(self.net(batch[0]).pow(2).mean())
            with uncounted_step(opt, active=not counted):
                opt.step()
            self.calls += 1


def test_the_internals_exist():
    from lightning.pytorch.core.optimizer import LightningOptimizer
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop

    opt = LightningOptimizer(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    for name in STEP_HOOKS:
        assert callable(getattr(opt, name, None)), f"LightningOptimizer.{name} is gone: update inpaintlab.lightning.compat"
    loop = _TrainingEpochLoop(L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False))
    assert isinstance(getattr(loop, "_batches_that_stepped", None), int), "_batches_that_stepped is gone"


def test_uncounted_steps_do_not_advance_global_step(tmp_path):
    module = _ThreeSteps()
    trainer = L.Trainer(max_steps=4, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(TensorDataset(torch.randn(16, 2)), batch_size=2))
    assert trainer.global_step == 4 and module.calls == 12  # 4 batches × (1 counted + 2 uncounted) steps
    assert module.stepped == [0, 1, 2, 3]  # batches that had stepped when each training_step began
    assert batches_that_stepped(trainer) == 4


def test_missing_internals_are_refused_loudly():
    from lightning.pytorch.core.optimizer import LightningOptimizer

    opt = LightningOptimizer(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    del opt._on_after_step
    with pytest.raises(RuntimeError, match=r"has no LightningOptimizer\._on_before_step/_on_after_step"):
        with uncounted_step(opt):
            pass
    with pytest.raises(RuntimeError, match=r"has no trainer\.fit_loop\.epoch_loop\._batches_that_stepped"):
        batches_that_stepped(object())
    plain = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with uncounted_step(plain):  # a plain torch optimiser has nothing to silence
        plain.step()

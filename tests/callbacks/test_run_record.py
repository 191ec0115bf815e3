"""RunRecord: what a checkpoint records about its run, and the RNG continuing exactly after a resume."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import lightning as L
from inpaintlab.callbacks.run_record import RunRecord


class _Draws(L.LightningModule):
    """Draws from torch, numpy and Python's RNGs at every step (as masks and augmentations do)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(2, 1)
        self.inference_options = {"steps": 3}
        self.draws: list[tuple[float, float, float]] = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.net.parameters(), lr=0.1)

    def training_step(self, batch, batch_idx):
        self.draws.append((float(torch.rand(())), float(np.random.rand()), random.random()))
        return self.net(batch[0]).pow(2).mean()


def _fit(module, steps, root, ckpt_path=None) -> L.Trainer:
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=root,
                        callbacks=[RunRecord(model_config={"_target_": "x.Y", "cnum": 8}, data={"image_size": 32})])
    # 4 batches an epoch: the checkpoint at step 2 is mid-epoch, as after an interruption
    trainer.fit(module, DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2), ckpt_path=ckpt_path)
    return trainer


def test_checkpoint_contents_and_exact_rng_after_resume(tmp_path):
    L.seed_everything(0)
    straight = _Draws()
    _fit(straight, 4, tmp_path)

    L.seed_everything(0)
    first = _Draws()
    trainer = _fit(first, 2, tmp_path)
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    saved = torch.load(tmp_path / "half.ckpt", weights_only=True)["inpaintlab"]
    assert saved["model_config"] == {"_target_": "x.Y", "cnum": 8} and saved["data"] == {"image_size": 32}
    assert saved["inference_options"] == {"steps": 3} and set(saved["rng"]) == {"torch", "cuda", "numpy", "python"}

    L.seed_everything(123)  # a new process: other RNG states
    resumed = _Draws()
    resumed.inference_options = {}
    _fit(resumed, 4, tmp_path, ckpt_path=tmp_path / "half.ckpt")
    assert resumed.draws == straight.draws[2:]  # torch, numpy and Python RNGs continue as if never stopped
    assert resumed.inference_options == {"steps": 3}  # the run's options, as the module had none

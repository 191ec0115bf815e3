"""Principle 5: interrupted training resumes exactly. A run SIGKILLed mid-epoch and resumed from its last.ckpt
(trainer.deterministic=true, CPU) gives the uninterrupted run's loss at every step and its final weights bit for
bit — data order inside the epoch (the sampler's position), training masks and RNG states included. SIGTERM
saves last.ckpt at the current step."""

from __future__ import annotations

import csv
import os
import signal
import sys
from pathlib import Path

import torch
from hydra.core.global_hydra import GlobalHydra

from helpers import compose_config, run_cli

HERE = Path(__file__).parent
# 96 training images, batch 8: 12 batches an epoch; validation (and last.ckpt) every 5 steps; 16 steps cross
# the epoch boundary
RUN = ["experiment=ga_mnist", "data=fashion_mnist", "logger=csv", "data.batch_size=8", "data.eval_batch_size=8",
       "data.val_size=16", "trainer=cpu", "trainer.max_steps=16", "trainer.val_check_interval=5",
       "trainer.limit_val_batches=1", "trainer.log_every_n_steps=1", "trainer.enable_progress_bar=false",
       "trainer.deterministic=true", "test=false", "model.optimizer_g.lr=1e-3"]


def _losses(run: Path) -> dict[int, float]:
    with open(run / "csv" / "metrics.csv") as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}


def _train(overrides: list[str], out: Path) -> None:
    from inpaintlab.train import train

    try:
        train(compose_config(overrides, out))
    finally:
        GlobalHydra.instance().clear()


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(idx_root, tmp_path, monkeypatch):
    _train([*RUN, f"data.root={idx_root}"], tmp_path / "straight")
    killed = tmp_path / "killed"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
    res = run_cli("inpaintlab.train", [*RUN, f"data.root={idx_root}", f"hydra.run.dir={killed}",
                                       "+callbacks.killer._target_=killer.KillAt", "+callbacks.killer.step=8"],
                  tmp_path)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    last = killed / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 5  # mid-epoch 0
    _train([*RUN, f"data.root={idx_root}", f"ckpt_path={last}"], tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 16
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    straight, resumed = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    steps = sorted(resumed)
    assert len(steps) == 11  # steps 6..16
    assert [resumed[s] for s in steps] == [straight[s] for s in steps]


def test_sigterm_saves_last_at_the_current_step(idx_root, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
    run = tmp_path / "run"
    res = run_cli("inpaintlab.train", [*RUN, f"data.root={idx_root}", f"hydra.run.dir={run}",
                                       "trainer.max_steps=1000", "trainer.val_check_interval=500",
                                       "+callbacks.killer._target_=killer.KillAt", "+callbacks.killer.step=7",
                                       f"+callbacks.killer.sig={int(signal.SIGTERM)}"], tmp_path)
    assert res.returncode == 143, res.stderr[-2000:]
    assert "stopped by SIGTERM at step" in res.stderr and "Traceback" not in res.stderr
    step = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert 7 <= step <= 8


def test_training_batches_do_not_depend_on_the_global_rng():
    """Random augmentation and masks of a training batch are a function of (seed, tokens): the same whatever the
    global RNG state when it is fetched (prefetching, workers, a resumed run), and the global RNG is untouched."""
    from inpaintlab.data.datamodule import MaskedImages
    from inpaintlab.data.masks.box import RandomBoxMask

    class Augmented(torch.utils.data.Dataset):  # a random flip/offset drawn from torch's RNG, like the transforms
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return {"image": torch.full((1, 8, 8), float(i)) + torch.rand(1, 8, 8)}

    ds = MaskedImages(Augmented(), RandomBoxMask(size=[2, 4]), frozen=False, seed=7, seeded_batches=True)
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a = ds.__getitems__([13, 12, 11])  # tokens of epoch 1 (n=10)
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG did not move
    torch.manual_seed(2)
    b = ds.__getitems__([13, 12, 11])
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert a["index"].tolist() == [3, 2, 1]
    c = ds.__getitems__([3, 2, 1])  # the same images in epoch 0: other augmentation and masks
    assert not torch.equal(a["image"], c["image"])


def test_ddp_resume_mid_epoch_equals_uninterrupted(idx_root, tmp_path):
    """Two processes (ddp_sim): resumed from the checkpoint the run saved at step 5 (mid-epoch: 12 batches of 4
    per process) — what a crash after that save leaves — a run reaches step 16 with the uninterrupted run's
    weights bit for bit: each process continues its own share of the epoch's order where it stopped (the sampler
    shards the order itself, so Lightning does not wrap it). Every validation's checkpoint is kept
    (save_top_k=-1), so the uninterrupted run provides the step-5 checkpoint (one DDP launch fewer)."""
    ddp = [*RUN, f"data.root={idx_root}", "trainer=ddp_sim", "trainer.deterministic=false"]
    _train([*ddp, "callbacks.model_checkpoint.save_top_k=-1"], tmp_path / "straight")
    first = tmp_path / "straight" / "checkpoints" / "step0000005.ckpt"
    assert torch.load(first, map_location="cpu", weights_only=False)["global_step"] == 5
    _train([*ddp, f"ckpt_path={first}"], tmp_path / "resumed")
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 16
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_sampler_shards_the_epoch_and_resumes_each_share():
    from inpaintlab.data.datamodule import ResumableRandomSampler

    shares = [list(ResumableRandomSampler(10, seed=3, num_replicas=3, rank=r)) for r in range(3)]
    assert [len(s) for s in shares] == [4, 4, 4]
    assert sorted(set(sum(shares, []))) == list(range(10))  # every sample, two repeated as padding
    assert list(ResumableRandomSampler(10, seed=3, num_replicas=1, rank=0)) == list(sum(zip(*shares), ()))[:10]
    again = ResumableRandomSampler(10, seed=3, num_replicas=3, rank=1)
    again.resume = (0, 3)
    assert list(again) == shares[1][3:]

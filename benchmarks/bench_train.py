"""`make bench-train`: generator iterations per second of ga_mnist — the raw PyTorch step vs the full
Lightning loop (data loading, logging, callbacks) — so the training loop's overhead is visible."""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial

import torch

from inpaintlab.data.datamodule import InpaintingDataModule
from inpaintlab.data.masks import CenterSquareMask
from inpaintlab.data.mnist import MNISTImages
from inpaintlab.losses import GradientAttentionLoss
from inpaintlab.models.gradient_attention import FullyConnectedAutoencoder


def raw_steps_per_s(batch: dict, steps: int) -> float:
    g = FullyConnectedAutoencoder()
    opt = torch.optim.Adam(g.parameters(), 1e-4)
    loss_fn = GradientAttentionLoss(alpha=1.0, margin=2)
    image, mask = batch["image"], batch["mask"]
    t = time.perf_counter()
    for _ in range(steps):
        out = g(image * (1 - mask), mask)["output"]
        loss = loss_fn(out, image, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t)


def lightning_steps_per_s(root: str, steps: int) -> float:
    from hydra import compose, initialize_config_module
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from inpaintlab.train import build

    with tempfile.TemporaryDirectory() as out, initialize_config_module("inpaintlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=ga_mnist", "data=fashion_mnist", f"data.root={root}", "logger=csv", "trainer=cpu",
            f"trainer.max_steps={steps}", "trainer.val_check_interval=100000", "trainer.enable_progress_bar=false",
            "test=false",
        ], return_hydra_config=True)
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = out
        objs = build(cfg)
        t = time.perf_counter()
        objs["trainer"].fit(objs["model"], datamodule=objs["datamodule"])
        return steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--steps", type=int, default=500)
    args = p.parse_args()
    dm = InpaintingDataModule(partial(MNISTImages, variant="fashion_mnist"), CenterSquareMask(14), root=args.root,
                              batch_size=128, val_size=5000)
    dm.setup("fit")
    loader = dm.train_dataloader()
    it = iter(loader)
    t = time.perf_counter()
    for _ in range(100):
        batch = next(it)
    load = 100 / (time.perf_counter() - t)
    raw = raw_steps_per_s(batch, args.steps)
    full = lightning_steps_per_s(args.root, args.steps)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"data loader (batch 128, 0 workers): {load:8.1f} batches/s")
    print(f"raw PyTorch step:                  {raw:8.1f} it/s")
    print(f"Lightning loop (ga_mnist):         {full:8.1f} it/s  ({100 * full / raw:.0f} % of raw)")


if __name__ == "__main__":
    main()

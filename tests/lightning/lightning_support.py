"""Helpers of the lightning tests (imported by name, as tests/app/app_support.py): one tiny module per experiment
family, a fixed loader of random batches, and a bare Lightning fit that records the logged losses."""

from __future__ import annotations

import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

import lightning as L
from helpers import compose_config

# One representative experiment per family, clamped to tiny sizes: (experiment, image size, overrides).
# Families added by other papers append their entry here.
FAMILIES = {
    "ga_fc": ("ga_mnist", 28, []),
    # test_precision's scaler-step count assumes one batch serves the critic and the generator (the old schedule)
    "ga_dilated_wgan_gp": ("ga_celeba_adv", 32, ["model.generator.width=0.25", "model.discriminator.image_size=32",
                                                 "model.n_critic=2", "model.generator_batch=last_critic"]),
    "deepfill_v1": ("deepfill_v1_places2", 128, ["data.dataset.image_size=128", "mask.height=64", "mask.width=64",
                                                 "model.generator.cnum=8", "model.discriminator.cnum=8"]),
    "deepfill_v2": ("deepfill_v2_places2", 64, ["data.dataset.image_size=64", "model.generator.cnum=8",
                                                "model.discriminator.cnum=8"]),
    "crfill": ("crfill_places2", 64, ["data.dataset.image_size=64", "model.discriminator.cnum=8"]),
    # partial convolutions: the fp32 mask path under autocast, VGG-16 losses with random weights (no ImageNet here)
    "pconv": ("pconv_places2", 64, ["model.generator.levels=4", "model.generator.base_channels=8",
                                    "model.generator.max_channels=32", "model.losses.perceptual.pretrained=false"]),
    "context_encoder": ("context_encoder_imagenet_center", 32, ["model.generator.image_size=32", "mask.size=16",
                                                                "model.generator.nef=16", "model.generator.ngf=16",
                                                                "model.discriminator.patch_size=16",
                                                                "model.discriminator.ndf=16"]),
    # GLCIC: one completion step, one critic step, then the joint phase (4 steps: test_precision.STEPS)
    "glcic": ("glcic_places2", 64, ["model.generator.cnum=8", "model.discriminator.global_size=64",
                                    "model.discriminator.local_size=32", "model.discriminator.cnum=8",
                                    "model.discriminator.fc_units=32", "model.phases.0.steps=1",
                                    "model.phases.1.steps=1",
                                    # the critic's real crops sit at the module's own random holes (model.real_mask
                                    # is ${mask}): 16–24 px at 64², not the paper's 96–128 px
                                    "mask.size=[16,24]",
                                    # the module is fitted without the fill_value callback that measures it
                                    "model.generator.fill_value=[0.0,0.0,0.0]"]),
    "yeh": ("yeh_celeba", 64, []),
    "btgmi": ("btgmi_places2", 32, ["btgmi.head_steps=1", "btgmi.block_steps=1", "model.generator.channels=[8,16,16]",
                                    "model.discriminator.ndf=8", "model.losses.ppl.pretrained=false",
                                    "model.losses.ppl.crop_size=32"]),
}


def build_module(family: str, tmp_path, extra=()):
    experiment, size, overrides = FAMILIES[family]
    cfg = compose_config([f"experiment={experiment}", *overrides, *extra], tmp_path)
    channels = 1 if experiment == "ga_mnist" else 3
    return instantiate(cfg.model), size, channels


def batches(size: int, channels: int, n: int = 4, batch: int = 2) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, size // 4 : size // 4 + size // 2, size // 4 : size // 4 + size // 2] = 1.0
    items = [{"image": torch.rand(batch, channels, size, size, generator=g) * 2 - 1, "mask": mask} for _ in range(n)]
    return DataLoader(items, batch_size=None)


class LossRecorder(L.Callback):
    def __init__(self):
        self.losses: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, *args):
        self.losses.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/loss")})


def fit(module, loader, steps: int, **trainer_kwargs):
    recorder = LossRecorder()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        log_every_n_steps=1, callbacks=[recorder], **trainer_kwargs)
    trainer.fit(module, train_dataloaders=loader)
    return trainer, recorder

"""The papers' constants, pinned by one table (tests/paper_constants.yaml: every experiment, every loss weight,
margin, learning rate, beta, batch size, phase length, iteration count and image size, each with its source), and
issue 19's paper defaults: gradient attention's CelebA crop, and the WGAN-GP generator batch."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from helpers import EXPERIMENTS, compose_config
from inpaintlab.data.synthetic import make_celeba

TABLE = Path(__file__).with_name("paper_constants.yaml")
_ABSENT = object()


@cache
def constants() -> dict[str, dict[str, dict]]:
    """experiment → {config key: {"value", "source"}}; the shared ``_blocks`` are merged in already."""
    table = yaml.safe_load(TABLE.read_text())
    return {name: entries for name, entries in table.items() if not name.startswith("_")}


def _same(expected, actual) -> bool:
    if expected is None:
        return actual is None or actual is _ABSENT
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_same(e, a) for e, a in zip(expected, actual))
    return expected == actual


def mismatches(cfg, entries: dict[str, dict]) -> list[str]:
    """One line per constant whose composed value differs from the table: key, expected, source, actual."""
    bad = []
    for key, entry in entries.items():
        actual = OmegaConf.select(cfg, key, default=_ABSENT)
        if OmegaConf.is_config(actual):
            actual = OmegaConf.to_container(actual, resolve=True)
        if not _same(entry["value"], actual):
            shown = "absent" if actual is _ABSENT else repr(actual)
            bad.append(f"{key}: the paper's value is {entry['value']!r} ({entry['source']}), the config has {shown}")
    return bad


def test_the_table_covers_every_experiment_and_names_a_source_for_each_constant():
    table = constants()
    assert sorted(table) == EXPERIMENTS, "every experiment has a row of constants (tests/paper_constants.yaml)"
    for name, entries in table.items():
        assert len(entries) >= 5, f"{name}: too few constants pinned"
        for key, entry in entries.items():
            assert set(entry) == {"value", "source"} and str(entry["source"]).strip(), f"{name}: {key}"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_paper_constants(experiment, tmp_path):
    cfg = compose_config([f"experiment={experiment}"], tmp_path)
    GlobalHydra.instance().clear()
    bad = mismatches(cfg, constants()[experiment])
    assert not bad, f"{experiment}:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize(("experiment", "mutation", "constant"), [
    ("context_encoder_imagenet_center", "model.losses.rec.weight=0.5", "model.losses.rec.weight"),  # λ_rec 0.999
    ("ga_mnist", "model.losses.inp.margin=0", "model.losses.inp.margin"),  # the gradient-attention margin 2
    ("glcic_places2", "model.phases.0.steps=9000", "model.phases.0.steps"),  # T_C
    ("pconv_places2", "model.optimizer_g.betas=[0.5,0.999]", "model.optimizer_g.betas"),
    ("btgmi_celeba", "data.batch_size=16", "data.batch_size"),
    ("deepfill_v2_celeba", "data.dataset.image_size=128", "data.dataset.image_size"),
])
def test_a_changed_constant_fails_and_names_itself(experiment, mutation, constant, tmp_path):
    """The two mutations that once passed the whole suite (Context Encoder λ_rec 0.999 → 0.5, the gradient-attention
    margin 2 → 0) and one of each other kind are caught, naming the constant and its source."""
    cfg = compose_config([f"experiment={experiment}", mutation], tmp_path)
    GlobalHydra.instance().clear()
    bad = mismatches(cfg, constants()[experiment])
    assert len(bad) == 1 and bad[0].startswith(f"{constant}: the paper's value is "), bad
    assert constants()[experiment][constant]["source"] in bad[0]


def test_ga_celeba_is_the_centre_128_crop_without_augmentation(tmp_path):
    """000 Sec. 4: "128 × 128 centrally cropped images" — the centre 128² of the 178×218 face, pixel for pixel."""
    root = make_celeba(tmp_path / "celeba")
    for experiment in ("ga_celeba", "ga_celeba_adv"):
        cfg = compose_config([f"experiment={experiment}"], tmp_path / "run")
        GlobalHydra.instance().clear()
        ds = instantiate(cfg.data.dataset)(root=root, split="train")
        sample = ds[0]
        image = sample["image"] if isinstance(sample, dict) else sample
        with Image.open(root / "img_align_celeba" / "000001.jpg") as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
        top, left = (218 - 128) // 2, (178 - 128) // 2
        expected = torch.from_numpy(rgb[top : top + 128, left : left + 128]).permute(2, 0, 1) / 127.5 - 1
        assert image.shape == (3, 128, 128) and cfg.data.dataset.flip is False
        assert torch.allclose(image, expected, atol=1e-6)
        assert torch.equal(ds[0]["image"] if isinstance(sample, dict) else ds[0], image)  # no random flip


class _Recording:
    """Which batch (its constant pixel value) each critic and generator update saw."""

    def __init__(self) -> None:
        self.d: list[int] = []
        self.g: list[int] = []


def _recording_module(generator_batch: str, n_critic: int, log: _Recording):
    from torch import nn

    from inpaintlab.lightning import InpaintingModule
    from inpaintlab.losses.adversarial import WGANGPLoss
    from inpaintlab.losses.reconstruction import L1Loss

    class Gen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 1, 3, padding=1)

        def forward(self, x, mask):
            return {"output": self.conv(torch.cat([x, mask], 1))}

    class Critic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Flatten(), nn.Linear(2 * 3 * 3, 1))

        def forward(self, x, mask=None):
            return self.net(x)

    class Module(InpaintingModule):
        def discriminator_loss(self, batch, out):
            log.d.append(int(batch["image"][0, 0, 0, 0].item()))
            return super().discriminator_loss(batch, out)

        def generator_loss(self, batch, out):
            log.g.append(int(batch["image"][0, 0, 0, 0].item()))
            return super().generator_loss(batch, out)

    return Module(generator=Gen(), losses={"l1": L1Loss(1.0)}, optimizer_g=lambda params: torch.optim.Adam(params),
                  discriminator=Critic(), adversarial=WGANGPLoss(weight=0.001),
                  optimizer_d=lambda params: torch.optim.Adam(params), n_critic=n_critic,
                  generator_batch=generator_batch)


def _fit(module, max_steps: int, tmp_path, ckpt_path=None):
    from torch.utils.data import DataLoader

    import lightning as L

    batches = [{"image": torch.full((1, 8, 8), float(i)), "mask": torch.ones(1, 8, 8)} for i in range(40)]
    trainer = L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(batches, batch_size=1), ckpt_path=ckpt_path)
    return trainer


def test_wgan_gp_generator_update_draws_a_fresh_batch(tmp_path):
    """WGAN-GP Alg. 1: n_critic critic batches, then the generator on a batch of its own (and global_step counts
    generator steps); `last_critic` reuses the n_critic-th critic batch."""
    log = _Recording()
    trainer = _fit(_recording_module("fresh", 2, log), 3, tmp_path)
    assert (log.d, log.g, trainer.global_step) == ([0, 1, 3, 4, 6, 7], [2, 5, 8], 3)
    log = _Recording()
    trainer = _fit(_recording_module("last_critic", 2, log), 3, tmp_path)
    assert (log.d, log.g, trainer.global_step) == ([0, 1, 2, 3, 4, 5], [1, 3, 5], 3)


def test_fresh_batch_cycle_survives_resume(tmp_path):
    log = _Recording()
    trainer = _fit(_recording_module("fresh", 2, log), 2, tmp_path)
    trainer.save_checkpoint(tmp_path / "mid.ckpt")
    resumed = _Recording()
    _fit(_recording_module("fresh", 2, resumed), 3, tmp_path, ckpt_path=str(tmp_path / "mid.ckpt"))
    assert len(resumed.d) == 2 and len(resumed.g) == 1  # two critic batches, then the generator's own


def test_wgan_gp_experiments_use_the_fresh_batch(tmp_path):
    for experiment in ("ga_celeba_adv", "deepfill_v1_places2", "deepfill_v1_celeba"):
        cfg = compose_config([f"experiment={experiment}"], tmp_path)
        GlobalHydra.instance().clear()
        assert cfg.model.adversarial._target_.endswith("WGANGPLoss") and cfg.model.generator_batch == "fresh"
    cfg = compose_config(["experiment=deepfill_v2_places2"], tmp_path)
    GlobalHydra.instance().clear()
    assert cfg.model.get("generator_batch", "last_critic") == "last_critic"

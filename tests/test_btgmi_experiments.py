"""BTGMI (003) experiment configs against the paper: CelebA's resize-then-random-crop (Sec. 4.1), Table 3's centre
rows (the COCO model on ImageNet test images, Sec. 4.2), the guided critic's condition (Sec. 4.4, Eq. 1)."""

from __future__ import annotations

import json

import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from helpers import CPU_CLAMP, compose_config, run_cli
from layouts import data_root_for

# the tiny BTGMI of tests/test_train.py (narrow nets, one step per phase, random-weight AlexNet in PPL)
TINY = ["data.dataset.image_size=32", "btgmi.head_steps=1", "btgmi.block_steps=1",
        "model.generator.channels=[8,16,16]", "model.discriminator.ndf=8", "model.losses.ppl.pretrained=false"]


def _compose(overrides, tmp_path):
    GlobalHydra.instance().clear()
    return compose_config(overrides, tmp_path)


def test_celeba_is_resized_then_randomly_cropped(tmp_path, tmp_path_factory):
    """Sec. 4.1: the whole 178×218 face resized to a 256 shorter side (256×314), then a random 256² crop: two
    draws of one face are the same picture shifted vertically; evaluation takes the centre."""
    cfg = _compose(["experiment=btgmi_celeba"], tmp_path)
    ds = cfg.data.dataset
    assert ds.crop is None and ds.resize == "cover" and ds.train_crop == "random" and ds.image_size == 256
    root = data_root_for(cfg, tmp_path_factory)
    train = instantiate(ds)(root=str(root), split="train", flip=False)
    crops = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        crops.append(train[0]["image"])
    assert all(c.shape == (3, 256, 256) for c in crops)

    def shift(a, b):  # d such that a's rows d.. are b's rows 0.. (same resized face, another crop)
        return [d for d in range(-58, 59) if torch.equal(a[:, max(d, 0):256 + min(d, 0)], b[:, max(-d, 0):256 - max(d, 0)])]

    shifts = [shift(crops[0], c) for c in crops[1:]]
    assert all(len(s) == 1 for s in shifts) and any(s != [0] for s in shifts), shifts
    test = instantiate(ds)(root=str(root), split="test")
    assert test[0]["image"].shape == (3, 256, 256)


def test_table3_centre_rows_config_is_the_coco_model_on_imagenet_test(tmp_path):
    cfg = _compose(["experiment=btgmi_coco_imagenet_center"], tmp_path)
    coco = _compose(["experiment=btgmi_coco"], tmp_path)
    # the COCO model as trained (use_run_config=false rebuilds it from this config and loads the checkpoint)
    assert OmegaConf.to_container(cfg.model, resolve=True) == OmegaConf.to_container(coco.model, resolve=True)
    assert cfg.data.dataset._target_ == "inpaintlab.data.images.ImageNet"
    assert cfg.data.test_split == "test" and cfg.data.test_size == 200 and cfg.data.dataset.image_size == 256
    assert cfg.mask._target_ == "inpaintlab.data.masks.CenterSquareMask" and cfg.mask.size == 0.5
    assert list(cfg.callbacks.metrics.extra_metrics) == ["l1_sum", "l2_sum"]  # Table 3's columns


def test_table3_centre_rows_evaluate_a_coco_checkpoint(tmp_path, tmp_path_factory):
    """make eval-btgmi-table3's command on a tiny btgmi_coco checkpoint: the ImageNet test images (2 in the tiny
    layout, not the 3 validation ones), one centred hole of half the side (25 % of the pixels), ℓ1/ℓ2 sums."""
    from inpaintlab.train import train

    probe = _compose(["experiment=btgmi_coco"], tmp_path)
    coco_root = data_root_for(probe, tmp_path_factory)
    run = tmp_path / "coco"
    cfg = _compose(["experiment=btgmi_coco", f"data.root={coco_root}", "logger=csv", "data.batch_size=2",
                    *CPU_CLAMP, "trainer.max_steps=1", "trainer.limit_val_batches=0", "test=false",
                    "callbacks.image_grid=null", "data.val_size=2", *TINY], run)
    train(cfg)
    probe = _compose(["experiment=btgmi_coco_imagenet_center"], tmp_path)
    imagenet_root = data_root_for(probe, tmp_path_factory)
    ckpt = run / "checkpoints" / "last.ckpt"
    r = run_cli("inpaintlab.eval", ["experiment=btgmi_coco_imagenet_center", "use_run_config=false",
                                    f"ckpt_path={ckpt}", f"data.root={imagenet_root}", "trainer=cpu",
                                    "trainer.enable_progress_bar=false", "data.num_workers=0",
                                    "data.eval_batch_size=4", *TINY, f"hydra.run.dir={tmp_path / 'eval'}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    record = json.loads((ckpt.parent / "last.test.json").read_text())
    assert record["bins/20-30%/count"] == 2 and record["l1_sum"] > 0 and record["l2_sum"] > 0


def test_guided_critic_is_conditioned_on_the_generators_input(tmp_path):
    cfg = _compose(["experiment=btgmi_guided_coco", "model.losses.ppl.pretrained=false"], tmp_path)
    assert cfg.model.discriminator.condition_channels == cfg.model.generator.image_channels + 2
    assert cfg.model.generator.block_init == "zero"
    critic = instantiate(cfg.model.discriminator)
    assert critic.critics[0].net[0].in_channels == 3 + 5  # x + [composite, box, foreground]

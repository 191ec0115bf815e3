"""Evaluation mask suites (one test table per suite, hole-area bins each), test_ckpt, and the paper's global
batch under data-parallel training."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from helpers import CPU_CLAMP, compose_config, run_cli
from inpaintlab.errors import ConfigError
from layouts import data_root_for


def _cfg(experiment, tmp_path, factory, extra=()):
    probe = compose_config([f"experiment={experiment}"], tmp_path)
    root = data_root_for(probe, factory)
    GlobalHydra.instance().clear()
    return compose_config([f"experiment={experiment}", f"data.root={root}", "logger=csv", "data.batch_size=2",
                           "data.eval_batch_size=2", *CPU_CLAMP, *extra], tmp_path)


def test_three_suites_give_three_tables_on_places2(tmp_path, tmp_path_factory, monkeypatch):
    """crfill_places2: square (128² at 256², here half the 64² side), irregular and object suites; validation
    scores only the first; the test report has one overall table and one hole-area table per suite."""
    from inpaintlab.train import train

    shapes = tmp_path_factory.mktemp("shapes")
    yy, xx = np.mgrid[0:64, 0:64]
    Image.fromarray((((yy - 30) / 12) ** 2 + ((xx - 30) / 9) ** 2 <= 1).astype(np.uint8) * 255).save(shapes / "0.png")
    monkeypatch.setenv("OBJECT_SHAPES_ROOT", str(shapes))
    cfg = _cfg("crfill_places2", tmp_path, tmp_path_factory,
               ["data.dataset.image_size=64", "data.val_size=2", "trainer.max_steps=2", "model.generator.cnum=8",
                "model.discriminator.cnum=8", "model.cr_loss.aux_net.cnum=8", "callbacks.image_grid=null",
                "test_ckpt=last", "trainer.limit_test_batches=2"])
    metrics = train(cfg)
    assert "val/psnr" in metrics and not any(k.startswith("val/irregular") for k in metrics)  # cheap validation
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    text = (tmp_path / "checkpoints" / "last.test.md").read_text()
    record = json.loads((tmp_path / "checkpoints" / "last.test.json").read_text())
    assert record["checkpoint"] == str(ckpt)
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Mask suite: square", "## Mask suite: irregular", "## Mask suite: object"]
    assert text.count("By hole area") == 3 and text.count("| checkpoint | psnr |") == 3
    assert list(record["suites"]) == ["square", "irregular", "object"]
    # the square suite: one 32² square on 64² images (25 %) → every image in the 20-30% bin
    square = record["suites"]["square"]
    counts = {k: v for k, v in square.items() if k.endswith("/count")}
    assert list(counts) == ["bins/20-30%/count"] and counts["bins/20-30%/count"] >= 2 and 0 < square["ssim"] <= 1
    for suite in ("square", "irregular", "object"):
        assert metrics[f"test/{suite}/psnr"] == pytest.approx(record["suites"][suite]["psnr"])
    # inpaintlab-eval on the checkpoint copied away from its run: the model (cnum 8) from the checkpoint, the
    # data and suites from experiment=…; the same three tables
    alone = tmp_path_factory.mktemp("alone")  # no run directory above it
    shutil.copy(ckpt, alone / "model.ckpt")
    r = run_cli("inpaintlab.eval", [f"ckpt_path={alone / 'model.ckpt'}", "experiment=crfill_places2",
                                    f"data.root={cfg.data.root}", "data.dataset.image_size=64", "trainer=cpu",
                                    "trainer.limit_test_batches=2", "data.eval_batch_size=2",
                                    "trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path / 'eval'}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    copied = json.loads((alone / "model.test.json").read_text())
    for suite in ("square", "irregular", "object"):
        assert copied["suites"][suite]["psnr"] == pytest.approx(record["suites"][suite]["psnr"], abs=1e-4)


def test_crfill_test_square_is_128_at_random_positions(tmp_path):
    from hydra.utils import instantiate

    cfg = compose_config(["experiment=crfill_places2"], tmp_path)
    gen = instantiate(cfg.data.eval_masks.square)
    import torch

    masks = gen(64, 256, 256, generator=torch.Generator().manual_seed(0))
    assert (masks.flatten(1).sum(1) == 128 * 128).all()  # one 128×128 square each
    rows = masks[:, 0].amax(2).argmax(1)  # top edge of each square
    assert len(set(rows.tolist())) > 10  # random positions, not a fixed centre


def test_ddp_sim_loads_the_global_batch_split(tmp_path, tmp_path_factory):
    from inpaintlab.train import build

    objects = build(_cfg("ga_mnist", tmp_path, tmp_path_factory, ["trainer=ddp_sim", "data.batch_size=8",
                                                                   "data.val_size=8"]))
    dm = objects["datamodule"]
    assert (dm.batch_size, dm.world_size, dm.process_batch_size) == (8, 2, 4)
    dm.setup("fit")
    assert dm.train_dataloader().batch_size == 4
    GlobalHydra.instance().clear()
    with pytest.raises(ConfigError, match=r"data.batch_size=7 is the global batch.*trainer=ddp_sim runs 2 processes"):
        build(_cfg("ga_mnist", tmp_path, tmp_path_factory, ["trainer=ddp_sim", "data.batch_size=7"]))


def test_ga_tests_last_checkpoint_and_uses_table1_splits(tmp_path, tmp_path_factory):
    from inpaintlab.data.images import CelebA

    cfg = compose_config(["experiment=ga_celeba"], tmp_path)
    assert cfg.test_ckpt == "last" and cfg.data.dataset.test_count == 500 and cfg.data.val_split == "train"
    GlobalHydra.instance().clear()
    assert compose_config(["experiment=ga_mnist"], tmp_path).test_ckpt == "last"
    root = data_root_for(cfg, tmp_path_factory)  # tiny CelebA: 8 train / 3 val / 3 test in the partition file
    test = CelebA(root, split="test", test_count=2)
    train = CelebA(root, split="train", test_count=2)
    assert len(test) == 2 and len(train) == 8 + 3 + 1  # every image but the held-out test ones
    assert not {p.name for p in test.files} & {p.name for p in train.files}

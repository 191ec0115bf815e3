"""The training loop end to end: every experiment config, a multirun, ddp_sim, resume, wandb, eval, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from helpers import CPU_CLAMP, EXPERIMENTS, compose_config, run_cli
from inpaintlab.train import train
from layouts import data_root_for


def _metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


# Per-experiment clamps for the generic 4-step CPU run (< 60 s each on 2 cores); the real configs stay as the
# papers say. The tiny Places2 / ImageNet layouts hold 8 / 6 training images (hence val_size=2), and the
# DeepFill-family generators (cnum 48) run at 64² instead of 256²; DeepFill v2's 128² box shrinks with them.
_CRFILL_CLAMP = ["data.dataset.image_size=64", "data.val_size=2"]
_DEEPFILL_V1_CLAMP = ["data.dataset.image_size=128", "data.val_size=2", "mask.height=64", "mask.width=64",
                      "mask.max_delta=16", "model.generator.cnum=16", "model.discriminator.cnum=16"]
_DEEPFILL_V2_CLAMP = ["data.dataset.image_size=64", "data.val_size=2", "mask.generators.box.height=32",
                      "mask.generators.box.width=32", "mask.generators.box.max_delta=8"]
# Context Encoder at 32² (16² centre patch, a 2-px overlap instead of 7) with widths ÷4 and a 64-unit bottleneck;
# GLCIC at 64² with a 16–24 px hole, 32² local crop.
_CE_CLAMP = ["data.val_size=2", "data.dataset.image_size=32", "model.generator.image_size=32", "model.generator.nef=16",
             "model.generator.ngf=16", "model.generator.bottleneck_units=64"]
_CE_CENTER = [*_CE_CLAMP, "mask.size=16", "mask.margin=2", "model.losses.rec.overlap=2",
              "model.discriminator.patch_size=16", "model.discriminator.ndf=16"]
_GLCIC_CLAMP = ["data.val_size=2", "data.dataset.image_size=64", "data.dataset.resize=[64,96]", "mask.size=[16,24]",
                "model.generator.cnum=8", "model.discriminator.global_size=64", "model.discriminator.local_size=32",
                "model.discriminator.cnum=8", "model.discriminator.fc_units=32", "model.phases.0.steps=2",
                "model.phases.1.steps=1", "model.phases.2.steps=1"]
# PConv: a 4-level U-Net of widths 8–32 at 64², VGG-16 with random weights (no ImageNet weights in CI), and the
# fine-tuning phase from step 2 so the 4-step run passes through both phases.
_PCONV_CLAMP = ["data.dataset.image_size=64", "data.val_size=2", "model.generator.levels=4",
                "model.generator.base_channels=8", "model.generator.max_channels=32",
                "model.losses.perceptual.pretrained=false", "finetune_at=2",
                # the hole-ratio suites on the tiny mask folder: one suite spanning every ratio, the others off
                "data.eval_masks.irregular_01_10.ratio_range=[0.0,1.0]",
                *[f"data.eval_masks.irregular_{lo}_{hi}=null" for lo, hi in ((10, 20), (20, 30), (30, 40), (40, 50), (50, 60))]]
# BTGMI: 32² images, narrow nets, one step per phase (head, block1–3), a random-weight AlexNet inside PPL (no
# ImageNet weights in CI); PPL at native size as the paper (the 8–16 px holes' sides go up to AlexNet's 31).
_BTGMI_CLAMP = ["data.dataset.image_size=32", "data.val_size=2", "btgmi.head_steps=1", "btgmi.block_steps=1",
                "model.generator.channels=[8,16,16]", "model.discriminator.ndf=8",
                "model.losses.ppl.pretrained=false"]
EXPERIMENT_OVERRIDES: dict[str, list[str]] = {
    "context_encoder_imagenet_center": _CE_CENTER,
    "context_encoder_imagenet_center_l2": [*_CE_CLAMP, "mask.size=16", "mask.margin=2", "model.losses.rec.overlap=2"],
    # the tiny folder layout has no paris_train_original/ and paris_eval_gt/: every image trains and tests
    "context_encoder_paris_center": [*_CE_CENTER, "data.train_split=train", "data.test_split=train"],
    "context_encoder_random_region": [*_CE_CLAMP, "model.discriminator.patch_size=32", "model.discriminator.ndf=16"],
    # the three phases shrink to 2 + 1 + 1 steps (the 4-step CPU run crosses every phase boundary)
    "glcic_places2": _GLCIC_CLAMP,
    "glcic_celeba": _GLCIC_CLAMP,
    "glcic_imagenet": _GLCIC_CLAMP,
    "pconv_places2": _PCONV_CLAMP,
    "pconv_imagenet": _PCONV_CLAMP,
    "pconv_celeba_hq": [*_PCONV_CLAMP, "data.dataset.split_files=null", "data.test_split=null"],
    "crfill_places2": _CRFILL_CLAMP,
    "crfill_baseline_places2": _CRFILL_CLAMP,
    "crfill_imagenet": _CRFILL_CLAMP,
    "crfill_places2_official": _CRFILL_CLAMP,
    "crfill_deepfillv2_ca_cr_places2": [*_CRFILL_CLAMP, "mask.generators.box.height=32",
                                        "mask.generators.box.width=32", "mask.generators.box.max_delta=8"],
    # DeepFill v1: 128² (its mirror padding needs the 1/4-scale map wider than the dilation 16), 64² box, and
    # the critics' dense layers follow (global_size = image size, local_size = mask.height); widths ÷2 and ÷4
    # because every one of the 5·4 batches runs the generator and both critics (with the double-backward GP).
    "deepfill_v1_places2": _DEEPFILL_V1_CLAMP,
    "deepfill_v1_celeba": _DEEPFILL_V1_CLAMP,
    "deepfill_v2_places2": _DEEPFILL_V2_CLAMP,
    "deepfill_v2_celeba": _DEEPFILL_V2_CLAMP,
    # Yeh: val/test inpaint by latent search; a few search steps instead of 100 / 1,500
    "yeh_celeba": ["data.val_size=2", "model.val_search.steps=2", "inference_options.steps=2"],
    "yeh_fashion_mnist": ["model.val_search.steps=2", "inference_options.steps=2"],
    **{e: [o for o in _BTGMI_CLAMP if e not in ("btgmi_l2", "btgmi_vgg") or ".ppl." not in o]
          + (["model.losses.vgg.pretrained=false"] if e == "btgmi_vgg" else [])
       for e in EXPERIMENTS if e.startswith("btgmi_")},
    # Sec. 4.4's guided composites: the tiny COCO layout's objects are a few hundred pixels (both PPL terms follow
    # model.losses.ppl's clamps)
    "btgmi_guided_coco": [*_BTGMI_CLAMP, "data.dataset.min_area=50"],
}


def _object_shapes(factory) -> Path:
    """A folder of three elliptical object masks (CR-Fill's object-shape masks), built once per session."""
    import numpy as np
    from PIL import Image

    cache = getattr(factory, "_inpaintlab_object_shapes", None)
    if cache is None:
        cache = factory.mktemp("object_shapes")
        yy, xx = np.mgrid[0:64, 0:64]
        for i in range(3):
            shape = ((yy - 30) / 12) ** 2 + ((xx - 30) / (6 + 3 * i)) ** 2 <= 1
            Image.fromarray(shape.astype(np.uint8) * 255).save(cache / f"{i}.png")
        factory._inpaintlab_object_shapes = cache
    return cache


def _voc_shapes(factory) -> Path:
    """A PASCAL VOC 2012 layout of segmentation shapes (Context Encoder's random regions), built once per session."""
    from data.image_layouts import make_voc

    cache = getattr(factory, "_inpaintlab_voc", None)
    if cache is None:
        cache = make_voc(factory.mktemp("voc") / "VOC2012")
        factory._inpaintlab_voc = cache
    return cache


def _irregular_masks(factory) -> Path:
    """A folder of four irregular-mask PNGs (white holes, NVIDIA's layout), built once per session."""
    import numpy as np
    from PIL import Image

    cache = getattr(factory, "_inpaintlab_irregular_masks", None)
    if cache is None:
        cache = factory.mktemp("irregular_masks")
        rng = np.random.default_rng(0)
        for i in range(4):
            m = np.zeros((64, 64), np.uint8)
            y, x = rng.integers(4, 40, 2)
            m[y:y + 8 + 4 * i, x:x + 20] = 255
            m[10:50, 30 + i:34 + i] = 255
            Image.fromarray(m).save(cache / f"{i:05d}.png")
        factory._inpaintlab_irregular_masks = cache
    return cache


def _clamped(experiment: str, tmp_path: Path, factory, extra=()) -> DictConfig:  # noqa: F821
    probe = compose_config([f"experiment={experiment}"], tmp_path)
    root = data_root_for(probe, factory)
    GlobalHydra.instance().clear()
    overrides = [f"experiment={experiment}", f"data.root={root}", "logger=csv", "data.batch_size=4",
                 "data.eval_batch_size=4", *CPU_CLAMP, *extra]
    if probe.data.get("val_split") is None:
        overrides.append("data.val_size=8")
    overrides += EXPERIMENT_OVERRIDES.get(experiment, [])
    return compose_config(overrides, tmp_path)


def test_every_experiment_is_tested():
    assert {"ga_mnist", "ga_celeba", "ga_celeba_adv"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_trains_on_cpu(experiment, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("OBJECT_SHAPES_ROOT", str(_object_shapes(tmp_path_factory)))  # CR-Fill's mask mixtures
    monkeypatch.setenv("IRREGULAR_MASKS_ROOT", str(_irregular_masks(tmp_path_factory)))  # PConv's NVIDIA masks
    monkeypatch.setenv("IRREGULAR_TEST_MASKS_ROOT", str(_irregular_masks(tmp_path_factory)))  # and its test masks
    monkeypatch.setenv("VOC2012_ROOT", str(_voc_shapes(tmp_path_factory)))  # Context Encoder's random regions
    cfg = _clamped(experiment, tmp_path, tmp_path_factory)
    metrics = train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "config.yaml").is_file()
    suites = [k for k, v in (cfg.data.get("eval_masks") or {}).items() if v is not None]
    prefixes = [f"test/{s}/" for s in suites] if len(suites) > 1 else ["test/"]  # one table per mask suite
    for prefix in prefixes:
        for metric in ("psnr", "ssim", "l1", "psnr_hole", "l1_hole", "grad_l1_hole"):
            name = prefix + metric
            assert name in metrics and torch.isfinite(torch.tensor(metrics[name])), name
    rows = _metrics_rows(tmp_path)
    logged = {k for r in rows for k, v in r.items() if v}
    assert any(k.startswith("train/loss/") for k in logged), logged
    if cfg.model.get("discriminator") is not None:
        assert {"train/loss/adv_d", "train/loss/penalty", "train/loss/adv_g"} <= logged
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4  # generator iterations, whatever n_critic is
    assert len(ckpt["optimizer_states"]) == (2 if cfg.model.get("discriminator") is not None else 1)
    assert list((tmp_path / "images").glob("val_step*.png")), "image grid not written"


def test_resume_continues_at_same_step(tmp_path, tmp_path_factory):
    first = tmp_path / "first"
    cfg = _clamped("ga_celeba_adv", first, tmp_path_factory, extra=["test=false", "model.n_critic=2"])
    train(cfg)
    ckpt_path = first / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4 and ckpt["inpaintlab"]["d_steps"] == 8
    GlobalHydra.instance().clear()
    second = tmp_path / "second"
    cfg = _clamped("ga_celeba_adv", second, tmp_path_factory,
                   extra=["test=false", "model.n_critic=2", "trainer.max_steps=6", f"ckpt_path={ckpt_path}"])
    train(cfg)
    resumed = torch.load(second / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert resumed["global_step"] == 6 and resumed["inpaintlab"]["d_steps"] == 12
    # Adam's step counters continued from the checkpoint instead of restarting
    g_steps = [s["step"] for s in resumed["optimizer_states"][0]["state"].values()]
    d_steps = [s["step"] for s in resumed["optimizer_states"][1]["state"].values()]
    assert all(float(s) == 6 for s in g_steps) and all(float(s) == 12 for s in d_steps)
    steps = [int(r["step"]) for r in _metrics_rows(second) if r.get("train/loss")]
    assert steps and min(steps) >= 4


def test_ddp_sim_two_processes(tmp_path, tmp_path_factory):
    cfg = _clamped("ga_mnist", tmp_path, tmp_path_factory, extra=["trainer=ddp_sim", "test=false"])
    with open_dict(cfg):
        cfg.trainer.enable_progress_bar = False
    train(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4


def test_wandb_offline_run_files(tmp_path, tmp_path_factory):
    cfg = _clamped("ga_mnist", tmp_path, tmp_path_factory, extra=["logger=default", "test=false"])
    assert cfg.logger.wandb.offline is True
    train(cfg)
    import wandb

    wandb.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs, f"no offline wandb run under {tmp_path / 'wandb'}"
    assert list(runs[0].glob("run-*.wandb")), "the offline run has no .wandb data file"
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    run_id = ckpt["inpaintlab"]["wandb_run_id"]
    assert run_id in runs[0].name
    # resuming from the checkpoint continues the same wandb run (same id), without being told the id
    GlobalHydra.instance().clear()
    resumed = tmp_path / "resumed"
    cfg = _clamped("ga_mnist", resumed, tmp_path_factory,
                   extra=["logger=default", "test=false", "trainer.max_steps=6",
                          f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}"])
    train(cfg)
    wandb.finish()
    assert [p.name for p in (resumed / "wandb").glob(f"offline-run-*-{run_id}")], "the resumed run has another id"


def test_hparams_search_ga_alpha_composes(tmp_path):
    cfg = compose_config(["experiment=ga_mnist", "hparams_search=ga_alpha"], tmp_path)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params["model.losses.inp.alpha"] == "0,0.1,0.3,1,3"
    assert cfg.optimized_metric == "val/grad_l1_hole"


def test_multirun_and_eval_cli(tmp_path, idx_root):
    sweep = tmp_path / "sweep"
    common = [f"data.root={idx_root}", "data.batch_size=4", "data.eval_batch_size=8", "data.val_size=8",
              *CPU_CLAMP, "logger=csv"]
    r = run_cli("inpaintlab.train", ["-m", "experiment=ga_mnist", "data=fashion_mnist", *common,
                                     "model.losses.inp.alpha=0,1", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    alphas = []
    for job in ("0", "1"):
        run_dir = sweep / job
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
        assert json.loads((run_dir / "metrics.json").read_text())["test/grad_l1_hole"] >= 0
        alphas.append(float((run_dir / "config.yaml").read_text().split("alpha: ")[1].split()[0]))
    assert alphas == [0.0, 1.0]

    ckpt = sweep / "1" / "checkpoints" / "last.ckpt"
    r = run_cli("inpaintlab.eval", [f"ckpt_path={ckpt}", "trainer=cpu", "data.test_size=16",
                                    "trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path / 'eval'}"],
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    table = (ckpt.parent / "last.test.md").read_text()
    assert table.splitlines()[0].startswith("| checkpoint | psnr | ssim | l1 | psnr_hole | l1_hole | grad_l1_hole")
    # a 14² hole in 28² images covers 25 % of the pixels: every test image lands in the 20-30% bin
    record = json.loads((ckpt.parent / "last.test.json").read_text())
    assert "By hole area" in table and "| 20-30% |" in table and record["bins/20-30%/count"] == 16
    assert record["checkpoint"] == str(ckpt) and 0 < record["ssim"] <= 1


def test_missing_dataset_gives_clear_error(tmp_path):
    missing = tmp_path / "no_such_folder"
    r = run_cli("inpaintlab.train", ["experiment=ga_mnist", "data=fashion_mnist", f"data.root={missing}",
                                     "logger=csv", "trainer=cpu"], cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "train-images-idx3-ubyte" in r.stderr and str(missing) in r.stderr
    assert "apt-get install dataset-fashion-mnist" in r.stderr


def test_config_typo_gives_clear_error(tmp_path):
    r = run_cli("inpaintlab.train", ["experiment=ga_mnst"], cwd=tmp_path)
    assert r.returncode != 0
    assert "ga_mnst" in r.stderr and "Traceback" not in r.stderr


# ga_celeba's Table 1 re-split and its face crop are CelebA options
_NOT_CELEBA = ["~data.dataset.test_count", "~data.dataset.crop"]
LAYOUT_OVERRIDES = {
    "celeba": [],
    "places2": ["data.val_size=2", *_NOT_CELEBA],
    "places2_highres": ["data.val_size=2", *_NOT_CELEBA],
    "imagenet": ["data.val_size=2", *_NOT_CELEBA],
    "folder": ["data.val_size=2", "data.test_split=train", *_NOT_CELEBA],  # a flat folder has no test/ subfolder
}


@pytest.mark.parametrize("layout", sorted(LAYOUT_OVERRIDES))
def test_inpaintlab_train_on_each_dataset_layout(layout, tmp_path, tmp_path_factory):
    """A couple of steps through the inpaintlab-train CLI on a tiny dataset in each real on-disk layout."""
    probe = compose_config([f"data={layout}"], tmp_path)
    root = data_root_for(probe, tmp_path_factory)
    GlobalHydra.instance().clear()
    run_dir = tmp_path / "run"
    r = run_cli("inpaintlab.train", [
        "experiment=ga_celeba", f"data={layout}", f"data.root={root}", "data.dataset.image_size=64",
        "data.batch_size=2", "data.eval_batch_size=2", "mask.size=32", "model.generator.width=0.25",
        *CPU_CLAMP, "trainer.max_steps=2", "logger=csv", f"hydra.run.dir={run_dir}", *LAYOUT_OVERRIDES[layout],
    ], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test/psnr"] > 0 and (run_dir / "checkpoints" / "last.ckpt").is_file()

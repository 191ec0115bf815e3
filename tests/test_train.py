"""The training loop end to end: every experiment config, a multirun, ddp_sim, resume, wandb, eval, errors."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from helpers import CPU_CLAMP, EXPERIMENTS, clamped, compose_config, run_cli
from inpaintlab.train import train
from layouts import data_root_for, irregular_masks, object_shapes, voc_shapes


def _metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_experiment_is_tested():
    assert {"ga_mnist", "ga_celeba", "ga_celeba_adv"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_trains_on_cpu(experiment, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("OBJECT_SHAPES_ROOT", str(object_shapes(tmp_path_factory)))  # CR-Fill's mask mixtures
    monkeypatch.setenv("IRREGULAR_MASKS_ROOT", str(irregular_masks(tmp_path_factory)))  # PConv's NVIDIA masks
    monkeypatch.setenv("IRREGULAR_TEST_MASKS_ROOT", str(irregular_masks(tmp_path_factory)))  # and its test masks
    monkeypatch.setenv("VOC2012_ROOT", str(voc_shapes(tmp_path_factory)))  # Context Encoder's random regions
    cfg = clamped(experiment, tmp_path, tmp_path_factory)
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
    cfg = clamped("ga_celeba_adv", first, tmp_path_factory, extra=["test=false", "model.n_critic=2"])
    train(cfg)
    ckpt_path = first / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4 and ckpt["inpaintlab"]["d_steps"] == 8
    GlobalHydra.instance().clear()
    second = tmp_path / "second"
    cfg = clamped("ga_celeba_adv", second, tmp_path_factory,
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
    cfg = clamped("ga_mnist", tmp_path, tmp_path_factory, extra=["trainer=ddp_sim", "test=false"])
    with open_dict(cfg):
        cfg.trainer.enable_progress_bar = False
    train(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4


def test_wandb_offline_run_files(tmp_path, tmp_path_factory):
    cfg = clamped("ga_mnist", tmp_path, tmp_path_factory, extra=["logger=default", "test=false"])
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
    cfg = clamped("ga_mnist", resumed, tmp_path_factory,
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


def test_config_typo_gives_clear_error(tmp_path, monkeypatch, capsys):
    """The console entry point in this process: the typo is refused before Hydra starts (no run folder)."""
    from inpaintlab.train import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["inpaintlab-train", "experiment=ga_mnst"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "ga_mnst" in err and "Traceback" not in err and list(tmp_path.iterdir()) == []


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
    """A couple of steps of inpaintlab-train's run (train(), in this process: the console entry point itself is
    test_multirun_and_eval_cli's) on a tiny dataset in each real on-disk layout, through the test stage."""
    probe = compose_config([f"data={layout}"], tmp_path)
    root = data_root_for(probe, tmp_path_factory)
    GlobalHydra.instance().clear()
    run_dir = tmp_path / "run"
    cfg = compose_config([
        "experiment=ga_celeba", f"data={layout}", f"data.root={root}", "data.dataset.image_size=64",
        "data.batch_size=2", "data.eval_batch_size=2", "mask.size=32", "model.generator.width=0.25",
        *CPU_CLAMP, "trainer.max_steps=2", "logger=csv", *LAYOUT_OVERRIDES[layout],
    ], run_dir)
    train(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test/psnr"] > 0 and (run_dir / "checkpoints" / "last.ckpt").is_file()

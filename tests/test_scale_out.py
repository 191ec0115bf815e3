"""Scale-out configs: SLURM / submitit launchers, Optuna sweeps, multi-node DDP environment and sampler seeding."""

from __future__ import annotations

import json
import os

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict
from torch.utils.data import DataLoader

import lightning as L
from helpers import CPU_CLAMP, REPO, compose_config, run_cli

# Families with an Optuna search over their loss weights: hparams_search=<name> -> (experiment, swept keys).
# New papers append their entry here (pconv_optuna, btgmi_optuna …) when they land.
OPTUNA_SEARCHES = {
    "ga_optuna": ("ga_mnist", {"model.losses.inp.alpha", "model.losses.inp.margin"}, "minimize"),
    "crfill_optuna": ("crfill_places2", {"model.cr_loss.weight", "model.cr_loss.softmax_scale"}, "maximize"),
    "pconv_optuna": ("pconv_places2", {f"model.losses.{t}.weight" for t in ("valid", "hole", "perceptual", "style", "tv")},
                     "maximize"),
    "btgmi_optuna": ("btgmi_places2", {"model.losses.ppl.weight", "model.adversarial.weight"}, "maximize"),
}


@pytest.mark.parametrize("search", sorted(OPTUNA_SEARCHES))
def test_optuna_search_composes(search, tmp_path):
    experiment, keys, direction = OPTUNA_SEARCHES[search]
    cfg = compose_config([f"experiment={experiment}", f"hparams_search={search}"], tmp_path)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert set(cfg.hydra.sweeper.params) == keys and cfg.hydra.sweeper.direction == direction
    assert cfg.optimized_metric.startswith("val/")
    for key in keys:  # every swept key exists in the experiment's config
        node, leaf = key.rsplit(".", 1)
        assert leaf in OmegaConf.select(cfg, node), key


def test_grid_sweeps_kept(tmp_path):
    cfg = compose_config(["experiment=crfill_places2", "hparams_search=crfill_lambda"], tmp_path)
    assert cfg.hydra.sweeper.params["model.cr_loss.weight"] == "0,0.1,0.25,0.5,1,2"
    assert "Basic" in cfg.hydra.sweeper._target_


def test_slurm_launcher_preset(tmp_path):
    cfg = compose_config(["experiment=deepfill_v2_places2", "trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4",
                          "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4",
                          "hydra.launcher.nodes=2", "hydra.launcher.timeout_min=60", "hydra.launcher.mem_gb=128",
                          "hydra.launcher.array_parallelism=4"], tmp_path)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.nodes) == ("gpu", 4, 2)
    assert launcher.tasks_per_node == 4  # one DDP process per GPU, as Lightning's SLURMEnvironment expects
    assert (launcher.timeout_min, launcher.mem_gb, launcher.array_parallelism) == (60, 128, 4)
    assert (cfg.trainer.num_nodes, cfg.trainer.devices, cfg.trainer.strategy) == (2, 4, "ddp_find_unused_parameters_true")


def test_submitit_local_two_job_sweep(tmp_path, idx_root):
    """Two sweep jobs through hydra-submitit-launcher's local executor (separate processes), each returning
    its metrics into its own job directory."""
    sweep = tmp_path / "sweep"
    r = run_cli("inpaintlab.train", [
        "-m", "experiment=ga_mnist", "data=fashion_mnist", f"data.root={idx_root}", "data.batch_size=4",
        "data.eval_batch_size=8", "data.val_size=8", *CPU_CLAMP, "trainer.max_steps=2", "test=false",
        "logger=csv", "model.losses.inp.alpha=0,1", "hydra/launcher=local", "hydra.launcher.timeout_min=5",
        f"hydra.sweep.dir={sweep}"], cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for job in ("0", "1"):
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert metrics["val/grad_l1_hole"] >= 0
    logs = list((sweep / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2, logs  # one submitit job per sweep point


def test_optuna_two_trials(tmp_path, idx_root):
    sweep = tmp_path / "sweep"
    r = run_cli("inpaintlab.train", [
        "experiment=ga_mnist", "hparams_search=ga_optuna", "hydra.sweeper.n_trials=2", "data=fashion_mnist",
        f"data.root={idx_root}", "data.batch_size=4", "data.eval_batch_size=8", "data.val_size=8", *CPU_CLAMP,
        "trainer.max_steps=2", "test=false", "logger=csv", f"hydra.sweep.dir={sweep}"], cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    import yaml

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["name"] == "optuna" and set(best["best_params"]) == {"model.losses.inp.alpha", "model.losses.inp.margin"}
    values = [json.loads((sweep / j / "metrics.json").read_text())["val/grad_l1_hole"] for j in ("0", "1")]
    assert best["best_value"] == pytest.approx(min(values))


# ---------------------------------------------------------------- multi-node DDP as Lightning detects it
def _ddp_trainer(tmp_path, nodes: int, devices: int):
    cfg = compose_config(["trainer=ddp", f"trainer.num_nodes={nodes}", f"trainer.devices={devices}",
                          "trainer.accelerator=cpu", "trainer.sync_batchnorm=false"], tmp_path)
    with open_dict(cfg):
        cfg.trainer.default_root_dir = str(tmp_path)
    return instantiate(cfg.trainer, logger=False, enable_checkpointing=False)


_CLEAR = ("SLURM_", "RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "MASTER_", "TORCHELASTIC_", "LOCAL_WORLD_SIZE")


@pytest.fixture
def clean_env(monkeypatch):
    """No cluster variables from the host, none left behind; Lightning's process-wide rank (set by a rank-3
    Trainer) restored."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only as fabric_rank
    from lightning.pytorch.utilities.rank_zero import rank_zero_only as pl_rank
    from lightning_utilities.core.rank_zero import rank_zero_only as utils_rank

    for k in list(os.environ):
        if k.startswith(_CLEAR):
            monkeypatch.delenv(k)
    fns = {id(f): f for f in (fabric_rank, pl_rank, utils_rank)}
    saved = [(f, getattr(f, "rank", 0)) for f in fns.values()]
    yield monkeypatch
    for f, rank in saved:
        f.rank = rank
    # Lightning's SLURMEnvironment writes MASTER_ADDR / MASTER_PORT into os.environ itself (not through
    # monkeypatch): left behind, a later ddp_spawn run would wait forever for a rendezvous at gpu07
    for k in list(os.environ):
        if k.startswith(_CLEAR):
            del os.environ[k]


def test_two_node_slurm_environment(tmp_path, clean_env):
    """`srun` with 2 nodes × 2 tasks: the 4th task (node 1, local 1) is global rank 3 of 4."""
    for k, v in {"SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "2", "SLURM_PROCID": "3", "SLURM_LOCALID": "1",
                 "SLURM_NODEID": "1", "SLURM_JOB_NAME": "inpaintlab", "SLURM_JOB_ID": "42",
                 "SLURM_NODELIST": "gpu[07-08]"}.items():
        clean_env.setenv(k, v)
    trainer = _ddp_trainer(tmp_path, nodes=2, devices=2)
    env = trainer.strategy.cluster_environment
    assert type(env).__name__ == "SLURMEnvironment"
    assert (trainer.num_nodes, trainer.world_size, trainer.global_rank, trainer.local_rank, trainer.node_rank) == (
        2, 4, 3, 1, 1)
    assert env.main_address == "gpu07"


def test_two_node_torchrun_environment(tmp_path, clean_env):
    """`torchrun --nnodes 2 --nproc-per-node 2`: rank 2 is the first process of the second node."""
    for k, v in {"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0", "GROUP_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                 "MASTER_ADDR": "node0", "MASTER_PORT": "29500", "TORCHELASTIC_RUN_ID": "x"}.items():
        clean_env.setenv(k, v)
    trainer = _ddp_trainer(tmp_path, nodes=2, devices=2)
    assert type(trainer.strategy.cluster_environment).__name__ == "TorchElasticEnvironment"
    assert (trainer.world_size, trainer.global_rank, trainer.local_rank, trainer.node_rank) == (4, 2, 0, 1)


def test_distributed_sampler_shards_and_restarts():
    """Lightning's DistributedSampler (seeded by seed_everything): disjoint shards covering the data on the
    ranks, the same order for the same (seed, epoch) after a restart, another order the next epoch."""
    from lightning.pytorch.trainer.connectors.data_connector import _get_distributed_sampler

    loader = DataLoader(list(range(40)), batch_size=4, shuffle=True)

    def order(rank: int, epoch: int, seed: int = 12345) -> list[int]:
        L.seed_everything(seed)
        sampler = _get_distributed_sampler(loader, shuffle=True, overfit_batches=0, num_replicas=4, rank=rank)
        sampler.set_epoch(epoch)
        return list(sampler)

    shards = [order(r, 0) for r in range(4)]
    assert sorted(i for s in shards for i in s) == list(range(40))
    assert order(1, 0) == shards[1]  # a restarted job sees the same epoch order
    assert order(1, 1) != shards[1]
    assert order(1, 0, seed=7) != shards[1]
    assert not torch.equal(torch.tensor(shards[0]), torch.tensor(sorted(shards[0])))


def test_make_reproduce_with_a_launcher_becomes_a_sweep():
    """A launcher only acts on multiruns: `make reproduce-* ARGS="hydra/launcher=slurm …"` adds -m."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    cmd = ["make", "-n", "-C", str(REPO), "reproduce-deepfill-v2", "ARGS=hydra/launcher=slurm hydra.launcher.partition=gpu"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "inpaintlab-train -m experiment=deepfill_v2_places2 hydra/launcher=slurm hydra.launcher.partition=gpu" in out
    plain = subprocess.run(["make", "-n", "-C", str(REPO), "reproduce-deepfill-v2"], capture_output=True, text=True,
                           check=True).stdout
    assert "inpaintlab-train  experiment=deepfill_v2_places2" in plain

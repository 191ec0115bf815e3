"""Compose the real Hydra config and clamp it for a few CPU steps (lightning-hydra-template style)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from inpaintlab.conventions import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]  # the repository root, wherever the test file sits
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
CONF_DIR = CONFIG_DIR
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))

CPU_CLAMP = [
    "trainer=cpu",
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "data.num_workers=0",
]


def compose_config(overrides: list[str], out_dir: Path, config_name: str = "train") -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
        cfg.paths.log_dir = str(out_dir)
    return cfg


def run_cli(module: str, args: list[str], cwd: Path, timeout: int = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def reference_fixture(name: str) -> Path:
    """Path of a ../shared/reference tensor file; fails (never skips) when it is missing."""
    path = SHARED_REFERENCE / name
    if not path.is_file():
        pytest.fail(f"reference fixture {path} is missing: the parity tests need ../shared/reference beside the repo")
    return path


def make_idx_dataset(root: Path, n_train: int = 96, n_test: int = 48, gz: bool = True, seed: int = 0) -> Path:
    """Write the four MNIST IDX files with smooth random 28×28 shapes (so gradients are meaningful)."""
    from inpaintlab.data.synthetic import make_idx_dataset as make

    return make(root, n_train=n_train, n_test=n_test, gz=gz, seed=seed)

"""Shared fixtures: tiny datasets in real on-disk layouts, and the composed Hydra config clamped for CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"

os.environ.setdefault("WANDB_MODE", "offline")  # no test may reach the network
os.environ.setdefault("WANDB_SILENT", "true")


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


@pytest.fixture(scope="session")
def idx_root(tmp_path_factory) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("fashion_mnist"))

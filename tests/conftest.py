"""Fixtures shared by every test (importable helpers live in helpers.py and layouts.py: nothing imports this file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from helpers import make_idx_dataset

os.environ.setdefault("WANDB_MODE", "offline")  # no test may reach the network
os.environ.setdefault("WANDB_SILENT", "true")

# `make test` runs one pytest-xdist worker per core: each worker's torch (and every CLI it spawns) then gets its
# share of the cores — two workers each using torch's default of one thread per core oversubscribe the CPU, and
# OpenMP's waiting threads then cost more than the second thread gains.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    import torch

    _threads = max(1, (os.cpu_count() or 1) // _WORKERS)
    os.environ.setdefault("OMP_NUM_THREADS", str(_threads))
    os.environ.setdefault("MKL_NUM_THREADS", str(_threads))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _clear_hydra():
    """Each test starts with Hydra uninitialised: train() and the entry points leave GlobalHydra set, and the next
    compose would fail with "GlobalHydra is already initialized"."""
    yield
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def idx_root(tmp_path_factory) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("fashion_mnist"))

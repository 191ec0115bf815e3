"""Fixtures shared by every test (importable helpers live in helpers.py and layouts.py: nothing imports this file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from helpers import make_idx_dataset

os.environ.setdefault("WANDB_MODE", "offline")  # no test may reach the network
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _clear_hydra():
    """Each test starts with Hydra uninitialised: train() and the entry points leave GlobalHydra set, and the next
    compose would fail with "GlobalHydra is already initialized"."""
    yield
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def idx_root(tmp_path_factory) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("fashion_mnist"))

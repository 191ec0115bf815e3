"""Paper claims on small budgets (slow: `make test-slow`, not run by CI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from helpers import compose_config
from inpaintlab.train import train

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
def test_gradient_attention_lowers_grad_l1_in_the_hole(tmp_path):
    """Gradient-attention paper, Fig. 2: training with α=1 gives a lower grad_l1 inside the hole than α=0."""
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"Fashion-MNIST is not in {FASHION_MNIST}: run `make fashion-mnist` first")
    results = {}
    for alpha in (0.0, 1.0):
        GlobalHydra.instance().clear()
        cfg = compose_config(["experiment=ga_mnist", "data=fashion_mnist", "logger=csv", "trainer=cpu",
                              f"model.losses.inp.alpha={alpha}", "trainer.max_steps=4000",
                              "trainer.val_check_interval=1000", "trainer.enable_progress_bar=false"],
                             tmp_path / f"alpha_{alpha}")
        results[alpha] = train(cfg)
    assert results[1.0]["test/grad_l1_hole"] < results[0.0]["test/grad_l1_hole"]

"""Paper claims on small budgets (slow: `make test-slow`, not run by CI)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from helpers import REPO, compose_config
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


@pytest.mark.slow
def test_pconv_output_ignores_the_hole_fill_and_vanilla_does_not():
    """Partial Convolutions Sec. 3.1 at a small scale (experiments/pconv/claim_check.py, `make claim-pconv`): after
    the same short training, changing what fills the hole leaves the PConv U-Net's output unchanged and changes
    the vanilla U-Net's."""
    import importlib.util
    import sys

    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"Fashion-MNIST is not in {FASHION_MNIST}: run `make fashion-mnist` first")
    path = REPO / "experiments" / "pconv" / "claim_check.py"
    spec = importlib.util.spec_from_file_location("pconv_claim_check", path)
    claim = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = claim
    spec.loader.exec_module(claim)
    args = type("Args", (), {"steps": 150, "batch": 16, "lr": 1e-3, "levels": 4, "seed": 0})()
    train_images = claim.load(FASHION_MNIST, "train", 2000, 64)
    test_images = claim.load(FASHION_MNIST, "test", 128, 64)
    mask = claim.masks(128, 64, seed=2024)
    fills = {"zero": torch.zeros_like(test_images), "noise": torch.rand_like(test_images) * 2 - 1}
    results = {conv: claim.evaluate(claim.train(conv, train_images, args)[0], test_images, mask, fills)
               for conv in ("partial", "vanilla")}
    assert results["partial"]["noise"]["change"] == 0.0
    assert results["vanilla"]["noise"]["change"] > 1e-3


@pytest.mark.slow
def test_yeh_blending_removes_the_seam_and_the_search_beats_mean_fill(tmp_path):
    """Yeh et al. 2017 §3.3 on Fashion-MNIST 32² (`make claim-yeh` at a smaller budget): after training the
    DCGAN prior, Poisson blending lowers the boundary seam of the pasted G(ẑ), and the blended fill has a lower
    in-hole L1 than the mean-fill baseline."""
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"Fashion-MNIST is not in {FASHION_MNIST}: run `make fashion-mnist` first")
    import importlib.util

    path = REPO / "experiments" / "yeh" / "claim_check.py"
    spec = importlib.util.spec_from_file_location("yeh_claim_check", path)
    claim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claim)
    ckpt = claim.train_prior(tmp_path / "train", 1500, [])
    rows = {(name, out): (l1, seam) for name, out, l1, seam, _ in claim.measure(ckpt, steps=300, images=32)}
    base_l1 = rows[("mean fill (baseline)", "—")][0]
    for name in ("weighted W (paper)", "binary mask"):
        pasted, blended = rows[(name, "(a) G(ẑ) pasted")], rows[(name, "(b) blended")]
        assert blended[1] < pasted[1], (name, rows)
        assert blended[0] < base_l1, (name, rows)

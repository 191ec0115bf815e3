"""PConv's two-stage schedule (Sec. 4.2): one run that switches to fine-tuning, and a separate weights-only
fine-tuning run (init_from); the hole-ratio evaluation suites on NVIDIA's test-mask layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from PIL import Image

from helpers import clamped, compose_config
from inpaintlab.errors import ConfigError
from inpaintlab.train import train
from layouts import irregular_masks


@pytest.fixture(autouse=True)
def _irregular_masks_env(monkeypatch, tmp_path_factory):
    """NVIDIA's mask folders (training and the test suites) as tiny generated ones."""
    monkeypatch.setenv("IRREGULAR_MASKS_ROOT", str(irregular_masks(tmp_path_factory)))
    monkeypatch.setenv("IRREGULAR_TEST_MASKS_ROOT", str(irregular_masks(tmp_path_factory)))


def _ckpt(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def _encoder_bn(ckpt: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in ckpt["state_dict"].items() if k.startswith("generator.encoder.") and ".bn." in k}


def test_paper_schedule_and_weights_compose(tmp_path):
    cfg = compose_config(["experiment=pconv_places2"], tmp_path)
    assert {k: v.weight for k, v in cfg.model.losses.items()} == {
        "valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}
    assert cfg.data.batch_size == 6 and cfg.data.dataset.image_size == 512 and cfg.model.generator.levels == 8
    assert cfg.model.optimizer_g.lr == 2e-4 and cfg.model.get("discriminator") is None
    schedule = instantiate(cfg.model.phases)
    assert [(p.name, p.steps, p.lr_g, p.freeze_bn) for p in schedule.phases] == [
        ("train", 1_000_000, 2e-4, ()), ("finetune", None, 5e-5, ("encoder",))]


def test_one_run_switches_to_finetuning_and_freezes_the_encoder_bn(tmp_path, tmp_path_factory):
    first = tmp_path / "a"
    train(clamped("pconv_places2", first, tmp_path_factory, extra=["test=false", "finetune_at=4"]))
    GlobalHydra.instance().clear()
    second = tmp_path / "b"  # resume with the switch at step 4: steps 4–5 fine-tune
    train(clamped("pconv_places2", second, tmp_path_factory,
                  extra=["test=false", "finetune_at=4", "trainer.max_steps=6",
                         f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"]))
    a, b = _ckpt(first), _ckpt(second)
    assert b["global_step"] == 6 and b["inpaintlab"]["phase"] == "finetune"
    assert b["optimizer_states"][0]["param_groups"][0]["lr"] == 5e-5
    bn_a, bn_b = _encoder_bn(a), _encoder_bn(b)
    assert bn_a and all(torch.equal(bn_a[k], bn_b[k]) for k in bn_a)  # frozen: statistics and affine unchanged
    dec = [k for k in b["state_dict"] if k.startswith("generator.decoder.") and k.endswith("bn.running_mean")]
    assert any(not torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in dec)  # the decoder's BN still learns


def test_separate_finetuning_run_from_weights_only(tmp_path, tmp_path_factory):
    first = tmp_path / "a"
    train(clamped("pconv_imagenet", first, tmp_path_factory, extra=["test=false", "trainer.max_steps=2"]))
    ckpt = first / "checkpoints" / "last.ckpt"
    GlobalHydra.instance().clear()
    second = tmp_path / "b"
    train(clamped("pconv_imagenet", second, tmp_path_factory,
                  extra=["test=false", "trainer.max_steps=2", "model/phases=pconv_finetune", f"init_from={ckpt}"]))
    a, b = _ckpt(first), _ckpt(second)
    assert b["global_step"] == 2 and b["inpaintlab"]["phase"] == "finetune"
    state = b["optimizer_states"][0]
    assert state["param_groups"][0]["lr"] == 5e-5
    assert all(float(s["step"]) == 2 for s in state["state"].values())  # fresh Adam, not resumed
    bn_a, bn_b = _encoder_bn(a), _encoder_bn(b)
    assert all(torch.equal(bn_a[k], bn_b[k]) for k in bn_a)  # started from the first run's weights, BN frozen
    GlobalHydra.instance().clear()
    with pytest.raises(ConfigError, match="not both"):
        train(clamped("pconv_imagenet", tmp_path / "c", tmp_path_factory,
                      extra=[f"init_from={ckpt}", f"ckpt_path={ckpt}"]))
    GlobalHydra.instance().clear()
    with pytest.raises(ConfigError, match="does not match"):
        train(clamped("pconv_imagenet", tmp_path / "d", tmp_path_factory,
                      extra=[f"init_from={ckpt}", "model.generator.image_channels=1"]))


def test_hole_ratio_suites_on_nvidia_test_layout(tmp_path, monkeypatch):
    # NVIDIA's testing_mask_dataset: 00000.png … (white holes); one file per bin here, ratio 5 %, 15 %, … 55 %
    root = tmp_path / "testing_mask_dataset"
    root.mkdir()
    for i in range(6):
        m = np.zeros((20, 20), np.uint8)
        m.reshape(-1)[: 20 + 40 * i] = 255  # (20 + 40 i) / 400 = 0.05 + 0.1 i
        Image.fromarray(m).save(root / f"{i:05d}.png")
    monkeypatch.setenv("IRREGULAR_TEST_MASKS_ROOT", str(root))
    cfg = compose_config(["+eval_masks=pconv_hole_ratio"], tmp_path)
    suites = {name: instantiate(node) for name, node in cfg.eval_masks.items()}
    assert list(suites) == ["irregular_01_10", "irregular_10_20", "irregular_20_30", "irregular_30_40",
                            "irregular_40_50", "irregular_50_60"]
    for i, gen in enumerate(suites.values()):
        assert [f.name for f in gen.files] == [f"{i:05d}.png"] and not gen.augment

"""inpaintlab-compare: a tiny-budget run of the CPU-scale comparison (2 steps per method, two suites, 4 test
images) through the real CLI — the one inpaintlab-train multirun, the Inpainter, the four files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import make_idx_dataset
from helpers import CONF_DIR, run_cli
from inpaintlab.compare import METRICS, experiment_file, train_command

COMPARE = yaml.safe_load((CONF_DIR / "compare" / "fashion_mnist_64.yaml").read_text())
EXPERIMENTS = {p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")}


def _variants(cfg: dict) -> list[str]:
    return [v for m in cfg["methods"].values() for v in (m.get("variants") or {})]


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "compare").glob("*.yaml")))
def test_every_compare_config_registers_every_method_family(name):
    cfg = yaml.safe_load((CONF_DIR / "compare" / f"{name}.yaml").read_text())
    families = {m["experiment"].split("_")[0] for m in cfg["methods"].values()}
    # gradient attention, Context Encoder, GLCIC, Yeh, DeepFill v1/v2, PConv, CR-Fill, BTGMI
    assert {"ga", "context", "glcic", "yeh", "deepfill", "pconv", "crfill", "btgmi"} <= families
    assert {m["experiment"] for m in cfg["methods"].values()} <= EXPERIMENTS
    assert {"glcic", "glcic_pp", "btgmi_head", "btgmi"} <= set(_variants(cfg))  # with/without post-processing


def _compose_generated(tmp_path: Path, method: str, text: str):
    """The train config of the generated experiment, composed the way the multirun job composes it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    folder = tmp_path / "conf" / "experiment"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"compare_{method}.yaml").write_text(text)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=[f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                                                       f"experiment=compare_{method}"])


def test_generated_experiment_file(tmp_path):
    overrides = ["data=fashion_mnist", "+data.dataset.channels=3", "data.dataset.image_size=64", "mask.size=[24,32]",
                 "model.phases.1.steps=7", "~data.dataset.download"]
    text = experiment_file("glcic", "glcic_celeba", overrides)
    assert text.startswith("# @package _global_")
    body = yaml.safe_load(text)
    assert {"override /data": "fashion_mnist"} in body["defaults"] and body["defaults"][-1] == "_self_"
    assert {"override /model": "glcic"} in body["defaults"] and "hydra" not in body
    assert "download" not in body["data"]["dataset"]  # deletions act on the composed experiment
    cfg = _compose_generated(tmp_path, "glcic", text)
    assert cfg.task_name == "glcic" and cfg.data.dataset._target_.endswith("MNISTImages")
    assert cfg.data.dataset.channels == 3 and list(cfg.mask.size) == [24, 32]
    assert [p.steps for p in cfg.model.phases] == [90000, 7, 400000]  # a list index keeps the rest of the list
    assert cfg.model.generator._target_.endswith("GLCICGenerator") or "glcic" in cfg.model.generator._target_


@pytest.mark.parametrize("name", ["fashion_mnist_64", "places2_256"])
def test_every_method_entry_composes(name, tmp_path, monkeypatch):
    """Each entry's overrides are valid inpaintlab-train overrides of its experiment (no training here)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    monkeypatch.setenv("PLACES2_ROOT", str(tmp_path))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="comparison", overrides=[f"compare={name}"])
        c = OmegaConf.to_container(cfg.compare, resolve=True)
        for method, entry in c["methods"].items():
            text = experiment_file(method, entry["experiment"], [*c["common"], *entry.get("overrides", [])])
            body = yaml.safe_load(text)
            assert body["task_name"] == method and body["trainer"]["max_steps"] == c["budget"]["steps"]
            assert body["data"]["batch_size"] == c["budget"]["batch_size"] and body["test"] is False


def test_train_command_is_one_multirun(tmp_path):
    cmd = train_command(tmp_path, ["a", "b"], [], jobs=2)
    assert cmd[cmd.index("-m") + 1] == "inpaintlab.train" and "experiment=compare_a,compare_b" in cmd
    assert "hydra/launcher=joblib" in cmd and "hydra.launcher.n_jobs=2" in cmd
    slurm = train_command(tmp_path, ["a", "b"], ["hydra/launcher=slurm"], jobs=2)
    assert "hydra/launcher=slurm" in slurm and "hydra/launcher=joblib" not in slurm


def test_tiny_comparison_writes_the_four_files(tmp_path, monkeypatch):
    root = make_idx_dataset(tmp_path / "fashion_mnist", n_train=40, n_test=8)
    monkeypatch.setenv("FASHION_MNIST_ROOT", str(root))
    out = tmp_path / "compare"
    suites = ["center", "ff_medium"]
    dropped = [f"compare.suites.{s}=null" for s in COMPARE["suites"] if s not in suites]
    args = [f"out={out}", "jobs=1", "compare.budget.steps=2", "compare.budget.batch_size=4", "compare.test_images=4",
            "compare.eval_batch_size=4", "compare.val_size=4", "compare.grid_images=1",
            "compare.methods.yeh.variants.yeh.steps=2", *dropped]
    result = run_cli("inpaintlab.compare", args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ("results.json", "results.md", "grid.png", "bars.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    res = json.loads((out / "results.json").read_text())
    variants = _variants(COMPARE)
    assert list(res["methods"]) == variants
    assert res["suites"] == suites and res["budget"] == {"steps": 2, "batch_size": 4}
    assert {(r["method"], r["suite"]) for r in res["rows"]} == {(v, s) for v in variants for s in suites}
    for row in res["rows"]:
        assert {"psnr", "ssim", "l1", "psnr_hole", "l1_hole"} <= set(row) and row["images"] == 4
        assert set(row) - {"method", "suite", "images"} <= set(METRICS)
    for v, m in res["methods"].items():
        assert m["params"] > 0 and m["infer_ms_per_image"] > 0 and m["train_seconds"] > 0, v
    assert res["methods"]["ga"]["native"] and res["methods"]["context_encoder"]["native"]
    assert res["methods"]["glcic_pp"]["options"]["postprocess"] is True
    assert res["methods"]["glcic"]["options"]["postprocess"] is False
    assert "LPIPS" in res["lpips"]  # computed, or said to be absent
    md = (out / "results.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| suite | method |"))
    assert all(k in header for k in ("psnr", "ssim", "l1", "psnr_hole", "l1_hole"))
    assert all(f"| {v} |" in md for v in variants) and "Scaling rule" in md
    # the masks were frozen: the same set every method saw, on disk with its manifest
    manifest = json.loads((out / "masks" / "center" / "manifest.json").read_text())
    assert manifest["count"] == 4 and manifest["height"] == 64
    # reuse: no training, the same numbers
    again = run_cli("inpaintlab.compare", [*args, "reuse=true", "methods=[ga,glcic]"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    res2 = json.loads((out / "results.json").read_text())
    assert list(res2["methods"]) == ["ga", "glcic", "glcic_pp"]
    first = {(r["method"], r["suite"]): r["psnr"] for r in res["rows"]}
    assert all(first[(r["method"], r["suite"])] == r["psnr"] for r in res2["rows"])


def test_unknown_method_is_one_clear_line(tmp_path):
    result = run_cli("inpaintlab.compare", [f"out={tmp_path}", "methods=[nope]", "reuse=true"], cwd=tmp_path)
    assert result.returncode != 0
    assert "unknown ['nope']" in result.stderr and "Traceback" not in result.stderr


def test_per_image_metrics_hand_computed():
    """A 4×4 hole of a black 16×16 image filled with mid-grey (0.5 on [0, 1]): L1 in the hole 0.5, over the image
    0.5·16/256; PSNR in the hole 10·log10(1/0.25), over the image 10·log10(256/(0.25·16)); no hole → no hole metric."""
    import math

    import torch

    from inpaintlab.compare import per_image_metrics, summarise

    target = -torch.ones(2, 1, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 4:8, 4:8] = 1
    pred = target * (1 - mask)  # 0 in [-1, 1] = 0.5 on [0, 1] inside the hole
    v = per_image_metrics(pred, target, mask, None)
    assert v["l1_hole"][0].item() == pytest.approx(0.5) and v["l1"][0].item() == pytest.approx(0.5 * 16 / 256)
    assert v["psnr_hole"][0].item() == pytest.approx(10 * math.log10(4), abs=1e-4)
    assert v["psnr"][0].item() == pytest.approx(10 * math.log10(256 / 4), abs=1e-4)
    assert v["l1"][1].item() == 0 and math.isnan(v["l1_hole"][1].item())
    s = summarise(v)
    assert s["l1_hole"] == pytest.approx(0.5) and s["l1"] == pytest.approx(0.5 * 16 / 256 / 2, abs=1e-5)
    assert summarise(v, torch.tensor([False, True]))["psnr_hole"] is None


def test_freeze_suites_generators_and_mask_folders(tmp_path):
    """A generator suite is frozen to <out>/masks/<suite> (manifest + PNGs, reproducible); a folder suite
    (FrozenMasks node, e.g. NVIDIA's masks of one hole-ratio bin) is read at the comparison's size."""
    import numpy as np
    import torch
    from PIL import Image

    from inpaintlab.compare import freeze_suites

    folder = tmp_path / "irregular"
    folder.mkdir()
    for i, width in enumerate((4, 12, 40)):  # hole ratios 0.0625, 0.1875, 0.625 of a 64² mask
        m = np.zeros((64, 64), np.uint8)
        m[:, :width] = 255
        Image.fromarray(m).save(folder / f"{i:05d}.png")
    c = {"size": 32, "mask_seed": 3, "suites": {
        "boxes": {"_target_": "inpaintlab.data.masks.RandomBoxMask", "count": [1, 1], "size_ratio": [0.25, 0.5]},
        "irregular_10_20": {"_target_": "inpaintlab.data.mask_sets.FrozenMasks", "root": str(folder), "bin": "10-20%"},
        "off": None}}
    with pytest.warns(UserWarning, match="resizing"):  # 64² files read at 32²
        suites = freeze_suites(c, tmp_path / "out", 3)
    assert list(suites) == ["boxes", "irregular_10_20"]
    assert suites["boxes"].shape == (3, 1, 32, 32) and (tmp_path / "out/masks/boxes/manifest.json").is_file()
    with pytest.warns(UserWarning, match="resizing"):
        again = freeze_suites(c, tmp_path / "again", 3)
    assert torch.equal(again["boxes"], suites["boxes"])  # same seed, same masks
    ratios = suites["irregular_10_20"].flatten(1).mean(1)
    assert torch.allclose(ratios, torch.tensor([12 / 64] * 3))  # only the 10-20 % file, cycled to the count

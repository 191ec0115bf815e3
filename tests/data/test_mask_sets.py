"""Frozen evaluation masks: hole-ratio bins, the PNG + manifest round trip, reading foreign mask folders."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlab.data.mask_sets import (
    FrozenMasks,
    bin_labels,
    hole_ratio_bin,
    hole_ratio_bin_index,
    preview_grid,
    write_mask_set,
)
from inpaintlab.data.masks import FreeFormMask, RandomBoxMask, seeded_generator
from inpaintlab.errors import ConfigError, DatasetNotFoundError


def test_hole_ratio_bins_are_right_closed_tenths():
    assert bin_labels()[:3] == ["0-10%", "10-20%", "20-30%"] and len(bin_labels()) == 10
    assert hole_ratio_bin(0.0) == "0-10%" and hole_ratio_bin(0.1) == "0-10%"
    assert hole_ratio_bin(0.1000001) == "10-20%" and hole_ratio_bin(0.55) == "50-60%"
    assert hole_ratio_bin(1.0) == "90-100%" and hole_ratio_bin_index(0.35) == 3
    nvidia = [0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert bin_labels(nvidia)[0] == "1-10%" and hole_ratio_bin(0.25, nvidia) == "20-30%"
    with pytest.raises(ConfigError, match="outside the bins"):
        hole_ratio_bin(1.2)
    with pytest.raises(ConfigError, match="increasing"):
        bin_labels([0.5, 0.2])


def test_frozen_set_round_trips_and_matches_seeded_generation(tmp_path):
    gen = FreeFormMask()
    manifest = write_mask_set(gen, tmp_path / "ff", count=12, height=48, width=64, seed=7, name="ff",
                              config={"_target_": "inpaintlab.data.masks.FreeFormMask"})
    assert min(p.name for p in (tmp_path / "ff").glob("*.png")) == "00000.png"
    on_disk = json.loads((tmp_path / "ff" / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["generator"] == "inpaintlab.data.masks.strokes.FreeFormMask" and manifest["seed"] == 7
    assert manifest["parameters"] == {"_target_": "inpaintlab.data.masks.FreeFormMask"}
    assert sum(manifest["bins"].values()) == 12 and (manifest["height"], manifest["width"]) == (48, 64)
    frozen = FrozenMasks(tmp_path / "ff")
    assert len(frozen) == 12
    for i in range(12):
        expected = gen(1, 48, 64, seeded_generator(7, i))[0]
        assert torch.equal(frozen[i], expected), "mask i is generator(1, H, W, seeded_generator(seed, i))"
        assert abs(frozen.hole_ratio(i) - float(expected.mean())) < 1e-6
        assert manifest["masks"][i]["bin"] == hole_ratio_bin(float(expected.mean()))
    assert frozen.batch([0, 3]).shape == (2, 1, 48, 64)
    assert sum(frozen.bin_counts().values()) == 12


def test_frozen_set_equals_the_datamodule_evaluation_masks(tmp_path):
    from inpaintlab.data.datamodule import MaskedImages

    gen = RandomBoxMask(count=(1, 2), size_ratio=(0.25, 0.5))
    write_mask_set(gen, tmp_path / "box", count=5, height=32, seed=2024)
    images = [{"image": torch.zeros(3, 32, 32), "path": str(i)} for i in range(5)]
    on_the_fly = MaskedImages(images, gen, frozen=True, seed=2024)
    frozen = FrozenMasks(tmp_path / "box")
    for i in range(5):
        assert torch.equal(on_the_fly[i]["mask"], frozen[i])


def test_frozen_set_bins_overwrite_and_size_checks(tmp_path):
    gen = RandomBoxMask(count=1, size=(4, 30))
    m = write_mask_set(gen, tmp_path / "s", count=30, height=32, seed=0)
    label = next(k for k, v in m["bins"].items() if v)
    only = FrozenMasks(tmp_path / "s", bin=label)
    assert len(only) == m["bins"][label] and all(hole_ratio_bin(r) == label for r in only.hole_ratios)
    with pytest.raises(ConfigError, match="already holds a mask set"):
        write_mask_set(gen, tmp_path / "s", count=3, height=32)
    write_mask_set(gen, tmp_path / "s", count=3, height=32, overwrite=True)
    assert len(FrozenMasks(tmp_path / "s")) == 3 and len(list((tmp_path / "s").glob("*.png"))) == 3
    with pytest.raises(ConfigError, match="holds 32×32 masks but 64×64 were requested"):
        FrozenMasks(tmp_path / "s", height=64, width=64)
    with pytest.warns(UserWarning, match="resizing to 64×64"):
        big = FrozenMasks(tmp_path / "s", height=64, width=64, on_size_mismatch="resize")[0]
    assert big.shape == (1, 64, 64) and set(big.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ConfigError, match="unknown bin"):
        FrozenMasks(tmp_path / "s", bin="5-15%")


def test_frozen_masks_reject_broken_sets(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="inpaintlab-make-masks"):
        FrozenMasks(tmp_path / "none")
    write_mask_set(RandomBoxMask(size=4), tmp_path / "s", count=3, height=16)
    (tmp_path / "s" / "00001.png").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing .first: 00001.png"):
        FrozenMasks(tmp_path / "s")
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a valid mask-set manifest"):
        FrozenMasks(tmp_path / "j")
    (tmp_path / "e").mkdir()
    with pytest.raises(DatasetNotFoundError, match="neither manifest.json nor mask images"):
        FrozenMasks(tmp_path / "e")


def test_foreign_mask_folder_black_holes_grey_pixels_and_sizes(tmp_path):
    folder = tmp_path / "nvidia"
    folder.mkdir()
    for i, rows in enumerate((10, 40)):
        a = np.full((64, 64), 255, np.uint8)
        a[:rows] = 0  # black holes on white, as some releases store them
        a[rows, :] = 128  # an anti-aliased row
        Image.fromarray(a).save(folder / f"{i:05d}.png")
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(folder / "00002.png")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        masks = FrozenMasks(folder, height=64, width=64, white_is_hole=False)
        ratios = masks.hole_ratios
    messages = [str(x.message) for x in w]
    assert ratios[0] == 10 / 64 and ratios[1] == 40 / 64 and ratios[2] == 0.0
    assert sum("not binary" in m for m in messages) == 1, "grey pixels: thresholded, one warning"
    assert sum("resizing" in m for m in messages) == 1
    assert masks.bin_of(1) == "60-70%"


def test_preview_grid_layout():
    masks = torch.zeros(10, 1, 16, 20)
    masks[:, :, :8] = 1
    img = preview_grid(masks, columns=4, pad=2, title="x")
    assert img.size == (4 * 22 + 2, 14 + 3 * 18 + 2)
    with pytest.raises(ConfigError):
        preview_grid(torch.zeros(2, 3, 4, 4))

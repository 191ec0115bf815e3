"""Masks read from files: irregular-mask sets (NVIDIA-style) and CR-Fill's object shapes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlab.data.masks import IrregularFileMask, ObjectShapeMask, hole_ratio, list_mask_files, read_mask
from inpaintlab.errors import DatasetNotFoundError


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def write_bars(folder, size: int = 64, fractions=(0.05, 0.15, 0.25, 0.35), white_is_hole=True):
    """Masks whose hole is the top `f` of the rows: hole ratio exactly f (on a multiple of 20 rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(fractions):
        a = np.zeros((size, size), np.uint8)
        a[: round(f * size)] = 255
        if not white_is_hole:
            a = 255 - a
        Image.fromarray(a).save(folder / f"{i:05d}.png")
    return folder


def test_list_mask_files_from_folder_and_list(tmp_path):
    write_bars(tmp_path / "m" / "sub")
    (tmp_path / "m" / "readme.txt").write_text("x")
    files = list_mask_files(tmp_path / "m")
    assert [f.name for f in files] == ["00000.png", "00001.png", "00002.png", "00003.png"]
    (tmp_path / "list.txt").write_text("m/sub/00001.png\n\n# comment\nm/sub/00003.png\n")
    assert [f.name for f in list_mask_files(tmp_path / "list.txt")] == ["00001.png", "00003.png"]
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        list_mask_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no mask images"):
        list_mask_files(tmp_path / "empty")
    (tmp_path / "bad.txt").write_text("missing.png\n")
    with pytest.raises(DatasetNotFoundError, match="first entry"):
        list_mask_files(tmp_path / "bad.txt")


def test_read_mask_conventions_resize_and_grey_warning(tmp_path):
    write_bars(tmp_path / "w", fractions=(0.25,))
    write_bars(tmp_path / "b", fractions=(0.25,), white_is_hole=False)
    a = read_mask(tmp_path / "w" / "00000.png")
    b = read_mask(tmp_path / "b" / "00000.png", white_is_hole=False)
    assert a.dtype == bool and np.array_equal(a, b) and a.mean() == 0.25
    small = read_mask(tmp_path / "w" / "00000.png", size=(32, 48))
    assert small.shape == (32, 48) and small.mean() == 0.25
    grey = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    msgs = []
    m = read_mask(tmp_path / "grey.png", warn=msgs.append)
    assert msgs and "not binary" in msgs[0] and abs(m.mean() - 0.5) < 0.02


def test_irregular_masks_without_augmentation_are_the_files(tmp_path):
    write_bars(tmp_path / "m")
    gen = IrregularFileMask(tmp_path / "m")
    masks = gen(40, 64, 64, g(0))
    r = sorted({round(x, 4) for x in hole_ratio(masks).tolist()})
    assert r == [0.0469, 0.1562, 0.25, 0.3438]  # the four files' exact row fractions (3, 10, 16, 22 of 64 rows)
    resized = gen(4, 32, 32, g(0))
    assert resized.shape == (4, 1, 32, 32)
    assert torch.equal(masks, gen(40, 64, 64, g(0)))
    black = IrregularFileMask(write_bars(tmp_path / "b", white_is_hole=False), white_is_hole=False)
    assert torch.equal(black(40, 64, 64, g(0)), masks)


def test_irregular_ratio_range_selects_one_bin(tmp_path):
    gen = IrregularFileMask(write_bars(tmp_path / "m"), ratio_range=(0.1, 0.2))
    assert len(gen) == 1
    assert set(hole_ratio(gen(10, 64, 64, g(0))).tolist()) == {10 / 64}
    with pytest.raises(Exception, match="no mask"):
        IrregularFileMask(tmp_path / "m", ratio_range=(0.8, 0.9))


def test_irregular_augmentation_dilates_rotates_and_flips(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    a = np.zeros((64, 64), np.uint8)
    a[10:20, 5:30] = 255  # a bar in the top-left quadrant
    Image.fromarray(a).save(folder / "bar.png")
    plain = IrregularFileMask(folder)(1, 64, 64, g(0))
    dil = IrregularFileMask(folder, augment=True, dilation=(2, 2), flip=False)(1, 64, 64, g(0))
    assert float(dil.sum()) == (10 + 4) * (25 + 4) and bool((dil >= plain).all())
    flipped = IrregularFileMask(folder, augment=True, flip=True)(64, 64, 64, g(1))
    tops = {int(m[0].any(1).nonzero()[0]) for m in flipped}
    lefts = {int(m[0].any(0).nonzero()[0]) for m in flipped}
    assert tops == {10, 64 - 20} and lefts == {5, 64 - 30}, "horizontal and vertical flips both occur"
    rot = IrregularFileMask(folder, augment=True, rotation=90, flip=False)(16, 64, 64, g(2))
    assert set(rot.unique().tolist()) <= {0.0, 1.0}
    assert not all(torch.equal(rot[0], x) for x in rot)
    assert (hole_ratio(rot) - 250 / 4096).abs().max() < 0.03  # rotation keeps the area (up to clipping)


def test_irregular_non_binary_files_warn_once(tmp_path):
    folder = tmp_path / "j"
    folder.mkdir()
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(3):
        a = (((yy - 30) ** 2 + (xx - 33) ** 2) < (12 + 5 * i) ** 2).astype(np.uint8) * 255
        Image.fromarray(a).save(folder / f"{i}.jpg", quality=30)  # JPEG ringing around the disc: grey pixels
    gen = IrregularFileMask(folder)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = gen(20, 64, 64, g(0))
    assert len([x for x in w if "not binary" in str(x.message)]) == 1
    assert set(m.unique().tolist()) <= {0.0, 1.0}


def write_objects(folder, n: int = 3):
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:100, 0:120]
    for i in range(n):
        obj = ((yy - 50) / (10 + 5 * i)) ** 2 + ((xx - 60) / 20) ** 2 <= 1  # ellipses 20–40 × 40 px
        Image.fromarray(obj.astype(np.uint8) * (i + 1), "L").save(folder / f"obj_{i}.png")  # label values 1..n
    return folder


def test_object_shapes_follow_the_crfill_protocol(tmp_path):
    gen = ObjectShapeMask(write_objects(tmp_path / "o"))
    H = W = 128
    masks = gen(200, H, W, g(0))
    area = masks.flatten(1).sum(1)
    biggest = 40 * 40 * math.pi / 4  # largest ellipse (40×40 px box) at scale 1
    assert float(area.min()) >= H * W / 1000, "shapes under 1/1000 of the image are redrawn"
    assert float(area.max()) <= biggest * 2.0**2 * 1.1, "scale is clipped to 2"
    assert float(area.mean()) < biggest * 1.5**2
    assert len({tuple(m[0].nonzero()[0].tolist()) for m in masks[:50]}) > 20, "random placement"
    assert torch.equal(masks, gen(200, H, W, g(0)))


def test_object_shapes_scale_is_clipped(tmp_path):
    folder = write_objects(tmp_path / "o", n=1)  # 20×40 ellipse, area ≈ 628
    tiny = ObjectShapeMask(folder, scale_mean=0.01, scale_std=0.0)  # clipped up to 0.5
    big = ObjectShapeMask(folder, scale_mean=9.0, scale_std=0.0)  # clipped down to 2
    a_tiny = tiny(30, 256, 256, g(0)).flatten(1).sum(1)
    a_big = big(30, 256, 256, g(0)).flatten(1).sum(1)
    full = math.pi * 10 * 20
    assert float(a_tiny.max()) <= full * 0.25 * 1.2
    assert float(a_big.max()) <= full * 4 * 1.1 and float(a_big.max()) > full * 4 * 0.8


def test_object_shapes_skip_empty_files_and_fail_clearly(tmp_path):
    folder = write_objects(tmp_path / "o", n=1)
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(folder / "empty.png")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = ObjectShapeMask(folder)(10, 64, 64, g(0))
    assert float(hole_ratio(m).min()) > 0
    assert any("no object pixels" in str(x.message) for x in w)
    only_empty = tmp_path / "e"
    only_empty.mkdir()
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(only_empty / "empty.png")
    with pytest.raises(RuntimeError, match="files were empty"), pytest.warns(UserWarning, match="no object pixels"):
        ObjectShapeMask(only_empty, max_redraws=5)(1, 64, 64, g(0))
    with pytest.raises(DatasetNotFoundError, match="OBJECT_SHAPES_ROOT"):
        ObjectShapeMask(tmp_path / "missing")


def test_object_shapes_match_size_mode(tmp_path):
    gen = ObjectShapeMask(write_objects(tmp_path / "o"), match_size=True)
    r = hole_ratio(gen(20, 256, 256, g(0)))
    assert float(r.min()) >= 0.01



def test_dilate_equals_a_square_max_filter():
    import torch.nn.functional as F

    from inpaintlab.data.masks.files import dilate

    x = (torch.rand(5, 1, 40, 50, generator=g(0)) < 0.02).float()
    for k in (1, 2, 3, 6):
        assert torch.equal(dilate(x, k), F.max_pool2d(x, 2 * k + 1, stride=1, padding=k))

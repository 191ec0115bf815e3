"""Context Encoder's random-region masks: PASCAL VOC shapes deformed and pasted (the paper, on a generated VOC-layout
folder), and windows of one thresholded, upsampled noise pattern, 20–30 % hole (the released code)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintlab.data.masks import ContextEncoderRegionMask, VOCShapeMask, hole_ratio
from inpaintlab.data.synthetic import make_voc, save_voc_png
from inpaintlab.errors import ConfigError, DatasetNotFoundError


def test_hole_ratio_per_batch_and_seeded():
    gen = ContextEncoderRegionMask()
    m = gen(4, 128, 128, torch.Generator().manual_seed(0))
    assert m.shape == (4, 1, 128, 128) and set(m.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m[0], m[3])  # one mask per batch, as the released code
    assert 0.2 <= hole_ratio(m)[0] <= 0.3
    assert torch.equal(m, gen(4, 128, 128, torch.Generator().manual_seed(0)))
    assert not torch.equal(m, gen(4, 128, 128, torch.Generator().manual_seed(1)))


def test_windows_equal_the_materialised_pattern():
    """On a small pattern, a window equals the same window of the whole upsampled, thresholded pattern."""
    gen = ContextEncoderRegionMask(noise_size=12, pattern_size=200, min_hole_ratio=None, max_hole_ratio=None,
                                   per_batch=False, reference_size=40)
    full = F.interpolate(gen.noise[None, None], size=(200, 200), mode="bilinear", align_corners=False)[0, 0] < 0.25
    g = torch.Generator().manual_seed(3)
    masks = gen(5, 40, 40, g)  # 40² = reference_size: the 200² pattern itself
    g = torch.Generator().manual_seed(3)
    top = torch.randint(0, 200 - 40 + 1, (5,), generator=g)
    left = torch.randint(0, 200 - 40 + 1, (5,), generator=g)
    for i in range(5):
        window = full[top[i] : top[i] + 40, left[i] : left[i] + 40]
        assert (masks[i, 0].bool() != window).sum() <= 2  # float rounding at the threshold only


def test_fast_without_the_10000_pattern():
    gen = ContextEncoderRegionMask()
    start = time.perf_counter()
    gen(64, 128, 128, torch.Generator().manual_seed(0))
    assert time.perf_counter() - start < 2.0
    assert gen.noise.numel() == 600 * 600


def test_other_sizes_scale_the_pattern():
    gen = ContextEncoderRegionMask(min_hole_ratio=None, max_hole_ratio=None, per_batch=False)
    r128 = hole_ratio(gen(200, 128, 128, torch.Generator().manual_seed(0))).mean()
    r256 = hole_ratio(gen(100, 256, 256, torch.Generator().manual_seed(0))).mean()
    assert abs(r128 - r256) < 0.03  # same statistics at any size
    m = ContextEncoderRegionMask()(2, 256, 256, torch.Generator().manual_seed(0))
    assert 0.2 <= hole_ratio(m)[0] <= 0.3


# ------------------------------------------------------------------------------------ PASCAL VOC shapes (the paper)
@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return make_voc(tmp_path_factory.mktemp("voc") / "VOC2012")


def _single_instance_voc(root):
    """One file: a 24×36 instance (index 2) framed by the void index, and a 3-px speck (index 3)."""
    arr = np.zeros((96, 128), np.uint8)
    arr[60:88, 80:120] = 255
    arr[62:86, 82:118] = 2
    arr[5, 5:8] = 3
    save_voc_png(arr, root / "SegmentationObject" / "2007_000001.png")
    return root


def test_voc_shapes_cover_up_to_a_quarter_seeded(voc):
    gen = VOCShapeMask(voc)
    m = gen(24, 128, 128, torch.Generator().manual_seed(0))
    r = hole_ratio(m)
    assert m.shape == (24, 1, 128, 128) and set(m.unique().tolist()) == {0.0, 1.0}
    assert float(r.max()) <= 0.25 and float(r.min()) > 0.02, r  # Sec. 3.3: "up to 1/4 of the image"
    assert len({tuple(x.nonzero()[0].tolist()) for x in m[:, 0]}) == 24, "every mask placed and shaped anew"
    assert torch.equal(m, gen(24, 128, 128, torch.Generator().manual_seed(0)))
    assert not torch.equal(m, gen(24, 128, 128, torch.Generator().manual_seed(1)))


def test_an_undeformed_shape_is_the_instance_itself_without_its_void_frame(tmp_path):
    """Scale 1 (area = the instance's), no flip, stretch or rotation: the hole is exactly the 24×36 instance — not
    the 28×40 void frame, not the 3-px speck (below min_object_pixels) — pasted inside the image."""
    root = _single_instance_voc(tmp_path / "one")
    area = 24 * 36 / (96 * 128)
    gen = VOCShapeMask(root, area_range=[area, area], rotation=0, aspect=1, flip=False)
    for m in gen(6, 96, 128, torch.Generator().manual_seed(2))[:, 0]:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert (len(rows), len(cols)) == (24, 36) and int(m.sum()) == 24 * 36
    with pytest.raises(RuntimeError, match="no object instance of >= 1000 pixels"):
        VOCShapeMask(root, min_object_pixels=1000, max_redraws=3)(1, 64, 64)


def test_shapes_are_deformed_and_scaled_to_the_drawn_area(tmp_path):
    root = _single_instance_voc(tmp_path / "one")
    gen = VOCShapeMask(root, area_range=[0.2, 0.2], rotation=0, aspect=1.5, flip=False)
    m = gen(12, 128, 128, torch.Generator().manual_seed(0))[:, 0]
    boxes = {(int(x.any(1).sum()), int(x.any(0).sum())) for x in m}
    assert len(boxes) > 6, "the aspect ratio is stretched at random"
    ratios = {round(w / h, 2) for h, w in boxes}
    assert min(ratios) < 1.5 * 0.9 and max(ratios) > 1.5 * 1.1  # 36/24 = 1.5 stretched by q in [1/1.5, 1.5]
    torch.testing.assert_close(hole_ratio(m[:, None]), torch.full((12,), 0.2), atol=0.02, rtol=0)


def test_voc_layout_split_lists_and_clear_errors(voc, tmp_path):
    assert len(VOCShapeMask(voc)) == 4 and len(VOCShapeMask(voc, split="train")) == 2
    assert len(VOCShapeMask(voc.parent)) == 4  # the folder holding VOC2012/
    with pytest.raises(DatasetNotFoundError, match="no SegmentationObject/ folder") as e:
        VOCShapeMask(tmp_path)
    assert "VOC2012_ROOT" in str(e.value) and "SegmentationObject/2007_000032.png" in str(e.value)
    with pytest.raises(DatasetNotFoundError, match="split list .*test.txt not found"):
        VOCShapeMask(voc, split="test")
    with pytest.raises(ConfigError, match="area_range"):
        VOCShapeMask(voc, area_range=[0.3, 0.2])


def test_random_region_experiment_uses_voc_shapes_and_the_noise_pattern_is_an_option(voc, tmp_path, monkeypatch):
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from helpers import compose_config

    monkeypatch.setenv("VOC2012_ROOT", str(voc))
    cfg = compose_config(["experiment=context_encoder_random_region"], tmp_path)
    GlobalHydra.instance().clear()
    assert isinstance(instantiate(cfg.mask), VOCShapeMask)
    cfg = compose_config(["experiment=context_encoder_random_region", "mask=context_encoder_region"], tmp_path)
    GlobalHydra.instance().clear()
    assert isinstance(instantiate(cfg.mask), ContextEncoderRegionMask)

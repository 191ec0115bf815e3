"""COCO-layout object data (pycocotools) and BTGMI's Sec. 4.4 guided composites."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inpaintlab.data.coco import CocoGuided, decode_segmentation
from inpaintlab.data.datamodule import InpaintingDataModule, MaskedImages
from inpaintlab.data.guided import synthesize_guided
from inpaintlab.data.synthetic import make_coco_objects
from inpaintlab.errors import DatasetNotFoundError
from inpaintlab.imaging import lab_statistics


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    return make_coco_objects(tmp_path_factory.mktemp("coco"))


def _box_mask(box, h, w):
    x, y, bw, bh = box.tolist()
    m = torch.zeros(1, h, w)
    m[:, y:y + bh, x:x + bw] = 1
    return m


def test_synthesis_properties():
    """Composite = I outside I_b bit for bit; mask = exactly I_b; foreground inside it; I_o's Lab statistics
    after the transfer are I_g's."""
    g = torch.Generator().manual_seed(3)
    h, w = 48, 64
    image = torch.rand(3, h, w, generator=g) * 0.4 - 0.6  # dark
    guide = torch.tensor([0.5, 0.1, -0.3]).view(3, 1, 1) + 0.3 * torch.rand(3, h, w, generator=g)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    obj = ((((yy - 20) / 9.0) ** 2 + ((xx - 30) / 12.0) ** 2) <= 1).float()[None]
    for seed in range(5):
        out = synthesize_guided(image, obj, guide, torch.Generator().manual_seed(seed), margin=(0.2, 0.6))
        box = _box_mask(out["box"], h, w)
        assert torch.equal(out["mask"], box)
        outside = box[0] == 0
        assert torch.equal(out["composite"][:, outside], image[:, outside])  # bit-exact outside I_b
        assert (out["composite"][:, box[0] > 0] != image[:, box[0] > 0]).any()
        assert torch.equal(out["foreground"], obj) and bool((obj <= box).all())
        unit = out["composite"][None].add(1).mul(0.5)
        mu_o, sd_o = lab_statistics(unit, out["foreground"][None])
        mu_g, sd_g = lab_statistics(guide[None].add(1).mul(0.5))
        assert torch.allclose(mu_o, mu_g, atol=1.0), (mu_o.flatten(), mu_g.flatten())
        assert torch.allclose(sd_o, sd_g, atol=1.0), (sd_o.flatten(), sd_g.flatten())
        # the background of I_b is the guide's (a crop of I_g), not I's
        bg = (box[0] > 0) & (obj[0] == 0)
        assert (out["composite"][:, bg] - image[:, bg]).abs().mean() > 0.3


def test_segmentation_formats_decode(coco_root):
    data = json.loads((coco_root / "annotations" / "instances_train2017.json").read_text())
    anns = {a["image_id"]: a for a in data["annotations"]}
    kinds = set()
    for img in data["images"][:3]:  # polygon, compressed RLE, uncompressed RLE
        a = anns[img["id"]]
        seg = a["segmentation"]
        kinds.add("poly" if isinstance(seg, list) else type(seg["counts"]).__name__)
        m = decode_segmentation(seg, img["height"], img["width"])
        assert m.shape == (img["height"], img["width"])
        assert abs(int(m.sum()) - a["area"]) <= 0.1 * a["area"]
    assert kinds == {"poly", "str", "list"}


def test_dataset_skips_and_counts_images_without_objects(coco_root, caplog):
    with caplog.at_level("INFO"):
        ds = CocoGuided(coco_root, "train2017", image_size=64, min_area=50)
    assert len(ds) == 8 and ds.num_without_objects == 2
    assert "2 images without one skipped" in caplog.text
    assert len(CocoGuided(coco_root, "train2017", image_size=64, min_area=0)) == 9  # the tiny object counts now
    with pytest.raises(DatasetNotFoundError, match="instances_test2017.json"):
        CocoGuided(coco_root, "test2017")


def test_dataset_samples_and_seeding(coco_root):
    ds = CocoGuided(coco_root, "val2017", image_size=48, min_area=50)
    frozen = MaskedImages(ds, None, frozen=True, seed=7)
    a, b = frozen[0], frozen[0]
    assert torch.equal(a["composite"], b["composite"]) and torch.equal(a["mask"], b["mask"])
    batch = frozen.__getitems__([0, 1])
    assert torch.equal(batch["composite"][0], a["composite"])
    for k in range(len(ds)):
        item = frozen[k]
        box = _box_mask(item["box"], 48, 48)
        assert item["image"].shape == (3, 48, 48) and torch.equal(item["mask"], box)
        assert torch.equal(item["composite"] * (1 - box), item["image"] * (1 - box))
        assert item["foreground"].sum() > 0 and bool((item["foreground"] <= box).all())
    train = MaskedImages(CocoGuided(coco_root, "train2017", image_size=48, min_area=50), None, frozen=False,
                         seeded_batches=True, seed=1)
    t0, t1, again = train.__getitems__([0]), train.__getitems__([8]), train.__getitems__([0])  # epoch 0 and 1
    assert torch.equal(t0["composite"], again["composite"])
    assert not torch.equal(t0["composite"], t1["composite"])  # same image, another epoch: another composite


def test_datamodule_with_dataset_masks(coco_root):
    from functools import partial

    dm = InpaintingDataModule(partial(CocoGuided, image_size=32, min_area=50), None, root=str(coco_root),
                              batch_size=4, train_split="train2017", val_size=2, test_split="val2017")
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["composite"].shape == (4, 3, 32, 32) and batch["mask"].shape == (4, 1, 32, 32)
    assert batch["foreground"].shape == (4, 1, 32, 32)
    assert np.isclose(float(batch["mask"].max()), 1.0)


def test_preview_grid(coco_root, tmp_path, capsys):
    from PIL import Image

    from inpaintlab.make_guided import main

    out = tmp_path / "grid.png"
    assert main(["--root", str(coco_root), "--split", "val2017", "--preview", str(out), "--n", "2", "--size", "32",
                 "--min-area", "50"]) == 0
    assert Image.open(out).size == (4 * 34 + 2, 2 * 34 + 2)
    assert "2 images without a usable object skipped" in capsys.readouterr().out
    assert main(["--root", str(tmp_path / "nowhere"), "--preview", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "instances_val2017.json" in err


def test_unreadable_image_is_skipped_and_counted(tmp_path):
    root = make_coco_objects(tmp_path / "coco")
    first = sorted((root / "val2017").iterdir())[0]
    first.write_bytes(first.read_bytes()[:100])  # truncated
    ds = CocoGuided(root, "val2017", image_size=32, min_area=50)
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        items = [MaskedImages(ds, None, frozen=True)[k] for k in range(len(ds))]
    assert ds.num_skipped == 1 and all(it["path"] != str(first) for it in items)
    assert all(it["guide_path"] != str(first) for it in items)

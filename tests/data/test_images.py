"""Image datasets in their real on-disk layouts (built in tmp dirs): splits, items, bad files, clear errors."""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaintlab.data.images import CelebA, ImageFolder, ImageNet, Places2, UnreadableImagesError
from inpaintlab.data.synthetic import make_celeba, make_folder, make_imagenet, make_places2, smooth_image
from inpaintlab.errors import ConfigError, DatasetNotFoundError


def read_all(ds):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))]
    return items, [str(x.message) for x in w]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return {
        "celeba": make_celeba(root / "celeba"),
        "places2": make_places2(root / "places2"),
        "places2_highres": make_places2(root / "places2_highres", layout="highres"),
        "imagenet": make_imagenet(root / "imagenet"),
        "imagenet_by_class": make_imagenet(root / "imagenet_by_class", val_by_class=True, n_test=0),
        "folder": make_folder(root / "folder"),
    }


def test_celeba_splits_items_and_corrupt_and_gray_files(layouts):
    root = layouts["celeba"]
    assert [len(CelebA(root, s)) for s in ("train", "val", "test", "all")] == [8, 3, 3, 14]
    ds = CelebA(root, "train", image_size=64)
    items, warns = read_all(ds)
    assert len(items) == 8 and all(it["image"].shape == (3, 64, 64) for it in items)
    assert all(-1.0 <= float(it["image"].min()) and float(it["image"].max()) <= 1.0 for it in items)
    gray = items[1]["image"]  # 000002.jpg is grayscale: three equal channels
    assert items[1]["path"].endswith("000002.jpg") and torch.allclose(gray[0], gray[1]) and torch.allclose(gray[1], gray[2])
    # 000003.jpg is truncated: one warning naming it, counted, and the next image served in its place
    assert len(warns) == 1 and "000003.jpg" in warns[0] and "skipping unreadable image" in warns[0]
    assert ds.num_skipped == 1 and ds.skipped_files[0].endswith("000003.jpg")
    assert items[2]["path"].endswith("000004.jpg")
    _, again = read_all(ds)
    assert again == [] and ds.num_skipped == 1, "a known bad file is neither decoded nor warned about again"


def test_celeba_eval_is_deterministic_and_train_flips(layouts):
    test = CelebA(layouts["celeba"], "test", image_size=32)
    assert torch.equal(test[0]["image"], test[0]["image"]) and not test.train
    train = CelebA(layouts["celeba"], "train", image_size=32)
    torch.manual_seed(0)
    outs = {tuple(train[0]["image"][0, 0, :3].tolist()) for _ in range(12)}
    assert len(outs) == 2, "training images are flipped at random (centre crop, so only two variants)"
    assert len(CelebA(layouts["celeba"], "test", limit=2)) == 2
    assert CelebA(layouts["celeba"], "valid").split == "val"


def test_celeba_errors_show_the_expected_layout(layouts, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist") as e:
        CelebA(tmp_path / "nowhere")
    assert "img_align_celeba/000001.jpg" in str(e.value) and "CELEBA_ROOT" in str(e.value)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    with pytest.raises(DatasetNotFoundError, match="img_align_celeba/ not found"):
        CelebA(tmp_path / "half")
    (tmp_path / "half" / "img_align_celeba").mkdir()
    with pytest.raises(DatasetNotFoundError, match="000001.jpg .first image of split 'train'. is not in"):
        CelebA(tmp_path / "half")
    with pytest.raises(DatasetNotFoundError, match="split 'test' is empty"):
        CelebA(tmp_path / "half", "test")
    with pytest.raises(ConfigError, match="unknown split"):
        CelebA(layouts["celeba"], "holdout")


def test_celeba_torchvision_layout(tmp_path):
    make_celeba(tmp_path / "tv" / "celeba")
    assert len(CelebA(tmp_path / "tv", "val")) == 3


def test_places2_standard_and_highres(layouts):
    root = layouts["places2"]
    assert [len(Places2(root, s)) for s in ("train", "val", "test")] == [8, 3, 2]
    train = Places2(root, "train", image_size=64)
    items, warns = read_all(train)
    assert len(warns) == 1 and "00000003.jpg" in warns[0] and train.num_skipped == 1
    assert items[0]["path"].endswith("data_256/a/airfield/00000001.jpg")
    assert all(it["image"].shape == (3, 64, 64) for it in items)
    val = Places2(root, "val")
    assert val[0]["image"].shape == (3, 256, 256) and val[0]["path"].endswith("val_256/Places365_val_00000001.jpg")
    hr = Places2(layouts["places2_highres"], "train", layout="highres")
    assert hr.transform.resize == "native" and hr.transform.crop == "random"
    hr_items, _ = read_all(hr)
    assert all(it["image"].shape == (3, 256, 256) for it in hr_items)
    with pytest.raises(DatasetNotFoundError, match="data_large/") as e:
        Places2(root, "train", layout="highres")
    assert "places365_train_standard.txt" in str(e.value)
    with pytest.raises(ConfigError, match="layout must be"):
        Places2(root, layout="tiny")


def test_places2_missing_list_file(tmp_path):
    (tmp_path / "p" / "val_256").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="places365_val.txt") as e:
        Places2(tmp_path / "p", "val")
    assert "PLACES2_ROOT" in str(e.value)


def test_imagenet_flat_and_by_class_val(layouts, tmp_path):
    train = ImageNet(layouts["imagenet"], "train", image_size=48)
    assert len(train) == 6
    items, warns = read_all(train)
    assert len(warns) == 1 and train.num_skipped == 1
    assert all(it["image"].shape == (3, 48, 48) for it in items)
    assert len(ImageNet(layouts["imagenet"], "val", image_size=48)) == 3
    by_class = ImageNet(layouts["imagenet_by_class"], "val", image_size=48)
    assert len(by_class) == 3 and "/val/n0144" in by_class[0]["path"]
    lst = tmp_path / "list.txt"
    lst.write_text("n01443537/n01443537_1.JPEG\n")
    assert len(ImageNet(layouts["imagenet"], "train", file_list=str(lst), image_size=48)) == 1
    assert len(ImageNet(layouts["imagenet"], "test", image_size=48)) == 2  # the unlabelled test images, flat
    with pytest.raises(DatasetNotFoundError, match="split folder .*test not found") as e:
        ImageNet(layouts["imagenet_by_class"], "test")
    assert "<root>/train/n01440764" in str(e.value)


def test_image_folder_recursive_modes_and_min_side(layouts, tmp_path):
    root = layouts["folder"]
    ds = ImageFolder(root, image_size=64)
    assert len(ds) == 12 and not ds.train  # notes.txt ignored
    items, warns = read_all(ds)
    # broken.jpg skipped; tiny.jpg (20×30) is below the 64² input: an evaluation split upscales it, saying so once
    assert len(warns) == 2 and "broken.jpg" in warns[0] and "tiny.jpg is 20×30" in warns[1]
    assert "upscaling such evaluation images" in warns[1] and ds.num_below_input == 1
    assert all(it["image"].shape == (3, 64, 64) for it in items)
    names = [Path(it["path"]).name for it in items]
    for name in ("rgba.png", "palette.png", "gray16.png", "gray.jpg"):
        assert name in names
    g16 = items[names.index("gray16.png")]["image"]
    assert float(g16.std()) > 0.01 and torch.allclose(g16[0], g16[2]), "16-bit grey decoded, not clipped to white"
    big = ImageFolder(root, split="train", min_side=64, image_size=64)
    assert len(big) == 11 and big.num_too_small == 1 and big.train
    (tmp_path / "small").mkdir()
    smooth_image(np.random.default_rng(0), 20, 30).save(tmp_path / "small" / "a.png")
    with pytest.raises(DatasetNotFoundError, match="below min_side=64"):
        ImageFolder(tmp_path / "small", min_side=64)


def test_image_folder_splits_from_subfolders_and_lists(tmp_path):
    root = tmp_path / "f"
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            d = root / split / "x"
            d.mkdir(parents=True, exist_ok=True)
            smooth_image(np.random.default_rng(i), 40, 40).save(d / f"{i}.png")
    folder = partial(ImageFolder, image_size=32)
    assert len(folder(root, "train")) == 3 and len(folder(root, "test")) == 2
    assert len(folder(root)) == 5
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("train/x/0.png\ntest/x/1.png\n")
    assert len(folder(root, "val", split_files="splits/{split}.txt")) == 2
    assert len(folder(root, "val", split_files={"val": "splits/val.txt"})) == 2
    with pytest.raises(ConfigError, match="no entry in split_files"):
        ImageFolder(root, "test", split_files={"val": "splits/val.txt"})
    with pytest.raises(DatasetNotFoundError, match="no split 'val'") as e:
        ImageFolder(root, "val")
    assert "split_files" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no images in"):
        ImageFolder(tmp_path / "empty")


def test_too_many_unreadable_images_stop_with_a_clear_error(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(b"not a jpeg")
    ds = ImageFolder(folder, max_consecutive_failures=3)
    with pytest.raises(UnreadableImagesError, match="unreadable images in a row"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds[0]


def test_skips_are_counted_across_dataloader_workers(layouts):
    ds = CelebA(layouts["celeba"], "train", image_size=32)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = list(loader)
    assert sum(b["image"].shape[0] for b in batches) == 8
    assert ds.num_skipped == 1, "the workers' skip shows in the main process"


def test_datamodule_pairs_images_with_masks(layouts):
    from inpaintlab.data.datamodule import InpaintingDataModule
    from inpaintlab.data.masks import CenterSquareMask

    dm = InpaintingDataModule(
        dataset=partial(CelebA, image_size=64), root=str(layouts["celeba"]), mask_generator=CenterSquareMask(32),
        batch_size=4, val_split="val", test_split="test",
    )
    dm.setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 64, 64) and batch["mask"].shape == (4, 1, 64, 64)
    assert float(batch["mask"].mean()) == 0.25 and len(batch["path"]) == 4


# ---------------------------------------------------------------------------------------- no silent upscaling
def test_a_dataset_smaller_than_the_input_is_refused_in_one_line_unless_allowed(layouts, caplog):
    """Places2's 256² release for a 512² model, CelebA's 178² faces for a 256² one: refused before any step."""
    with pytest.raises(ConfigError) as e:
        Places2(layouts["places2"], "train", image_size=512)
    msg = str(e.value)
    assert "\n" not in msg and "smaller than the 512×512 model input" in msg and "256×256" in msg
    assert "data.dataset.allow_upscale=true" in msg
    with pytest.raises(ConfigError, match="178×218 before its 178×178 pre-crop"):
        CelebA(layouts["celeba"], "test", image_size=256)
    with caplog.at_level("INFO", logger="inpaintlab.data.images"):
        up = Places2(layouts["places2"], "val", image_size=512, allow_upscale=True)
    assert up[0]["image"].shape == (3, 512, 512)
    said = [r.getMessage() for r in caplog.records if "allow_upscale=true" in r.getMessage()]
    assert len(said) == 1 and "3 of 3 probed" in said[0] and r"512×512" in said[0]


def test_a_few_small_images_are_skipped_in_training_and_upscaled_in_evaluation(tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        smooth_image(rng, 40, 36).save(root / f"{i}.png")
    smooth_image(rng, 20, 40).save(root / "2_small.png")  # 20 px wide: below a 32² input
    train = ImageFolder(root, "train", image_size=32)
    items, warns = read_all(train)
    assert [Path(it["path"]).name for it in items].count("2_small.png") == 0, "a small training image is never served"
    assert len(items) == 7 and train.num_below_input == 1
    assert len(warns) == 1 and "2_small.png is 20×40" in warns[0] and "skipping such training images" in warns[0]
    test = ImageFolder(root, "all", image_size=32)
    items, warns = read_all(test)
    assert "2_small.png" in [Path(it["path"]).name for it in items] and test.num_below_input == 1
    assert len(warns) == 1 and "upscaling such evaluation images" in warns[0]
    assert all(it["image"].shape == (3, 32, 32) for it in items)
    quiet = ImageFolder(root, "train", image_size=32, allow_upscale=True)
    items, warns = read_all(quiet)
    assert len(items) == 7 and "2_small.png" in [Path(it["path"]).name for it in items] and warns == []


def test_pconv_places2_reads_the_highres_release_at_native_resolution(tmp_path):
    """Partial Conv Sec. 4.2 at 512²: random 512² crops of data_large/ for training, the centre 512² crop to test,
    pixel for pixel (no resize); the 256² release is refused."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from PIL import Image

    from helpers import compose_config

    cfg = compose_config(["experiment=pconv_places2"], tmp_path / "run")
    GlobalHydra.instance().clear()
    assert cfg.data.dataset.layout == "highres" and cfg.data.dataset.resize == "native"
    assert cfg.data.dataset.image_size == 512 and cfg.data.dataset.allow_upscale is False
    hr = make_places2(tmp_path / "hr", layout="highres", size=(683, 512))
    factory = instantiate(cfg.data.dataset)
    val = factory(root=hr, split="val")
    with Image.open(hr / "val_large" / "Places365_val_00000001.jpg") as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    left = (683 - 512) // 2
    expected = torch.from_numpy(rgb[:, left : left + 512]).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(val[0]["image"], expected, atol=1e-6)
    train = factory(root=hr, split="train")
    assert train.transform.crop == "random" and train[0]["image"].shape == (3, 512, 512)
    with pytest.raises(ConfigError, match="smaller than the 512×512 model input"):
        factory(root=make_places2(tmp_path / "std"), split="train", layout="standard")

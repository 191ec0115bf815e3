"""The conf/data nodes of the image datasets build the DataModule on tiny datasets in each real layout."""

from __future__ import annotations

import warnings

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from inpaintlab.conventions import CONFIG_DIR
from inpaintlab.data.synthetic import make_celeba, make_folder, make_imagenet, make_places2

CONF = CONFIG_DIR

CASES = {
    "celeba": (make_celeba, {}),
    "places2": (make_places2, {"val_size": 2}),
    "places2_highres": (lambda root: make_places2(root, layout="highres"), {"val_size": 2}),
    "imagenet": (make_imagenet, {"val_size": 2}),
    "folder": (make_folder, {"val_size": 2, "test_split": "train"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_data_config_builds_loaders(name, tmp_path, monkeypatch):
    build, overrides = CASES[name]
    root = build(tmp_path / name)
    monkeypatch.delenv("CELEBA_ROOT", raising=False)
    cfg = OmegaConf.create({
        "paths": {"data_dir": str(tmp_path)},
        "mask": OmegaConf.load(CONF / "mask" / "crfill_square.yaml"),
        "data": OmegaConf.load(CONF / "data" / f"{name}.yaml"),
    })
    assert cfg.data.dataset._target_.startswith("inpaintlab.data.images.")
    cfg.data.root = str(root)
    cfg.data.num_workers = 0
    cfg.data.pin_memory = False
    cfg.data.batch_size = 2
    cfg.data.eval_batch_size = 2
    cfg.data.dataset.image_size = 32
    for k, v in overrides.items():
        cfg.data[k] = v
    dm = instantiate(cfg.data)
    dm.setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the layouts' corrupt file
        for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
            batch = next(iter(loader))
            assert batch["image"].shape == (2, 3, 32, 32) and batch["mask"].shape == (2, 1, 32, 32)
            assert float(batch["image"].min()) >= -1 and float(batch["image"].max()) <= 1


def test_dataset_roots_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CELEBA_ROOT", "/datasets/celeba")
    cfg = OmegaConf.create({"paths": {"data_dir": "data"}, "data": OmegaConf.load(CONF / "data" / "celeba.yaml")})
    assert cfg.data.root == "/datasets/celeba"
    monkeypatch.delenv("CELEBA_ROOT")
    assert cfg.data.root == "data/celeba"

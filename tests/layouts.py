"""Tiny datasets in each real on-disk layout, chosen by the dataset class a config names."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import make_idx_dataset


def _image_layouts():
    spec = importlib.util.spec_from_file_location("_image_layouts", Path(__file__).parent / "data" / "image_layouts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_root_for(cfg, factory) -> Path:
    """A folder in the on-disk layout of the dataset ``cfg.data`` reads (built once per session)."""
    target = cfg.data.dataset._target_.rsplit(".", 1)[-1]
    layouts = _image_layouts()
    builders = {"MNISTImages": make_idx_dataset, **layouts.LAYOUT_BUILDERS}
    if target == "Places2" and cfg.data.dataset.get("layout") == "highres":
        target, builders["Places2_highres"] = "Places2_highres", layouts.make_places2_highres
    if target == "ImageFolder" and cfg.data.get("train_split") == "train2017":
        target, builders["COCO"] = "COCO", layouts.make_coco
    if target not in builders:
        raise AssertionError(f"no test layout for dataset {target}: add one to tests/layouts.py")
    cache = getattr(factory, "_inpaintlab_layouts", {})
    factory._inpaintlab_layouts = cache
    if target not in cache:
        cache[target] = builders[target](factory.mktemp(target))
    return cache[target]

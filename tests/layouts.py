"""Tiny datasets in each real on-disk layout, chosen by the dataset class a config names."""

from __future__ import annotations

from pathlib import Path

from inpaintlab.data import synthetic


def data_root_for(cfg, factory) -> Path:
    """A folder in the on-disk layout of the dataset ``cfg.data`` reads (built once per session)."""
    target = cfg.data.dataset._target_.rsplit(".", 1)[-1]
    builders = {"MNISTImages": synthetic.make_idx_dataset, "CelebA": synthetic.make_celeba,
                "Places2": synthetic.make_places2, "ImageNet": synthetic.make_imagenet,
                "ImageFolder": synthetic.make_folder, "CocoGuided": synthetic.make_coco_objects}
    if target == "Places2" and cfg.data.dataset.get("layout") == "highres":
        target, builders["Places2_highres"] = "Places2_highres", synthetic.make_places2_highres
    if target == "ImageFolder" and cfg.data.get("train_split") == "train2017":
        target, builders["COCO"] = "COCO", synthetic.make_coco
    if target not in builders:
        raise AssertionError(f"no test layout for dataset {target}: add one to tests/layouts.py")
    cache = getattr(factory, "_inpaintlab_layouts", {})
    factory._inpaintlab_layouts = cache
    if target not in cache:
        cache[target] = builders[target](factory.mktemp(target))
    return cache[target]

"""Tiny datasets and mask folders in each real on-disk layout, built once per session (cached on
``tmp_path_factory``); the image writers themselves live in the package (``inpaintlab.data.synthetic``)."""

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


def object_shapes(factory) -> Path:
    """A folder of three elliptical object masks (CR-Fill's object-shape masks, ``OBJECT_SHAPES_ROOT``)."""
    import numpy as np
    from PIL import Image

    cache = getattr(factory, "_inpaintlab_object_shapes", None)
    if cache is None:
        cache = factory.mktemp("object_shapes")
        yy, xx = np.mgrid[0:64, 0:64]
        for i in range(3):
            shape = ((yy - 30) / 12) ** 2 + ((xx - 30) / (6 + 3 * i)) ** 2 <= 1
            Image.fromarray(shape.astype(np.uint8) * 255).save(cache / f"{i}.png")
        factory._inpaintlab_object_shapes = cache
    return cache


def voc_shapes(factory) -> Path:
    """A PASCAL VOC 2012 layout of segmentation shapes (Context Encoder's random regions, ``VOC2012_ROOT``)."""
    cache = getattr(factory, "_inpaintlab_voc", None)
    if cache is None:
        cache = synthetic.make_voc(factory.mktemp("voc") / "VOC2012")
        factory._inpaintlab_voc = cache
    return cache


def irregular_masks(factory) -> Path:
    """A folder of four irregular-mask PNGs (white holes, NVIDIA's layout, ``IRREGULAR_MASKS_ROOT``)."""
    import numpy as np
    from PIL import Image

    cache = getattr(factory, "_inpaintlab_irregular_masks", None)
    if cache is None:
        cache = factory.mktemp("irregular_masks")
        rng = np.random.default_rng(0)
        for i in range(4):
            m = np.zeros((64, 64), np.uint8)
            y, x = rng.integers(4, 40, 2)
            m[y:y + 8 + 4 * i, x:x + 20] = 255
            m[10:50, 30 + i:34 + i] = 255
            Image.fromarray(m).save(cache / f"{i:05d}.png")
        factory._inpaintlab_irregular_masks = cache
    return cache

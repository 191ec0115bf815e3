"""Tiny image datasets in each real on-disk layout for the tests: the builders live in the package
(``inpaintlab.data.synthetic``, which the rehearsal uses at native resolution); ``LAYOUT_BUILDERS`` maps the
dataset class name a config's ``data.dataset._target_`` ends with to its builder."""

from __future__ import annotations

from inpaintlab.data.synthetic import (  # noqa: F401 - re-exported for the tests
    make_celeba,
    make_coco,
    make_coco_objects,
    make_folder,
    make_imagenet,
    make_places2,
    make_places2_highres,
    make_voc,
    save_voc_png,
    smooth_image,
    voc_palette,
    write_corrupt_jpeg,
)

LAYOUT_BUILDERS = {
    "CelebA": make_celeba,
    "Places2": make_places2,
    "ImageNet": make_imagenet,
    "ImageFolder": make_folder,
    "CocoGuided": make_coco_objects,
}

"""Any folder of one's own photos as train / validation / test splits: the dataset of ``quickstart=my_photos``."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from inpaintlab.data.images import ImageFiles, _expand, _missing, _scan
from inpaintlab.data.transforms import IMAGE_EXTENSIONS
from inpaintlab.errors import ConfigError, DatasetNotFoundError

__all__ = ["PhotoFolder"]

log = logging.getLogger(__name__)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's convert("L")


class PhotoFolder(ImageFiles):
    """Every image under ``root`` (recursively), split with a fixed seed: ``val_fraction`` of them (at least one,
    at most ``max_held_out``) are held out — split "val", and "test" too (the test report scores the same held-out
    photos) — and the rest train. Resized, cropped and flipped as the experiment's dataset says (``image_size``,
    ``resize``, ``train_crop``, ``flip``, ``jpeg_draft``); ``channels=1`` gives grey images (ITU-R 601 luma).

    Options that belong to the experiment's own dataset (CelebA's ``crop`` and ``test_count``, Places2's
    ``layout``, split lists, MNIST's ``variant``…) are ignored, and said once in the log: a photo folder has no
    such structure."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        image_size: int | list[int] = 256,
        resize: Any = "cover",
        train_crop: str = "random",
        flip: bool = True,
        limit: int | None = None,
        jpeg_draft: bool = False,
        channels: int = 3,
        val_fraction: float = 0.1,
        max_held_out: int = 50,
        seed: int = 0,
        **ignored: Any,
    ) -> None:
        root = _expand(root)
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"photo folder {root} {_missing(root)}: give data.root=<a folder of photos> "
                f"({' '.join(IMAGE_EXTENSIONS)}, found recursively)"
            )
        if split not in ("train", "val", "test"):
            raise ConfigError(f"PhotoFolder: split must be train, val or test, got {split!r}")
        if channels not in (1, 3):
            raise ConfigError(f"PhotoFolder: channels must be 1 or 3, got {channels}")
        files = _scan(root)
        if len(files) < 2:
            raise DatasetNotFoundError(
                f"photo folder {root} holds {len(files)} image(s) ({' '.join(IMAGE_EXTENSIONS)}, found recursively): "
                "at least 2 are needed, one to train on and one held out"
            )
        held = max(1, min(int(max_held_out), round(len(files) * float(val_fraction)), len(files) - 1))
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(int(seed))).tolist()
        chosen = sorted(order[:held]) if split != "train" else sorted(order[held:])
        if ignored and split == "train":
            log.info("PhotoFolder %s: ignoring the experiment's dataset options %s (a photo folder has no such "
                     "structure)", root, ", ".join(sorted(ignored)))
        if split == "train":
            log.info("PhotoFolder %s: %d photos train, %d held out for validation and the test report", root,
                     len(files) - held, held)
        self.root, self.channels = root, int(channels)
        super().__init__([files[i] for i in chosen], split, image_size, resize=resize, train_crop=train_crop,
                         flip=flip, limit=limit, jpeg_draft=jpeg_draft, name="PhotoFolder")

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        if self.channels == 1:
            weights = item["image"].new_tensor(_LUMA).view(3, 1, 1)
            item["image"] = (item["image"] * weights).sum(0, keepdim=True)
        return item

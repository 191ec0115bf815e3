"""The DataModule that pairs an image dataset with a mask generator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate

import lightning as L
from inpaintlab.errors import InpaintlabError

log = logging.getLogger(__name__)

MaskGenerator = Callable[..., Tensor]  # (n, height, width, generator=None) -> n×1×H×W, 1 = hole


def suite_prefix(trainer: Any, stage: str, dataloader_idx: int = 0) -> str:
    """Metric-name prefix of an evaluation loader: ``"test/"`` when the stage has one mask suite,
    ``"test/<suite>/"`` when it has several (``InpaintingDataModule.suite_names``)."""
    dm = getattr(trainer, "datamodule", None) if trainer is not None else None
    names = dm.suite_names(stage) if dm is not None and hasattr(dm, "suite_names") else []
    if len(names) > 1 and dataloader_idx < len(names):
        return f"{stage}/{names[dataloader_idx]}/"
    return f"{stage}/"


def frozen_seed(seed: int, index: int) -> int:
    """Seed of the evaluation mask of sample ``index``: stable across runs, workers and machines."""
    return (int(seed) * 1_000_003 + int(index)) % (2**63 - 1)


class IndexSubset(Dataset):
    """A subset by index list that keeps the parent's batched ``get_batch`` fast path."""

    def __init__(self, dataset: Dataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)
        if hasattr(dataset, "get_batch"):
            self.get_batch = lambda idx: dataset.get_batch([self.indices[i] for i in idx])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]


def collate(items: Any) -> Any:
    """Batches built whole by ``MaskedImages.__getitems__`` pass through; lists of samples are stacked."""
    return items if isinstance(items, dict) else default_collate(items)


class MaskedImages(Dataset):
    """Adds a hole mask to every sample of an image dataset.

    ``frozen=True`` (validation, test) draws sample i's mask from a generator seeded with (seed, i), so every
    run and every checkpoint is scored on the same holes. Training masks come from the global torch RNG,
    which Lightning seeds per worker.
    """

    def __init__(self, images: Dataset, mask_generator: MaskGenerator, frozen: bool, seed: int = 0,
                 mask_set: Any = None) -> None:
        self.images, self.mask_generator, self.frozen, self.seed = images, mask_generator, frozen, seed
        self.mask_set = mask_set  # a FrozenMasks folder: sample i gets mask i (mod the set's size)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.images[index])
        image = item["image"]
        mask = self._masks([index], image.shape[-2], image.shape[-1])[0]
        item["mask"] = mask.to(image.dtype)
        item["index"] = index
        return item

    def _masks(self, indices: list[int], h: int, w: int) -> Tensor:
        n = len(indices)
        if self.frozen and self.mask_set is not None:
            masks = torch.stack([self.mask_set[i % len(self.mask_set)] for i in indices])
            source = f"mask set {self.mask_set.root}"
        elif self.frozen:
            masks = torch.cat(
                [self.mask_generator(1, h, w, generator=torch.Generator().manual_seed(frozen_seed(self.seed, i)))
                 for i in indices]
            )
            source = f"mask generator {type(self.mask_generator).__name__}"
        else:
            masks = self.mask_generator(n, h, w)
            source = f"mask generator {type(self.mask_generator).__name__}"
        if masks.shape != (n, 1, h, w):
            hint = f" (write a set of {h}×{w} masks: inpaintlab-make-masks --size ...)" if "set" in source else ""
            raise InpaintlabError(
                f"{source} gave masks of shape {tuple(masks.shape)} for {n} images of {h}×{w}; "
                f"expected {n}×1×{h}×{w}{hint}"
            )
        return masks

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """Build the whole batch: one mask-generator call per training batch (so ``per_batch`` masks and
        vectorised generators work), and one indexing op for in-memory datasets (``get_batch``)."""
        if hasattr(self.images, "get_batch"):
            batch = dict(self.images.get_batch(indices))
        else:
            batch = default_collate([self.images[i] for i in indices])
        h, w = batch["image"].shape[-2:]
        masks = self._masks(indices, h, w)
        batch["mask"] = masks.to(batch["image"].dtype)
        batch["index"] = torch.as_tensor(indices)
        return batch


class InpaintingDataModule(L.LightningDataModule):
    """Train/val/test loaders of {"image", "mask", "index"} batches for any image dataset and mask generator.

    ``dataset`` is a factory called as ``dataset(root=root, split=name)`` (a Hydra ``_partial_`` node; ``root``
    is the dataset's folder, ``data.root`` on the command line). When
    ``val_split`` is None the validation set is ``val_size`` images held out of the training split with a
    fixed seed (with a ``val_split``, ``val_size`` > 0 keeps its first N images); ``test_size`` optionally keeps
    the first N test images (e.g. the 500-image CelebA test set). ``eval_masks`` names a frozen mask folder
    (``inpaintlab-make-masks``, or NVIDIA's irregular masks) used for validation and test instead of the
    seeded generator.
    """

    def __init__(
        self,
        dataset: Callable[..., Dataset],
        mask_generator: MaskGenerator,
        root: str | None = None,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
        train_split: str = "train",
        val_split: str | None = None,
        test_split: str = "test",
        val_size: int = 0,
        test_size: int | None = None,
        eval_masks: str | None = None,
        eval_mask_seed: int = 2024,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise InpaintlabError(f"data.batch_size must be >= 1, got {batch_size}")
        self.dataset_factory = dataset
        self.root = root
        self.mask_generator = mask_generator
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and self.num_workers > 0
        self.prefetch_factor = prefetch_factor if self.num_workers > 0 else None
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        self.val_size, self.test_size = int(val_size), test_size
        self.eval_masks = eval_masks
        self.eval_mask_seed, self.split_seed = eval_mask_seed, split_seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _split(self, name: str) -> Dataset:
        return self.dataset_factory(split=name) if self.root is None else self.dataset_factory(root=self.root, split=name)

    def _mask_set(self):
        if not self.eval_masks:
            return None
        from inpaintlab.data.mask_sets import FrozenMasks

        return FrozenMasks(self.eval_masks)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.train_set is None:
            train = self._split(self.splits["train"])
            if self.splits["val"] is not None:
                val = self._split(self.splits["val"])
                if 0 < self.val_size < len(val):  # e.g. CelebA's 19,867 validation faces: score a fixed subset
                    val = IndexSubset(val, range(self.val_size))
            elif self.val_size > 0:
                if self.val_size >= len(train):
                    raise InpaintlabError(
                        f"data.val_size={self.val_size} leaves no training images out of {len(train)}"
                    )
                perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
                train, val = IndexSubset(train, perm[self.val_size :]), IndexSubset(train, perm[: self.val_size])
            else:
                raise InpaintlabError("no validation data: set data.val_split to a split name or data.val_size > 0")
            self.train_set = MaskedImages(train, self.mask_generator, frozen=False)
            self.val_set = MaskedImages(val, self.mask_generator, frozen=True, seed=self.eval_mask_seed,
                                        mask_set=self._mask_set())
            log.info("train: %d images, val: %d images", len(self.train_set), len(self.val_set))
        if stage in (None, "test") and self.test_set is None:
            test = self._split(self.splits["test"])
            if self.test_size is not None:
                test = IndexSubset(test, range(min(int(self.test_size), len(test))))
            self.test_set = MaskedImages(test, self.mask_generator, frozen=True, seed=self.eval_mask_seed + 1,
                                         mask_set=self._mask_set())
            log.info("test: %d images", len(self.test_set))

    def _loader(self, dataset: Dataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise InpaintlabError("the DataModule was not set up for this stage (call setup() first)")
        if len(dataset) == 0:
            raise InpaintlabError(f"the {'training' if train else 'evaluation'} split holds no images")
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            drop_last=train and len(dataset) >= self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            prefetch_factor=self.prefetch_factor,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)

"""The DataModule that pairs an image dataset with a mask generator."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, default_collate

import lightning as L
from inpaintlab.errors import ConfigError, InpaintlabError

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


def mask_files(source: Any) -> set[Path]:
    """The mask files a training generator or an evaluation suite reads (resolved paths): a generator's ``files``
    (``IrregularFileMask``, ``ObjectShapeMask``), those of its sub-generators (unions, mixtures), a frozen folder's."""
    if isinstance(source, (str, os.PathLike)):
        from inpaintlab.data.masks.files import list_mask_files

        try:
            return {p.resolve() for p in list_mask_files(source)}
        except InpaintlabError:  # a missing folder is reported where the suite is read
            return set()
    found = {Path(p).resolve() for p in getattr(source, "files", None) or ()}
    subs = getattr(source, "generators", None) or ()
    for sub in subs.values() if isinstance(subs, Mapping) else subs:
        found |= mask_files(sub)
    return found


def warn_mask_leak(train_masks: Any, suites: Mapping[str, Any]) -> str | None:
    """One warning line when the training masks read files an evaluation suite scores on (Partial Conv Sec. 4.1:
    NVIDIA released its test masks only, and training on them inflates every score); returns the line."""
    train = mask_files(train_masks)
    if not train:
        return None
    shared = {name: train & mask_files(src) for name, src in suites.items()}
    names = [name for name, files in shared.items() if files]
    if not names:
        return None
    both = set().union(*shared.values())
    line = (f"mask leak: {len(both)} of the {len(train)} training mask files are evaluation masks of suite(s) "
            f"{', '.join(names)} (same folder or file list) — training on the test masks inflates every number; "
            "point mask.source at a separate training set")
    log.warning(line)
    return line


def frozen_seed(seed: int, index: int) -> int:
    """Seed of the evaluation mask of sample ``index``: stable across runs, workers and machines."""
    return (int(seed) * 1_000_003 + int(index)) % (2**63 - 1)


class ResumableRandomSampler(DistributedSampler):
    """Shuffles like ``RandomSampler``, but epoch ``e``'s order is a function of (seed, e) alone, and a resumed run
    continues inside the epoch where the checkpoint was taken (docs/reliability.md, principle 5).

    It yields *tokens* ``e·n + index``: ``MaskedImages`` reads the image ``index`` and seeds the batch's
    training masks from the tokens, so the masks do not depend on the global RNG or on when batches are fetched.
    Under data parallelism (a process group with ``num_replicas`` > 1) each process takes every
    ``num_replicas``-th token of the epoch's order from its ``rank`` (the order padded by its first tokens to a
    multiple, as ``DistributedSampler`` does), and ``resume`` counts that process's own samples; being a
    ``DistributedSampler``, Lightning uses it as it is instead of wrapping it (which would lose the position).
    """

    def __init__(self, n: int, seed: int, num_replicas: int | None = None, rank: int | None = None) -> None:
        # DistributedSampler's own __init__ needs a dataset and a process group; only its interface is used
        if num_replicas is None or rank is None:
            dist = torch.distributed
            on = dist.is_available() and dist.is_initialized()
            num_replicas = dist.get_world_size() if on else 1 if num_replicas is None else num_replicas
            rank = dist.get_rank() if on else 0 if rank is None else rank
        self.n, self.seed, self.epoch = int(n), int(seed), 0
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.drop_last = True, False
        self.num_samples = -(-self.n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.resume: tuple[int, int] | None = None  # (epoch, samples this process already consumed in it)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(frozen_seed(self.seed, self.epoch)))
        if self.total_size > self.n:
            order = torch.cat([order, order[: self.total_size - self.n]])
        mine = order[self.rank : self.total_size : self.num_replicas]
        start = 0
        if self.resume is not None:
            if self.resume[0] == self.epoch:
                start = min(self.resume[1], len(mine))
            self.resume = None
        base = self.epoch * self.n
        for i in mine[start:].tolist():
            yield base + i


class IndexSubset(Dataset):
    """A subset by index list that keeps the parent's batched ``get_batch`` fast path (a subclass, not a bound
    lambda, so the subset pickles for ``ddp_spawn`` and spawned workers)."""

    def __new__(cls, dataset: Dataset | None = None, indices: list[int] | None = None):
        if cls is IndexSubset and hasattr(dataset, "get_batch"):
            cls = _BatchedIndexSubset
        return super().__new__(cls)

    def __init__(self, dataset: Dataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]


class _BatchedIndexSubset(IndexSubset):
    def get_batch(self, idx: list[int]) -> Any:
        return self.dataset.get_batch([self.indices[i] for i in idx])


def collate(items: Any) -> Any:
    """Batches built whole by ``MaskedImages.__getitems__`` pass through; lists of samples are stacked."""
    return items if isinstance(items, dict) else default_collate(items)


class MaskedImages(Dataset):
    """Adds a hole mask to every sample of an image dataset.

    ``frozen=True`` (validation, test) draws sample i's mask from a generator seeded with (seed, i), so every
    run and every checkpoint is scored on the same holes. Training masks come from the global torch RNG,
    which Lightning seeds per worker.
    """

    def __init__(self, images: Dataset, mask_generator: MaskGenerator | None, frozen: bool, seed: int = 0,
                 mask_set: Any = None, seeded_batches: bool = False) -> None:
        self.images, self.mask_generator, self.frozen, self.seed = images, mask_generator, frozen, seed
        self.mask_set = mask_set  # a FrozenMasks folder: sample i gets mask i (mod the set's size)
        # training under ResumableRandomSampler: indices are tokens e·n + i, and each batch's masks come from a
        # generator seeded with (seed, first token): reproducible on resume, independent of the global RNG
        self.seeded_batches = seeded_batches

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        token, index = index, index % len(self.images)
        with self._augmentation_rng([token]) if not self.frozen else self._sample_rng(index):
            item = dict(self.images[index])
        image = item["image"]
        if "mask" not in item:  # datasets that make their own hole (BTGMI's guided composites) keep it
            item["mask"] = self._masks([index], image.shape[-2], image.shape[-1], [token])[0].to(image.dtype)
        item["index"] = index
        return item

    @contextmanager
    def _augmentation_rng(self, tokens: list[int]):
        """Training under the resumable sampler: random crops/flips draw from torch's RNG seeded by (seed, first
        token) and the global RNG is left as it was, so augmentation is reproducible on resume, whenever and in
        whichever worker the batch is fetched."""
        if not (self.seeded_batches and tokens):
            yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(frozen_seed(self.seed + 2_000_003, int(tokens[0])))
            yield

    @contextmanager
    def _sample_rng(self, index: int):
        """Evaluation (``frozen``): whatever a dataset draws for sample ``index`` (BTGMI's guided composites) comes
        from torch's RNG seeded by (seed, index), so every run scores the same samples."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(frozen_seed(self.seed + 3_000_017, int(index)))
            yield

    def _masks(self, indices: list[int], h: int, w: int, tokens: list[int] | None = None) -> Tensor:
        n = len(indices)
        if self.mask_generator is None and self.mask_set is None:
            raise InpaintlabError(
                f"{type(self.images).__name__} gives no 'mask' and data.mask_generator is null: configure a mask "
                "generator (mask=...) or a dataset that makes its own holes"
            )
        if self.frozen and self.mask_set is not None:
            masks = torch.stack([self.mask_set[i % len(self.mask_set)] for i in indices])
            source = f"mask set {self.mask_set.root}"
        elif self.frozen:
            masks = torch.cat(
                [self.mask_generator(1, h, w, generator=torch.Generator().manual_seed(frozen_seed(self.seed, i)))
                 for i in indices]
            )
            source = f"mask generator {type(self.mask_generator).__name__}"
        elif self.seeded_batches and tokens:
            g = torch.Generator().manual_seed(frozen_seed(self.seed + 1_000_033, int(tokens[0])))
            masks = self.mask_generator(n, h, w, generator=g)
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
        tokens = [int(i) for i in indices]
        indices = [i % len(self.images) for i in tokens]
        if self.frozen and not hasattr(self.images, "get_batch"):
            items = []
            for i in indices:
                with self._sample_rng(i):
                    items.append(self.images[i])
            batch = default_collate(items)
        else:
            with self._augmentation_rng(tokens):
                if hasattr(self.images, "get_batch"):
                    batch = dict(self.images.get_batch(indices))
                else:
                    batch = default_collate([self.images[i] for i in indices])
        if "mask" not in batch:  # datasets that make their own hole keep it
            h, w = batch["image"].shape[-2:]
            batch["mask"] = self._masks(indices, h, w, tokens).to(batch["image"].dtype)
        batch["index"] = torch.as_tensor(indices)
        return batch


class InpaintingDataModule(L.LightningDataModule):
    """Train/val/test loaders of {"image", "mask", "index"} batches for any image dataset and mask generator.

    ``dataset`` is a factory called as ``dataset(root=root, split=name)`` (a Hydra ``_partial_`` node; ``root``
    is the dataset's folder, ``data.root`` on the command line). When
    ``val_split`` is None the validation set is ``val_size`` images held out of the training split with a
    fixed seed (with a ``val_split``, ``val_size`` > 0 keeps its first N images); ``test_size`` optionally keeps
    the first N test images (e.g. the 500-image CelebA test set).

    Evaluation mask *suites*: ``eval_masks`` maps suite names to a mask generator (seeded per sample, so every
    run scores the same holes) or a frozen mask folder (``inpaintlab-make-masks``, NVIDIA's irregular masks),
    e.g. CR-Fill's ``{square: …, irregular: …, object: …}``; a ``null`` entry drops a suite. A plain folder
    string is one suite; ``None`` is one suite of the training mask generator. The test stage gets one loader
    per suite (metrics ``test/<suite>/…`` when there are several); validation runs ``val_suites`` (names,
    ``"all"``, or None = the first suite only, which keeps validation cheap).
    """

    def __init__(
        self,
        dataset: Callable[..., Dataset],
        mask_generator: MaskGenerator | None,
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
        eval_masks: str | Mapping[str, Any] | None = None,
        eval_mask_seed: int = 2024,
        split_seed: int = 0,
        val_suites: str | Sequence[str] | None = None,
        drop_last: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise InpaintlabError(f"data.batch_size must be >= 1, got {batch_size}")
        self.dataset_factory = dataset
        self.root = root
        self.mask_generator = mask_generator
        self.batch_size = int(batch_size)  # the paper's global batch
        self.world_size = 1
        self.process_batch_size = self.batch_size  # what each data-parallel process loads
        self.eval_batch_size = int(eval_batch_size or batch_size)
        # fit the machine: no more loader processes than CPU cores, pinned memory only with a GPU to copy to
        cores = os.cpu_count() or 1
        self.num_workers = min(int(num_workers), cores)
        if self.num_workers < int(num_workers):
            log.info("data.num_workers=%d capped at this machine's %d CPU cores", int(num_workers), cores)
        self.pin_memory = bool(pin_memory) and torch.cuda.is_available()
        self.persistent_workers = persistent_workers and self.num_workers > 0
        self.prefetch_factor = prefetch_factor if self.num_workers > 0 else None
        # training batches are always the paper's size (the incomplete last one is dropped; a training set smaller
        # than one batch is refused before training, utils.preflight); False keeps the smaller batches
        self.drop_last = bool(drop_last)
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        self.val_size, self.test_size = int(val_size), test_size
        self.eval_masks = eval_masks
        self.eval_mask_seed, self.split_seed = eval_mask_seed, split_seed
        self.suites = self._suite_sources(eval_masks)
        self.val_suites = self._val_suite_names(val_suites)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None  # the first validation suite
        self.test_set: Dataset | None = None  # the first test suite
        self.val_sets: dict[str, Dataset] = {}
        self.test_sets: dict[str, Dataset] = {}
        # the training order and masks: seeded from torch's seed when the loader is first built (seed_everything),
        # saved in checkpoints with the position inside the epoch, so a resumed run continues exactly
        self.train_seed: int | None = None
        self._resume: tuple[int, int] | None = None

    def set_world_size(self, world_size: int, trainer_name: str = "the trainer") -> None:
        """Data-parallel training with ``world_size`` processes keeps the paper's global batch: each process
        loads ``batch_size / world_size`` (an error when it does not divide)."""
        world_size = max(1, int(world_size))
        if self.batch_size % world_size:
            raise ConfigError(
                f"data.batch_size={self.batch_size} is the global batch (the paper's); {trainer_name} runs "
                f"{world_size} processes, which must divide it (each loads batch_size/{world_size}): choose a "
                f"batch size that is a multiple of {world_size} or another number of devices"
            )
        self.world_size, self.process_batch_size = world_size, self.batch_size // world_size
        if world_size > 1:
            log.info("data-parallel: global batch %d = %d processes × %d", self.batch_size, world_size,
                     self.process_batch_size)

    def _split(self, name: str) -> Dataset:
        return self.dataset_factory(split=name) if self.root is None else self.dataset_factory(root=self.root, split=name)

    def _suite_sources(self, eval_masks: Any) -> dict[str, Any]:
        """Suite name → a mask generator or a frozen-mask folder (str)."""
        if eval_masks is None or eval_masks == "":
            return {"default": self.mask_generator}
        if isinstance(eval_masks, (str, os.PathLike)):
            return {"default": str(eval_masks)}
        if isinstance(eval_masks, Mapping):
            suites = {str(k): (str(v) if isinstance(v, os.PathLike) else v) for k, v in eval_masks.items()
                      if v is not None}
            for name, source in suites.items():
                if not (isinstance(source, str) or callable(source)):
                    raise InpaintlabError(
                        f"data.eval_masks.{name} must be a mask generator config (with _target_) or a folder of "
                        f"frozen masks, got {type(source).__name__}"
                    )
            if not suites:
                raise InpaintlabError("data.eval_masks names no suite (every entry is null)")
            return suites
        if callable(eval_masks):
            return {"default": eval_masks}
        raise InpaintlabError(
            f"data.eval_masks must be a mapping of suites, a folder or null, got {type(eval_masks).__name__}"
        )

    def _val_suite_names(self, val_suites: Any) -> list[str]:
        names = list(self.suites)
        if val_suites is None:
            return names[:1]
        if val_suites == "all":
            return names
        chosen = [val_suites] if isinstance(val_suites, str) else [str(v) for v in val_suites]
        unknown = [n for n in chosen if n not in self.suites]
        if unknown or not chosen:
            raise InpaintlabError(f"data.val_suites={chosen}: unknown suite(s) {unknown}; the suites are {names}")
        return chosen

    def suite_names(self, stage: str) -> list[str]:
        """The mask suites of ``stage`` ("val" or "test"), in loader order."""
        return list(self.val_suites) if stage == "val" else list(self.suites) if stage == "test" else []

    def _suite_set(self, images: Dataset, name: str, seed: int) -> MaskedImages:
        source = self.suites[name]
        if isinstance(source, str):
            from inpaintlab.data.mask_sets import FrozenMasks

            return MaskedImages(images, self.mask_generator, frozen=True, seed=seed, mask_set=FrozenMasks(source))
        return MaskedImages(images, source, frozen=True, seed=seed)

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
            self.train_set = MaskedImages(train, self.mask_generator, frozen=False, seeded_batches=True)
            warn_mask_leak(self.mask_generator, self.suites)
            self.val_sets = {n: self._suite_set(val, n, self.eval_mask_seed) for n in self.val_suites}
            self.val_set = next(iter(self.val_sets.values()))
            log.info("train: %d images, val: %d images × suites %s", len(self.train_set), len(self.val_set),
                     list(self.val_sets))
        if stage in (None, "test") and self.test_set is None:
            test = self._split(self.splits["test"])
            if self.test_size is not None:
                test = IndexSubset(test, range(min(int(self.test_size), len(test))))
            self.test_sets = {n: self._suite_set(test, n, self.eval_mask_seed + 1) for n in self.suites}
            self.test_set = next(iter(self.test_sets.values()))
            log.info("test: %d images × suites %s", len(self.test_set), list(self.test_sets))

    def _loader(self, dataset: Dataset | None, train: bool, sampler: Sampler | None = None) -> DataLoader:
        if dataset is None:
            raise InpaintlabError("the DataModule was not set up for this stage (call setup() first)")
        if len(dataset) == 0:
            raise InpaintlabError(f"the {'training' if train else 'evaluation'} split holds no images")
        return DataLoader(
            dataset,
            batch_size=self.process_batch_size if train else self.eval_batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            # the loaders' own RNG: creating an iterator never draws from torch's global RNG (exact resume)
            generator=torch.Generator().manual_seed(self.eval_mask_seed),
            drop_last=train and self.drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            prefetch_factor=self.prefetch_factor,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            return self._loader(self.train_set, train=True)
        if self.train_seed is None:
            self.train_seed = int(torch.initial_seed()) % (2**62)
        if isinstance(self.train_set, MaskedImages):
            self.train_set.seed = self.train_seed
        sampler = ResumableRandomSampler(len(self.train_set), self.train_seed)
        if self._resume is not None:
            sampler.resume, self._resume = self._resume, None
        return self._loader(self.train_set, train=True, sampler=sampler)

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint: the training order's seed and the samples consumed in the current epoch."""
        state: dict[str, Any] = {"train_seed": self.train_seed}
        trainer = getattr(self, "trainer", None)
        if trainer is not None and self.train_set is not None:
            done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
            state.update(epoch=int(trainer.current_epoch), consumed=int(done) * self.process_batch_size)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("train_seed") is not None:
            self.train_seed = int(state["train_seed"])
        if "epoch" in state:
            self._resume = (int(state["epoch"]), int(state["consumed"]))

    def _suite_loaders(self, sets: dict[str, Dataset], fallback: Dataset | None) -> DataLoader | list[DataLoader]:
        if not sets:
            return self._loader(fallback, train=False)
        loaders = [self._loader(d, train=False) for d in sets.values()]
        return loaders[0] if len(loaders) == 1 else loaders  # Lightning: one loader per suite

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._suite_loaders(self.val_sets, self.val_set)

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        return self._suite_loaders(self.test_sets, self.test_set)

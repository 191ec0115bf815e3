"""The DataModule: frozen evaluation masks, mask-set folders, batched masks, splits and errors."""

from functools import partial

import pytest
import torch

from inpaintlab.data.datamodule import InpaintingDataModule, MaskedImages, collate
from inpaintlab.data.mask_sets import FrozenMasks, write_mask_set
from inpaintlab.data.masks import CenterSquareMask, RandomBoxMask
from inpaintlab.data.mnist import MNISTImages
from inpaintlab.errors import InpaintlabError


def _dm(idx_root, mask, **kw):
    return InpaintingDataModule(partial(MNISTImages, variant="fashion_mnist"), mask, root=str(idx_root),
                                batch_size=8, eval_batch_size=8, val_size=16, **kw)


def test_eval_masks_are_frozen_and_training_masks_are_not(idx_root):
    masks = []
    for _ in range(2):
        dm = _dm(idx_root, RandomBoxMask(size=[4, 12]))
        dm.setup()
        masks.append(next(iter(dm.val_dataloader()))["mask"])
        masks.append(next(iter(dm.test_dataloader()))["mask"])
    assert torch.equal(masks[0], masks[2]) and torch.equal(masks[1], masks[3])  # same holes in every run
    assert not torch.equal(masks[0][0], masks[0][1])  # but each sample its own
    dm = _dm(idx_root, RandomBoxMask(size=[4, 12]))
    dm.setup()
    loader = dm.train_dataloader()
    first = next(iter(loader))
    assert not torch.equal(first["mask"][0], first["mask"][1])  # training masks differ per sample,
    assert torch.equal(first["mask"], next(iter(loader))["mask"])  # are a function of (seed, epoch, position)
    loader.sampler.set_epoch(1)  # (exact resume, docs/reliability.md) and change every epoch
    assert not torch.equal(first["mask"], next(iter(loader))["mask"])


def test_batches_and_single_items_agree(idx_root):
    dm = _dm(idx_root, CenterSquareMask(14))
    dm.setup("test")
    batch = collate(dm.test_set.__getitems__([0, 1, 2]))
    single = [dm.test_set[i] for i in range(3)]
    assert torch.equal(batch["image"], torch.stack([s["image"] for s in single]))
    assert torch.equal(batch["mask"], torch.stack([s["mask"] for s in single]))
    assert batch["mask"].shape == (3, 1, 28, 28) and batch["mask"].sum() == 3 * 14 * 14
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1


def test_per_batch_masks_repeat_one_hole_over_the_training_batch(idx_root):
    dm = _dm(idx_root, RandomBoxMask(size=[4, 12], per_batch=True))
    dm.setup("fit")
    m = next(iter(dm.train_dataloader()))["mask"]
    assert all(torch.equal(m[0], m[i]) for i in range(m.shape[0]))


def test_frozen_mask_folder_for_val_and_test(idx_root, tmp_path):
    write_mask_set(RandomBoxMask(size=[4, 12]), tmp_path / "set", count=5, height=28, seed=3)
    expected = FrozenMasks(tmp_path / "set")
    dm = _dm(idx_root, CenterSquareMask(14), eval_masks=str(tmp_path / "set"))
    dm.setup()
    m = next(iter(dm.val_dataloader()))["mask"]
    for i in range(8):  # sample i gets mask i mod 5
        assert torch.equal(m[i], expected[i % 5])


def test_mask_set_of_the_wrong_size_is_rejected_clearly(idx_root, tmp_path):
    write_mask_set(RandomBoxMask(size=[4, 12]), tmp_path / "set", count=2, height=32, seed=3)
    dm = _dm(idx_root, CenterSquareMask(14), eval_masks=str(tmp_path / "set"))
    dm.setup("test")
    with pytest.raises(InpaintlabError, match=r"expected 8×1×28×28.*inpaintlab-make-masks"):
        next(iter(dm.test_dataloader()))


def test_val_size_caps_an_explicit_validation_split(idx_root):
    dm = InpaintingDataModule(partial(MNISTImages, variant="fashion_mnist"), CenterSquareMask(14), root=str(idx_root),
                              val_split="test", val_size=10)
    dm.setup("fit")
    assert len(dm.val_set) == 10 and len(dm.train_set) == 96


def test_split_errors(idx_root):
    dm = InpaintingDataModule(partial(MNISTImages, variant="fashion_mnist"), CenterSquareMask(14), root=str(idx_root))
    with pytest.raises(InpaintlabError, match="no validation data"):
        dm.setup("fit")
    dm = InpaintingDataModule(partial(MNISTImages, variant="fashion_mnist"), CenterSquareMask(14), root=str(idx_root),
                              val_size=96)
    with pytest.raises(InpaintlabError, match="leaves no training images"):
        dm.setup("fit")
    with pytest.raises(InpaintlabError, match="batch_size"):
        InpaintingDataModule(partial(MNISTImages), CenterSquareMask(14), batch_size=0)


def test_mask_generator_of_wrong_shape_is_reported(idx_root):
    bad = lambda n, h, w, generator=None: torch.zeros(n, 1, h // 2, w)  # noqa: E731
    ds = MaskedImages(MNISTImages(idx_root, "test", variant="fashion_mnist"), bad, frozen=False)
    with pytest.raises(InpaintlabError, match=r"expected 2×1×28×28"):
        ds.__getitems__([0, 1])


def test_training_on_the_evaluation_masks_is_warned_about_in_one_line(idx_root, tmp_path, caplog):
    """Partial Conv: NVIDIA released test masks only; a training source that is the test folder (or lists its
    files) is a leak, said once at setup; separate sets are not."""
    from PIL import Image

    from inpaintlab.data.masks import IrregularFileMask, UnionMask

    test_dir, train_dir = tmp_path / "test_masks", tmp_path / "train_masks"
    for folder, n in ((test_dir, 4), (train_dir, 3)):
        folder.mkdir()
        for i in range(n):
            m = torch.zeros(28, 28, dtype=torch.uint8)
            m[4 + i : 12 + i, 6:20] = 255
            Image.fromarray(m.numpy()).save(folder / f"{i:05d}.png")
    (tmp_path / "list.txt").write_text("test_masks/00001.png\ntrain_masks/00000.png\n")
    suites = {"irregular": IrregularFileMask(str(test_dir)), "frozen": str(test_dir)}

    def setup_lines(train_masks) -> list[str]:
        caplog.clear()
        with caplog.at_level("WARNING", logger="inpaintlab.data.datamodule"):
            _dm(idx_root, train_masks, eval_masks=suites).setup("fit")
        return [r.getMessage() for r in caplog.records if "mask leak" in r.getMessage()]

    same = setup_lines(IrregularFileMask(str(test_dir), augment=True, rotation=10))
    assert len(same) == 1 and "4 of the 4 training mask files" in same[0] and "irregular, frozen" in same[0]
    assert "\n" not in same[0] and "mask.source" in same[0]
    listed = setup_lines(UnionMask([CenterSquareMask(4), IrregularFileMask(str(tmp_path / "list.txt"))]))
    assert len(listed) == 1 and "1 of the 2 training mask files" in listed[0]
    assert setup_lines(IrregularFileMask(str(train_dir))) == []

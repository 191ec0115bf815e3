"""Image datasets, one class per on-disk layout: CelebA, Places2 (Places365), ImageNet (ILSVRC-2012), any folder."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image
from torch.utils.data import Dataset

from inpaintlab.data.transforms import IMAGE_EXTENSIONS, ImageTransform
from inpaintlab.errors import ConfigError, DatasetNotFoundError, InpaintlabError

__all__ = ["CelebA", "ImageFiles", "ImageFolder", "ImageNet", "Places2", "UnreadableImagesError"]

log = logging.getLogger(__name__)


class UnreadableImagesError(InpaintlabError):
    """Too many images in a row could not be decoded: the data, not a few bad files, is broken."""


def _expand(root: str | os.PathLike) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(str(root))))


def _missing(root: Path) -> str:
    return "is a file, not a folder" if Path(root).exists() else "does not exist"


def _find(root: Path, name: str, subdirs: Sequence[str]) -> Path | None:
    for sub in ("", *subdirs):
        p = root / sub / name if sub else root / name
        if p.exists():
            return p
    return None


def _read_list(path: Path) -> list[str]:
    """First whitespace-separated field of each non-empty, non-comment line."""
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.split()[0])
    return out


def _scan(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, in sorted order (stable across machines)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        files.extend(Path(dirpath) / f for f in sorted(filenames) if f.lower().endswith(IMAGE_EXTENSIONS))
    return files


class UnreadableTracker:
    """Unreadable items of a dataset in a bitmap shared by DataLoader workers (so each file is warned about once
    and never decoded again); ``num_skipped`` counts them. Subclasses call ``_track_unreadable(n)`` and have a
    ``name``."""

    name: str

    def _track_unreadable(self, n: int) -> None:
        self._bad = torch.zeros(n, dtype=torch.uint8).share_memory_()

    @property
    def num_skipped(self) -> int:
        """How many files were found unreadable so far (by any worker)."""
        return int(self._bad.sum())

    def _mark_unreadable(self, i: int, path: Any, err: Exception) -> None:
        """Mark item ``i`` unreadable; the first time, one warning names its file (at the caller's caller)."""
        if not self._bad[i]:
            self._bad[i] = 1
            from inpaintlab.data.decode import too_large_reason  # a decompression bomb: every tool's sentence

            why = too_large_reason(err, f"image {path}") or f"unreadable image {path} ({type(err).__name__}: {err})"
            warnings.warn(f"{self.name}: skipping {why}; {self.num_skipped} skipped so far", stacklevel=3)


class ImageFiles(UnreadableTracker, Dataset):
    """A list of image files through the one pipeline (``ImageTransform``); ``item = {"image", "path"}``.

    Training splits crop at random (``train_crop``) and flip; evaluation splits take the centre and never flip.
    An image that cannot be decoded (corrupt, truncated, not an image) is skipped: the next readable index is
    returned, one warning names the file, and it is counted in ``num_skipped`` (shared by DataLoader workers
    and remembered across epochs, so the file is neither warned about nor decoded again). More than
    ``max_consecutive_failures`` unreadable files in a row stop the run with ``UnreadableImagesError``.

    Pictures smaller than the model's input (``image_size``, after ``pre_crop``) are not upscaled silently:
    upscaled data is smoother than the paper's and inflates PSNR/L1. When most images of a split are that small
    (probed from the headers of up to 16 files spread over the list), construction stops with one ``ConfigError``
    line; a few small images in a larger dataset are skipped in training (one warning per process, counted in
    ``num_below_input``) and upscaled in evaluation splits, which keep every image (one warning).
    ``allow_upscale=True`` upscales every small image instead and says so in the log.
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        split: str | None = None,
        image_size: int | Sequence[int] = 256,
        resize: int | str = "cover",
        train_crop: str = "random",
        flip: bool = True,
        pre_crop: int | Sequence[int] | None = None,
        jpeg_draft: bool = False,
        train: bool | None = None,
        limit: int | None = None,
        max_consecutive_failures: int = 50,
        name: str | None = None,
        allow_upscale: bool = False,
    ) -> None:
        self.name = name or type(self).__name__
        self.split = split
        self.train = (split == "train") if train is None else bool(train)
        files = [Path(f) for f in files]
        if limit is not None:
            if int(limit) < 1:
                raise ConfigError(f"{self.name}: limit must be a positive number of images, got {limit}")
            files = files[: int(limit)]
        self.files = files
        self.transform = ImageTransform(
            image_size,
            resize=resize,
            crop=train_crop if self.train else "center",
            flip=bool(flip) and self.train,
            pre_crop=pre_crop,
            jpeg_draft=jpeg_draft,
        )
        self.max_consecutive_failures = int(max_consecutive_failures)
        self._track_unreadable(len(files))
        self.allow_upscale = bool(allow_upscale)
        self._small = torch.zeros(len(files), dtype=torch.uint8).share_memory_()  # below the input (shared)
        self._small_warned = False  # per process
        self._check_resolution()

    PROBES: ClassVar[int] = 16

    def _check_resolution(self) -> None:
        """Refuse (one line) a split whose images are mostly smaller than the model input, unless
        ``allow_upscale``; read from the headers of up to ``PROBES`` files spread over the list."""
        n = len(self.files)
        if n == 0:
            return
        k = min(n, self.PROBES)
        sizes = []
        for i in sorted({round(j * (n - 1) / max(k - 1, 1)) for j in range(k)}):
            try:
                with Image.open(self.files[i]) as im:
                    sizes.append((self.files[i], im.size))
            except Exception:  # noqa: BLE001 — unreadable files are skipped (and warned about) when loaded
                continue
        small = [(f, wh) for f, wh in sizes if self.transform.too_small(*wh)]
        h, w = self.transform.size
        where = f"{self.name} {self.split or ''}".rstrip()
        example = f"e.g. {small[0][0].name} is {small[0][1][0]}×{small[0][1][1]}" if small else ""
        if self.transform.pre_crop is not None and small:
            example += f" before its {self.transform.pre_crop[1]}×{self.transform.pre_crop[0]} pre-crop"
        if self.allow_upscale:
            (log.warning if small else log.info)(
                "%s: allow_upscale=true: images smaller than the %d×%d input are upscaled to it (%d of %d probed%s)",
                where, w, h, len(small), len(sizes), f"; {example}" if small else "")
        elif 2 * len(small) > len(sizes):
            raise ConfigError(
                f"{where}: its images are smaller than the {w}×{h} model input ({len(small)} of {len(sizes)} probed; "
                f"{example}) and would be upscaled, which inflates PSNR/L1: use a higher-resolution release or a "
                "smaller data.dataset.image_size, or set data.dataset.allow_upscale=true to upscale them anyway"
            )

    @property
    def num_below_input(self) -> int:
        """Images found smaller than the model input so far (skipped in training, upscaled in evaluation)."""
        return int(self._small.sum())

    def _below_input(self, j: int, path: Path, size: tuple[int, int]) -> bool:
        """Note image ``j`` as smaller than the input; True when it is to be skipped (training splits)."""
        self._small[j] = 1
        if not self._small_warned:
            self._small_warned = True
            h, w = self.transform.size
            action = ("skipping such training images" if self.train
                      else "upscaling such evaluation images (an evaluation split keeps every image)")
            warnings.warn(f"{self.name}: {path} is {size[0]}×{size[1]}, smaller than the {w}×{h} input: {action}; "
                          "data.dataset.allow_upscale=true upscales them without this warning "
                          f"({self.num_below_input} found so far, see num_below_input)", stacklevel=3)
        return self.train

    def __len__(self) -> int:
        return len(self.files)

    @property
    def skipped_files(self) -> list[str]:
        return [str(self.files[i]) for i in self._bad.nonzero().flatten().tolist()]

    def __getitem__(self, index: int) -> dict:
        n = len(self.files)
        if not -n <= index < n:
            raise IndexError(f"{self.name}: index {index} out of range for {n} images")
        j = index % n
        last_error: Exception | None = None
        for _ in range(min(n, self.max_consecutive_failures + 1)):
            if not self._bad[j] and not (self.train and self._small[j]):
                path = self.files[j]
                try:
                    img = self.transform.load(path)
                except Exception as e:  # noqa: BLE001 — any decode failure of one file must not stop training
                    last_error = e
                    self._mark_unreadable(j, path, e)
                else:
                    size = img.info["inpaintlab_size"]
                    if self.allow_upscale or not self.transform.too_small(*size) or not self._below_input(j, path, size):
                        return {"image": self.transform(img), "path": str(path)}
            j = (j + 1) % n
        what, last = ("unreadable", f"last: {type(last_error).__name__}: {last_error}") if last_error else (
            "too small", "all smaller than the input")
        raise UnreadableImagesError(
            f"{self.name}: {self.max_consecutive_failures} {what} images in a row after index {index} ({last}); "
            f"{self.num_skipped} of {n} files unreadable, {self.num_below_input} smaller than the input so far. "
            "Check the dataset root and that the files are images."
        ) from last_error

    def __repr__(self) -> str:
        return f"{self.name}(split={self.split!r}, images={len(self)}, train={self.train}, {self.transform})"


# ------------------------------------------------------------------------------------------------------------
CELEBA_LAYOUT = """expected CelebA layout (Liu et al. 2015, "Align&Cropped Images"):
  <root>/img_align_celeba/000001.jpg … 202599.jpg
  <root>/list_eval_partition.txt        lines "000001.jpg 0" (0 train, 1 val, 2 test)
(also found under <root>/celeba/ as torchvision downloads it, or <root>/Img/ and <root>/Eval/ as the
official archive unpacks). Set data.root=… or the CELEBA_ROOT environment variable."""

_SPLIT_ALIASES = {"valid": "val", "validation": "val", "eval": "val"}


def _split_name(split: str | None, allowed: Sequence[str], name: str) -> str:
    s = _SPLIT_ALIASES.get(str(split), str(split))
    if s not in allowed:
        raise ConfigError(f"{name}: unknown split {split!r}; choose one of {', '.join(allowed)}")
    return s


class CelebA(ImageFiles):
    """CelebA aligned faces with the standard split (162,770 / 19,867 / 19,962; BTGMI Sec. 4, gradient
    attention Sec. 4).

    ``crop``: side of the centre square cut from the 178×218 aligned image before resizing (178: the whole
    width; 128 with ``image_size=128`` is a 128² centre crop without resizing); ``None`` resizes the whole image.
    ``test_count=N`` re-splits the 202,599 images as the gradient-attention paper's Table 1 (202,099 train /
    500 test): "test" is the first N images of the standard test partition and "train" every other image
    (the paper does not say which 500; "val" stays the standard partition).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        image_size: int = 128,
        crop: int | None = 178,
        resize: int | str = "cover",
        train_crop: str = "center",
        flip: bool = True,
        limit: int | None = None,
        test_count: int | None = None,
        **kwargs,
    ) -> None:
        split = _split_name(split, ("train", "val", "test", "all"), "CelebA")
        root = _expand(root)
        if not root.is_dir():
            raise DatasetNotFoundError(f"CelebA root {root} {_missing(root)}.\n{CELEBA_LAYOUT}")
        img_dir = _find(root, "img_align_celeba", ("celeba", "Img"))
        part = _find(root, "list_eval_partition.txt", ("celeba", "Eval"))
        if img_dir is None or part is None:
            missing = [n for n, p in (("img_align_celeba/", img_dir), ("list_eval_partition.txt", part)) if p is None]
            raise DatasetNotFoundError(f"CelebA: {', '.join(missing)} not found under {root}.\n{CELEBA_LAYOUT}")
        code = {"train": "0", "val": "1", "test": "2"}.get(split)
        rows = [f[:2] for f in (line.split() for line in part.read_text().splitlines()) if len(f) >= 2]
        if test_count is not None and split in ("train", "test"):
            test = [n for n, c in rows if c == "2"][: int(test_count)]
            held = set(test)
            names = test if split == "test" else [n for n, _ in rows if n not in held]
        else:
            names = [n for n, c in rows if code is None or c == code]
        if not names:
            raise DatasetNotFoundError(f"CelebA: split {split!r} is empty in {part}.\n{CELEBA_LAYOUT}")
        if not (img_dir / names[0]).exists():
            raise DatasetNotFoundError(
                f"CelebA: {names[0]} (first image of split {split!r}) is not in {img_dir}.\n{CELEBA_LAYOUT}"
            )
        self.root = root
        super().__init__(
            [img_dir / n for n in names], split, image_size, resize=resize, train_crop=train_crop, flip=flip,
            pre_crop=crop, limit=limit, name="CelebA", **kwargs,
        )


# ------------------------------------------------------------------------------------------------------------
PLACES2_LAYOUT = """expected Places365-Standard layout (Zhou et al. 2017):
  <root>/places365_train_standard.txt   lines "/a/airfield/00000001.jpg 0"
  <root>/places365_val.txt              lines "Places365_val_00000001.jpg 165"
  <root>/places365_test.txt             lines "Places365_test_00000001.jpg" (split "test" only)
  layout "standard" (256×256 images):  <root>/data_256/a/airfield/00000001.jpg, <root>/val_256/…, <root>/test_256/…
  layout "highres" (short side 512):   <root>/data_large/a/airfield/00000001.jpg, <root>/val_large/…, <root>/test_large/…
(the list files may also sit in <root>/filelist_places365-standard/). Set data.root=… or PLACES2_ROOT."""


class Places2(ImageFiles):
    """Places2 / Places365-Standard (DeepFill v1 Sec. 4, CR-Fill Sec. 5: random 256² crops with flips for training,
    centre 256² crops of the 36,500 validation images for evaluation).

    ``layout="standard"`` reads the 256×256 release; ``"highres"`` the high-resolution one, cropped at native
    resolution by default (``resize="native"``, as DeepFill's official training does). ``split="test"`` reads
    the unlabelled official test images; the papers report on ``split="val"``.
    """

    _DIRS: ClassVar[dict[str, tuple[str, str, str]]] = {"standard": ("data_256", "val_256", "test_256"), "highres": ("data_large", "val_large", "test_large")}

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        image_size: int = 256,
        layout: str = "standard",
        resize: int | str | None = None,
        train_crop: str = "random",
        flip: bool = True,
        train_list: str = "places365_train_standard.txt",
        limit: int | None = None,
        **kwargs,
    ) -> None:
        split = _split_name(split, ("train", "val", "test"), "Places2")
        if layout not in self._DIRS:
            raise ConfigError(f"Places2: layout must be 'standard' or 'highres', got {layout!r}")
        root = _expand(root)
        if not root.is_dir():
            raise DatasetNotFoundError(f"Places2 root {root} {_missing(root)}.\n{PLACES2_LAYOUT}")
        list_name = {"train": train_list, "val": "places365_val.txt", "test": "places365_test.txt"}[split]
        img_dir = root / self._DIRS[layout][("train", "val", "test").index(split)]
        lst = _find(root, list_name, ("filelist_places365-standard", "filelist_places365-challenge"))
        if lst is None or not img_dir.is_dir():
            missing = [str(p) for p, ok in ((list_name, lst is not None), (img_dir.name + "/", img_dir.is_dir())) if not ok]
            raise DatasetNotFoundError(
                f"Places2 ({layout}): {', '.join(missing)} not found under {root}.\n{PLACES2_LAYOUT}"
            )
        names = [n.lstrip("/") for n in _read_list(lst)]
        if not names:
            raise DatasetNotFoundError(f"Places2: split {split!r} is empty in {lst}.\n{PLACES2_LAYOUT}")
        if not (img_dir / names[0]).exists():
            raise DatasetNotFoundError(
                f"Places2 ({layout}): {names[0]} (first image of {lst.name}) is not in {img_dir}.\n{PLACES2_LAYOUT}"
            )
        self.root, self.layout = root, layout
        if resize is None:
            resize = "native" if layout == "highres" else "cover"
        super().__init__(
            [img_dir / n for n in names], split, image_size, resize=resize, train_crop=train_crop, flip=flip,
            limit=limit, name=f"Places2[{layout}]", **kwargs,
        )


# ------------------------------------------------------------------------------------------------------------
IMAGENET_LAYOUT = """expected ImageNet (ILSVRC-2012) layout:
  <root>/train/n01440764/n01440764_10026.JPEG …   (one folder per class)
  <root>/val/ILSVRC2012_val_00000001.JPEG …       (flat) or <root>/val/n01440764/ILSVRC2012_val_….JPEG (by class)
  <root>/test/…                                   (optional; the papers evaluate on val)
or a list file of paths relative to <root>/<split>/ given as file_list. Set data.root=… or IMAGENET_ROOT."""


class ImageNet(ImageFiles):
    """ImageNet ILSVRC-2012 (CR-Fill Sec. 5: 256² crops, evaluated on the 50,000 validation images).

    Folders are scanned recursively once (a minute for the 1.28 M training images on a slow disk);
    ``file_list`` (paths relative to ``<root>/<split>``) skips the scan.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        image_size: int = 256,
        resize: int | str = "cover",
        train_crop: str = "random",
        flip: bool = True,
        file_list: str | None = None,
        limit: int | None = None,
        **kwargs,
    ) -> None:
        split = _split_name(split, ("train", "val", "test"), "ImageNet")
        root = _expand(root)
        if not root.is_dir():
            raise DatasetNotFoundError(f"ImageNet root {root} {_missing(root)}.\n{IMAGENET_LAYOUT}")
        folder = root / split
        if not folder.is_dir():
            raise DatasetNotFoundError(f"ImageNet: split folder {folder} not found.\n{IMAGENET_LAYOUT}")
        if file_list is not None:
            files = [folder / n for n in _read_list(_expand(file_list))]
        else:
            files = _scan(folder)
        if not files:
            raise DatasetNotFoundError(f"ImageNet: no images in {folder}.\n{IMAGENET_LAYOUT}")
        self.root = root
        super().__init__(
            files, split, image_size, resize=resize, train_crop=train_crop, flip=flip, limit=limit,
            name="ImageNet", **kwargs,
        )


# ------------------------------------------------------------------------------------------------------------
FOLDER_LAYOUT = """expected one of:
  <root>/**/*.jpg|png|…                  all images, recursively (split None, "all" or "train")
  <root>/train/…, <root>/val/…, <root>/test/…   one sub-folder per split
  split_files: {{train: train.txt, …}} or "splits/{{split}}.txt": lists of paths relative to <root>
image extensions: {exts}"""


class ImageFolder(ImageFiles):
    """Any folder of images (found recursively), with optional split lists and a minimum-side filter.

    Split resolution: ``split_files`` (a dict split → list file, or a pattern with ``{split}``), else the
    sub-folder ``<root>/<split>``, else every image under ``root`` for ``split`` None / "all" / "train" (the
    DataModule then holds out ``val_size`` images for validation). ``min_side`` drops images whose shorter side
    is below it (read from the file headers once).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        split_files: Mapping[str, str] | str | None = None,
        min_side: int = 0,
        image_size: int = 256,
        resize: int | str = "cover",
        train_crop: str = "random",
        flip: bool = True,
        limit: int | None = None,
        **kwargs,
    ) -> None:
        root = _expand(root)
        layout = FOLDER_LAYOUT.format(exts=" ".join(IMAGE_EXTENSIONS))
        if not root.is_dir():
            raise DatasetNotFoundError(f"ImageFolder root {root} {_missing(root)}; {layout}")
        split = None if split is None else _SPLIT_ALIASES.get(str(split), str(split))
        if split_files is not None and split not in (None, "all"):
            if isinstance(split_files, str):
                lst = root / split_files.format(split=split)
            elif split in split_files:
                lst = root / split_files[split]
            else:
                raise ConfigError(f"ImageFolder: split {split!r} has no entry in split_files {dict(split_files)}")
            if not lst.is_file():
                raise DatasetNotFoundError(f"ImageFolder: split list {lst} not found; {layout}")
            files = [root / n for n in _read_list(lst)]
            where = str(lst)
        elif split not in (None, "all") and (root / split).is_dir():
            files, where = _scan(root / split), str(root / split)
        elif split in (None, "all", "train"):
            files, where = _scan(root), str(root)
        else:
            raise DatasetNotFoundError(
                f"ImageFolder: no split {split!r} under {root} (no split_files, no {root / split}/); {layout}"
            )
        if not files:
            raise DatasetNotFoundError(f"ImageFolder: no images in {where}; {layout}")
        self.root, self.min_side, self.num_too_small = root, int(min_side), 0
        if self.min_side > 0:
            kept = []
            for f in files:
                try:
                    with Image.open(f) as im:
                        ok = min(im.size) >= self.min_side
                except Exception:  # noqa: BLE001 — unreadable headers are kept and skipped (with a warning) on load
                    ok = True
                if ok:
                    kept.append(f)
            self.num_too_small = len(files) - len(kept)
            if self.num_too_small:
                log.info("ImageFolder %s: %d images below min_side=%d dropped", root, self.num_too_small, self.min_side)
            if not kept:
                raise DatasetNotFoundError(
                    f"ImageFolder: all {len(files)} images in {where} have a side below min_side={self.min_side}"
                )
            files = kept
        super().__init__(
            files, split, image_size, resize=resize, train_crop=train_crop, flip=flip, limit=limit,
            name="ImageFolder", **kwargs,
        )

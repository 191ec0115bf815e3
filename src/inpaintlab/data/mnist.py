"""MNIST-format datasets (MNIST, Fashion-MNIST) read from the four IDX files, gzip or raw."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from inpaintlab.conventions import from_uint8
from inpaintlab.errors import ConfigError, DatasetNotFoundError, InpaintlabError

log = logging.getLogger(__name__)

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion_mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
HOW_TO_GET = {
    "mnist": "pass data.download=true on a machine with internet, or copy the files there by hand",
    "fashion_mnist": "on Debian/Ubuntu `apt-get install dataset-fashion-mnist` (installs /usr/share/datasets/"
    "fashion-mnist), or pass data.download=true on a machine with internet",
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzip-compressed or raw, into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise InpaintlabError(f"cannot read IDX file {path}: {e}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise InpaintlabError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise InpaintlabError(
            f"{path} is truncated or corrupt: header says shape {shape} ({expected} bytes), "
            f"file holds {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip when the name ends in .gz); used to make test fixtures."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def find_idx(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def download_mnist(root: str | os.PathLike, variant: str = "mnist", timeout: float = 30.0) -> None:
    """Fetch the four gzip IDX files of ``variant`` into ``root``, trying each known mirror."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DatasetNotFoundError(f"data.root={root} is a file; expected a folder for the {variant} IDX files "
                                   f"(downloaded there when missing)")
    root.mkdir(parents=True, exist_ok=True)
    for stems in IDX_FILES.values():
        for stem in stems:
            if find_idx(root, stem):
                continue
            errors = []
            for mirror in MIRRORS[variant]:
                url = mirror + stem + ".gz"
                tmp = root / (stem + ".gz.part")
                try:
                    log.info("downloading %s", url)
                    with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                        shutil.copyfileobj(r, f)
                    read_idx(tmp.rename(root / (stem + ".gz")))
                    break
                except Exception as e:  # noqa: BLE001 - every failure is reported below
                    tmp.unlink(missing_ok=True)
                    errors.append(f"{url}: {e}")
            else:
                raise DatasetNotFoundError(
                    f"could not download {stem}.gz into {root}:\n  " + "\n  ".join(errors) + f"\nTo get it: {HOW_TO_GET[variant]}."
                )


class MNISTImages(Dataset):
    """MNIST / Fashion-MNIST images from ``root`` (LeCun et al. 1998; Xiao et al. 2017), 1×28×28 in [-1, 1].

    ``root`` holds the four IDX files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`). The whole split is kept in memory as uint8.
    ``pad`` adds that many background pixels (value −1, the digits' black) on every side: ``pad=2`` gives the
    32×32 images of power-of-two generators (DCGAN) without resampling the strokes. ``image_size`` resamples
    every image (after padding) to that side, bilinearly, when it is read (e.g. 64² for nets of that size, as
    the method comparison uses); the split stays in memory at its stored size. An ``image_size`` above the stored
    size (28 + 2·pad) upscales every image: refused with one line unless ``allow_upscale=True``, which the log
    then says. ``channels=3`` repeats the grey image into RGB for nets built for colour photos.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", variant: str = "mnist", download: bool = False,
                 pad: int = 0, image_size: int | None = None,
                 channels: int = 1, allow_upscale: bool = False):
        if split not in IDX_FILES:
            raise InpaintlabError(f"MNIST split must be one of {sorted(IDX_FILES)}, got {split!r}")
        if variant not in MIRRORS:
            raise InpaintlabError(f"MNIST variant must be one of {sorted(MIRRORS)}, got {variant!r}")
        if int(pad) < 0:
            raise InpaintlabError(f"MNIST pad must be >= 0 pixels, got {pad}")
        if image_size is not None and int(image_size) < 1:
            raise InpaintlabError(f"MNIST image_size must be >= 1 pixel, got {image_size}")
        self.root, self.split, self.variant, self.pad = Path(root), split, variant, int(pad)
        self.image_size = int(image_size) if image_size is not None else None
        if int(channels) not in (1, 3):
            raise InpaintlabError(f"MNIST channels must be 1 (grey) or 3 (grey repeated as RGB), got {channels}")
        self.channels = int(channels)
        images_stem, labels_stem = IDX_FILES[split]
        if download and not find_idx(self.root, images_stem):
            download_mnist(self.root, variant)
        path = find_idx(self.root, images_stem)
        if path is None:
            expected = ", ".join(f"{s}[.gz]" for pair in IDX_FILES.values() for s in pair)
            raise DatasetNotFoundError(
                f"{variant} {split} images not found: no {images_stem} or {images_stem}.gz in {self.root}"
                f"{'' if self.root.is_dir() else ' (a file, not a folder)' if self.root.exists() else ' (the folder does not exist)'}.\n"
                f"Expected the four IDX files in data.root: {expected}.\nTo get them: {HOW_TO_GET[variant]}."
            )
        images = read_idx(path)
        if images.ndim != 3:
            raise InpaintlabError(f"{path} holds an array of shape {images.shape}; expected N×H×W images")
        self.images = torch.from_numpy(images.copy())
        if self.pad:  # background is 0 in the files (−1 after scaling); padded once, in memory
            self.images = torch.nn.functional.pad(self.images, (self.pad,) * 4)
        stored = int(self.images.shape[-1])
        if self.image_size is not None and self.image_size > stored:
            if not allow_upscale:
                raise ConfigError(
                    f"{variant} images are {stored}×{stored}, smaller than image_size={self.image_size}: every image "
                    "would be upscaled; set data.dataset.allow_upscale=true to do so anyway"
                )
            log.warning("%s %s: allow_upscale=true: the %d×%d images are upscaled to %d×%d", variant, split, stored,
                        stored, self.image_size, self.image_size)
        labels_path = find_idx(self.root, labels_stem)
        self.labels = torch.from_numpy(read_idx(labels_path).astype(np.int64)) if labels_path else None

    def __len__(self) -> int:
        return self.images.shape[0]

    def _scaled(self, images: Tensor) -> Tensor:
        """B×1×H×W uint8 → [-1, 1] float, resampled to ``image_size`` when set."""
        x = from_uint8(images)
        if self.image_size is not None and tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = torch.nn.functional.interpolate(x, size=(self.image_size,) * 2, mode="bilinear",
                                                align_corners=False).clamp_(-1.0, 1.0)
        return x.expand(-1, 3, -1, -1).contiguous() if self.channels == 3 else x

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"image": self._scaled(self.images[index][None, None])[0]}

    def get_batch(self, indices: list[int]) -> dict[str, Tensor]:
        """A whole batch in one indexing op (the in-memory fast path of MaskedImages)."""
        return {"image": self._scaled(self.images[torch.as_tensor(indices)].unsqueeze(1))}

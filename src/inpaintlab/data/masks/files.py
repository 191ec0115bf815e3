"""Holes read from files: irregular-mask sets (NVIDIA's, Partial Conv Sec. 4.1) and object shapes (CR-Fill Sec. 5)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inpaintlab.data.decode import open_image_file
from inpaintlab.data.masks.base import MaskGenerator, _pair, _randint, _uniform
from inpaintlab.data.masks.reading import MaskReading, read_mask_levels
from inpaintlab.errors import ConfigError, DatasetNotFoundError

__all__ = [
    "MASK_EXTENSIONS",
    "IrregularFileMask",
    "ObjectShapeMask",
    "list_mask_files",
    "read_mask",
    "read_reading",
]

MASK_EXTENSIONS = (".png", ".bmp", ".gif", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".pgm", ".ppm")

_LAYOUT = """expected either
  a folder of mask images (searched recursively: {exts}), or
  a text file listing one mask path per line (relative to `base`, or to the list's own folder)"""


def list_mask_files(source: str | os.PathLike, base: str | os.PathLike | None = None, hint: str = "") -> list[Path]:
    """Mask files from a folder (recursive, sorted) or from a list file; a clear error when there are none."""
    src = Path(os.path.expanduser(str(source)))
    layout = _LAYOUT.format(exts=" ".join(MASK_EXTENSIONS)) + (f"\n{hint}" if hint else "")
    if not src.exists():
        raise DatasetNotFoundError(f"mask source {src} does not exist; {layout}")
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.suffix.lower() in MASK_EXTENSIONS and p.is_file())
    else:
        root = Path(base) if base is not None else src.parent
        lines = [ln.strip() for ln in src.read_text().splitlines()]
        files = [root / ln.split()[0] for ln in lines if ln and not ln.startswith("#")]
        if files and not files[0].exists():
            raise DatasetNotFoundError(f"mask list {src}: first entry {files[0]} does not exist (base folder {root}); {layout}")
    if not files:
        raise DatasetNotFoundError(f"no mask images in {src}; {layout}")
    return files


def read_reading(path: str | os.PathLike, white_is_hole: bool = True) -> MaskReading:
    """A mask file by the package's one mask rule (``data.masks.reading``); ``white_is_hole=False`` inverts it.
    Decompression bombs are refused with the sentence every tool uses (``data.decode``)."""
    with open_image_file(path, f"mask {path}") as img:
        img.load()
        reading = read_mask_levels(img)
    return reading if white_is_hole else reading.inverted()


def read_mask(
    path: str | os.PathLike,
    white_is_hole: bool = True,
    size: tuple[int, int] | None = None,
    warn: callable | None = None,
) -> np.ndarray:
    """Read one mask file as a bool H×W array (True = hole) by the one mask rule: a hole from half way between
    black and the mask's full scale.

    ``warn`` is told when pixels lie strictly between the two extremes (a JPEG-compressed or anti-aliased mask);
    ``size=(H, W)`` resizes the coverage (PIL's antialiased bilinear on 8 bits) and applies the same half-way
    threshold when the file has another size.
    """
    reading = read_reading(path, white_is_hole)
    if warn is not None and reading.grey:
        warn(f"mask {path} is not binary ({reading.grey / reading.levels.size:.1%} of its pixels lie between black "
             "and white); a pixel is a hole from half way")
    if size is None or reading.shape == tuple(size):
        return reading.hole
    grey = Image.fromarray(np.rint(reading.coverage * 255).astype(np.uint8), "L")
    grey = grey.resize((size[1], size[0]), Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(grey) >= 128


class _OnceWarner:
    """Warn once per kind of problem (not once per file: a set of 12,000 grey masks warns one time)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.seen: set[str] = set()

    def __call__(self, message: str, kind: str = "grey") -> None:
        if kind not in self.seen:
            self.seen.add(kind)
            warnings.warn(f"{self.owner}: {message} (further files with this problem are handled silently)", stacklevel=3)


def dilate(masks: torch.Tensor, k: int) -> torch.Tensor:
    """Dilate n×1×H×W {0,1} masks by a (2k+1)² square: the max filter is separable, and shifted maxima are
    several times faster on the CPU than torch's stride-1 max_pool2d."""
    out = masks.clone()
    for dim in (2, 3):
        src = out.clone()
        size = out.shape[dim]
        for d in range(1, min(k, size - 1) + 1):
            a, b = out.narrow(dim, d, size - d), src.narrow(dim, 0, size - d)
            torch.maximum(a, b, out=a)
            a, b = out.narrow(dim, 0, size - d), src.narrow(dim, d, size - d)
            torch.maximum(a, b, out=a)
    return out


class IrregularFileMask(MaskGenerator):
    """Irregular holes from a mask set on disk (Partial Conv Sec. 4.1: NVIDIA's irregular masks, augmented by
    random dilation, rotation and flips for training; evaluated in hole-ratio bins).

    Each mask picks a file uniformly, resizes it to H×W (bilinear + threshold) and, with ``augment=True``,
    flips it horizontally/vertically (p = ½ each), rotates it by U(−rotation, rotation) degrees and dilates it
    with a square of side 2k+1, k ~ U{dilation}. ``white_is_hole=False`` reads black-on-white files (check one
    file: inpaintlab holes are 1/white). ``ratio_range=(lo, hi]`` keeps only files whose hole ratio lies in that
    bin (NVIDIA's test set comes in 1–10 %, 10–20 %, …, 50–60 % bins); ratios are read once, at construction.
    """

    def __init__(
        self,
        source: str,
        base: str | None = None,
        white_is_hole: bool = True,
        augment: bool = False,
        rotation: float = 0.0,
        dilation: int | tuple[int, int] = 0,
        flip: bool = True,
        ratio_range: tuple[float, float] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.source, self.base = str(source), base
        self.files = list_mask_files(
            source, base, "Set mask.source=<folder> or the IRREGULAR_MASKS_ROOT environment variable "
            "(e.g. NVIDIA's irregular-mask set, Liu et al. 2018)."
        )
        self.white_is_hole = bool(white_is_hole)
        self.augment = bool(augment)
        self.rotation = float(rotation)
        self.dilation = _pair(dilation, "IrregularFileMask dilation")
        if self.dilation[0] < 0 or self.rotation < 0:
            raise ConfigError(f"IrregularFileMask: dilation and rotation must be >= 0, got {self.dilation}, {rotation}")
        self.flip = bool(flip)
        self._warn = _OnceWarner(f"IrregularFileMask({self.source})")
        self.ratio_range = None
        if ratio_range is not None:
            lo, hi = _pair(ratio_range, "IrregularFileMask ratio_range", float)
            self.ratio_range = (lo, hi)
            ratios = [self._file_ratio(f) for f in self.files]
            kept = [f for f, r in zip(self.files, ratios) if lo < r <= hi or lo == 0 and r == 0]
            if not kept:
                raise ConfigError(f"IrregularFileMask: no mask in {self.source} has a hole ratio in ({lo}, {hi}]")
            self.files = kept

    def _file_ratio(self, path: Path) -> float:
        return float(read_mask(path, self.white_is_hole, warn=self._warn).mean())

    def __len__(self) -> int:
        return len(self.files)

    def _generate(self, n, height, width, g):
        choice = torch.randint(0, len(self.files), (n,), generator=g).tolist()
        out = torch.zeros(n, 1, height, width)
        if self.augment:
            flips = torch.rand(n, 2, generator=g) < 0.5
            angles = _uniform(n, -self.rotation, self.rotation, g).tolist()
            ks = _randint(n, *self.dilation, g)
        for i, f in enumerate(choice):  # one file read per mask: I/O-bound, not worth batching
            m = read_mask(self.files[f], self.white_is_hole, size=(height, width), warn=self._warn)
            if self.augment:
                if self.flip and flips[i, 0]:
                    m = m[:, ::-1]
                if self.flip and flips[i, 1]:
                    m = m[::-1, :]
                if self.rotation > 0:  # nearest neighbour keeps the mask binary
                    img = Image.fromarray(np.ascontiguousarray(m).view(np.uint8))
                    m = np.asarray(img.rotate(angles[i], resample=Image.NEAREST)).astype(bool)
            out[i, 0] = torch.from_numpy(np.ascontiguousarray(m).view(np.uint8))
        if self.augment and self.dilation[1] > 0:
            for k in ks.unique().tolist():
                if k == 0:
                    continue
                idx = (ks == k).nonzero().flatten()
                out[idx] = dilate(out[idx], k)
        return out

    def extra_repr(self):
        return (
            f"source={self.source!r}, files={len(self.files)}, white_is_hole={self.white_is_hole}, augment={self.augment}, "
            f"rotation={self.rotation}, dilation={list(self.dilation)}, ratio_range={self.ratio_range}"
        )


class ObjectShapeMask(MaskGenerator):
    """Object-shaped holes from segmentation masks (CR-Fill Sec. 5, following [27]; official ``object_mask``).

    A random file's object (its hole pixels by the one mask rule, ``data.masks.reading``; the others with
    ``invert``) is scaled by s ~ N(scale_mean,
    scale_std) clipped to ``scale_range`` (N(1, 0.5) in [0.5, 2]), cropped to its bounding box and placed so its
    centre falls on a uniform random pixel; shapes covering less than ``min_ratio`` of the image (1/1000) are
    redrawn. ``match_size=True`` is the official code's other mode: the scale mean becomes half the ratio of the
    image side to the object's longer side, and the minimum ratio 1/100.
    """

    def __init__(
        self,
        source: str,
        base: str | None = None,
        scale_mean: float = 1.0,
        scale_std: float = 0.5,
        scale_range: tuple[float, float] = (0.5, 2.0),
        min_ratio: float = 1e-3,
        match_size: bool = False,
        invert: bool = False,
        max_redraws: int = 100,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.source, self.base = str(source), base
        self.files = list_mask_files(
            source, base, "Set mask.source=<folder or list file> or the OBJECT_SHAPES_ROOT environment variable "
            "(CR-Fill's object_shapes.txt lists 82,020 segmentation masks)."
        )
        self.scale_mean, self.scale_std = float(scale_mean), float(scale_std)
        self.scale_range = _pair(scale_range, "ObjectShapeMask scale_range", float)
        if self.scale_range[0] <= 0 or self.scale_std < 0:
            raise ConfigError(f"ObjectShapeMask: need scale_range > 0 and scale_std >= 0, got {self.scale_range}, {scale_std}")
        self.min_ratio = float(min_ratio)
        self.match_size = bool(match_size)
        self.invert = bool(invert)
        self.max_redraws = int(max_redraws)
        self._warn = _OnceWarner(f"ObjectShapeMask({self.source})")

    def __len__(self) -> int:
        return len(self.files)

    def _shape(self, path: Path) -> np.ndarray:
        return read_reading(path, white_is_hole=not self.invert).hole

    def _one(self, height: int, width: int, g: torch.Generator | None) -> torch.Tensor:
        min_ratio = 1e-2 if self.match_size else self.min_ratio
        empty_files = 0
        for _ in range(self.max_redraws):
            f = int(torch.randint(0, len(self.files), (1,), generator=g))
            z = float(torch.randn(1, generator=g, dtype=torch.float64))
            y0 = int(torch.randint(0, height, (1,), generator=g))
            x0 = int(torch.randint(0, width, (1,), generator=g))
            obj = self._shape(self.files[f])
            rows, cols = np.nonzero(obj.any(1))[0], np.nonzero(obj.any(0))[0]
            if rows.size == 0:
                empty_files += 1
                self._warn(f"mask {self.files[f]} has no object pixels; drawing another file", kind="empty")
                continue
            obj = obj[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            mean = self.scale_mean
            if self.match_size:
                mean = min(height, width) / max(obj.shape) / 2
            s = min(max(mean + self.scale_std * z, self.scale_range[0]), self.scale_range[1])
            hm, wm = max(1, int(obj.shape[0] * s)), max(1, int(obj.shape[1] * s))
            img = Image.fromarray(obj.astype(np.uint8) * 255).resize((wm, hm), Image.BILINEAR)
            obj = np.asarray(img) >= 128
            # the official code pastes at (y0, x0) on an (H+hm)×(W+wm) canvas and keeps the window at (hm/2, wm/2)
            top, left = y0 - hm // 2, x0 - wm // 2
            hole = np.zeros((height, width), dtype=bool)
            t0, l0 = max(top, 0), max(left, 0)
            t1, l1 = min(top + hm, height), min(left + wm, width)
            if t1 > t0 and l1 > l0:
                hole[t0:t1, l0:l1] = obj[t0 - top : t1 - top, l0 - left : l1 - left]
            if hole.sum() >= height * width * min_ratio:
                return torch.from_numpy(hole.view(np.uint8))
        raise RuntimeError(
            f"ObjectShapeMask: {self.max_redraws} draws from {self.source} gave no shape covering {min_ratio:.2%} of a "
            f"{height}×{width} image ({empty_files} files were empty); check the files and white/black convention "
            "(objects are the pixels at least half as bright as white unless invert=True)"
        )

    def _generate(self, n, height, width, g):
        out = torch.zeros(n, 1, height, width)
        for i in range(n):  # rejection sampling and file reads are inherently per mask
            out[i, 0] = self._one(height, width, g)
        return out

    def extra_repr(self):
        return (
            f"source={self.source!r}, files={len(self.files)}, scale=N({self.scale_mean}, {self.scale_std}) in "
            f"{list(self.scale_range)}, min_ratio={self.min_ratio}, match_size={self.match_size}"
        )

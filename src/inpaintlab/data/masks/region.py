"""Context Encoder's random-region masks: PASCAL VOC 2012 object shapes, deformed and pasted (the paper), or
windows of one large thresholded, upsampled noise pattern (the released code)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from inpaintlab.data.masks.base import MaskGenerator, _pair, _uniform
from inpaintlab.data.masks.files import _OnceWarner
from inpaintlab.errors import ConfigError, DatasetNotFoundError

__all__ = ["VOC_LAYOUT", "ContextEncoderRegionMask", "VOCShapeMask"]


class ContextEncoderRegionMask(MaskGenerator):
    """Pathak Sec. 3.3 "random region" as the released ``train_random.lua`` makes it (reference-notes).

    One big pattern — ``noise_size``² uniform noise bilinearly upsampled to ``pattern_size``² and thresholded
    ``< threshold`` — drawn once from ``pattern_seed``; every mask is an H×W window of it at a random position,
    redrawn until its hole ratio lies in [``min_hole_ratio``, ``max_hole_ratio``] (20–30 %). One mask per batch
    (``per_batch=True``), as the released code does. The 10000² pattern is never materialised: a window is
    interpolated from the ~H·noise/pattern noise cells under it, vectorised over the batch.

    The released code makes 128² masks; other sizes scale the pattern by min(H, W)/``reference_size`` (128), so a
    256² mask looks like a 128² one upsampled (the same hole shapes and the same chance to be 20–30 % hole).
    About 0.5 % of windows are 20–30 % hole (mean 10.6 %): ``max_tries`` = 10,000 redraw rounds leave a failure
    probability of 0.995^10000 ≈ 1e-22 per mask.
    """

    def __init__(
        self,
        noise_size: int = 600,
        pattern_size: int = 10000,
        threshold: float = 0.25,
        pattern_seed: int = 0,
        per_batch: bool = True,
        min_hole_ratio: float | None = 0.2,
        max_hole_ratio: float | None = 0.3,
        max_tries: int = 10000,
        reference_size: int = 128,
    ) -> None:
        super().__init__(per_batch=per_batch, min_hole_ratio=min_hole_ratio, max_hole_ratio=max_hole_ratio,
                         max_tries=max_tries)
        if not 2 <= int(noise_size) <= int(pattern_size):
            raise ConfigError(f"ContextEncoderRegionMask: need 2 <= noise_size <= pattern_size, got {noise_size}, {pattern_size}")
        self.noise_size, self.pattern_size = int(noise_size), int(pattern_size)
        self.threshold, self.pattern_seed = float(threshold), int(pattern_seed)
        self.reference_size = int(reference_size)
        self.noise = torch.rand(self.noise_size, self.noise_size, generator=torch.Generator().manual_seed(self.pattern_seed),
                                dtype=torch.float64)

    def _coords(self, start: Tensor, extent: int, pattern: int) -> tuple[Tensor, Tensor, Tensor]:
        """Bilinear source indices (i0, i1) and weights for pixels start..start+extent of a ``pattern``² upsampling
        of the noise (align_corners=False)."""
        pos = start[:, None].double() + torch.arange(extent, dtype=torch.float64)[None]
        src = ((pos + 0.5) * (self.noise_size / pattern) - 0.5).clamp(0, self.noise_size - 1)
        i0 = src.floor().long()
        i1 = (i0 + 1).clamp(max=self.noise_size - 1)
        return i0, i1, src - i0

    def _generate(self, n, height, width, g):
        pattern = max(1, round(self.pattern_size * min(height, width) / self.reference_size))
        if height > pattern or width > pattern:
            raise ConfigError(f"ContextEncoderRegionMask: {height}×{width} masks exceed the {pattern}² pattern")
        top = torch.randint(0, pattern - height + 1, (n,), generator=g)
        left = torch.randint(0, pattern - width + 1, (n,), generator=g)
        r0, r1, wr = self._coords(top, height, pattern)  # n×H
        c0, c1, wc = self._coords(left, width, pattern)  # n×W
        z = self.noise

        def at(r: Tensor, c: Tensor) -> Tensor:
            return z[r[:, :, None], c[:, None, :]]  # n×H×W

        wr, wc = wr[:, :, None], wc[:, None, :]
        v = (at(r0, c0) * (1 - wr) * (1 - wc) + at(r0, c1) * (1 - wr) * wc + at(r1, c0) * wr * (1 - wc)
             + at(r1, c1) * wr * wc)
        return (v < self.threshold).float()[:, None]

    def extra_repr(self):
        return (f"noise_size={self.noise_size}, pattern_size={self.pattern_size}, threshold={self.threshold}, "
                f"pattern_seed={self.pattern_seed}, reference_size={self.reference_size}")


VOC_LAYOUT = """expected the PASCAL VOC 2012 layout (VOCtrainval_11-May-2012.tar):
  <root>/SegmentationObject/2007_000032.png …   one palette PNG per image: 0 background, 1…N one object
                                                 instance each, 255 the void border
  <root>/ImageSets/Segmentation/train.txt, val.txt, trainval.txt   (for split: train | val | trainval)
<root> may also be the folder holding VOC2012/ or VOCdevkit/VOC2012/. Set mask.root=… or VOC2012_ROOT."""

_VOID = 255


def _voc_dir(root: Path) -> Path | None:
    for sub in ("", "VOC2012", "VOCdevkit/VOC2012"):
        d = root / sub if sub else root
        if (d / "SegmentationObject").is_dir():
            return d
    return None


class VOCShapeMask(MaskGenerator):
    """Pathak Sec. 3.3 "random region" (004 §1.3): "we remove arbitrary shapes from images, obtained from random
    masks in the PASCAL VOC 2012 dataset. We deform those shapes and paste in arbitrary places in the other images,
    again covering up to 1/4 of the image."

    Each mask takes a random file of ``<root>/SegmentationObject/`` and one of its object instances (palette index
    1…254; instances of fewer than ``min_object_pixels`` pixels are passed over), deforms it — a horizontal flip
    with p = ½ (``flip``), a stretch of its aspect ratio by q ~ logU[1/``aspect``, ``aspect``], a rotation by
    U(−``rotation``, ``rotation``) degrees — scales it to cover a fraction U(``area_range``) of the H×W image, and
    pastes it at a uniform random position (inside the image where it fits). The paper names no deformation or
    lower area bound: those are ours; ``max_hole_ratio`` (1/4, the paper's) redraws any mask above it.
    ``split`` reads the instances of ``ImageSets/Segmentation/<split>.txt`` only (``None``: every file).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = None,
        area_range: tuple[float, float] = (0.1, 0.25),
        rotation: float = 30.0,
        aspect: float = 1.5,
        flip: bool = True,
        min_object_pixels: int = 64,
        max_redraws: int = 100,
        max_hole_ratio: float | None = 0.25,
        **kwargs,
    ) -> None:
        super().__init__(max_hole_ratio=max_hole_ratio, **kwargs)
        base = Path(os.path.expandvars(os.path.expanduser(str(root))))
        voc = _voc_dir(base)
        if voc is None:
            raise DatasetNotFoundError(f"VOCShapeMask: no SegmentationObject/ folder under {base}.\n{VOC_LAYOUT}")
        if split is None:
            files = sorted((voc / "SegmentationObject").glob("*.png"))
        else:
            lst = voc / "ImageSets" / "Segmentation" / f"{split}.txt"
            if not lst.is_file():
                raise DatasetNotFoundError(f"VOCShapeMask: split list {lst} not found.\n{VOC_LAYOUT}")
            names = [ln.split()[0] for ln in lst.read_text().splitlines() if ln.strip()]
            files = [voc / "SegmentationObject" / f"{n}.png" for n in names]
            missing = [f for f in files if not f.is_file()]
            if missing:
                raise DatasetNotFoundError(
                    f"VOCShapeMask: {len(missing)} files of {lst.name} are not in SegmentationObject/ "
                    f"(first: {missing[0].name}).\n{VOC_LAYOUT}")
        if not files:
            raise DatasetNotFoundError(f"VOCShapeMask: no PNG files in {voc / 'SegmentationObject'}.\n{VOC_LAYOUT}")
        lo, hi = _pair(area_range, "VOCShapeMask area_range", float)
        if not 0.0 < lo <= hi <= 1.0:
            raise ConfigError(f"VOCShapeMask: area_range must satisfy 0 < lo <= hi <= 1, got {[lo, hi]}")
        if float(aspect) < 1.0 or float(rotation) < 0.0 or int(min_object_pixels) < 1:
            raise ConfigError(f"VOCShapeMask: need aspect >= 1, rotation >= 0 and min_object_pixels >= 1, got "
                              f"{aspect}, {rotation}, {min_object_pixels}")
        self.root, self.split, self.files = voc, split, files
        self.area_range, self.rotation, self.aspect = (lo, hi), float(rotation), float(aspect)
        self.flip, self.min_object_pixels, self.max_redraws = bool(flip), int(min_object_pixels), int(max_redraws)
        self._warn = _OnceWarner(f"VOCShapeMask({voc})")

    def __len__(self) -> int:
        return len(self.files)

    def _instances(self, path: Path) -> np.ndarray:
        """The palette indices of a file's object instances (2-D uint8 array of indices, not the RGB colours)."""
        with Image.open(path) as img:
            img.load()
            if img.mode != "P":
                self._warn(f"{path.name} is a {img.mode} image, not a palette PNG: its grey levels are taken as "
                           "instance indices", kind="mode")
                img = img.convert("L")
            return np.asarray(img)

    def _shape(self, g: torch.Generator | None) -> np.ndarray:
        """A random object instance, cropped to its bounding box (bool array)."""
        for _ in range(self.max_redraws):
            arr = self._instances(self.files[int(torch.randint(0, len(self.files), (1,), generator=g))])
            ids, counts = np.unique(arr, return_counts=True)
            keep = (ids != 0) & (ids != _VOID) & (counts >= self.min_object_pixels)
            if not keep.any():
                continue
            ids = ids[keep]
            obj = arr == ids[int(torch.randint(0, len(ids), (1,), generator=g))]
            rows, cols = np.nonzero(obj.any(1))[0], np.nonzero(obj.any(0))[0]
            return obj[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        raise RuntimeError(
            f"VOCShapeMask: {self.max_redraws} files drawn from {self.root / 'SegmentationObject'} held no object "
            f"instance of >= {self.min_object_pixels} pixels (instances are palette indices 1…254)"
        )

    def _one(self, height: int, width: int, g: torch.Generator | None) -> torch.Tensor:
        for _ in range(self.max_redraws):
            hole = self._pasted(height, width, g)
            if hole is not None:
                return hole
        raise RuntimeError(f"VOCShapeMask: {self.max_redraws} shapes in a row vanished when resampled to "
                           f"{height}×{width}; raise area_range or min_object_pixels")

    def _pasted(self, height: int, width: int, g: torch.Generator | None) -> torch.Tensor | None:
        """One deformed shape pasted into an H×W mask (None when the resampling left no pixel)."""
        obj = self._shape(g)
        r = float(_uniform(1, *self.area_range, g))
        q = math.exp(float(_uniform(1, -math.log(self.aspect), math.log(self.aspect), g)))
        angle = float(_uniform(1, -self.rotation, self.rotation, g))
        flip = bool(torch.rand(1, generator=g) < 0.5) and self.flip
        s = math.sqrt(r * height * width / obj.sum())
        nw, nh = max(1, round(obj.shape[1] * s * math.sqrt(q))), max(1, round(obj.shape[0] * s / math.sqrt(q)))
        img = Image.fromarray(obj.astype(np.uint8) * 255).resize((nw, nh), Image.BILINEAR)
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if angle:
            img = img.rotate(angle, resample=Image.BILINEAR, expand=True)
        shape = np.asarray(img) >= 128
        rows, cols = np.nonzero(shape.any(1))[0], np.nonzero(shape.any(0))[0]
        if rows.size == 0:  # a sliver that vanished in the resampling
            return None
        shape = shape[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        sh, sw = shape.shape
        # top-left corner: uniform over positions inside the image, or over the overhang when the shape is larger
        top = int(torch.randint(min(0, height - sh), max(0, height - sh) + 1, (1,), generator=g))
        left = int(torch.randint(min(0, width - sw), max(0, width - sw) + 1, (1,), generator=g))
        hole = np.zeros((height, width), dtype=bool)
        t0, l0, t1, l1 = max(top, 0), max(left, 0), min(top + sh, height), min(left + sw, width)
        hole[t0:t1, l0:l1] = shape[t0 - top : t1 - top, l0 - left : l1 - left]
        return torch.from_numpy(hole.view(np.uint8))

    def _generate(self, n, height, width, g):
        out = torch.zeros(n, 1, height, width)
        for i in range(n):  # file reads and per-shape resampling are inherently per mask
            out[i, 0] = self._one(height, width, g)
        return out

    def extra_repr(self):
        return (f"root={str(self.root)!r}, split={self.split!r}, files={len(self.files)}, "
                f"area_range={list(self.area_range)}, rotation={self.rotation}, aspect={self.aspect}, flip={self.flip}")

"""Frozen evaluation masks: seeded mask sets written to PNG files with a manifest, read back by index, binned by
hole ratio (Partial Conv Sec. 4.1's 0–10 %, 10–20 %, … bins; LaMa's fixed evaluation masks)."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import Tensor

from inpaintlab.data.masks.base import MaskGenerator, seeded_generator
from inpaintlab.data.masks.files import MASK_EXTENSIONS, read_reading
from inpaintlab.errors import ConfigError, DatasetNotFoundError, InpaintlabError

__all__ = [
    "BIN_EDGES",
    "MANIFEST",
    "FrozenMasks",
    "bin_labels",
    "check_size",
    "hole_ratio_bin",
    "hole_ratio_bin_index",
    "preview_grid",
    "smallest_size",
    "why_not",
    "write_mask_set",
]

MANIFEST = "manifest.json"
FORMAT = "inpaintlab-mask-set/1"
BIN_EDGES: tuple[float, ...] = tuple(i / 10 for i in range(11))


def _check_edges(edges: Sequence[float]) -> list[float]:
    e = [float(x) for x in edges]
    if len(e) < 2 or any(b <= a for a, b in pairwise(e)):
        raise ConfigError(f"bin edges must be at least two increasing numbers, got {list(edges)}")
    return e


def hole_ratio_bin_index(ratio: float, edges: Sequence[float] = BIN_EDGES) -> int:
    """Index of the bin (lo, hi] holding ``ratio``; the first bin also holds its lower edge (0 → bin 0)."""
    e = _check_edges(edges)
    r = float(ratio)
    if not e[0] <= r <= e[-1] or math.isnan(r):
        raise ConfigError(f"hole ratio {ratio} lies outside the bins [{e[0]}, {e[-1]}]")
    for i in range(len(e) - 1):
        if r <= e[i + 1]:
            return i
    return len(e) - 2


def _pct(x: float) -> str:
    v = round(100 * x, 6)
    return f"{int(v)}" if float(v).is_integer() else f"{v:g}"


def bin_labels(edges: Sequence[float] = BIN_EDGES) -> list[str]:
    """``["0-10%", "10-20%", …]`` for the given edges."""
    e = _check_edges(edges)
    return [f"{_pct(a)}-{_pct(b)}%" for a, b in pairwise(e)]


def hole_ratio_bin(ratio: float, edges: Sequence[float] = BIN_EDGES) -> str:
    """Label of the hole-area bin of ``ratio`` (fraction of hole pixels): 0.05 → "0-10%", 0.1 → "0-10%",
    0.15 → "10-20%". Bins are (lo, hi], as NVIDIA's irregular-mask test set is binned."""
    return bin_labels(edges)[hole_ratio_bin_index(ratio, edges)]


def _save_png(mask: Tensor, path: Path) -> None:
    arr = (mask.reshape(mask.shape[-2:]).numpy() > 0.5).astype(np.uint8) * 255
    Image.fromarray(arr, mode="L").save(path, optimize=False)


PROBE_DRAWS = 8  # masks drawn to see whether a generator honours a size


def why_not(generator: MaskGenerator, height: int, width: int, seed: int = 0) -> str | None:
    """None when ``generator`` draws usable ``height``×``width`` masks — without an error, and each keeping some
    known pixels (a mask that is all hole leaves nothing to inpaint from) — in its first ``PROBE_DRAWS`` seeded
    draws; else the reason."""
    try:
        for i in range(PROBE_DRAWS):
            m = generator(1, int(height), int(width), seeded_generator(seed, i))
            if bool((m > 0.5).all()):
                return f"its {height}×{width} masks are 100 % hole"
    except (InpaintlabError, ValueError, RuntimeError) as e:
        return " ".join(str(e).split())
    return None


def smallest_size(generator: MaskGenerator, height: int, width: int, seed: int = 0, limit: int = 8192) -> int | None:
    """The smallest height above ``height`` (the width scaled alike) at which ``generator`` honours its masks
    (``why_not``), or None up to ``limit``."""
    ratio = width / height
    ok = lambda h: why_not(generator, h, max(1, round(h * ratio)), seed) is None  # noqa: E731
    bad, good = int(height), int(height) * 2
    while not ok(good):
        bad, good = good, good * 2
        if good > limit:
            return None
    while good - bad > 1:
        mid = (bad + good) // 2
        bad, good = (bad, mid) if ok(mid) else (mid, good)
    return good


def check_size(generator: MaskGenerator, height: int, width: int, what: str, option: str, seed: int = 0) -> None:
    """One ``ConfigError`` line when ``generator`` cannot honour ``height``×``width`` masks, naming the smallest
    size it can and the ``option`` to change."""
    reason = why_not(generator, height, width, seed)
    if reason is None:
        return
    least = smallest_size(generator, height, width, seed)
    hint = f"the smallest it honours is {least}" if least else "no size up to 8192 works"
    raise ConfigError(f"{what} cannot draw {height}×{width} masks ({reason}): {hint}; raise {option} or choose "
                      "another mask")


def write_mask_set(
    generator: MaskGenerator,
    out_dir: str | os.PathLike,
    count: int,
    height: int,
    width: int | None = None,
    seed: int = 0,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    bin_edges: Sequence[float] = BIN_EDGES,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``count`` masks as ``00000.png`` … (8-bit, 255 = hole) plus ``manifest.json`` into ``out_dir``.

    Mask i is ``generator(1, H, W, seeded_generator(seed, i))``: any one mask can be regenerated alone, and the
    set equals the masks the DataModule draws on the fly for evaluation with the same seed. ``config`` (the
    generator's Hydra node) is stored as its parameters; the manifest also records every mask's hole ratio
    and bin. Returns the manifest.
    """
    width = height if width is None else width
    if int(count) < 1 or int(height) < 1 or int(width) < 1:
        raise ConfigError(f"write_mask_set needs count, height, width >= 1, got {count}, {height}, {width}")
    out = Path(out_dir)
    if (out / MANIFEST).exists() and not overwrite:
        raise ConfigError(f"{out} already holds a mask set ({MANIFEST}); pass overwrite=True (--overwrite) to replace it")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for old in out.glob("[0-9]*.png"):
            old.unlink()
    digits = max(5, len(str(int(count) - 1)))
    entries = []
    for i in range(int(count)):
        m = generator(1, int(height), int(width), seeded_generator(seed, i))
        fname = f"{i:0{digits}d}.png"
        _save_png(m[0], out / fname)
        r = float(m.mean())
        entries.append({"file": fname, "hole_ratio": round(r, 6), "bin": hole_ratio_bin(r, bin_edges)})
    counts = Counter(e["bin"] for e in entries)
    manifest = {
        "format": FORMAT,
        "name": name or out.name,
        "generator": f"{type(generator).__module__}.{type(generator).__qualname__}",
        "parameters": config if config is not None else {"repr": repr(generator)},
        "seed": int(seed),
        "seeding": "mask i = generator(1, height, width, inpaintlab.data.masks.seeded_generator(seed, i))",
        "height": int(height),
        "width": int(width),
        "count": int(count),
        "hole_value": 255,
        "bin_edges": list(map(float, bin_edges)),
        "bins": {label: counts.get(label, 0) for label in bin_labels(bin_edges)},
        "mean_hole_ratio": round(float(np.mean([e["hole_ratio"] for e in entries])), 6),
        "masks": entries,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


class FrozenMasks:
    """A fixed mask set read back by index: ``masks[i]`` is a 1×H×W float tensor, 1 = hole.

    Reads a folder written by ``write_mask_set`` / ``inpaintlab-make-masks`` (with ``manifest.json``), or any
    folder of mask images (NVIDIA's irregular-mask test set, your own), sorted by name; ``white_is_hole=False``
    for black-hole files. Files are read by the package's one mask rule (``data.masks.reading``): pixels between
    black and white are holes from half way, with one warning; a file of another
    size than (height, width) is resized with a warning when ``on_size_mismatch="resize"``, or rejected
    (``"error"``, the default for sets with a manifest, whose size is known). ``bin`` keeps only the masks of
    one hole-ratio bin (e.g. "10-20%").
    """

    def __init__(
        self,
        root: str | os.PathLike,
        height: int | None = None,
        width: int | None = None,
        on_size_mismatch: str | None = None,
        white_is_hole: bool = True,
        bin: str | None = None,
        bin_edges: Sequence[float] = BIN_EDGES,
    ) -> None:
        self.root = Path(os.path.expanduser(str(root)))
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                f"mask set {self.root} does not exist; write one with `inpaintlab-make-masks --out {self.root} …` "
                "or point to a folder of mask PNGs"
            )
        self.white_is_hole = bool(white_is_hole)
        self.bin_edges = _check_edges(bin_edges)
        mf = self.root / MANIFEST
        self.manifest: dict[str, Any] | None = None
        if mf.exists():
            try:
                self.manifest = json.loads(mf.read_text())
                entries = self.manifest["masks"]
                self.files = [self.root / e["file"] for e in entries]
                self._ratios: list[float | None] = [float(e["hole_ratio"]) for e in entries]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ConfigError(f"{mf} is not a valid mask-set manifest ({type(e).__name__}: {e})") from e
            missing = [f.name for f in self.files if not f.exists()]
            if missing:
                raise DatasetNotFoundError(
                    f"mask set {self.root}: {len(missing)} files listed in {MANIFEST} are missing (first: {missing[0]})"
                )
            self.set_size = (int(self.manifest["height"]), int(self.manifest["width"]))
        else:
            self.files = sorted(p for p in self.root.iterdir() if p.suffix.lower() in MASK_EXTENSIONS and p.is_file())
            if not self.files:
                raise DatasetNotFoundError(
                    f"mask set {self.root} has neither {MANIFEST} nor mask images ({' '.join(MASK_EXTENSIONS)})"
                )
            self._ratios = [None] * len(self.files)
            self.set_size = None
        if (height is None) != (width is None):
            raise ConfigError("FrozenMasks: give both height and width, or neither")
        self.size = (int(height), int(width)) if height is not None else self.set_size
        if on_size_mismatch is None:
            on_size_mismatch = "error" if self.manifest is not None else "resize"
        if on_size_mismatch not in ("error", "resize"):
            raise ConfigError(f"on_size_mismatch must be 'error' or 'resize', got {on_size_mismatch!r}")
        if self.size is not None and self.set_size is not None and self.size != self.set_size and on_size_mismatch == "error":
            raise ConfigError(
                f"mask set {self.root} holds {self.set_size[0]}×{self.set_size[1]} masks but {self.size[0]}×{self.size[1]} "
                "were requested; write a set of the right size or allow on_size_mismatch='resize'"
            )
        self.on_size_mismatch = on_size_mismatch
        self._warned: set[str] = set()
        self.indices = list(range(len(self.files)))
        self.bin = bin
        if bin is not None:
            labels = bin_labels(self.bin_edges)
            if bin not in labels:
                raise ConfigError(f"FrozenMasks: unknown bin {bin!r}; bins are {labels}")
            self.indices = [i for i in self.indices if self.bin_of(i) == bin]
            if not self.indices:
                raise ConfigError(f"mask set {self.root} has no mask in bin {bin}")

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(f"mask set {self.root}: {message} (reported once)", stacklevel=3)

    def __len__(self) -> int:
        return len(self.indices)

    def _read(self, k: int) -> Tensor:
        path = self.files[k]
        try:
            reading = read_reading(path, self.white_is_hole)
        except Exception as e:
            raise ConfigError(f"mask set {self.root}: cannot read {path.name} ({type(e).__name__}: {e})") from e
        if reading.grey:
            self._warn("grey", f"{path.name} is not binary ({reading.grey / reading.levels.size:.2%} of its pixels "
                               "lie between black and white); a pixel is a hole from half way")
        t = torch.from_numpy(reading.coverage)
        if self.size is not None and tuple(t.shape) != self.size:
            if self.on_size_mismatch == "error":
                raise ConfigError(
                    f"mask set {self.root}: {path.name} is {t.shape[0]}×{t.shape[1]}, expected {self.size[0]}×{self.size[1]}"
                )
            self._warn("size", f"{path.name} is {t.shape[0]}×{t.shape[1]}; resizing to {self.size[0]}×{self.size[1]}")
            t = F.interpolate(t[None, None], size=self.size, mode="bilinear", align_corners=False, antialias=True)[0, 0]
        return (t >= 0.5).float()[None]  # the one rule's half-way threshold, after resizing

    def __getitem__(self, i: int) -> Tensor:
        if not -len(self) <= i < len(self):
            raise IndexError(f"mask index {i} out of range for a set of {len(self)}")
        k = self.indices[i]
        m = self._read(k)
        if self._ratios[k] is None:
            self._ratios[k] = float(m.mean())
        elif self.manifest is not None and abs(self._ratios[k] - float(m.mean())) > 1e-4 and m.shape[-2:] == self.set_size:
            self._warn("changed", f"{self.files[k].name} no longer matches the hole ratio in {MANIFEST}")
        return m

    def batch(self, indices: Sequence[int]) -> Tensor:
        """Masks ``indices`` as an n×1×H×W tensor."""
        return torch.stack([self[i] for i in indices])

    def hole_ratio(self, i: int) -> float:
        k = self.indices[i]
        if self._ratios[k] is None:
            self._ratios[k] = float(self._read(k).mean())
        return float(self._ratios[k])

    def bin_of(self, i: int) -> str:
        """The hole-ratio bin label of mask ``i`` (of the whole set when called during construction)."""
        return hole_ratio_bin(self.hole_ratio(i), self.bin_edges)

    @property
    def hole_ratios(self) -> list[float]:
        return [self.hole_ratio(i) for i in range(len(self))]

    def bin_counts(self) -> dict[str, int]:
        counts = Counter(self.bin_of(i) for i in range(len(self)))
        return {label: counts.get(label, 0) for label in bin_labels(self.bin_edges)}

    def __repr__(self) -> str:
        size = f"{self.size[0]}×{self.size[1]}" if self.size else "native size"
        return f"FrozenMasks({str(self.root)!r}, masks={len(self)}, {size}, bin={self.bin})"


def preview_grid(masks: Tensor, columns: int = 8, pad: int = 2, title: str | None = None) -> Image.Image:
    """An RGB contact sheet of n×1×H×W masks (holes white on black, grey separators, optional title line)."""
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ConfigError(f"preview_grid expects n×1×H×W masks, got {tuple(masks.shape)}")
    n, _, h, w = masks.shape
    cols = max(1, min(int(columns), n))
    rows = max(1, math.ceil(n / cols))
    top = 14 if title else 0
    grid = Image.new("RGB", (cols * (w + pad) + pad, top + rows * (h + pad) + pad), (128, 128, 128))
    for i in range(n):
        arr = (masks[i, 0].numpy() > 0.5).astype(np.uint8) * 255
        r, c = divmod(i, cols)
        grid.paste(Image.fromarray(arr, "L").convert("RGB"), (pad + c * (w + pad), top + pad + r * (h + pad)))
    if title:
        ImageDraw.Draw(grid).text((pad, 1), title, fill=(255, 255, 255))
    return grid

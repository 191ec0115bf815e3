"""What the scripts that write numbers into the docs share for ``--smoke`` (CI runs each in seconds, nothing
written): the Fashion-MNIST their real run reads, or tiny generated IDX files where it is absent; and a
non-zero exit, with one line, when a measured number is not finite.

    root = fashion_mnist_or_generated(args.root, Path(scratch) / "fashion-mnist")
    require_finite({"partial": {"l1_hole": 0.12, ...}}, "claim-pconv")   # SystemExit(1) on NaN / inf
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from inpaintlab.data.mnist import IDX_FILES, find_idx
from inpaintlab.data.synthetic import make_idx_dataset

__all__ = ["fashion_mnist_or_generated", "require_finite"]


def fashion_mnist_or_generated(root: str | Path, scratch: Path) -> Path:
    """``root`` when it holds the four IDX files, else ``scratch`` filled with tiny generated ones (96 train, 48
    test images, ``inpaintlab.data.synthetic``): a smoke run reads data through the real loader either way."""
    root = Path(root)
    if all(find_idx(root, stem) for pair in IDX_FILES.values() for stem in pair):
        return root
    print(f"--smoke: no Fashion-MNIST in {root}; tiny generated IDX files in {scratch} instead", flush=True)
    return make_idx_dataset(Path(scratch))


def _numbers(value: Any, key: str) -> Iterator[tuple[str, float]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _numbers(v, f"{key}/{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{key}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield key, float(value)


def require_finite(results: Any, what: str) -> None:
    """Exit with status 1 and one line naming the first NaN / infinite number in ``results`` (nested mappings and
    sequences; strings and ``None`` — not measured — are skipped): a failed measurement must neither reach the
    docs nor pass a smoke run."""
    for key, value in _numbers(results, ""):
        if not math.isfinite(value):
            raise SystemExit(f"{what}: the measurement {key} is {value}, not a finite number; nothing written into the docs")

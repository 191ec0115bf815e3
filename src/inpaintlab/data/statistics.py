"""Dataset statistics a paper's method needs: the training set's mean pixel (GLCIC Sec. 3.1's hole fill)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from inpaintlab.errors import InpaintlabError

__all__ = ["mean_pixel"]


def mean_pixel(images: Dataset, count: int = 1000, seed: int = 0, batch_size: int = 50, num_workers: int = 0) -> Tensor:
    """The per-channel mean of ``count`` images drawn without replacement with ``seed`` (all of them when the
    dataset is smaller), as the dataset serves them (its own crops, in [-1, 1]): a C-vector. Drawn under a forked
    RNG seeded with ``seed``, so training crops are the same on every process and torch's global RNG is untouched
    (exact resume). ``images[i]`` is an item ``{"image": C×H×W, …}`` or a C×H×W tensor."""
    n = len(images)
    if n == 0:
        raise InpaintlabError("mean_pixel: the dataset holds no images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))[: max(1, int(count))].tolist()
    subset = torch.utils.data.Subset(images, order)
    total, pixels = None, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        loader = DataLoader(subset, batch_size=int(batch_size), num_workers=int(num_workers),
                            generator=torch.Generator().manual_seed(int(seed)))
        for batch in loader:
            x = (batch["image"] if isinstance(batch, dict) else batch).double()
            s = x.sum(dim=(0, 2, 3))
            total = s if total is None else total + s
            pixels += x.shape[0] * x.shape[2] * x.shape[3]
    return (total / pixels).float()

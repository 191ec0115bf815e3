"""How much memory a fill needs, and how much this machine can give it without swapping.

* ``available_bytes(device)``: the CPU's ``MemAvailable`` (``/proc/meminfo``: RAM that can be used without swap),
  lowered to the headroom of the process's cgroup when a container or a SLURM job sets a limit; a GPU's free
  memory (``torch.cuda.mem_get_info``).
* ``measure_peak(fn)``: the peak of the bytes held by tensors while ``fn`` runs — every tensor an operator returns
  counts from its creation until the last reference to its storage is gone (a ``TorchDispatchMode``: exact for
  what the network allocates, on any device; an operator's own scratch space is not seen, hence the margin
  ``inference.sizing`` adds).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import torch

from inpaintlab.errors import ConfigError

__all__ = ["available_bytes", "format_bytes", "measure_peak", "parse_bytes"]

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1.5GB"``, ``"2GiB"``, ``"1000000"`` → bytes (binary units)."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
    if not found or float(found.group(1)) <= 0:
        raise ConfigError(f"expected a memory size such as 8G or 512M, got {text!r}")
    return int(float(found.group(1)) * _UNITS[found.group(2).upper()])


def format_bytes(n: float) -> str:
    """1536 MiB → "1.5 GB" (binary units, written as the tools print them)."""
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{max(n, 0) / 2**10:.0f} KB"


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def _cgroup_headroom() -> int | None:
    """Bytes this process's cgroup may still allocate (v2 ``memory.max``, v1 ``memory.limit_in_bytes``)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "":  # cgroup v2
            base = Path("/sys/fs/cgroup") / rel.lstrip("/")
            limit, used = _read_int(base / "memory.max"), _read_int(base / "memory.current")
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / rel.lstrip("/")
            limit, used = _read_int(base / "memory.limit_in_bytes"), _read_int(base / "memory.usage_in_bytes")
        else:
            continue
        if limit is not None and used is not None and limit < 2**60:
            return max(0, limit - used)
    return None


def _host_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
        else:
            raise OSError
    except (OSError, ValueError):
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # free RAM: a lower bound
    headroom = _cgroup_headroom()
    return min(avail, headroom) if headroom is not None else avail


def available_bytes(device: str | torch.device = "cpu") -> int:
    """Memory a fill may use on ``device`` now, without swapping (see the module's docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return int(_host_available())


def measure_peak(fn: Callable[[], object]) -> int | None:
    """Peak bytes held by the tensors ``fn`` creates (its inputs excluded); None when this PyTorch lacks the
    dispatch hooks it relies on."""
    try:
        from torch.multiprocessing.reductions import StorageWeakRef
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves
    except ImportError:
        return None

    class _Peak(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.live: dict[int, tuple[StorageWeakRef, int]] = {}
            self.now = self.peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
                self.now -= self.live.pop(key)[1]
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor) and t.device.type != "meta":
                    storage = t.untyped_storage()
                    key = storage.data_ptr()
                    if key and key not in self.live:
                        self.live[key] = (StorageWeakRef(storage), storage.nbytes())
                        self.now += storage.nbytes()
            self.peak = max(self.peak, self.now)
            return out

    with _Peak() as probe:
        fn()
    return probe.peak

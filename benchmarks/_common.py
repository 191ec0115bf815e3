"""Forward-pass benchmarks: median time and peak memory of a model at one input size, each in a fresh process.

``measure_forward(build_model_fn, size, device, repeats)`` builds the model, makes its inputs (by default an
inpainting pair: a B×3×S×S masked image and a centred square hole of side ``hole``·S), runs ``warmup`` + ``repeats``
forward passes in eval mode under ``torch.inference_mode`` and returns a ``ForwardMeasurement``:

- time: the median wall time of the timed passes (CUDA synchronised before and after each), and the median
  CPU time of this process over each pass (``median_cpu_s``: on a CPU shared with other jobs, with one torch
  thread, what the pass itself computed — waiting for a core is not counted; on CUDA it is the host's share);
- memory on CUDA: ``torch.cuda.max_memory_allocated`` over the passes (weights and inputs included), and the
  part above what was allocated before the first pass (``extra_mb``);
- memory on CPU: the peak resident set size of the fresh subprocess the measurement ran in, read by the parent
  from the kernel's accounting of that one child (``os.wait4``; ``getrusage(RUSAGE_CHILDREN)`` would report the
  largest child so far, not this one), and the peak before the first pass (``base_mb``: interpreter, torch,
  weights, inputs), so ``extra_mb`` is what the forward passes added.

A fresh process per measurement keeps one size's peak from hiding the next one's and makes each number
independent of what ran before. The model factory and the inputs factory are therefore named by import path:
pass an importable top-level callable (a function or a class) or a ``functools.partial`` of one with
JSON-serialisable arguments (callables of this file are importable as ``_common``: the child runs this file,
so its folder is on the path).

Masks for the benchmarks (``mask_inputs``): a centred square of side ``hole``·S (the default), a centred
``box`` of given fractions of the sides, or free-form ``strokes`` (DeepFill v2's generator) drawn until they
cover a fraction of the image. ``composited`` wraps a coarse-to-fine generator so that the timed forward is
``forward(masked, mask, composited=True)`` — what inference that composites runs (issue 18: attention only
where the hole needs it).

    python benchmarks/_common.py inpaintlab.models.coarse_to_fine:deepfill_v2 --size 256
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CLOCKS",
    "ForwardMeasurement",
    "attention_inputs",
    "composited",
    "device_name",
    "inpainting_inputs",
    "mask_inputs",
    "matmul_gflops",
    "measure_forward",
]


@dataclass
class ForwardMeasurement:
    """One model at one size on one device: median seconds per forward pass and peak memory in MiB."""

    size: int
    device: str
    median_s: float | None = None
    times_s: list[float] = field(default_factory=list)
    median_cpu_s: float | None = None
    cpu_times_s: list[float] = field(default_factory=list)
    peak_mb: float | None = None
    base_mb: float | None = None
    extra_mb: float | None = None
    memory: str = ""
    threads: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.median_s is not None

    def seconds(self, clock: str = "wall") -> float | None:
        """The median time per pass on ``clock``: "wall" or "cpu" (process CPU time)."""
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        return self.median_s if clock == "wall" else self.median_cpu_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CLOCKS = ("wall", "cpu")


# ---------------------------------------------------------------------------------------------- inputs
def centre_hole(size: int, batch: int = 1, hole: float = 0.5, device: Any = "cpu"):
    """B×1×S×S float mask (1 = hole): a centred square of side round(hole·S)."""
    import torch

    if not 0.0 <= hole <= 1.0:
        raise ValueError(f"hole must be a fraction of the side in [0, 1], got {hole}")
    mask = torch.zeros(batch, 1, size, size, device=device)
    side = round(size * hole)
    lo = (size - side) // 2
    mask[:, :, lo : lo + side, lo : lo + side] = 1.0
    return mask


def inpainting_inputs(size: int, device: Any = "cpu", batch: int = 1, hole: float = 0.5, channels: int = 3):
    """(masked image, mask) for a generator ``forward(masked_image, mask)``: random pixels in [-1, 1]."""
    import torch

    g = torch.Generator().manual_seed(0)
    image = (torch.rand(batch, channels, size, size, generator=g) * 2 - 1).to(device)
    mask = centre_hole(size, batch, hole, device)
    return image * (1 - mask), mask


def box_hole(size: int, batch: int = 1, box: Sequence[float] = (0.5, 0.5), device: Any = "cpu"):
    """B×1×S×S mask: a centred rectangle of round(box[0]·S) rows × round(box[1]·S) columns."""
    import torch

    fh, fw = (float(v) for v in box)
    if not (0.0 <= fh <= 1.0 and 0.0 <= fw <= 1.0):
        raise ValueError(f"box must be fractions of the sides in [0, 1], got {box}")
    mask = torch.zeros(batch, 1, size, size, device=device)
    h, w = round(size * fh), round(size * fw)
    top, left = (size - h) // 2, (size - w) // 2
    mask[:, :, top : top + h, left : left + w] = 1.0
    return mask


def stroke_hole(size: int, batch: int = 1, cover: float = 0.3, seed: int = 0, device: Any = "cpu"):
    """B×1×S×S mask: DeepFill v2 free-form strokes (widths scaled with S/256) added one by one until they cover
    ``cover`` of the image; the same mask for every sample, a function of ``seed`` alone."""
    import torch

    from inpaintlab.data.masks.strokes import FreeFormMask

    if not 0.0 < cover < 1.0:
        raise ValueError(f"cover must be a fraction in (0, 1), got {cover}")
    scale = size / 256
    gen = FreeFormMask(num_strokes=1, width=(12 * scale, 40 * scale))  # one stroke at a time: close to cover
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(1, 1, size, size)
    while float(mask.mean()) < cover:
        mask = torch.maximum(mask, gen(1, size, size, g))
    return mask.expand(batch, -1, -1, -1).contiguous().to(device)


def mask_inputs(
    size: int,
    device: Any = "cpu",
    batch: int = 1,
    hole: float = 0.5,
    channels: int = 3,
    kind: str = "centre",
    box: Sequence[float] = (0.5, 0.5),
    cover: float = 0.3,
):
    """(masked image, mask) with a ``kind`` of hole: "centre" (square of side ``hole``·S), "box" (``box``
    fractions of the sides) or "strokes" (covering ``cover``). Random pixels in [-1, 1]."""
    import torch

    g = torch.Generator().manual_seed(0)
    image = (torch.rand(batch, channels, size, size, generator=g) * 2 - 1).to(device)
    if kind == "centre":
        mask = centre_hole(size, batch, hole, device)
    elif kind == "box":
        mask = box_hole(size, batch, box, device)
    elif kind == "strokes":
        mask = stroke_hole(size, batch, cover, device=device)
    else:
        raise ValueError(f"unknown mask kind {kind!r}; expected centre, box or strokes")
    return image * (1 - mask), mask


def mask_description(kind: str, hole: float, box: Sequence[float], cover: float) -> str:
    if kind == "box":
        return f"centred {box[0]:g}·S × {box[1]:g}·S box ({100 * box[0] * box[1]:.1f} % of the image)"
    if kind == "strokes":
        return f"free-form strokes covering ≥ {100 * cover:.0f} %"
    return f"centred {hole:g}·S square hole"


def _composited_module():
    import torch

    class _Composited(torch.nn.Module):
        def __init__(self, factory: str, **kwargs: Any) -> None:
            super().__init__()
            module, name = factory.split(":", 1) if ":" in factory else ("inpaintlab.models.coarse_to_fine", factory)
            self.generator = getattr(importlib.import_module(module), name)(**kwargs)

        def forward(self, masked: Any, mask: Any) -> Any:
            return self.generator(masked, mask, composited=True)

    return _Composited


def composited(factory: str = "deepfill_v2", **kwargs: Any) -> Any:
    """The generator ``factory(**kwargs)`` (a name in ``inpaintlab.models.coarse_to_fine`` or
    'module:callable') whose forward is ``forward(masked, mask, composited=True)``."""
    return _composited_module()(factory, **kwargs)


def device_name(device: str) -> str:
    """A human name for the device: the GPU's name, or the CPU model from /proc/cpuinfo."""
    import platform

    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def attention_inputs(
    size: int, device: Any = "cpu", batch: int = 1, hole: float = 0.5, channels: int = 96, scale: int = 4
):
    """(foreground, background, mask) for ``ContextualAttention`` as the DeepFill v2 generator calls it on an
    S×S image: the refinement branch's features at S/``scale`` with ``channels`` channels (v2: 96), the S×S mask."""
    import torch

    if size % scale:
        raise ValueError(f"size {size} is not a multiple of the feature scale {scale}")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size // scale, size // scale, generator=g).to(device)
    return x, x, centre_hole(size, batch, hole, device)


# ---------------------------------------------------------------------------------------------- specs
def _spec(fn: Callable[..., Any] | str, what: str) -> dict[str, Any]:
    """An importable description of ``fn``: {"target": "module:qualname", "args": [...], "kwargs": {...}}."""
    if isinstance(fn, str):
        if ":" not in fn:
            raise ValueError(f"{what} {fn!r} must read 'package.module:callable'")
        return {"target": fn, "args": [], "kwargs": {}}
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    while isinstance(fn, functools.partial):
        args = [*fn.args, *args]
        kwargs = {**fn.keywords, **kwargs}
        fn = fn.func
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "<" in qualname or module == "__main__":
        raise ValueError(
            f"{what} {fn!r} cannot be rebuilt in a fresh process: pass an importable top-level function or "
            "class (or a functools.partial of one), or 'package.module:callable'"
        )
    spec = {"target": f"{module}:{qualname}", "args": args, "kwargs": kwargs}
    try:
        json.dumps(spec)
    except TypeError as err:
        raise ValueError(f"{what} arguments must be JSON-serialisable to reach the subprocess: {err}") from None
    return spec


def _resolve(spec: dict[str, Any]) -> Callable[..., Any]:
    module, qualname = spec["target"].split(":", 1)
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return functools.partial(obj, *spec.get("args", []), **spec.get("kwargs", {}))


# ---------------------------------------------------------------------------------------------- the measurement
def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _stats(model: Any) -> dict[str, Any]:
    """``last_stats`` of every submodule that keeps them (e.g. the contextual attention layer's FLOP count)."""
    out: dict[str, Any] = {}
    modules = model.named_modules() if hasattr(model, "named_modules") else []
    for name, mod in modules:
        st = getattr(mod, "last_stats", None)
        if isinstance(st, dict):
            out[name or "."] = {k: v for k, v in st.items() if isinstance(v, (int, float, str, bool))}
    return out


def _run(config: dict[str, Any]) -> dict[str, Any]:
    """Build, warm up and time in this process; returns the fields of a ForwardMeasurement."""
    import torch

    device, size = config["device"], int(config["size"])
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    model = _resolve(config["build"])()
    if hasattr(model, "to"):
        model = model.to(device)
    if hasattr(model, "eval"):
        model.eval()
    inputs = _resolve(config["inputs"])(size, device, int(config["batch"]), float(config["hole"]))
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    cuda = device.startswith("cuda")
    _sync(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device) / 2**20
    else:
        base = _maxrss_mb()
    times: list[float] = []
    cpu_times: list[float] = []
    budget = config.get("budget_s")
    with torch.inference_mode():
        for _ in range(int(config["warmup"])):
            out = model(*inputs)
            del out
        _sync(device)
        for _ in range(int(config["repeats"])):
            c0, t0 = time.process_time(), time.perf_counter()
            out = model(*inputs)
            _sync(device)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
            del out
            if budget is not None and sum(times) > float(budget):
                break
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        memory = "cuda max_memory_allocated"
    else:
        peak = _maxrss_mb()
        memory = "cpu peak RSS (this process)"
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        "median_cpu_s": statistics.median(cpu_times),
        "cpu_times_s": cpu_times,
        "peak_mb": peak,
        "base_mb": base,
        "extra_mb": max(peak - base, 0.0),
        "memory": memory,
        "threads": torch.get_num_threads(),
        "stats": _stats(model),
    }


def _run_in_subprocess(config: dict[str, Any], timeout_s: float | None) -> dict[str, Any]:
    """Run ``_run`` in a fresh interpreter; the peak RSS comes from the kernel's rusage of that child alone."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(config)]
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        killed = threading.Event()

        def _kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout_s, _kill) if timeout_s else None
        if timer is not None:
            timer.start()
        try:
            stdout = proc.stdout.read() if proc.stdout else ""
            # wait4 reaps exactly this child and returns its own resource usage (ru_maxrss in KiB)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    child_peak = usage.ru_maxrss / 1024
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        if killed.is_set():
            why = f"timed out after {timeout_s:g} s"
        elif proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            why = f"killed by {sig}" + (" (out of memory?)" if sig == "SIGKILL" else "")
        else:
            tail = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:]
            why = f"exit {proc.returncode}: {tail[0] if tail else 'no output'}"
        return {"error": why, "peak_mb": child_peak, "memory": "cpu peak RSS (subprocess)"}
    result = json.loads(lines[-1])
    if not str(config["device"]).startswith("cuda"):
        result["peak_mb"] = child_peak
        result["extra_mb"] = max(child_peak - result["base_mb"], 0.0)
        result["memory"] = "cpu peak RSS (subprocess)"
    return result


def measure_forward(
    build_model_fn: Callable[..., Any] | str,
    size: int,
    device: str = "cpu",
    repeats: int = 3,
    *,
    inputs_fn: Callable[..., Any] | str = inpainting_inputs,
    batch: int = 1,
    hole: float = 0.5,
    warmup: int = 1,
    threads: int | None = None,
    budget_s: float | None = None,
    timeout_s: float | None = None,
    isolate: bool = True,
) -> ForwardMeasurement:
    """Median forward time (s) and peak memory (MiB) of ``build_model_fn()`` at ``size`` on ``device``.

    ``inputs_fn(size, device, batch, hole)`` returns the forward's positional arguments (default: a masked
    image and its mask). ``budget_s`` stops repeating once the timed passes have taken that long (at least one
    runs); ``timeout_s`` kills the measurement. ``isolate=False`` measures in this process: fine for CUDA, but
    on the CPU ``peak_mb`` is then this process's lifetime peak.
    """
    if int(size) < 1 or int(repeats) < 1 or int(batch) < 1 or int(warmup) < 0:
        raise ValueError(f"need size, repeats, batch >= 1 and warmup >= 0, got {size}, {repeats}, {batch}, {warmup}")
    device = str(device)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available here")
    elif device != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    config = {
        "build": _spec(build_model_fn, "build_model_fn"),
        "inputs": _spec(inputs_fn, "inputs_fn"),
        "size": int(size),
        "device": device,
        "repeats": int(repeats),
        "batch": int(batch),
        "hole": float(hole),
        "warmup": int(warmup),
        "threads": threads,
        "budget_s": budget_s,
    }
    try:
        result = _run_in_subprocess(config, timeout_s) if isolate else _run(config)
    except Exception as err:  # in-process failures (e.g. CUDA out of memory) become a failed measurement
        if isolate:
            raise
        result = {"error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
    return ForwardMeasurement(size=int(size), device=device, **result)


def matmul_gflops(device: str = "cpu", seconds: float = 2.0, n: int = 2048) -> float:
    """This machine's fp32 n×n×n matmul throughput (GFLOP/s) over about ``seconds`` of back-to-back products."""
    import torch

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    c = a @ b
    _sync(device)
    count, t0 = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - t0 < seconds:
        torch.matmul(a, b, out=c)
        count += 1
        _sync(device)
    return 2 * n**3 * count / (time.perf_counter() - t0) / 1e9


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    p.add_argument("build", nargs="?", help="model factory, 'package.module:callable'")
    p.add_argument("--inputs", default="_common:inpainting_inputs")
    p.add_argument("--size", type=int, nargs="+", default=[256])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hole", type=float, default=0.5)
    args = p.parse_args(argv)
    if args.child:
        # the last stdout line is the result; everything else the model prints goes before it
        print(json.dumps(_run(json.loads(args.child))), flush=True)
        return
    if not args.build:
        p.error("give the model factory, e.g. inpaintlab.models.coarse_to_fine:deepfill_v2")
    for size in args.size:
        m = measure_forward(args.build, size, args.device, args.repeats, inputs_fn=args.inputs, hole=args.hole)
        print(json.dumps({k: v for k, v in m.to_dict().items() if k != "stats"}), flush=True)


if __name__ == "__main__":
    main()

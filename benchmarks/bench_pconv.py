"""`make bench-pconv`: the cost of PartialConv2d against a plain nn.Conv2d of the same shape.

Issue 25's aim: at most 1.15× ``nn.Conv2d(64, 128, 3, padding=1)`` on a batch of 4 256² inputs with a
multi-channel (B×64×H×W) mask, one thread, forward. The layer's extra work is the input masking (x·(1−m)),
the mask count (channel sum, then a k×k box filter — not a C_in·k² convolution) and the renormalisation
(one fused multiply-add over the output); the "naive" row counts NVIDIA's way (a full C_in·k² convolution of
the mask) for comparison. Forward passes under ``torch.inference_mode``; the three layers are timed in
interleaved rounds (so a load spike on a shared machine hits all of them) and each row is the median over
``--repeats`` rounds after ``--warmup``; the ratios are medians of the per-round ratios, on the wall clock and
on this thread's CPU time (with one thread on a CPU shared with other jobs: what the pass computed, not the
time it waited for a core).

    python benchmarks/bench_pconv.py                  # 1 thread, 7 rounds, printed
    python benchmarks/bench_pconv.py --repeats 15 --write   # also into experiments/pconv/README.md
    python benchmarks/bench_pconv.py --smoke          # 32², batch 1, one round: seconds (CI), writes nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _common import device_name
from torch import nn

from inpaintlab.nn import PartialConv2d
from inpaintlab.utils.provenance import write_between

REPO = Path(__file__).resolve().parents[1]
README = REPO / "experiments" / "pconv" / "README.md"
START, END = "<!-- bench-pconv:start -->", "<!-- bench-pconv:end -->"


class NaivePartialConv2d(PartialConv2d):
    """NVIDIA/partialconv's multi-channel count: a convolution of the C_in-channel mask with a 1×C_in×k×k ones kernel."""

    def mask_update(self, mask):
        valid = 1.0 - mask.float()
        ones = torch.ones(1, self.in_channels, *self.kernel_size)
        count = F.conv2d(valid, ones, None, self.stride, self.padding, self.dilation)
        update = count.clamp(0.0, 1.0)
        return self.window / (count + 1e-8) * update, update


def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """{layer: {"wall": [s per round], "cpu": [...]}} over interleaved rounds."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    conv = nn.Conv2d(args.cin, args.cout, 3, padding=1).eval()
    pconv = PartialConv2d(args.cin, args.cout, 3, padding=1, multi_channel=True).eval()
    naive = NaivePartialConv2d(args.cin, args.cout, 3, padding=1, multi_channel=True).eval()
    x = torch.randn(args.batch, args.cin, args.size, args.size)
    mask = (torch.rand(args.batch, 1, args.size, args.size) < 0.25).float()
    mask = mask.expand(-1, args.cin, -1, -1).contiguous()  # a real multi-channel mask, not an expanded view
    runs = {"nn.Conv2d": lambda: conv(x), "PartialConv2d": lambda: pconv(x, mask),
            "naive C_in·k² mask conv": lambda: naive(x, mask)}
    times: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in runs}
    with torch.inference_mode():
        for r in range(args.warmup + args.repeats):
            for name, fn in runs.items():
                c0, t0 = time.thread_time(), time.perf_counter()
                fn()
                wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
                if r >= args.warmup:
                    times[name]["wall"].append(wall)
                    times[name]["cpu"].append(cpu)
    return times


def table(times: dict[str, dict[str, list[float]]], args: argparse.Namespace, command: str) -> str:
    base = times["nn.Conv2d"]
    lines = [
        f"Measured {dt.date.today().isoformat()} on {device_name('cpu')}, torch {torch.__version__}, "
        f"{args.threads} thread(s): x {args.batch}×{args.cin}×{args.size}², mask {args.batch}×{args.cin}×"
        f"{args.size}² (25 % holes), 3×3 → {args.cout}, forward; medians of {args.repeats} interleaved rounds "
        f"after {args.warmup} warm-up (`{command}`).",
        "",
        "| layer | wall ms | CPU ms | × nn.Conv2d (wall) | × nn.Conv2d (CPU) |",
        "|---|---|---|---|---|",
    ]
    for name, ts in times.items():
        ratio = {c: statistics.median(t / b for t, b in zip(ts[c], base[c])) for c in ("wall", "cpu")}
        lines.append(f"| {name} | {1000 * statistics.median(ts['wall']):.1f} | {1000 * statistics.median(ts['cpu']):.1f} "
                     f"| {ratio['wall']:.3f} | {ratio['cpu']:.3f} |")
    return "\n".join(lines)


def write_readme(text: str, path: Path = README) -> None:
    if not write_between(path, START, END, text):
        raise SystemExit(f"{path} has no {START} … {END} markers to write the table between")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--cin", type=int, default=64)
    p.add_argument("--cout", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--write", action="store_true", help="write the table into experiments/pconv/README.md")
    p.add_argument("--smoke", action="store_true", help="32², batch 1, one round, writes nothing: seconds (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.batch, args.size, args.warmup, args.repeats, args.write = 1, 32, 0, 1, False
    command = "python benchmarks/bench_pconv.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = table(measure(args), args, command.strip())
    print(text)
    if args.write:
        write_readme(text)
        print(f"written into {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench-pconv`: the cost of PartialConv2d against a plain nn.Conv2d of the same shape.

Issue 9's aim: at most 1.2× ``nn.Conv2d(64, 128, 3, padding=1)`` on a batch of 4 256² inputs with a
multi-channel (B×64×H×W) mask, on the CPU. The layer's extra work is the input masking (x·(1−m)), the mask
count (channel sum, then a k×k box filter — not a C_in·k² convolution) and the output renormalisation; the
"naive" row times NVIDIA's way (a full C_in·k² convolution of the mask) for comparison. Forward passes under
``torch.inference_mode``; the three layers are timed in interleaved rounds (so a load spike on a shared machine
hits all of them) and each row is the median over ``--repeats`` rounds after ``--warmup``; the ratio is the
median of the per-round ratios.

    python benchmarks/bench_pconv.py                  # 1 thread, 7 rounds
    python benchmarks/bench_pconv.py --threads 2 --repeats 9 --write
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from inpaintlab.utils.benchmark import device_name
from torch import nn

from inpaintlab.nn import PartialConv2d


class NaivePartialConv2d(PartialConv2d):
    """NVIDIA/partialconv's multi-channel count: a convolution of the C_in-channel mask with a 1×C_in×k×k ones kernel."""

    def mask_update(self, mask):
        valid = 1.0 - mask.float()
        ones = torch.ones(1, self.in_channels, *self.kernel_size)
        count = F.conv2d(valid, ones, None, self.stride, self.padding, self.dilation)
        update = count.clamp(0.0, 1.0)
        return self.window / (count + 1e-8) * update, update


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--cin", type=int, default=64)
    p.add_argument("--cout", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    conv = nn.Conv2d(args.cin, args.cout, 3, padding=1).eval()
    pconv = PartialConv2d(args.cin, args.cout, 3, padding=1, multi_channel=True).eval()
    naive = NaivePartialConv2d(args.cin, args.cout, 3, padding=1, multi_channel=True).eval()
    x = torch.randn(args.batch, args.cin, args.size, args.size)
    mask = (torch.rand(args.batch, 1, args.size, args.size) < 0.25).float().expand(-1, args.cin, -1, -1).contiguous()
    runs = {"nn.Conv2d": lambda: conv(x), "PartialConv2d": lambda: pconv(x, mask),
            "naive C_in·k² mask conv": lambda: naive(x, mask)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.inference_mode():
        for r in range(args.warmup + args.repeats):
            for name, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                if r >= args.warmup:
                    times[name].append(dt)
    base = times["nn.Conv2d"]
    print(f"{device_name('cpu')}, {args.threads} thread(s); x {args.batch}×{args.cin}×{args.size}², "
          f"mask {args.batch}×{args.cin}×{args.size}², 3×3 → {args.cout}; median of {args.repeats} rounds")
    print(f"{'layer':<26} {'ms':>9} {'× nn.Conv2d':>12}")
    for name, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        print(f"{name:<26} {1000 * statistics.median(ts):9.1f} {ratio:12.3f}")


if __name__ == "__main__":
    main()

"""Benchmark DeepFill contextual attention (DeepFill v1 Sec. 3.2) at the DeepFill v2 generator's sizes.

For an image of side S the v2 generator (cnum 48, gated: 24/48/96 effective channels) runs attention on its
refinement branch at S/4 with 96 channels; matching happens at S/8. Each size runs in its own subprocess so
that the CPU peak memory (ru_maxrss) belongs to that size alone.

    python benchmarks/bench_attention.py --sizes 256 512 1024 2048 --device cpu
    python benchmarks/bench_attention.py --smoke     # 64² on the CPU, one run: seconds (CI)

Reports: median wall time over the repeats, achieved GFLOP/s (the multiply-adds the layer actually did, ×2;
patches the mask excludes are skipped) and the dense-equivalent GFLOP/s (as if nothing were skipped), a plain
fp32 square matmul's GFLOP/s measured in the same process right after the layer (about as long as it ran),
their ratio ("eff", actual FLOPs), and the layer's peak extra memory (CPU: ru_maxrss growth during the layer
runs; CUDA: torch.cuda.max_memory_allocated above the inputs).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from _common import _sync, matmul_gflops


def child(args: argparse.Namespace) -> dict:
    import torch

    from inpaintlab.nn.contextual_attention import ContextualAttention

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 throughput on both sides of the comparison
    torch.backends.cudnn.allow_tf32 = False
    dev, S = args.device, args.size
    h = S // 4
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, args.channels, h, h, generator=g).to(dev)
    mask = torch.zeros(1, 1, S, S, device=dev)
    side = int(S * args.hole)
    lo = (S - side) // 2
    mask[:, :, lo : lo + side, lo : lo + side] = 1
    layer = ContextualAttention(chunk_size=args.chunk_size) if args.chunk_size else ContextualAttention()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    times: list[float] = []
    with torch.inference_mode():
        while len(times) < args.repeats:
            _sync(dev)
            t = time.perf_counter()
            out = layer(x, x, mask)
            _sync(dev)
            times.append(time.perf_counter() - t)
            del out
            if sum(times) > args.budget_s:
                break
    if dev == "cuda":
        peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    st = layer.last_stats
    t = statistics.median(times)
    dense = 2 * st["positions"] * st["patches"] * args.channels * (9 + 16)
    # after the layer, so that the matmul's buffers do not hide the layer's memory growth
    if args.smoke:
        mm = matmul_gflops(dev, 0.05, n=256)
    else:
        mm = (matmul_gflops(dev, 2.0) + matmul_gflops(dev, min(max(2.0, sum(times)), 30.0))) / 2
    return {
        "size": S,
        "features": f"{args.channels}x{h}x{h}",
        "patches": st["patches"],
        "scored": st["scored_patches"],
        "pasted": st["pasted_patches"],
        "chunks": st["chunks"],
        "runs": len(times),
        "time_s": t,
        "gflops": st["flops"] / t / 1e9,
        "dense_gflops": dense / t / 1e9,
        "matmul_gflops": mm,
        "efficiency": st["flops"] / t / 1e9 / mm,
        "peak_mb": peak_mb,
        "input_mb": x.numel() * 4 / 2**20,
        "threads": torch.get_num_threads(),
        "device": dev,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048], help="image sides S")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per size (median reported)")
    p.add_argument("--budget-s", type=float, default=60.0, help="stop repeating a size after this many s")
    p.add_argument("--channels", type=int, default=96, help="attention feature channels (v2: cnum 48 × 2)")
    p.add_argument("--hole", type=float, default=0.5, help="centre-box hole side as a fraction of S")
    p.add_argument("--chunk-size", type=int, default=0, help="layer chunk_size (0: the layer's default)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--json", default="", help="also write the results to this JSON file")
    p.add_argument("--smoke", action="store_true", help="64² on the CPU, one run, no JSON: seconds (CI)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke and not args.child:
        args.sizes, args.device, args.repeats, args.json = [64], "cpu", 1, ""

    if args.child:
        print(json.dumps(child(args)))
        return 0

    rows, failed = [], False
    head = (
        f"{'S':>5} {'features':>12} {'patches':>7} {'pasted':>7} {'chunks':>6} {'time s':>8} "
        f"{'GFLOP/s':>8} {'dense':>8} {'matmul':>8} {'eff':>5} {'peak MB':>8}"
    )
    print(head, flush=True)
    for S in args.sizes:
        cmd = [sys.executable, __file__, "--child", "--size", str(S)]
        for flag in ("device", "repeats", "budget_s", "channels", "hole", "chunk_size", "threads"):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        cmd += ["--smoke"] if args.smoke else []
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{S:>5} failed (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
            failed = True
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(
            f"{S:>5} {r['features']:>12} {r['patches']:>7} {r['pasted']:>7} {r['chunks']:>6} "
            f"{r['time_s']:>8.3f} {r['gflops']:>8.1f} {r['dense_gflops']:>8.1f} {r['matmul_gflops']:>8.1f} "
            f"{100 * r['efficiency']:>4.0f}% {r['peak_mb']:>8.0f}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

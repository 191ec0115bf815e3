"""`make bench-yeh`: images per second of Yeh et al.'s latent search (+ Poisson blend) at 64², batch 1 vs 64.

The DCGAN prior of ``yeh_celeba`` (64², 3 channels, z ∈ R^100; random weights: the cost does not depend on
them) searched with Adam for ``--steps`` steps (the paper's 1,500 by default; the CPU run may use fewer, the
table says how many) on a centred 32² hole, then Poisson-blended. The whole batch is one search (one G and
one D forward per step), so a batch of 64 should cost far less than 64 searches of one image: the aim is
time(64) ≤ 4 × time(1). The table is printed and written into experiments/yeh/README.md between the
``bench-yeh`` markers (``--no-write`` to skip).

    python benchmarks/bench_yeh.py                      # cuda if present, else cpu; 1,500 steps
    python benchmarks/bench_yeh.py --steps 100 --device cpu
    python benchmarks/bench_yeh.py --smoke               # 2 steps, batches 1 and 2, CPU: seconds (CI), writes nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

import torch
from _common import device_name

from inpaintlab.imaging import poisson_blend
from inpaintlab.models.dcgan import DCGANDiscriminator, DCGANGenerator, latent_search
from inpaintlab.utils.provenance import stamp, write_between

REPO = Path(__file__).resolve().parents[1]
README = REPO / "experiments" / "yeh" / "README.md"
START, END = "<!-- bench-yeh:start -->", "<!-- bench-yeh:end -->"


def run_once(g, d, batch: int, steps: int, device: str) -> tuple[float, float]:
    """Seconds of the search and of the blend for one batch."""
    image = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1
    mask = torch.zeros(batch, 1, 64, 64, device=device)
    mask[..., 16:48, 16:48] = 1
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t0 = time.perf_counter()
    found = latent_search(g, d, image, mask, steps=steps, seed=0)
    sync()
    t1 = time.perf_counter()
    with torch.no_grad():
        poisson_blend(image, found["output"], mask)
    sync()
    return t1 - t0, time.perf_counter() - t1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--smoke", action="store_true", help="2 steps, batches 1 and 2, CPU, writes nothing (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.batches, args.device, args.warmup_steps, args.no_write = 2, [1, 2], "cpu", 1, True
    command = "python benchmarks/bench_yeh.py " + " ".join(sys.argv[1:] if argv is None else argv)
    torch.manual_seed(0)
    g = DCGANGenerator(image_size=64, channels=3).to(args.device)
    d = DCGANDiscriminator(image_size=64, channels=3).to(args.device)
    for b in args.batches:  # warm-up (cuDNN autotuning, allocator)
        run_once(g, d, b, args.warmup_steps, args.device)
    rows = []
    for b in args.batches:
        search_s, blend_s = run_once(g, d, b, args.steps, args.device)
        rows.append((b, search_s, blend_s))
    base = rows[0][1] + rows[0][2]
    name = device_name(args.device)
    lines = [
        f"Device: {args.device} ({name}); {args.steps} search steps"
        + ("" if args.steps == 1500 else " (the paper's 1,500: multiply the times by 1500/steps)")
        + f"; {dt.date.today().isoformat()}; torch {torch.__version__}, {torch.get_num_threads()} threads "
        f"(`{command.strip()}`).",
        "",
        "| batch | search s | blend s | s per image | images/s | time ÷ time(batch 1) |",
        "|---|---|---|---|---|---|",
    ]
    for b, s, bl in rows:
        total = s + bl
        lines.append(f"| {b} | {s:.2f} | {bl:.3f} | {total / b:.3f} | {b / total:.2f} | {total / base:.2f} |")
    text = "\n".join([*lines, "", stamp(vars(args), shlex.join(["python", "benchmarks/bench_yeh.py", *sys.argv[1:]]))]) + "\n"
    print(text)
    if not args.no_write and args.readme.is_file() and write_between(args.readme, START, END, text):
        print(f"written into {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

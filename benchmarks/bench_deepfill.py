"""`make bench-deepfill`: what contextual attention costs the DeepFill v2 generator (feeds CR-Fill's Table 5).

For every image side S: the DeepFill v2 generator's forward pass (eval, batch 1, no grad) with the attention
branch on (``deepfill_v2()``, the full computation), on as inference that composites runs it
(``forward(..., composited=True)``: attention only where a hole pixel depends on it, issue 18) and off
(``deepfill_v2(attention=False)``: the same topology, pmconv6 feeding pmconv9 directly), the ratios, and the contextual attention layer alone on the features the generator
gives it (96 × S/4 × S/4, the S×S mask). Time is the median over ``--repeats`` passes after one warm-up pass;
memory is the peak of each measurement's own fresh process (CUDA: max_memory_allocated; CPU: peak RSS, with the
part the forward passes added in parentheses). The hole is a centred square of side ``--hole``·S, or
``--mask box --box FH FW`` (a centred FH·S × FW·S box) or ``--mask strokes --cover C`` (free-form strokes
covering C of the image).
The layer's GFLOP/s (the multiply-adds it did, ×2; patches the mask excludes are skipped) is compared with
this machine's fp32 matmul throughput, measured in this process before the sizes run.

    python benchmarks/bench_deepfill.py --sizes 256 512 1024 2048 --device cpu --markdown experiments/deepfill/bench_cpu.md
    python benchmarks/bench_deepfill.py --sizes 1024 --mask box --box 0.342 0.391 --no-layer
    python benchmarks/bench_deepfill.py --sizes 2048 --no-layer --threads 1 --clock cpu  # a CPU shared with others
    python benchmarks/bench_deepfill.py --smoke     # 64² on the CPU, one pass, writes nothing: seconds (CI)

``--clock cpu`` times each pass by the process's CPU time instead of the wall clock: with ``--threads 1`` on a
CPU shared with other jobs it counts what the pass computed, not the time it waited for a core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from functools import partial
from pathlib import Path

import torch
from _common import (
    CLOCKS,
    ForwardMeasurement,
    attention_inputs,
    composited,
    device_name,
    mask_description,
    mask_inputs,
    matmul_gflops,
    measure_forward,
)

from inpaintlab.models.coarse_to_fine import deepfill_v2
from inpaintlab.nn.contextual_attention import ContextualAttention
from inpaintlab.utils.provenance import stamp

# the generator's own layer: official contextual_attention(x, x, mask_s, 3, 1, rate=2), fuse on
CA_KWARGS = {"ksize": 3, "stride": 1, "rate": 2, "fuse_k": 3, "softmax_scale": 10.0, "fuse": True, "n_down": 2}
CA_CHANNELS = 96  # DeepFill v2 pmconv6: cnum 48 × 4, halved by gating
VARIANTS = {"on": "full", "restricted": "restricted", "off": "off"}  # measurement key -> --variants name
NOT_MEASURED = "not measured (--variants)"


def _mem(m: ForwardMeasurement, cpu: bool) -> str:
    if m.peak_mb is None:
        return "—"
    return f"{m.peak_mb:,.0f} (+{m.extra_mb:,.0f})" if cpu and m.extra_mb is not None else f"{m.peak_mb:,.0f}"


def _time(m: ForwardMeasurement, clock: str) -> str:
    if m.error == NOT_MEASURED:
        return "—"
    return f"{m.seconds(clock):.3f}" if m.ok else f"failed: {m.error}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def measure_size(size: int, args: argparse.Namespace) -> dict[str, ForwardMeasurement]:
    common = {"device": args.device, "repeats": args.repeats, "hole": args.hole, "budget_s": args.budget_s,
              "timeout_s": args.timeout_s, "threads": args.threads or None,
              "isolate": not args.smoke}  # --smoke: in this process (no torch import per measurement)
    inputs = partial(mask_inputs, kind=args.mask, box=list(args.box), cover=args.cover)
    builds = {"on": deepfill_v2, "restricted": partial(composited, "deepfill_v2"),
              "off": partial(deepfill_v2, attention=False)}
    out = {k: measure_forward(fn, size, inputs_fn=inputs, **common) if VARIANTS[k] in args.variants
           else ForwardMeasurement(size=size, device=args.device, error=NOT_MEASURED) for k, fn in builds.items()}
    if not args.no_layer:  # the layer alone, on the centred square (attention_inputs)
        out["layer"] = measure_forward(partial(ContextualAttention, **CA_KWARGS), size,
                                       inputs_fn=partial(attention_inputs, channels=CA_CHANNELS), **common)
    return out


HEADER = (
    "| S | v2, CA full: s | peak MiB | v2, CA restricted: s | peak MiB | v2, CA off: s | peak MiB "
    "| full/off time | restricted/off time | full/off peak | restricted/off peak | CA positions restricted "
    "| CA layer: s | peak MiB | CA share of v2 | CA GFLOP/s | CA / matmul |"
)


def row(size: int, r: dict[str, ForwardMeasurement], mm: float, cpu: bool, clock: str = "wall") -> tuple[str, dict]:
    on, rs, off, layer = r["on"], r["restricted"], r["off"], r.get("layer")
    flops = layer.stats.get(".", {}).get("flops") if layer is not None and layer.ok else None
    gflops = flops / layer.median_s / 1e9 if flops else None  # against the wall clock, as the matmul's
    ca = rs.stats.get("generator.refine.attention", {}) if rs.ok else {}
    t = {k: (m.seconds(clock) if m.ok else None) for k, m in (("on", on), ("rs", rs), ("off", off))}
    p = {k: (m.peak_mb if m.ok else None) for k, m in (("on", on), ("rs", rs), ("off", off))}
    cells = [
        f"{size}",
        _time(on, clock), _mem(on, cpu), _time(rs, clock), _mem(rs, cpu), _time(off, clock), _mem(off, cpu),
        _ratio(t["on"], t["off"]), _ratio(t["rs"], t["off"]), _ratio(p["on"], p["off"]), _ratio(p["rs"], p["off"]),
        f"{100 * ca['positions'] / ca['positions_full']:.0f} %" if ca.get("positions_full") else "—",
        _time(layer, clock) if layer is not None else "—", _mem(layer, cpu) if layer is not None else "—",
        f"{100 * layer.seconds(clock) / t['on']:.0f} %" if layer is not None and layer.ok and on.ok else "—",
        f"{gflops:.1f}" if gflops else "—",
        f"{100 * gflops / mm:.0f} %" if gflops and mm else "—",
    ]
    record = {"size": size, **{k: v.to_dict() for k, v in r.items()}, "ca_gflops": gflops, "matmul_gflops": mm}
    return "| " + " | ".join(cells) + " |", record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048], help="image sides S")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda, cuda:N")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per measurement (median reported)")
    p.add_argument("--budget-s", type=float, default=300.0, help="stop repeating a measurement after this many s")
    p.add_argument("--timeout-s", type=float, default=None, help="kill a measurement after this many s")
    p.add_argument("--hole", type=float, default=0.5, help="centred square hole, side as a fraction of S")
    p.add_argument("--mask", choices=["centre", "box", "strokes"], default="centre", help="the hole's kind")
    p.add_argument("--box", type=float, nargs=2, default=[0.342, 0.391], metavar=("FH", "FW"),
                   help="--mask box: centred box of FH·S rows × FW·S columns (default 350×400 of 1024: 13 %%)")
    p.add_argument("--cover", type=float, default=0.3, help="--mask strokes: fraction of the image covered")
    p.add_argument("--no-layer", action="store_true", help="skip the attention layer alone")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS.values()), default=list(VARIANTS.values()),
                   help="which generators to time (the others show —)")
    p.add_argument("--threads", type=int, default=0, help="torch threads in each measurement (0: torch default)")
    p.add_argument("--clock", choices=CLOCKS, default="wall",
                   help="wall time, or the process's CPU time (with --threads 1: robust to other jobs' load)")
    p.add_argument("--markdown", default="", help="also write the table (with the machine's description) here")
    p.add_argument("--json", default="", help="also write every measurement here")
    p.add_argument("--smoke", action="store_true", help="64² on the CPU, one pass, writes nothing: seconds (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.device, args.repeats, args.markdown, args.json = [64], "cpu", 1, "", ""
    bad = [s for s in args.sizes if s < 8 or s % 8]
    if bad:
        p.error(f"sizes must be multiples of 8 (the generator's stride), got {bad}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available on this machine")
    cpu = not args.device.startswith("cuda")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not cpu:
        torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 throughput the layer is compared with
    mm = matmul_gflops(args.device, 0.1, n=256) if args.smoke else matmul_gflops(args.device, 3.0)
    device = f"{device_name(args.device)}, {torch.get_num_threads()} threads"
    intro = (
        f"DeepFill v2 generator, batch 1, eval, no grad, {mask_description(args.mask, args.hole, args.box, args.cover)}"
        f" (CA layer alone: centred {args.hole:g}·S square), {'process CPU' if args.clock == 'cpu' else 'wall'} time, median of "
        f"{args.repeats} after 1 warm-up, each measurement in a fresh process. Device: {args.device} ({device}); "
        f"torch {torch.__version__}; fp32 matmul {mm:.0f} GFLOP/s; "
        f"memory: {'peak RSS of the process (what the forward passes added)' if cpu else 'max_memory_allocated'}; "
        f"{dt.date.today().isoformat()}."
    )
    print(intro, flush=True)
    print(HEADER, flush=True)
    sep = "|" + "|".join(["---:"] * (HEADER.count("|") - 1)) + "|"
    print(sep, flush=True)
    lines, records, failed = [], [], False
    for size in args.sizes:
        measured = measure_size(size, args)
        failed = failed or not all(m.ok or m.error == NOT_MEASURED for m in measured.values())
        line, record = row(size, measured, mm, cpu, args.clock)
        print(line, flush=True)
        lines.append(line)
        records.append(record)
    if args.markdown:
        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        cmd = "python benchmarks/bench_deepfill.py " + " ".join(sys.argv[1:] if argv is None else argv)
        path.write_text(f"{intro}\n\n`{cmd}`\n\n{HEADER}\n{sep}\n" + "\n".join(lines) + f"\n\n{stamp(vars(args), cmd)}\n")
        print(f"wrote {path}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"intro": intro, "rows": records}, indent=1))
    # at --smoke sizes nothing may fail (at real sizes a failure, e.g. out of memory, is a result)
    return 1 if args.smoke and failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench-crfill`: CR-Fill Table 5 — forward time of DeepFill v2 (contextual attention) vs the CR-Fill generator.

Both generators have the same gated coarse-to-fine topology (cnum 48, the same 4,052,478 parameters: the
attention layer has none); DeepFill v2 runs contextual attention (CA) on its refinement branch, CR-Fill does not
(its CR loss exists only in training). One run times both at every size: batch 1, eval mode,
``torch.inference_mode``, the median of ``--repeats`` passes after ``--warmup``, each (model, size) in its own
fresh process through ``benchmarks/_common.py``'s ``measure_forward`` — so peak memory belongs to that measurement
alone and an out-of-memory failure is reported as "fail", like the paper's CA at 2048² on an 8 GB GPU. Memory:
CUDA ``max_memory_allocated`` (weights and input included); CPU the process's peak RSS, with the part the
forward passes added in parentheses. The hole is a centred square of side ``--hole``·S (CA skips the patches
the hole excludes, so its cost depends on the hole), or ``--mask box --box FH FW`` / ``--mask strokes --cover C``.
DeepFill v2 is timed twice: the full computation ("CA full", plain forward) and as inference that composites
runs it ("CA restricted": ``forward(..., composited=True)``, attention only where a hole pixel depends on it,
issue 18 — the same composite).

    python benchmarks/bench_crfill.py                            # 512 1024 2048, cuda if present, else cpu
    python benchmarks/bench_crfill.py --sizes 256 512 --device cpu --no-write
    python benchmarks/bench_crfill.py --sizes 1024 --mask box --box 0.342 0.391 --repeats 3 --no-write
    python benchmarks/bench_crfill.py --sizes 1024 --mask box --threads 1 --clock cpu --no-write  # loaded CPU
    python benchmarks/bench_crfill.py --smoke                    # 64², CPU, seconds, writes nothing (CI)

``--clock cpu`` times each pass by the process's CPU time instead of the wall clock: with ``--threads 1`` on a
CPU shared with other jobs it counts what the pass computed, not the time it waited for a core.

The table (ours beside the paper's numbers) is printed and written into experiments/crfill/README.md between
the ``bench-crfill`` markers (``--no-write`` to skip, ``--readme`` for another file, ``--json`` for raw records).
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
    composited,
    device_name,
    mask_description,
    mask_inputs,
    measure_forward,
)

from inpaintlab.models.coarse_to_fine import crfill, deepfill_v2
from inpaintlab.utils.provenance import stamp, write_between

REPO = Path(__file__).resolve().parents[1]
README = REPO / "experiments" / "crfill" / "README.md"
START, END = "<!-- bench-crfill:start -->", "<!-- bench-crfill:end -->"
MODELS = {
    "ca": "DeepFill v2 (contextual attention, full)",
    "car": "DeepFill v2 (contextual attention restricted to the hole's reach, composited=True)",
    "cr": "CR-Fill (no attention)",
}
# Table 5 of the paper, seconds per image (GPU: RTX 2080 Super 8 GB; CPU: i7-9700F); None = "Fail" (GPU memory)
PAPER = {
    "cuda": {"ca": {512: 0.063, 1024: 0.371, 2048: None}, "cr": {512: 0.047, 1024: 0.179, 2048: 0.720}},
    "cpu": {"ca": {2048: 266.0}, "cr": {2048: 28.9}},
}


def build(model: str, ca_chunk_size: str = "default"):
    """An importable factory of the DeepFill v2 generator with CA ("ca"; "car": composited, restricted) or the
    CR-Fill generator ("cr")."""
    if model == "cr":
        return partial(crfill)
    kw = {} if ca_chunk_size == "default" else {
        "attention_kwargs": {"chunk_size": None if ca_chunk_size == "none" else int(ca_chunk_size)}
    }
    return partial(composited, "deepfill_v2", **kw) if model == "car" else partial(deepfill_v2, **kw)


def fmt_time(m: ForwardMeasurement, clock: str = "wall") -> str:
    if m.ok:
        return f"{m.seconds(clock):.3f}"
    return "fail (out of memory)" if "out of memory" in (m.error or "").lower() else f"fail ({m.error})"


def fmt_mem(m: ForwardMeasurement, cpu: bool) -> str:
    if not m.ok or m.peak_mb is None:
        return "–"
    return f"{m.peak_mb:,.0f} (+{m.extra_mb:,.0f})" if cpu and m.extra_mb is not None else f"{m.peak_mb:,.0f}"


def paper_value(device: str, model: str, size: int) -> float | None | str:
    table = PAPER["cuda" if device.startswith("cuda") else "cpu"]["ca" if model == "car" else model]
    return table.get(size, "–")


def _show(v: float | None | str) -> str:
    return "fail" if v is None else (v if isinstance(v, str) else f"{v:g}")


def markdown(rows: dict[tuple[str, int], ForwardMeasurement], args: argparse.Namespace, command: str) -> str:
    """The results table, the paper's numbers beside ours, and how it was measured."""
    cpu = not args.device.startswith("cuda")
    threads = next((m.threads for m in rows.values() if m.threads), None)
    params = sum(p.numel() for p in crfill().parameters())
    where = f"{device_name(args.device)} ({args.device}" + (f", {threads} threads" if cpu and threads else "") + ")"
    mem = "peak RSS MiB (+ added by the forward)" if cpu else "peak CUDA MiB"
    dev = "CPU" if cpu else "GPU"
    clock = "process CPU time" if args.clock == "cpu" else "wall time"
    lines = [
        (
            f"Measured {dt.date.today().isoformat()} on {where}, torch {torch.__version__}: batch 1, eval, "
            f"`torch.inference_mode`, {clock}, median of up to {args.repeats} passes after {args.warmup} warm-up, "
            f"{mask_description(args.mask, args.hole, args.box, args.cover)}; CA chunk size: {args.ca_chunk_size}. "
            "CA full: plain forward; CA restricted: `forward(..., composited=True)` (same composite). Both have "
            f"{params:,} parameters."
        ),
        "",
        f"`{command}`",
        "",
        (
            f"| S | CA full s | CA restricted s | CR s | CA full/CR | CA restricted/CR | CA full {mem} | "
            f"CA restricted {mem} | CR {mem} | paper {dev} CA s | paper {dev} CR s | paper CA/CR |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in args.sizes:
        ca, car, cr = rows[("ca", s)], rows[("car", s)], rows[("cr", s)]
        t_ca, t_car, t_cr = (m.seconds(args.clock) if m.ok else None for m in (ca, car, cr))
        ratio = f"{t_ca / t_cr:.2f}" if t_ca and t_cr else "–"
        ratio_r = f"{t_car / t_cr:.2f}" if t_car and t_cr else "–"
        p_ca, p_cr = paper_value(args.device, "ca", s), paper_value(args.device, "cr", s)
        p_ratio = f"{p_ca / p_cr:.2f}" if isinstance(p_ca, float) and isinstance(p_cr, float) else "–"
        lines.append(
            f"| {s}² | {fmt_time(ca, args.clock)} | {fmt_time(car, args.clock)} | {fmt_time(cr, args.clock)} | {ratio} | "
            f"{ratio_r} | {fmt_mem(ca, cpu)} | "
            f"{fmt_mem(car, cpu)} | {fmt_mem(cr, cpu)} | "
            f"{_show(p_ca)} | {_show(p_cr)} | {p_ratio} |"
        )
    lines += [
        "",
        (
            "Paper (Table 5): GPU (RTX 2080 Super, 8 GB) CA 0.063 / 0.371 / fail, CR 0.047 / 0.179 / 0.720 s at "
            "512² / 1024² / 2048²; CPU (i7-9700F) at 2048²: CA 266 s, CR 28.9 s."
        ),
    ]
    return "\n".join(lines)


def write_readme(table: str, path: Path = README) -> None:
    """Replace the text between the bench-crfill markers of ``path`` (appended under a heading if absent)."""
    write_between(path, START, END, table, append_under="### Speed (Table 5), `make bench-crfill`")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048], help="image sides S (multiples of 8)")
    p.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda or cuda:N")
    p.add_argument("--repeats", type=int, default=5, help="timed passes per (model, size); the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed passes first (cuDNN autotuning, allocator)")
    p.add_argument("--budget-s", type=float, default=120.0, help="stop repeating a measurement after this many s")
    p.add_argument("--timeout-s", type=float, default=3600.0, help="give up on one measurement after this many s")
    p.add_argument("--hole", type=float, default=0.5, help="hole side as a fraction of the image side")
    p.add_argument("--mask", choices=["centre", "box", "strokes"], default="centre", help="the hole's kind")
    p.add_argument("--box", type=float, nargs=2, default=[0.342, 0.391], metavar=("FH", "FW"),
                   help="--mask box: centred box of FH·S rows × FW·S columns (default 350×400 of 1024: 13 %%)")
    p.add_argument("--cover", type=float, default=0.3, help="--mask strokes: fraction of the image covered")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--ca-chunk-size", default="default",
                   help="contextual attention chunk_size: 'default', 'none' (unchunked, the official memory use) or N")
    p.add_argument("--clock", choices=CLOCKS, default="wall",
                   help="wall time, or the process's CPU time (with --threads 1: robust to other jobs' load)")
    p.add_argument("--readme", type=Path, default=README, help="README to write the table into")
    p.add_argument("--no-write", action="store_true", help="print only, leave the README alone")
    p.add_argument("--json", default="", help="also write the raw measurements to this JSON file")
    p.add_argument("--smoke", action="store_true", help="64² on the CPU, one pass, writes nothing: seconds (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.device, args.repeats, args.warmup, args.no_write = [64], "cpu", 1, 0, True
    command = "python benchmarks/bench_crfill.py " + " ".join(sys.argv[1:] if argv is None else argv)

    bad = [s for s in args.sizes if s % 8 or s < 64]
    if bad:
        p.error(f"sizes must be multiples of 8 and at least 64 (CA matches at S/8), got {bad}")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    rows: dict[tuple[str, int], ForwardMeasurement] = {}
    cpu = not args.device.startswith("cuda")
    print(f"{'S':>5} {'model':>5} {'time s':>10} {'memory MiB':>16}", flush=True)
    for s in args.sizes:
        for model in MODELS:
            m = measure_forward(
                build(model, args.ca_chunk_size), s, args.device, args.repeats, hole=args.hole,
                inputs_fn=partial(mask_inputs, kind=args.mask, box=list(args.box), cover=args.cover),
                warmup=args.warmup, threads=args.threads or None, budget_s=args.budget_s, timeout_s=args.timeout_s,
                isolate=not args.smoke,  # --smoke: in this process (no torch import per measurement)
            )
            rows[(model, s)] = m
            print(f"{s:>5} {model:>5} {fmt_time(m, args.clock):>10} {fmt_mem(m, cpu):>16}", flush=True)
    table = markdown(rows, args, command.strip()) + "\n\n" + stamp(vars(args), command.strip())
    print()
    print(table)
    if args.json:
        Path(args.json).write_text(
            json.dumps([{"model": k[0], **v.to_dict()} for k, v in rows.items()], indent=1)
        )
    if not args.no_write:
        write_readme(table, args.readme)
        print(f"\nwritten into {args.readme}")
    # at --smoke sizes nothing may fail (at real sizes a failure, e.g. out of memory, is a result)
    return 1 if args.smoke and not all(m.ok for m in rows.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())

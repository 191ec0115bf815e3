"""`make demo`: the gradient-attention paper's Fig. 2 on Fashion-MNIST, trained, evaluated and drawn.

Trains ``ga_mnist`` for α=0 and α=1 as one Hydra multirun, tests each run's last checkpoint (the paper reports
the model after a fixed 14,000 iterations; ``--test-ckpt best`` picks the best by val/grad_l1_hole instead) on
the 10,000 test images, and writes ``results.json``, ``results.md`` and ``ga_fashion_mnist.png`` into ``outputs/demo``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from inpaintlab.errors import one_line_parser
from inpaintlab.report import metrics_table

ALPHA_KEY = "model.losses.inp.alpha"


class DemoError(Exception):
    """A user-facing failure of the demo: one stderr line, exit status 1."""


def run_sweep(out: Path, alphas: list[float], steps: int, data_root: str | None, extra: list[str],
              jobs: int, test_ckpt: str = "last") -> list[Path]:
    """One Hydra multirun over α; with jobs > 1 the runs train side by side (joblib launcher, 1 thread each)."""
    runs = out / "runs"
    cmd = [
        sys.executable, "-m", "inpaintlab.train", "-m",
        "experiment=ga_mnist", "data=fashion_mnist", "logger=csv",
        f"{ALPHA_KEY}={','.join(str(a) for a in alphas)}",
        f"trainer.max_steps={steps}",
        f"test_ckpt={test_ckpt}",
        f"hydra.sweep.dir={runs}", "hydra.sweep.subdir=alpha_${" + ALPHA_KEY + "}",
        "task_name=demo",
    ]
    if data_root:
        cmd.append(f"data.root={data_root}")
    env = dict(os.environ)
    if jobs > 1:
        # small matmuls scale badly across threads: one single-threaded process per α uses the cores better
        cmd += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]
        env["OMP_NUM_THREADS"] = "1"
    cmd += extra
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, env=env)
    if done.returncode != 0:  # the training run printed its own one-line error above
        raise DemoError(f"training failed (inpaintlab-train exit status {done.returncode}; its message is above)")
    return [runs / f"alpha_{a}" for a in alphas]


def read_curves(run_dir: Path, names: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = {n: [] for n in names}
    path = run_dir / "csv" / "metrics.csv"
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for n in names:
                if row.get(n):
                    curves[n].append((int(row["step"]), float(row[n])))
    return curves


def best_checkpoint(run_dir: Path) -> Path:
    ckpts = sorted(p for p in (run_dir / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt")
    return ckpts[0] if ckpts else run_dir / "checkpoints" / "last.ckpt"


def tested_checkpoint(run_dir: Path, test_ckpt: str = "last") -> Path:
    """The checkpoint the run's test stage scored: last.ckpt (default) or the best by the monitored metric."""
    return run_dir / "checkpoints" / "last.ckpt" if test_ckpt == "last" else best_checkpoint(run_dir)


def sample_outputs(run_dir: Path, n: int, test_ckpt: str = "last"):
    """Original, mask and composited output (``Inpainter``: the one inference path) of the tested checkpoint
    on the first ``n`` test images."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from inpaintlab.inference import Inpainter
    from inpaintlab.utils.runtime import register_resolvers

    register_resolvers()
    cfg = OmegaConf.load(run_dir / "config.yaml")
    dm = instantiate(cfg.data)
    dm.setup("test")
    batch = dm.test_set.__getitems__(list(range(n)))
    painter = Inpainter.from_checkpoint(tested_checkpoint(run_dir, test_ckpt))
    return batch["image"], batch["mask"], painter.fill_tensor(batch["image"], batch["mask"])


def _smooth(values, window: int = 9) -> list[float]:
    """Centred moving average (the logged training losses are single-batch values)."""
    half = window // 2
    return [sum(values[max(0, i - half) : i + half + 1]) / len(values[max(0, i - half) : i + half + 1])
            for i in range(len(values))]


def draw_figure(path: Path, runs: dict[float, Path], n: int = 6, test_ckpt: str = "last") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = sorted(runs)
    samples = {a: sample_outputs(runs[a], n, test_ckpt) for a in alphas}
    image, mask, _ = samples[alphas[0]]
    cols = 2 + len(alphas)
    fig = plt.figure(figsize=(2 * cols + 7, 1.6 * n + 0.6))
    grid = fig.add_gridspec(n, cols + 3)
    titles = ["original", "mask"] + [f"α = {a:g}" for a in alphas]
    for i in range(n):
        tiles = [image[i], mask[i] * 2 - 1] + [samples[a][2][i] for a in alphas]
        for j, t in enumerate(tiles):
            ax = fig.add_subplot(grid[i, j])
            ax.imshow(((t[0] + 1) / 2).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=10)
    colours = ["tab:blue", "tab:red", "tab:orange", "tab:green"]
    panels = [("train/l1_valid", "l1 outside M"), ("train/l1_hole", "l1 inside M"),
              ("train/grad_l1_hole", "grad_l1 inside M")]  # Fig. 3–4's three curves (M = hole + margin)
    edges = [round(k * n / len(panels)) for k in range(len(panels) + 1)]
    for k, (name, label) in enumerate(panels):
        ax = fig.add_subplot(grid[edges[k] : edges[k + 1], cols:])
        for c, a in zip(colours, alphas):
            pts = read_curves(runs[a], (name,))[name]
            if pts:
                steps, values = zip(*pts)
                ax.plot(steps, values, color=c, alpha=0.25, lw=0.8)
                ax.plot(steps, _smooth(values), color=c, label=f"α = {a:g}", lw=1.5)
        ax.set_title(f"{label} (training batches)", fontsize=10)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("iteration")
    fig.suptitle("Gradient attention on Fashion-MNIST (Fig. 2 of the paper, our run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = one_line_parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="outputs/demo", help="output folder (default: outputs/demo)")
    p.add_argument("--steps", type=int, default=14000, help="training iterations per α (paper: 14,000)")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 1.0], help="values of α (default: 0 1)")
    p.add_argument("--data-root", default=None, help="Fashion-MNIST IDX folder (default: the data config's)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="runs trained in parallel (default: 2, or 1 on a single core)")
    p.add_argument("--test-ckpt", choices=("last", "best"), default="last",
                   help="checkpoint tested and drawn: last (the paper's fixed iteration count, default) or best "
                   "by val/grad_l1_hole")
    p.add_argument("--reuse", action="store_true", help="skip training; redo the table and figure from the runs in --out")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides passed to inpaintlab-train")
    args = p.parse_args(argv)
    try:
        _run(args)
    except DemoError as e:
        print(f"inpaintlab-demo: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


def _check(args: argparse.Namespace) -> Path:
    """Validate before work: the demo trains for hours at the paper's settings."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file; expected a folder")
    if args.steps < 1:
        raise DemoError(f"--steps {args.steps}: expected a positive number of training iterations")
    if args.jobs < 1:
        raise DemoError(f"--jobs {args.jobs}: expected a positive number of parallel runs")
    if len(set(args.alphas)) != len(args.alphas) or any(a < 0 or a != a for a in args.alphas):
        raise DemoError(f"--alphas {args.alphas}: expected distinct numbers >= 0")
    if args.data_root is not None and not Path(args.data_root).is_dir():
        raise DemoError(f"--data-root {args.data_root} is not a folder; expected Fashion-MNIST's IDX files there")
    held = [str(out / "runs" / f"alpha_{a}") for a in args.alphas
            if (out / "runs" / f"alpha_{a}" / "config.yaml").is_file()]
    if held and not args.reuse:
        raise DemoError(f"--out {out} already holds the runs {', '.join(held)}: pass --reuse to redraw them, or "
                        "give another --out (runs are never overwritten)")
    if args.reuse:
        missing = [str(out / "runs" / f"alpha_{a}") for a in args.alphas
                   if not (out / "runs" / f"alpha_{a}" / "metrics.json").is_file()]
        if missing:
            raise DemoError(f"--reuse: no finished run in {', '.join(missing)}; run the demo without --reuse first")
    return out


def _run(args: argparse.Namespace) -> None:
    out = _check(args)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.reuse:
        run_dirs = [out / "runs" / f"alpha_{a}" for a in args.alphas]
    else:
        run_dirs = run_sweep(out, args.alphas, args.steps, args.data_root, args.overrides, args.jobs,
                             args.test_ckpt)
    records = []
    for a, run_dir in zip(args.alphas, run_dirs):
        m = json.loads((run_dir / "metrics.json").read_text())
        rec = {"alpha": a, **{k.removeprefix("test/"): v for k, v in m.items()
                              if k.startswith("test/") and not k.startswith("test/bins/")}}
        rec["checkpoint"] = str(tested_checkpoint(run_dir, args.test_ckpt))
        records.append(rec)
    (out / "results.json").write_text(json.dumps(records, indent=2))
    table = metrics_table([{k: v for k, v in r.items() if k != "checkpoint"} for r in records], key="alpha")
    header = (
        f"# Gradient attention on Fashion-MNIST ({args.steps} iterations per α, 10,000 test images, "
        "composited output in [0, 1])\n\n"
    )
    (out / "results.md").write_text(header + table)
    draw_figure(out / "ga_fashion_mnist.png", dict(zip(args.alphas, run_dirs)), test_ckpt=args.test_ckpt)
    print("\n" + header + table)
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'ga_fashion_mnist.png'} "
          f"in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""`make claim-yeh`: Yeh et al. 2017 on a small budget — Fashion-MNIST 32², DCGAN prior trained here.

1. trains the prior with ``inpaintlab-train experiment=yeh_fashion_mnist`` (``--train-steps`` generator steps,
   CPU unless told otherwise; skipped with ``--ckpt``);
2. takes ``--images`` test images with the experiment's 16² centre hole and searches ẑ (``--steps`` Adam steps,
   one batch) with (c) the importance-weighted context loss and with the unweighted (binary) one;
3. reports for each: in-hole L1 (on [0, 1]) and the boundary seam of (a) G(ẑ) pasted and (b) Poisson-blended,
   beside the mean-fill baseline. Seam: mean |(x_i − x_j) − (y_i − y_j)| over the 4-neighbour pixel pairs that
   cross the hole boundary (0 = the boundary's gradients are the true image's), on [0, 1].

The table is printed and written into experiments/yeh/README.md between the ``claim-yeh`` markers.

    python experiments/yeh/claim_check.py --train-steps 3000 --steps 500 --images 64
    python experiments/yeh/claim_check.py --smoke     # seconds (CI): 2 training + 2 search steps, nothing written
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from inpaintlab.data.masks import CenterSquareMask
from inpaintlab.data.mnist import MNISTImages
from inpaintlab.imaging import poisson_blend
from inpaintlab.models.dcgan import latent_search
from inpaintlab.utils.provenance import stamp, write_between
from inpaintlab.utils.smoke import fashion_mnist_or_generated, require_finite

REPO = Path(__file__).resolve().parents[2]
README = REPO / "experiments" / "yeh" / "README.md"
START, END = "<!-- claim-yeh:start -->", "<!-- claim-yeh:end -->"
FASHION_MNIST = Path(os.environ.get("FASHION_MNIST_ROOT", "/usr/share/datasets/fashion-mnist"))
# --smoke: the same inpaintlab-train run, 2 steps on the CPU with a 2-step validation search on 4 images (the
# generated data hold 96 training images, fewer than the config's 5,000 held out for validation)
SMOKE_TRAIN = ["trainer=cpu", "trainer.val_check_interval=2", "data.val_size=4", "data.batch_size=8",
               "data.eval_batch_size=4", "model.val_search.steps=2"]


def seam(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |(x_i − x_j) − (y_i − y_j)| over 4-neighbour pairs (i, j) with exactly one of them in the hole."""
    total, count = x.new_zeros(()), x.new_zeros(())
    for dim in (-1, -2):
        n = x.shape[dim]

        def a(t, dim=dim, n=n):
            return t.narrow(dim, 0, n - 1)

        def b(t, dim=dim, n=n):
            return t.narrow(dim, 1, n - 1)

        cross = (a(mask) != b(mask)).to(x.dtype).expand_as(a(x))
        diff = ((a(x) - b(x)) - (a(y) - b(y))).abs()
        total, count = total + (diff * cross).sum(), count + cross.sum()
    return total / count.clamp_min(1)


def hole_l1(x, y, mask):
    m = mask.expand_as(x)
    return ((x - y).abs() * m).sum() / m.sum()


def train_prior(out: Path, steps: int, extra: list[str]) -> Path:
    cmd = [sys.executable, "-m", "inpaintlab.train", "experiment=yeh_fashion_mnist", f"trainer.max_steps={steps}",
           "trainer.val_check_interval=1000", "test=false", "logger=csv", "trainer.enable_progress_bar=false",
           f"hydra.run.dir={out}", *extra]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return out / "checkpoints" / "last.ckpt"


def load_prior(ckpt: Path):
    cfg = OmegaConf.load(ckpt.parent.parent / "config.yaml")
    g, d = instantiate(cfg.model.generator), instantiate(cfg.model.discriminator)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    g.load_state_dict({k.removeprefix("generator."): v for k, v in state.items() if k.startswith("generator.")})
    d.load_state_dict({k.removeprefix("discriminator."): v for k, v in state.items() if k.startswith("discriminator.")})
    return g.eval(), d.eval(), cfg


def measure(ckpt: Path, steps: int, images: int,
            root: Path = FASHION_MNIST) -> list[tuple[str, str, float, float, float]]:
    """Rows (context loss, output, in-hole L1, seam, seconds per image) for the trained prior at ``ckpt``, on the
    first ``images`` test images of the Fashion-MNIST in ``root``."""
    g, d, cfg = load_prior(ckpt)
    data = MNISTImages(root, "test", variant="fashion_mnist", pad=int(cfg.data.dataset.get("pad", 2)))
    y = data.get_batch(list(range(images)))["image"]
    mask = CenterSquareMask(0.5)(images, 32, 32)

    def unit(t):
        return (t.clamp(-1, 1) + 1) / 2

    rows = []
    mean_fill = (y * (1 - mask)).sum((2, 3), keepdim=True) / (1 - mask).sum((2, 3), keepdim=True)
    base = mean_fill * mask + y * (1 - mask)
    rows.append(("mean fill (baseline)", "—", float(hole_l1(unit(base), unit(y), mask)),
                 float(seam(unit(base), unit(y), mask)), 0.0))
    latent_search(g, d, y[:2] * (1 - mask[:2]), mask[:2], steps=2)  # warm-up: the timings below are steady-state
    for weighted in (True, False):
        t = time.perf_counter()
        found = latent_search(g, d, y * (1 - mask), mask, steps=steps, weighted=weighted, seed=0)
        pasted = found["output"] * mask + y * (1 - mask)
        with torch.no_grad():
            blended = poisson_blend(y, found["output"], mask).clamp(-1, 1) * mask + y * (1 - mask)
        sec = (time.perf_counter() - t) / images
        name = "weighted W (paper)" if weighted else "binary mask"
        for label, x in (("(a) G(ẑ) pasted", pasted), ("(b) blended", blended)):
            rows.append((name, label, float(hole_l1(unit(x), unit(y), mask)), float(seam(unit(x), unit(y), mask)), sec))
    return rows


def main(argv: list[str] | None = None) -> list[tuple[str, str, float, float, float]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="training run folder's parent (outputs/claim_yeh)")
    p.add_argument("--ckpt", type=Path, default=None, help="use this trained prior instead of training one")
    p.add_argument("--train-steps", type=int, default=3000)
    p.add_argument("--steps", type=int, default=500, help="search steps (the paper: 1500)")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--root", type=Path, default=FASHION_MNIST, help="Fashion-MNIST's four IDX files")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--smoke", action="store_true",
                   help="seconds (CI): 2 training steps on the CPU, 2 search steps on 4 images, generated data where "
                        "--root has none, a temporary --out, nothing written")
    p.add_argument("train_overrides", nargs="*", help="extra Hydra overrides for the training run")
    args = p.parse_args(argv)
    command = shlex.join(["python", "experiments/yeh/claim_check.py", *(sys.argv[1:] if argv is None else argv)])
    if not args.smoke:
        args.out = args.out or REPO / "outputs" / "claim_yeh"
        return run(args, command)
    args.train_steps, args.steps, args.images, args.no_write = 2, 2, 4, True
    with tempfile.TemporaryDirectory(prefix="claim-yeh-smoke-") as scratch:
        args.root = fashion_mnist_or_generated(args.root, Path(scratch) / "fashion-mnist")
        args.out = args.out or Path(scratch)
        args.train_overrides = [*SMOKE_TRAIN, *args.train_overrides]
        return run(args, command)


def run(args, command: str) -> list[tuple[str, str, float, float, float]]:
    """Train the prior (unless ``--ckpt``), measure, print the table (and write it unless ``--no-write``): the rows."""
    t0 = time.perf_counter()
    overrides = [f"data.root={args.root}", *args.train_overrides]  # trained on the data measured, unless overridden
    ckpt = args.ckpt or train_prior(args.out / "train", args.train_steps, overrides)
    train_s = time.perf_counter() - t0
    rows = measure(ckpt, args.steps, args.images, args.root)
    require_finite({f"{name} {out}": {"in-hole L1": l1, "seam": sm, "s/image": sec} for name, out, l1, sm, sec in rows},
                   "claim-yeh")
    lines = [
        f"Fashion-MNIST test images 0–{args.images - 1} (32², 16² centre hole), prior: {ckpt.name} "
        f"({'trained here, ' + str(args.train_steps) + ' steps, ' + f'{train_s / 60:.1f} min' if args.ckpt is None else 'given'}), "
        f"search: {args.steps} Adam steps, λ = 0.003, one restart, one batch; CPU "
        f"({torch.get_num_threads()} threads). L1 and seam on [0, 1].",
        "",
        "| context loss | output | in-hole L1 | boundary seam | s/image (search) |",
        "|---|---|---|---|---|",
    ]
    for name, out, l1, sm, sec in rows:
        lines.append(f"| {name} | {out} | {l1:.4f} | {sm:.4f} | {sec:.3f} |")
    text = "\n".join([*lines, "", stamp(vars(args), command)]) + "\n"
    print(text)
    if not args.no_write and README.is_file() and write_between(README, START, END, text):
        print(f"written into {README}")
    return rows


if __name__ == "__main__":
    main()

"""`make bench-btgmi`: BTGMI (003) training-step time of the head and of head + 3 grown blocks, and the share of
the step spent in the patch perceptual loss (PPL) and the multi-scale patch adversarial loss (MSPAL).

One training step is what ``BTGMIModule.training_step`` does: the generator forward, one critic step (three
PatchGANs on the real image and the composite, with the hole label maps Q) and one generator step (λ_PPL·PPL +
λ_adv·MSPAL with Q̄). The shares are measured by difference: the same step without the PPL term (no LPIPS, no
crops) and without the critic and its adversarial term. Median of ``--steps`` steps after ``--warmup``. The
AlexNet inside LPIPS has random weights here (same cost as ImageNet's). Paper settings: 256², batch 8.

    python benchmarks/bench_btgmi.py                       # 256², batch 8, cuda if present
    python benchmarks/bench_btgmi.py --size 128 --batch 2  # a loaded CPU
    python benchmarks/bench_btgmi.py --smoke               # 32², batch 1, one step: seconds (CI), writes nothing

The table is printed and written into experiments/btgmi/README.md between the ``bench-btgmi`` markers
(``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import device_name

from inpaintlab.data.masks.box import RandomBoxMask
from inpaintlab.losses.patch_adversarial import HoleAwarePatchGANLoss
from inpaintlab.losses.patch_perceptual import PatchPerceptualLoss, build_lpips
from inpaintlab.models.btgmi import BTGMIGenerator, MultiScalePatchDiscriminator
from inpaintlab.utils.provenance import stamp, write_between

REPO = Path(__file__).resolve().parents[1]
README = REPO / "experiments" / "btgmi" / "README.md"
START, END = "<!-- bench-btgmi:start -->", "<!-- bench-btgmi:end -->"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_times(blocks: int, ppl: bool, gan: bool, size: int, batch: int, steps: int, warmup: int, device: str,
               lpips_net) -> list[float]:
    torch.manual_seed(0)
    gen = BTGMIGenerator().to(device).train()
    gen.set_growth(blocks, fade=0.5)
    disc = MultiScalePatchDiscriminator().to(device).train()
    loss_ppl = PatchPerceptualLoss(lpips=lpips_net).to(device).train()
    adv = HoleAwarePatchGANLoss(weight=1.0)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    masks = RandomBoxMask(count=(1, 2), size_ratio=(0.25, 0.5))
    g = torch.Generator().manual_seed(0)
    times = []
    for i in range(warmup + steps):
        image = (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(device)
        mask = masks(batch, size, size, g).to(device)
        _sync(device)
        t0 = time.perf_counter()
        out = gen(image * (1 - mask), mask)["output"]
        comp = out * mask + image * (1 - mask)
        if gan:
            q = disc.label_maps(mask)
            d_loss = adv.discriminator_loss(disc(image, mask), disc(comp.detach(), mask), labels=q)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            disc.requires_grad_(False)
        total = (out - image).abs().mean() * 0.0  # keeps the graph when both terms are off
        if ppl:
            total = total + 10.0 * loss_ppl(out, image, mask)
        if gan:
            total = total + adv.generator_loss(disc(comp, mask), labels=q)
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
        if gan:
            disc.requires_grad_(True)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--smoke", action="store_true", help="32², batch 1, one step, CPU, writes nothing (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.size, args.batch, args.steps, args.warmup, args.device, args.no_write = 32, 1, 1, 0, "cpu", True
    lpips_net = build_lpips(pretrained=False).to(args.device)
    rows = []
    for name, blocks in (("head (9 blocks)", 0), ("head + 3 blocks", 3)):
        med = {}
        for variant, ppl, gan in (("full", True, True), ("no PPL", False, True), ("no MSPAL", True, False)):
            t = step_times(blocks, ppl, gan, args.size, args.batch, args.steps, args.warmup, args.device, lpips_net)
            med[variant] = statistics.median(t)
            print(f"{name:16s} {variant:9s} median {med[variant]:.3f} s over {len(t)} steps", flush=True)
        full = med["full"]
        rows.append((name, full, (full - med["no PPL"]) / full, (full - med["no MSPAL"]) / full))
    dev = device_name(args.device)
    table = [
        f"Measured {dt.date.today()} on {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.size}², batch {args.batch}, median of {args.steps} steps after {args.warmup} warm-up "
        f"(`python benchmarks/bench_btgmi.py --size {args.size} --batch {args.batch} --steps {args.steps}`):",
        "",
        "| generator | step time (s) | PPL share | MSPAL share |",
        "|---|---|---|---|",
        *[f"| {n} | {t:.3f} | {100 * a:.0f} % | {100 * b:.0f} % |" for n, t, a, b in rows],
    ]
    text = "\n".join([*table, "", stamp(vars(args), shlex.join(["python", "benchmarks/bench_btgmi.py", *sys.argv[1:]]))])
    print(text)
    if not args.no_write and README.is_file():
        write_between(README, START, END, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

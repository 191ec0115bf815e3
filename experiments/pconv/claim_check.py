"""`make claim-pconv`: PConv's defining claim at a small scale — partial convolutions make the output independent
of what fills the hole, while the same U-Net with vanilla convolutions depends on it (Partial Convolutions
Sec. 1 and 3.1: "the output depends only on the valid pixels"; Sec. 5.1's "Conv" baseline).

Fashion-MNIST resized to 64², irregular free-form holes (5–50 % of the image), the PConv U-Net (4 levels,
widths 16–64) with ``conv_type`` partial and vanilla, trained for the same steps on the same batches with
L_valid + 6·L_hole + 0.1·L_tv (the perceptual and style terms need ImageNet VGG-16 weights, absent offline, so
they are left out and the table says so). Both nets are trained with the hole filled with 0 (the project's
``image·(1−mask)``); at test time the hole is filled with 0, with the training set's mean, or with uniform
noise, and the table reports the in-hole L1 and PSNR of the composite ([0, 1] images) for each fill and how
much the output inside the hole changes against the 0 fill.

    python experiments/pconv/claim_check.py                       # 150 steps each, 2 threads, prints the table
    python experiments/pconv/claim_check.py --steps 100 --write   # and writes it into experiments/pconv/README.md
    python experiments/pconv/claim_check.py --smoke               # seconds (CI): 2 steps, 8 test images, nothing written
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from inpaintlab.data.masks import FreeFormMask
from inpaintlab.data.mnist import MNISTImages
from inpaintlab.losses import PConvL1Loss, TotalVariationLoss
from inpaintlab.models.pconv_unet import PConvUNet
from inpaintlab.utils.provenance import stamp, write_between
from inpaintlab.utils.smoke import fashion_mnist_or_generated, require_finite

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- claim-pconv:start -->", "<!-- claim-pconv:end -->"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def load(root: Path, split: str, n: int, size: int) -> torch.Tensor:
    ds = MNISTImages(root, split=split, variant="fashion_mnist")
    x = ds.images[:n].unsqueeze(1).float().div(127.5).sub(1.0)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(-1, 1)


def masks(n: int, size: int, seed: int) -> torch.Tensor:
    gen = FreeFormMask(num_strokes=(1, 3), num_vertices=(4, 8), width=(4, 12), min_hole_ratio=0.05,
                       max_hole_ratio=0.5)
    return gen(n, size, size, torch.Generator().manual_seed(seed))


def train(conv_type: str, images: torch.Tensor, args) -> tuple[PConvUNet, float]:
    torch.manual_seed(args.seed)
    net = PConvUNet(image_channels=1, levels=args.levels, base_channels=16, max_channels=64, conv_type=conv_type)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    terms = [(1.0, PConvL1Loss("valid")), (6.0, PConvL1Loss("hole")), (0.1, TotalVariationLoss())]
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    net.train()
    for step in range(args.steps):
        idx = torch.randint(0, images.shape[0], (args.batch,), generator=g)
        image, mask = images[idx], masks(args.batch, images.shape[-1], seed=10_000 + step)
        out = net(image * (1 - mask), mask)["output"]
        loss = sum(w * t(out, image, mask) for w, t in terms)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval(), time.perf_counter() - t0


@torch.no_grad()
def evaluate(net: PConvUNet, images: torch.Tensor, mask: torch.Tensor, fills: dict[str, torch.Tensor]) -> dict:
    """{fill: {l1_hole, psnr, change}}; ``change`` (vs the first fill's output) is None for the first fill."""
    res, base = {}, None
    for name, fill in fills.items():
        out = net(images * (1 - mask) + fill * mask, mask)["output"]
        comp = (out * mask + images * (1 - mask)).clamp(-1, 1)
        a, b = (comp + 1) / 2, (images + 1) / 2
        hole = mask.expand_as(a)
        l1_hole = ((a - b).abs() * hole).sum() / hole.sum()
        mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
        psnr = (10 * torch.log10(1 / mse)).mean()
        change = None if base is None else (((out - base).abs() * hole).sum() / hole.sum() / 2).item()
        base = out if base is None else base
        res[name] = {"l1_hole": l1_hole.item(), "psnr": psnr.item(), "change": change}
    return res


def table(results: dict, args, secs: dict) -> str:
    lines = [
        f"Fashion-MNIST 64², {args.steps} steps × batch {args.batch} per net (Adam lr {args.lr}), {args.levels}-level "
        f"U-Net widths 16–64, loss L_valid + 6·L_hole + 0.1·L_tv (no perceptual/style: no VGG-16 weights offline), "
        f"{args.test} test images with seeded free-form holes (5–50 %). {args.threads} CPU thread(s), "
        f"{dt.date.today().isoformat()}; training took " + ", ".join(f"{k} {v:.0f} s" for k, v in secs.items()) + ".",
        "",
        "| conv | hole fill at test | in-hole L1 ([0,1]) | PSNR (dB) | mean in-hole |Δ output| vs 0-fill ([0,1]) |",
        "|---|---|---|---|---|",
    ]
    for conv, res in results.items():
        for fill, r in res.items():
            change = "—" if r["change"] is None else f"{r['change']:.4f}"
            lines.append(f"| {conv} | {fill} | {r['l1_hole']:.4f} | {r['psnr']:.2f} | {change} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=FASHION_MNIST)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--levels", type=int, default=4)
    p.add_argument("--train", type=int, default=10_000, help="training images used")
    p.add_argument("--test", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write", action="store_true", help="write the table into experiments/pconv/README.md")
    p.add_argument("--smoke", action="store_true",
                   help="seconds (CI): 2 steps × batch 4 on 16 images, 8 test images, 1 thread, generated data where "
                        "--root has none, nothing written")
    args = p.parse_args(argv)
    command = shlex.join(["python", "experiments/pconv/claim_check.py", *(sys.argv[1:] if argv is None else argv)])
    if not args.smoke:
        return run(args, command)
    args.steps, args.batch, args.train, args.test, args.threads, args.write = 2, 4, 16, 8, 1, False
    with tempfile.TemporaryDirectory(prefix="claim-pconv-smoke-") as scratch:
        args.root = fashion_mnist_or_generated(args.root, Path(scratch) / "fashion-mnist")
        return run(args, command)


def run(args, command: str) -> dict:
    """Train both nets, evaluate every fill, print the table (and write it with ``--write``): {conv: {fill: …}}."""
    torch.set_num_threads(args.threads)
    train_images = load(args.root, "train", args.train, 64)
    test_images = load(args.root, "test", args.test, 64)
    test_mask = masks(args.test, 64, seed=2024)
    fills = {"0 (as trained)": torch.zeros_like(test_images),
             "train mean": torch.full_like(test_images, train_images.mean().item()),
             "uniform noise": torch.rand(test_images.shape, generator=torch.Generator().manual_seed(7)) * 2 - 1}
    results, secs = {}, {}
    for conv in ("partial", "vanilla"):
        net, secs[conv] = train(conv, train_images, args)
        results[conv] = evaluate(net, test_images, test_mask, fills)
    require_finite(results, "claim-pconv")
    text = table(results, args, secs) + "\n\n" + stamp(vars(args), command)
    print(text)
    if args.write:
        write_between(README, START, END, text, append_under="")
        print(f"written into {README}")
    return results


if __name__ == "__main__":
    main()

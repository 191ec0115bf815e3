"""`make claims-btgmi`: BTGMI (003) small-scale claim check on Fashion-MNIST resized to 64².

Claims (Sec. 3.3, 4.3): growing a block onto a trained head with fade-in improves it; training the deeper net
directly for the same number of iterations does worse; adversarial loss annealing (ALA) helps the grown phase.

Runs (all BTGMIModule + Lightning, the same data order, seed and masks; one or two random boxes of 1/4–1/2 of the
side, ``btgmi_box``):

- ``head``: the head for ``--head-steps``;
- ``head + block (ALA)``: resumed from that checkpoint into one grown block for ``--block-steps`` (lr 0.1·lr_0,
  λ_adv 0.1·λ_adv^0, fade-in over the phase) — exactly ``ckpt_path=<head>`` of the documented command;
- ``head + block (no ALA)``: the same with λ_adv kept at λ_adv^0;
- ``head, longer``: the head alone for head + block steps (does growth beat just training longer?);
- ``deeper, direct``: head blocks + 1 trained from scratch for head + block steps (Sec. 4.3's 12-block run).

Scaled down for a CPU: widths (16, 32, 64), 3 head blocks, batch 16, PPL replaced by 10·L1 (no ImageNet AlexNet
on this machine; a random-feature LPIPS would not be the paper's loss), MSPAL as in the paper (λ_adv^0 = 1).
Reported: in-hole L1 and PSNR of the composite on [0, 1], on ``--test`` test images with seeded masks.
``--block-init`` chooses how the grown block starts (``model.generator.block_init``).

``--init-check`` runs the grown-block initialisation comparison instead (the paper is silent): the head, then the
same growth (ALA) from that checkpoint with the grown block at PyTorch's default initialisation and with a zero
residual (its last BatchNorm γ = 0). The zero-residual run starts from the head checkpoint with that γ zeroed —
what a run with ``block_init=zero`` saves at the end of its head, since inactive blocks do not train. Reported
besides L1/PSNR: the grown block's share of the features, ‖α·F(h)‖ / ‖h‖, on the test images.

    python experiments/btgmi/claim_check.py --head-steps 1500 --block-steps 500
    python experiments/btgmi/claim_check.py --init-check --head-steps 1500 --block-steps 500
    python experiments/btgmi/claim_check.py --init-check --smoke       # seconds, nothing written
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import lightning as L
from inpaintlab.callbacks.metrics import HoleL1, HolePSNR, to_unit
from inpaintlab.data.masks.base import seeded_generator
from inpaintlab.data.masks.box import RandomBoxMask
from inpaintlab.data.mnist import MNISTImages
from inpaintlab.lightning import BTGMIModule, PhaseSchedule
from inpaintlab.losses import HoleAwarePatchGANLoss, L1Loss
from inpaintlab.models.btgmi import BLOCK_INITS, DEFAULT_BLOCK_INIT, BTGMIGenerator, MultiScalePatchDiscriminator
from inpaintlab.utils.provenance import provenance, stamp, write_between

REPO = Path(__file__).resolve().parents[2]
README = REPO / "experiments" / "btgmi" / "README.md"
START, END = "<!-- claims-btgmi:start -->", "<!-- claims-btgmi:end -->"
INIT_START, INIT_END = "<!-- claims-btgmi-init:start -->", "<!-- claims-btgmi-init:end -->"
SIZE = 64
MASKS = RandomBoxMask(count=(1, 2), size_ratio=(0.25, 0.5))


def load_images(root: str, split: str, n: int) -> torch.Tensor:
    """The first ``n`` images of the split, resized to 64² (bilinear), in [-1, 1], N×1×64×64."""
    ds = MNISTImages(root, split=split, variant="fashion_mnist")
    x = torch.stack([ds[i]["image"] for i in range(min(n, len(ds)))])
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp(-1, 1)


class Masked(Dataset):
    """Images with a box mask drawn from the sample index (the same masks for every run)."""

    def __init__(self, images: torch.Tensor, seed: int) -> None:
        self.images, self.seed = images, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "mask": MASKS(1, SIZE, SIZE, seeded_generator(self.seed, i))[0]}


def build(num_blocks: int, max_extra: int, phases, anneal: float, lr: float, total: int,
          block_init: str = DEFAULT_BLOCK_INIT) -> BTGMIModule:
    torch.manual_seed(0)
    return BTGMIModule(
        generator=BTGMIGenerator(image_channels=1, channels=(16, 32, 64), num_blocks=num_blocks, max_extra_blocks=max_extra,
                                 block_init=block_init),
        losses={"l1": L1Loss(weight=10.0)},
        optimizer_g=lambda params: torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999)),
        discriminator=MultiScalePatchDiscriminator(image_channels=1, ndf=16),
        adversarial=HoleAwarePatchGANLoss(weight=1.0),
        optimizer_d=lambda params: torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999)),
        scheduler_g=lambda optimizer: torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=total, power=1.0),
        scheduler_d=lambda optimizer: torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=total, power=1.0),
        phases=phases,
        anneal=anneal,
    )


def fit(module: BTGMIModule, loader: DataLoader, steps: int, out: Path, ckpt: Path | None = None) -> Path:
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=out,
                        limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(module, loader, ckpt_path=str(ckpt) if ckpt else None)
    path = out / "last.ckpt"
    trainer.save_checkpoint(path)
    return path


@torch.no_grad()
def evaluate(module: BTGMIModule, test: Masked) -> dict[str, float]:
    """In-hole L1 / PSNR of the composite; with a grown block, also its share ‖α·F(h)‖ / ‖h‖ of the features."""
    module.eval()
    l1, psnr, n = 0.0, 0.0, 0
    gen, norms = module.generator, []
    hook = None
    if int(gen.active_blocks) > 0:
        block = gen.extra_blocks[int(gen.active_blocks) - 1]
        hook = block.register_forward_hook(lambda m, args, out: norms.append(
            ((out - args[0]).norm() / args[0].norm()).item()))
    for batch in DataLoader(test, batch_size=100):
        comp = module(batch["image"], batch["mask"])["composite"]
        pred, target, mask = to_unit(comp), to_unit(batch["image"]), batch["mask"]
        l1 += float(HoleL1.per_image(pred, target, mask).sum())
        psnr += float(HolePSNR.per_image(pred, target, mask).sum())
        n += pred.shape[0]
    if hook is not None:
        hook.remove()
    result = {"l1_hole": l1 / n, "psnr_hole": psnr / n}
    if norms:
        result["residual_share"] = sum(norms) / len(norms)
    return result


def zero_grown_residuals(ckpt: Path, out: Path, module: BTGMIModule) -> Path:
    """``ckpt`` with every grown block's last BatchNorm γ set to 0 (``block_init=zero``'s start), written to ``out``."""
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    for i, block in enumerate(module.generator.extra_blocks):
        state["state_dict"][f"generator.extra_blocks.{i}.branch.{len(block.branch) - 1}.weight"].zero_()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    return out


def run(args) -> list[tuple[str, dict[str, float]]]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = Masked(load_images(args.root, "train", args.train_images), seed=1)
    test = Masked(load_images(args.root, "test", args.test), seed=2024)
    loader = DataLoader(train, batch_size=args.batch, shuffle=True, generator=torch.Generator().manual_seed(0),
                        drop_last=True)
    h, b, lr = args.head_steps, args.block_steps, args.lr
    # block1's lr_1 = 0.1·lr_0 comes from the module (BTGMIModule.lr_anneal, Alg. 1 line 6)
    grow = [{"name": "head", "steps": h, "settings": {"blocks": 0}},
            {"name": "block1", "steps": b, "settings": {"blocks": 1}}]
    results = []
    t0 = time.time()
    # the init check's head has PyTorch's default init everywhere; its zero-residual start is derived below
    head = build(args.blocks, 1, PhaseSchedule(grow), 0.1, lr, h, "default" if args.init_check else args.block_init)
    head_ckpt = fit(head, loader, h, out / "head")
    results.append(("head", evaluate(head, test)))
    if args.init_check:
        zero_ckpt = zero_grown_residuals(head_ckpt, out / "head_zero" / "last.ckpt", head)
        for name, init, start in (("head + block, default init", "default", head_ckpt),
                                  ("head + block, zero residual", "zero", zero_ckpt)):
            m = build(args.blocks, 1, PhaseSchedule(grow), 0.1, lr, h, init)
            fit(m, loader, h + b, out / f"block_{init}", ckpt=start)
            results.append((name, evaluate(m, test)))
        print(f"total {time.time() - t0:.0f} s")
        return results
    for name, anneal in (("head + block (ALA)", 0.1), ("head + block (no ALA)", 1.0)):
        m = build(args.blocks, 1, PhaseSchedule(grow), anneal, lr, h, args.block_init)
        fit(m, loader, h + b, out / name.replace(" ", "_").replace("(", "").replace(")", ""), ckpt=head_ckpt)
        results.append((name, evaluate(m, test)))
    longer = build(args.blocks, 0, None, 0.1, lr, h + b)
    fit(longer, loader, h + b, out / "head_longer")
    results.append(("head, longer", evaluate(longer, test)))
    deeper = build(args.blocks + 1, 0, None, 0.1, lr, h + b)
    fit(deeper, loader, h + b, out / "deeper_direct")
    results.append(("deeper, direct", evaluate(deeper, test)))
    print(f"total {time.time() - t0:.0f} s")
    return results


def command(args) -> str:
    flags = " --init-check" if args.init_check else f" --block-init {args.block_init}"
    return (f"python experiments/btgmi/claim_check.py{flags} --head-steps {args.head_steps} "
            f"--block-steps {args.block_steps}")


def table(results, args) -> str:
    share = args.init_check
    lines = [
        f"Fashion-MNIST 64², {args.train_images} training images, batch {args.batch}, head {args.head_steps} steps "
        f"+ {args.block_steps} per block, {args.blocks} head blocks, {args.test} test images (`{command(args)}`):",
        "",
        "| run | steps | in-hole L1 ↓ | in-hole PSNR ↑ |" + (" ‖α·F(h)‖ / ‖h‖ |" if share else ""),
        "|---|---|---|---|" + ("---|" if share else ""),
    ]
    for name, r in results:
        steps = args.head_steps if name == "head" else args.head_steps + args.block_steps
        extra = (f" {r['residual_share']:.4f} |" if "residual_share" in r else " – |") if share else ""
        lines.append(f"| {name} | {steps} | {r['l1_hole']:.4f} | {r['psnr_hole']:.2f} |{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[tuple[str, dict[str, float]]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--head-steps", type=int, default=1500)
    p.add_argument("--block-steps", type=int, default=500)
    p.add_argument("--blocks", type=int, default=3, help="head residual blocks")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--train-images", type=int, default=20000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--block-init", choices=BLOCK_INITS, default=DEFAULT_BLOCK_INIT,
                   help="how the grown block starts (model.generator.block_init)")
    p.add_argument("--init-check", action="store_true",
                   help="compare the grown block's initialisations (default vs zero residual) instead")
    p.add_argument("--out", default=None,
                   help="checkpoints and results.json (default outputs/claims_btgmi; --smoke: a temporary folder)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--smoke", action="store_true", help="seconds: 4 head + 2 block steps on 64 images, nothing written")
    args = p.parse_args(argv)
    if args.smoke:
        args.head_steps, args.block_steps, args.train_images, args.test, args.batch = 4, 2, 64, 32, 8
        args.no_write = True
    if args.out is None and args.smoke:  # nothing written: the run's files live as long as the command
        with tempfile.TemporaryDirectory(prefix="claims_btgmi_smoke_") as tmp:
            args.out = tmp
            return _run_and_report(args, argv)
    args.out = args.out or "outputs/claims_btgmi"
    return _run_and_report(args, argv)


def _run_and_report(args, argv) -> list[tuple[str, dict[str, float]]]:
    results = run(args)
    command = shlex.join(["python", "experiments/btgmi/claim_check.py", *(sys.argv[1:] if argv is None else argv)])
    record = provenance(vars(args), command)
    text = table(results, args) + "\n\n" + stamp(vars(args), command)
    print(text)
    Path(args.out, "results.json").write_text(json.dumps({**dict(results), "provenance": record}, indent=2))
    start, end = (INIT_START, INIT_END) if args.init_check else (START, END)
    if not args.no_write and README.is_file():
        write_between(README, start, end, text)
    return results


if __name__ == "__main__":
    main()

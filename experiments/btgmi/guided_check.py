"""`make claim-btgmi-guided`: BTGMI (003) Sec. 4.4 small-scale check — does the jointly trained guided model
harmonize pasted objects better than the un-harmonized paste?

Data: Fashion-MNIST made into a tiny COCO layout (train2017/, val2017/, annotations/instances_*.json with RLE
masks of the thresholded garment), 64² scenes: a smooth background lit by a random scene colour T, and one
garment whose colour is T's (intensity × (0.3 + 0.7·T)), so an object's colour is predictable from its
surroundings — a stand-in for the illumination consistency harmonization learns on COCO. Training composites:
``CocoGuided`` exactly as ``experiment=btgmi_guided_coco`` makes them (Reinhard Lab transfer to another scene,
paste, box back). Held out: the val2017 scenes' composites, seeded per index (``MaskedImages(frozen=True)``).

Model: ``GuidedBTGMIGenerator`` (widths 16, 32, 64; 3 head blocks + 1 grown block with fade-in and ALA) trained
by ``GuidedBTGMIModule`` with MSPAL as in the paper (critics conditioned on the generator's input, Eq. 1) and
10·L1 on each output instead of PPL (no ImageNet AlexNet
on this machine — as ``claim_check.py``). Reported on the held-out composites (images in [0, 1]):

- harmonization error: L1 inside the object (foreground) of the un-harmonized paste vs the model's result;
- inpainting error: L1 on the rest of the box (I_b minus the object) of the paste vs the model's result.

Also draws the use-case figure (``guided_example.png``: input with the destination box, guide with its box, the
paste, ``inpaintlab-guide``'s result) with the trained checkpoint.

    python experiments/btgmi/guided_check.py --head-steps 600 --block-steps 200
    python experiments/btgmi/guided_check.py --smoke    # seconds (CI): 2 + 1 steps on 16 scenes, nothing written
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader

import lightning as L
from inpaintlab.data.coco import CocoGuided, write_annotations
from inpaintlab.data.datamodule import MaskedImages, collate
from inpaintlab.data.mnist import MNISTImages
from inpaintlab.lightning import GuidedBTGMIModule, PhaseSchedule
from inpaintlab.losses import HoleAwarePatchGANLoss, L1Loss
from inpaintlab.models.btgmi import (
    BLOCK_INITS,
    DEFAULT_BLOCK_INIT,
    GuidedBTGMIGenerator,
    MultiScalePatchDiscriminator,
)
from inpaintlab.utils.provenance import provenance, stamp, write_between
from inpaintlab.utils.smoke import fashion_mnist_or_generated, require_finite

REPO = Path(__file__).resolve().parents[2]
README = REPO / "experiments" / "btgmi" / "README.md"
FIGURE = REPO / "experiments" / "btgmi" / "guided_example.png"
START, END = "<!-- guided-btgmi:start -->", "<!-- guided-btgmi:end -->"
SIZE = 64


def make_layout(root: Path, fmnist: str, n_train: int, n_val: int, seed: int = 0) -> Path:
    """Fashion-MNIST garments in lit scenes as a COCO layout (PNG images, RLE instance masks)."""
    from pycocotools import mask as mask_utils

    if (root / "annotations" / "instances_val2017.json").is_file():
        return root
    rng = np.random.default_rng(seed)
    ds = MNISTImages(fmnist, split="train", variant="fashion_mnist")
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    k = 0
    for split, n in (("train2017", n_train), ("val2017", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        images, anns = [], []
        for _ in range(n):
            tint = rng.uniform(0.15, 1.0, 3)  # the scene's light colour T
            noise = np.asarray(Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize(
                (SIZE, SIZE), Image.BILINEAR), dtype=np.float64) / 255.0
            scene = (0.25 + 0.5 * noise) * tint[None, None, :]
            item = (ds[k]["image"][0].numpy() + 1.0) / 2.0  # 28×28 in [0, 1]
            k += 1
            side = int(rng.integers(30, 42))
            item = np.asarray(Image.fromarray((item * 255).astype(np.uint8)).resize((side, side), Image.BILINEAR),
                              dtype=np.float64) / 255.0
            y0, x0 = int(rng.integers(0, SIZE - side)), int(rng.integers(0, SIZE - side))
            obj = np.zeros((SIZE, SIZE), bool)
            obj[y0:y0 + side, x0:x0 + side] = item > 0.15
            colour = np.zeros((SIZE, SIZE))
            colour[y0:y0 + side, x0:x0 + side] = item
            garment = (0.15 + 0.85 * colour)[..., None] * (0.3 + 0.7 * tint)[None, None, :]
            img = np.where(obj[..., None], garment, scene)
            img_id = k
            name = f"{img_id:012d}.png"
            Image.fromarray((img.clip(0, 1) * 255).round().astype(np.uint8)).save(root / split / name)
            images.append({"id": img_id, "file_name": name, "width": SIZE, "height": SIZE})
            if obj.sum() < 50:
                continue
            rle = mask_utils.encode(np.asfortranarray(obj.astype(np.uint8)))
            ys, xs = np.nonzero(obj)
            anns.append({"id": img_id, "image_id": img_id, "category_id": 1, "iscrowd": 0, "area": float(obj.sum()),
                         "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
                         "segmentation": {"size": [SIZE, SIZE], "counts": rle["counts"].decode("ascii")}})
        write_annotations(root / "annotations" / f"instances_{split}.json", images, anns)
    return root


def build(args) -> GuidedBTGMIModule:
    torch.manual_seed(0)
    lr, h, b = args.lr, args.head_steps, args.block_steps
    # block1's lr_1 = 0.1·lr_0 comes from the module (lr_anneal, Alg. 1 line 6)
    phases = [{"name": "head", "steps": h, "settings": {"blocks": 0}},
              {"name": "block1", "steps": b, "settings": {"blocks": 1}}]
    return GuidedBTGMIModule(
        generator=GuidedBTGMIGenerator(channels=(16, 32, 64), num_blocks=args.blocks, max_extra_blocks=1,
                                       block_init=args.block_init),
        losses={"l1": L1Loss(weight=10.0, source="output"), "l1_harmonized": L1Loss(weight=10.0, source="harmonized")},
        optimizer_g=lambda params: torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999)),
        discriminator=MultiScalePatchDiscriminator(ndf=16, condition_channels=5),  # s = [composite, box, fg]
        adversarial=HoleAwarePatchGANLoss(weight=1.0),
        optimizer_d=lambda params: torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999)),
        scheduler_g=lambda optimizer: torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=h, power=1.0),
        scheduler_d=lambda optimizer: torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=h, power=1.0),
        phases=PhaseSchedule(phases),
        anneal=0.1,
    )


@torch.no_grad()
def evaluate(module: GuidedBTGMIModule, held_out: MaskedImages) -> dict[str, float]:
    module.eval()
    sums = {"paste_fg": 0.0, "model_fg": 0.0, "paste_bg": 0.0, "model_bg": 0.0, "fg_px": 0.0, "bg_px": 0.0}
    for batch in DataLoader(held_out, batch_size=50, collate_fn=collate):
        final = module.eval_outputs(batch, "test")["composite"]
        target = batch["image"].add(1).div(2)
        fg = batch["foreground"] * batch["mask"]
        bg = batch["mask"] - fg
        for name, img in (("paste", batch["composite"]), ("model", final)):
            err = (img.add(1).div(2).clamp(0, 1) - target).abs().mean(1, keepdim=True)
            sums[f"{name}_fg"] += float((err * fg).sum())
            sums[f"{name}_bg"] += float((err * bg).sum())
        sums["fg_px"] += float(fg.sum())
        sums["bg_px"] += float(bg.sum())
    return {"paste_fg": sums["paste_fg"] / sums["fg_px"], "model_fg": sums["model_fg"] / sums["fg_px"],
            "paste_bg": sums["paste_bg"] / sums["bg_px"], "model_bg": sums["model_bg"] / sums["bg_px"],
            "images": len(held_out)}


def figure(ckpt: Path, root: Path, out: Path, rows: int = 3, scale: int = 3) -> None:
    """The use case with ``inpaintlab-guide``'s function: input + destination box | guide + box | paste | result."""
    from pycocotools.coco import COCO

    from inpaintlab.guide import check_box, guide

    coco = COCO(str(root / "annotations" / "instances_val2017.json"))
    ids = sorted(coco.imgs)
    load = lambda i: np.asarray(Image.open(root / "val2017" / coco.imgs[i]["file_name"]).convert("RGB"))  # noqa: E731
    tiles = []
    for r in range(rows):
        image_id, guide_id = ids[2 * r], ids[2 * r + 1]
        anns = coco.imgToAnns.get(guide_id)
        if not anns:
            continue
        image, guide_rgb = load(image_id), load(guide_id)
        x, y, w, h = (int(v) for v in anns[0]["bbox"])
        x0, y0 = max(0, x - 4), max(0, y - 4)
        box = (x0, y0, min(SIZE, x + w + 4) - x0, min(SIZE, y + h + 4) - y0)
        at = ((SIZE - box[2]) // 2, (SIZE - box[3]) // 2)
        check_box(box, at, (SIZE, SIZE), (SIZE, SIZE))
        fg = coco.annToMask(anns[0]).astype(bool)[box[1]:box[1] + box[3], box[0]:box[0] + box[2]]
        result = guide(ckpt, image, guide_rgb, box, at, fg)
        paste = image.copy()
        paste[at[1]:at[1] + box[3], at[0]:at[0] + box[2]] = guide_rgb[box[1]:box[1] + box[3], box[0]:box[0] + box[2]]
        row = []
        for arr, rect in ((image, (at[0], at[1], box[2], box[3])), (guide_rgb, box), (paste, None), (result, None)):
            img = Image.fromarray(arr).resize((SIZE * scale, SIZE * scale), Image.NEAREST)
            if rect is not None:
                bx, by, bw, bh = (v * scale for v in rect)
                ImageDraw.Draw(img).rectangle([bx, by, bx + bw - 1, by + bh - 1], outline=(255, 255, 0), width=2)
            row.append(img)
        tiles.append(row)
    side, pad = SIZE * scale, 4
    canvas = Image.new("RGB", (4 * side + 5 * pad, len(tiles) * side + (len(tiles) + 1) * pad), (255, 255, 255))
    for r, row in enumerate(tiles):
        for c, img in enumerate(row):
            canvas.paste(img, (pad + c * (side + pad), pad + r * (side + pad)))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)


def table(r: dict[str, float], args, seconds: float) -> str:
    fg_gain = 100.0 * (r["paste_fg"] - r["model_fg"]) / r["paste_fg"]
    return "\n".join([
        f"Fashion-MNIST garments in lit 64² scenes as a COCO layout, {args.train} training / {args.val} held-out "
        f"scenes, batch {args.batch}, head {args.head_steps} steps + {args.block_steps} with one grown block (ALA), "
        f"{args.blocks} head blocks; {r['images']} held-out composites "
        f"(`python experiments/btgmi/guided_check.py --head-steps {args.head_steps} --block-steps {args.block_steps} "
        f"--block-init {args.block_init}`,"
        f" {seconds:.0f} s on the shared 2-core CPU):",
        "",
        "| on held-out composites ([0, 1]) | un-harmonized paste | trained model |",
        "|---|---|---|",
        f"| L1 inside the object (harmonization) ↓ | {r['paste_fg']:.4f} | {r['model_fg']:.4f} |",
        f"| L1 on the rest of the box (inpainting) ↓ | {r['paste_bg']:.4f} | {r['model_bg']:.4f} |",
        "",
        f"Harmonization error {'lower' if fg_gain > 0 else 'not lower'} than the paste's "
        f"({fg_gain:+.1f} % relative): the check is {'met' if fg_gain > 0 else 'NOT met'} at this scale.",
    ])


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--head-steps", type=int, default=600)
    p.add_argument("--block-steps", type=int, default=200)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--block-init", choices=BLOCK_INITS, default=DEFAULT_BLOCK_INIT,
                   help="how the grown block starts (model.generator.block_init)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--val", type=int, default=200)
    p.add_argument("--out", default=None, help="layout, checkpoint, results.json (outputs/guided_btgmi)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core CPU)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--smoke", action="store_true",
                   help="seconds (CI): 2 head + 1 block steps on 16 scenes, 6 held out, generated data where --fmnist "
                        "has none, a temporary --out, nothing written into the docs")
    args = p.parse_args(argv)
    command = shlex.join(["python", "experiments/btgmi/guided_check.py", *(sys.argv[1:] if argv is None else argv)])
    if not args.smoke:
        args.out = args.out or "outputs/guided_btgmi"
        return run(args, command)
    # 6 held-out scenes: the figure's three rows (an image and a guide each)
    args.head_steps, args.block_steps, args.train, args.val, args.batch, args.no_write = 2, 1, 16, 6, 4, True
    with tempfile.TemporaryDirectory(prefix="claim-btgmi-guided-smoke-") as scratch:
        args.fmnist = str(fashion_mnist_or_generated(args.fmnist, Path(scratch) / "fashion-mnist"))
        args.out = args.out or scratch
        return run(args, command)


def run(args, command: str) -> dict[str, float]:
    """Make the layout, train, evaluate on the held-out composites, print the table, write results.json and the
    figure into ``--out`` (and the table and figure into the docs unless ``--no-write``): the results."""
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    t0 = time.time()
    root = make_layout(out / "fmnist_coco", args.fmnist, args.train, args.val)
    L.seed_everything(0, workers=True)
    train_set = MaskedImages(CocoGuided(root, "train2017", image_size=SIZE, min_area=50), None, frozen=False)
    held_out = MaskedImages(CocoGuided(root, "val2017", image_size=SIZE, min_area=50), None, frozen=True, seed=2024)
    loader = DataLoader(train_set, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=1,
                        generator=torch.Generator().manual_seed(0), collate_fn=collate)
    module = build(args)
    steps = args.head_steps + args.block_steps
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=out,
                        limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(module, loader)
    ckpt = out / "guided.ckpt"
    trainer.save_checkpoint(ckpt)
    # the stored model config lets inpaintlab-guide rebuild the generator from the checkpoint alone
    blob = torch.load(ckpt, map_location="cpu", weights_only=False)
    blob.setdefault("inpaintlab", {})["model_config"] = {"generator": {
        "_target_": "inpaintlab.models.btgmi.GuidedBTGMIGenerator", "channels": [16, 32, 64],
        "num_blocks": args.blocks, "max_extra_blocks": 1}}
    torch.save(blob, ckpt)
    results = evaluate(module, held_out)
    require_finite(results, "claim-btgmi-guided")
    seconds = time.time() - t0
    text = table(results, args, seconds) + "\n\n" + stamp(vars(args), command)
    print(text)
    (out / "results.json").write_text(json.dumps({**results, "provenance": provenance(vars(args), command)}, indent=2))
    figure(ckpt, root, FIGURE if not args.no_write else out / "guided_example.png")
    if not args.no_write and README.is_file():
        write_between(README, START, END, text)
    return results


if __name__ == "__main__":
    main()

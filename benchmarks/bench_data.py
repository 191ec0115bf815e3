"""Data-side throughput: masks/s of every conf/mask generator at 256² and 512², and DataLoader images/s at 256²
with 0, 1 and 2 workers, on fixtures generated in a temporary folder (no dataset download needed).

    python benchmarks/bench_data.py                 # the full table (about a minute on 2 cores)
    python benchmarks/bench_data.py --smoke         # tiny budgets: seconds (CI)
    python benchmarks/bench_data.py --json out.json

Masks are drawn in batches of 16 on one thread (torch.set_num_threads(1)), as a DataLoader worker does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_mask_fixtures(root: Path, n: int = 64) -> None:
    """512² irregular masks (random blobs) and object shapes (ellipses) for the file-based generators."""
    rng = np.random.default_rng(0)
    irr, obj = root / "irregular", root / "objects"
    irr.mkdir(parents=True, exist_ok=True)
    obj.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:512, 0:512]
    for i in range(n):
        m = np.zeros((512, 512), bool)
        for cy, cx, r in rng.uniform([0, 0, 10], [512, 512, 60], size=(int(rng.integers(3, 12)), 3)):
            m |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        Image.fromarray(m.astype(np.uint8) * 255).save(irr / f"{i:05d}.png")
        a, b = rng.uniform(20, 120, 2)
        e = ((yy[:300, :300] - 150) / a) ** 2 + ((xx[:300, :300] - 150) / b) ** 2 <= 1
        Image.fromarray(e.astype(np.uint8) * 255).save(obj / f"{i:05d}.png")
    os.environ["IRREGULAR_MASKS_ROOT"] = str(irr)
    os.environ["OBJECT_SHAPES_ROOT"] = str(obj)


def make_image_fixture(root: Path, n: int) -> Path:
    """A Places2-standard layout with ``n`` 256² JPEG training images (smooth noise, quality 90)."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        rel = f"a/airfield/{i + 1:08d}.jpg"
        path = root / "data_256" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        noise = rng.integers(-12, 12, size=(256, 256, 3))
        img = np.asarray(Image.fromarray(small).resize((256, 256), Image.BICUBIC)).astype(int) + noise
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
        lines.append(f"/{rel} 0")
    (root / "places365_train_standard.txt").write_text("\n".join(lines) + "\n")
    (root / "val_256").mkdir(exist_ok=True)
    (root / "places365_val.txt").write_text("")
    return root


def time_masks(gen, size: int, seconds: float, batch: int = 16) -> float:
    g = torch.Generator().manual_seed(0)
    gen(batch, size, size, g)  # warm-up (file caches, allocator)
    count, start = 0, time.perf_counter()
    while True:
        gen(batch, size, size, g)
        count += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def time_loader(root: Path, workers: int, batches: int, batch_size: int = 16) -> float:
    from inpaintlab.data.datamodule import MaskedImages, collate
    from inpaintlab.data.images import Places2
    from inpaintlab.data.masks import FreeFormMask

    ds = MaskedImages(Places2(root, "train", image_size=256), FreeFormMask(), frozen=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0, collate_fn=collate)
    it = iter(loader)
    next(it)  # worker start-up and first batch excluded: steady state only
    n, start = 0, time.perf_counter()
    while n < batches * batch_size:
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        n += b["image"].shape[0]
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny budgets: seconds (CI)")
    ap.add_argument("--seconds", type=float, default=1.5, help="time per generator and size (default 1.5 s)")
    ap.add_argument("--masks", nargs="*", default=None, help="conf/mask names (default: all)")
    ap.add_argument("--sizes", nargs="*", type=int, default=[256, 512])
    ap.add_argument("--workers", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--images", type=int, default=256, help="fixture images for the loader benchmark")
    ap.add_argument("--batches", type=int, default=30, help="timed loader batches of 16 per setting")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seconds, args.images, args.batches = 0.05, 32, 2
        args.masks = args.masks or ["free_form", "box"]
        args.sizes, args.workers, args.json = [64], [0], None

    from inpaintlab.make_masks import available_masks, build_generator, load_mask_config

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}",
        "masks_per_s": {},
        "loader_images_per_s": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_mask_fixtures(tmp / "masks", n=8 if args.smoke else 64)
        names = args.masks or available_masks()
        print(f"# masks/s (batches of 16, one thread) — {result['machine']}")
        print("| generator | " + " | ".join(f"{s}²" for s in args.sizes) + " |")
        print("|---|" + "---:|" * len(args.sizes))
        for name in names:
            gen = build_generator(load_mask_config(name)[1])
            if name == "center_square":  # the group default is MNIST's 14 px; time the CelebA 64 px square
                gen.size = 64
            row = {s: time_masks(gen, s, args.seconds) for s in args.sizes}
            result["masks_per_s"][name] = {str(s): round(v, 1) for s, v in row.items()}
            print(f"| {name} | " + " | ".join(f"{v:,.0f}" for v in row.values()) + " |", flush=True)
        root = make_image_fixture(tmp / "places2", args.images)
        print("\n# DataLoader images/s at 256² (Places2 layout, 256² JPEGs, FreeFormMask per sample, batch 16)")
        print("| workers | images/s |")
        print("|---:|---:|")
        for w in args.workers:
            v = time_loader(root, w, args.batches)
            result["loader_images_per_s"][str(w)] = round(v, 1)
            print(f"| {w} | {v:,.0f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())

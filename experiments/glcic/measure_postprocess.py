"""GLCIC's post-processing (Iizuka Sec. 3.4) on real photos: seam and hole error with and without it, and its time.

The three photographs that ship with scikit-image (astronaut, coffee, chelsea) at 256², one GLCIC training hole
(96–128 px, random position, seeded) each, and a stand-in completion with the defect the paper's post-processing
targets: right content, shifted colour (+0.15, −0.10, +0.08 in [-1, 1]) and 3×3 blur. Prints a markdown table:
seam = mean |gradient| across the hole border (``seam_gradient``), hole L1 against the photo, ms per image.
The row "Poisson against the known pixels" blends the whole hole with the known pixels as its boundary (no
fast-marching rim): the composite's own jump across the border is part of its guidance, so the seam stays —
why ``glcic_postprocess`` needs ring >= 1.
    python experiments/glcic/measure_postprocess.py [--size 256] [--repeats 3]
    python experiments/glcic/measure_postprocess.py --smoke      # 64², one repeat: seconds (CI)
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import torch
import torch.nn.functional as F

from inpaintlab.data.masks import RandomBoxMask
from inpaintlab.imaging.fast_marching import telea_inpaint
from inpaintlab.imaging.poisson import poisson_blend
from inpaintlab.imaging.postprocess import glcic_postprocess, seam_gradient
from inpaintlab.utils.provenance import stamp


def photos(size: int) -> torch.Tensor:
    from skimage import data

    pics = [torch.from_numpy(f()).permute(2, 0, 1)[None].float() for f in (data.astronaut, data.coffee, data.chelsea)]
    return torch.cat([F.interpolate(p, size=(size, size), mode="area") for p in pics]).div(127.5).sub(1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="64² images, one repeat (seconds; for CI)")
    args = ap.parse_args()
    if args.smoke:
        args.size, args.repeats = 64, 1
    torch.set_num_threads(1)
    x = photos(args.size)
    lo, hi = round(96 * args.size / 256), round(128 * args.size / 256)  # GLCIC's 96–128 px holes at 256²
    mask = RandomBoxMask(size=[lo, hi])(3, args.size, args.size, torch.Generator().manual_seed(0))
    shift = torch.tensor([0.15, -0.10, 0.08]).view(1, 3, 1, 1)
    raw = (F.avg_pool2d(x, 3, 1, 1, count_include_pad=False) + shift) * mask + x * (1 - mask)

    def hole_l1(y):
        return float(((y - x).abs() * mask).sum() / (3 * mask.sum()))

    rows = [("photo itself", x), ("raw composite", raw)]
    timings = {}
    variants = {"fast marching only": lambda: telea_inpaint(raw, mask),
                "Poisson against the known pixels (no rim)":
                    lambda: torch.where(mask > 0.5, poisson_blend(raw, raw, mask).clamp(-1, 1), raw)}
    for ring in (1, 3):
        variants[f"fast marching + Poisson, ring {ring}"] = lambda ring=ring: glcic_postprocess(raw, mask, ring=ring)
    for name, fn in variants.items():
        fn()
        t = time.perf_counter()
        for _ in range(args.repeats):
            y = fn()
        timings[name] = (time.perf_counter() - t) / args.repeats / x.shape[0] * 1000
        rows.append((name, y))
    print(f"| {args.size}², 3 photos, one {lo}–{hi} px hole each | seam (mean abs grad across border) | hole L1 | ms / image (1 CPU thread) |")
    print("|---|---|---|---|")
    for name, y in rows:
        seam = seam_gradient(y, mask).mean().item()
        ms = f"{timings[name]:.1f}" if name in timings else "–"
        print(f"| {name} | {seam:.4f} | {hole_l1(y):.4f} | {ms} |")
    print("\n" + stamp(vars(args), shlex.join(["python", "experiments/glcic/measure_postprocess.py", *sys.argv[1:]])))


if __name__ == "__main__":
    main()

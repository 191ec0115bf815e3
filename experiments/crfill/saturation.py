"""Why a coarse-to-fine generator fills a constant: its stages' tanh inputs on a comparison's test images.

For each seed's checkpoint of a method in an ``inpaintlab-compare`` output folder, the coarse and the refine stage's
pre-activations (the tanh's input, DeepFill v2 Sec. 3.3 / CR-Fill Sec. 3) over the evaluation images with one
suite's frozen masks: median, the share beyond |z| > 5 (where tanh' < 2e-4) and the mean tanh'. A stage whose
every output sits far out on the tanh passes almost no gradient back, so more iterations cannot revive it —
unlike a stage that is still near its constant start (z ≈ 0, tanh' ≈ 1).

    python experiments/crfill/saturation.py --compare compare_full --method crfill

Reads ``<compare>/results.json`` (the compare config and overrides it ran with), ``<compare>/masks/<suite>`` and
``<compare>/runs/<method>/seed*/checkpoints/last.ckpt``; the images come from the compare config's dataset (e.g.
``FASHION_MNIST_ROOT``), as in the run. docs/comparison.md quotes its table for the documented run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SATURATED = 5.0  # |z| beyond which tanh'(z) = 1 − tanh²(z) < 2e-4


def stage_stats(z, hole=None) -> dict[str, float]:
    """Median, share beyond ±SATURATED and mean tanh' of one stage's pre-activations ``z`` (inside ``hole`` when
    given: the pixels the fill comes from)."""
    import torch

    if hole is not None:
        z = z[hole.expand_as(z) > 0.5]
    grad = 1 - torch.tanh(z) ** 2
    return {"median": float(z.median()), "saturated": float((z.abs() > SATURATED).float().mean()),
            "tanh_grad": float(grad.mean())}


def pre_activations(painter, image, mask) -> dict:
    """{"coarse": z, "refine": z} of one fill by ``painter`` (an Inpainter: the path the comparison scores, grey
    images included), caught by hooks on the generator's two stages."""
    generator = painter.generator
    found: dict = {}
    hooks = [generator.coarse.register_forward_hook(lambda m, i, o: found.__setitem__("coarse", o)),
             generator.refine.register_forward_hook(lambda m, i, o: found.__setitem__("refine", o[0]))]
    try:
        painter.fill_tensor(image, mask)
    finally:
        for h in hooks:
            h.remove()
    return found


def _compare_config(folder: Path) -> dict:
    """The comparison config the run composed: its command line, as its record keeps it."""
    from omegaconf import OmegaConf

    from inpaintlab.compare_report import composed

    record = json.loads((folder / "results.json").read_text())
    return OmegaConf.to_container(composed(list(record["provenance"]["overrides"])).compare, resolve=True)


def measure(folder: Path, method: str, suite: str, images: int) -> dict:
    """{"rows": one per seed, {"seed", "coarse": stage_stats, "refine": stage_stats}; "at_floor": the share of
    the images' pixels at −1 (the tanh's asymptote, e.g. Fashion-MNIST's background)}."""
    import torch

    from inpaintlab.compare import eval_images
    from inpaintlab.data.mask_sets import FrozenMasks
    from inpaintlab.inference import Inpainter

    c = _compare_config(folder)
    masks_dir = folder / "masks" / suite
    ckpts = sorted((folder / "runs" / method).glob("seed*/checkpoints/last.ckpt"))
    if not masks_dir.is_dir() or not ckpts:
        raise SystemExit(f"saturation: no {masks_dir} or no {folder / 'runs' / method}/seed*/checkpoints/last.ckpt: "
                         "expected an inpaintlab-compare output folder that trained this method")
    x = eval_images(c)[:images]
    frozen = FrozenMasks(masks_dir)
    m = torch.stack([frozen[i % len(frozen)] for i in range(len(x))])
    rows = []
    for ckpt in ckpts:
        painter = Inpainter.from_checkpoint(ckpt)
        g = painter.generator
        if not (hasattr(g, "coarse") and hasattr(g, "refine") and getattr(g, "out_act", None) == "tanh"):
            raise SystemExit(f"saturation: {ckpt} is not a coarse-to-fine generator with tanh outputs")
        z = pre_activations(painter, x, m)
        row = {"seed": ckpt.parent.parent.name}
        for stage in ("coarse", "refine"):
            row[stage] = stage_stats(z[stage], m)
        rows.append(row)
    return {"rows": rows, "at_floor": float((x <= -0.999).float().mean())}


def table(result: dict, method: str, suite: str, images: int) -> str:
    rows = result["rows"]
    lines = [f"{method}, suite {suite}, {images} images, inside the holes: tanh input z (pixels of the images "
             f"at -1, the tanh's asymptote: {result['at_floor']:.2f})",
             "| seed | coarse median z | coarse share |z|>5 | coarse mean tanh' | refine median z "
             "| refine share |z|>5 | refine mean tanh' |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[s]['median']:.1f} | {r[s]['saturated']:.3f} | {r[s]['tanh_grad']:.2e}" for s in ("coarse", "refine")]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compare", type=Path, required=True, help="an inpaintlab-compare output folder (out=)")
    p.add_argument("--method", default="crfill", help="a coarse-to-fine method of the comparison (crfill, deepfill_v2)")
    p.add_argument("--suite", default="center", help="the frozen mask suite to use (default: center)")
    p.add_argument("--images", type=int, default=32, help="how many evaluation images (default: 32)")
    a = p.parse_args(argv)
    if a.images < 1:
        p.error(f"--images={a.images}: expected a positive integer")
    if not (a.compare / "results.json").is_file():
        print(f"saturation: no results.json in {a.compare}: expected an inpaintlab-compare output folder",
              file=sys.stderr)
        return 1
    import torch

    torch.set_num_threads(1)
    print(table(measure(a.compare, a.method, a.suite, a.images), a.method, a.suite, a.images))
    return 0


if __name__ == "__main__":
    sys.exit(main())

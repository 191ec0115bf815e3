"""``inpaintlab-make-guided``: preview BTGMI's Sec. 4.4 training composites of a COCO-layout split as a grid.

    inpaintlab-make-guided --root /data/coco --split val2017 --preview guided.png [--n 8] [--size 256] [--seed 0]

Each row is one sample, as the training loader makes it (``inpaintlab.data.coco.CocoGuided``): the original I
(the ground truth of both outputs), the composite with I_b pasted (the network's input), the box I_b (the hole,
``mask``), and the object's foreground (``foreground``). Sample i is drawn from a generator seeded with
(seed, i), as evaluation samples are.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

from inpaintlab.errors import ConfigError, exit_code_of, one_line_parser

__all__ = ["guided_grid", "main"]


def guided_grid(dataset, n: int, seed: int = 0) -> torch.Tensor:
    """3×H'×W' grid in [0, 1]: per sample, I | composite | box mask | foreground."""
    from torchvision.utils import make_grid

    from inpaintlab.data.datamodule import MaskedImages

    frozen = MaskedImages(dataset, None, frozen=True, seed=seed)
    tiles = []
    for i in range(min(n, len(dataset))):
        item = frozen[i]
        tiles += [item["image"].add(1).div(2), item["composite"].add(1).div(2), item["mask"].expand(3, -1, -1),
                  item["foreground"].expand(3, -1, -1)]
    return make_grid(torch.stack(tiles).clamp(0, 1), nrow=4, padding=2, pad_value=1.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = one_line_parser(prog="inpaintlab-make-guided", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="COCO-layout folder (train2017/, val2017/, annotations/)")
    p.add_argument("--split", default="val2017")
    p.add_argument("--preview", required=True, help="output PNG of the grid")
    p.add_argument("--n", type=int, default=8, help="samples (rows)")
    p.add_argument("--size", type=int, default=256, help="image size")
    p.add_argument("--min-area", type=float, default=1024.0, help="smallest usable object (COCO area, pixels)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    from torchvision.utils import save_image

    from inpaintlab.data.coco import CocoGuided
    from inpaintlab.utils.destinations import check_writable

    if args.n < 1 or args.size < 8:
        raise ConfigError(f"--n must be >= 1 and --size >= 8, got {args.n} and {args.size}")
    check_writable(Path(args.preview).parent, "--preview")
    ds = CocoGuided(args.root, args.split, image_size=args.size, min_area=args.min_area, train=False)
    with warnings.catch_warnings(record=True) as told:  # skipped files (unreadable, decompression bombs): one line each
        warnings.filterwarnings("always", category=UserWarning)
        grid = guided_grid(ds, args.n, args.seed)
    for w in told:
        print(f"inpaintlab-make-guided: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
    Path(args.preview).parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, args.preview)
    print(f"wrote {args.preview}: {min(args.n, len(ds))} samples (I | composite | box | foreground); "
          f"{ds.num_without_objects} images without a usable object skipped")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of("inpaintlab-make-guided", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

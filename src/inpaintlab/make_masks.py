"""``inpaintlab-make-masks``: write seeded, frozen evaluation mask sets (PNG + manifest) and preview grids.

Examples::

    inpaintlab-make-masks --out data/masks/val256 --mask free_form --mask box --count 2000 --size 256 --seed 2024
    inpaintlab-make-masks --out outputs/mask_preview --mask free_form_thin --mask free_form_thick --preview-only
    inpaintlab-make-masks --out data/masks/nvidia --mask irregular_files --set source=/data/irregular/test_mask
    inpaintlab-make-masks --list

``--mask`` takes a name from the package's ``conf/mask/`` group (the same nodes ``mask=<name>`` selects for
training) or a path to a YAML file with a ``_target_``; ``--set key=value`` overrides its fields.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from inpaintlab.conventions import CONFIG_DIR
from inpaintlab.errors import ConfigError, InpaintlabError, exit_code_of, one_line_parser

MASK_CONF_DIR = CONFIG_DIR / "mask"


def available_masks() -> list[str]:
    return sorted(p.stem for p in MASK_CONF_DIR.glob("*.yaml"))


def load_mask_config(name_or_path: str, overrides: list[str] | None = None) -> tuple[str, dict]:
    """(name, resolved config dict) of a ``conf/mask`` entry or a YAML file, with ``key=value`` overrides."""
    from omegaconf import OmegaConf

    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        path, name = p, p.stem
    else:
        path, name = MASK_CONF_DIR / f"{name_or_path}.yaml", name_or_path
        if not path.is_file():
            raise ConfigError(f"unknown mask generator {name_or_path!r}; available: {', '.join(available_masks())}")
    node = OmegaConf.load(path)
    if overrides:
        try:
            node = OmegaConf.merge(node, OmegaConf.from_dotlist(list(overrides)))
        except Exception as e:
            raise ConfigError(f"bad --set override {overrides}: {e}") from e
    try:
        cfg = OmegaConf.to_container(node, resolve=True)
    except Exception as e:
        raise ConfigError(f"cannot resolve {path}: {e}") from e
    if not isinstance(cfg, dict) or "_target_" not in cfg:
        raise ConfigError(f"{path} is not a mask-generator node (no _target_)")
    return name, cfg


def build_generator(cfg: dict):
    from hydra.utils import instantiate

    from inpaintlab.data.masks import MaskGenerator

    try:
        gen = instantiate(cfg, _convert_="all")
    except Exception as e:
        cause = e
        while cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, InpaintlabError):
            raise cause from None
        raise ConfigError(f"cannot build {cfg.get('_target_')}: {cause}") from e
    if not isinstance(gen, MaskGenerator):
        raise ConfigError(f"{cfg.get('_target_')} built a {type(gen).__name__}, not a MaskGenerator")
    return gen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = one_line_parser(
        prog="inpaintlab-make-masks",
        description="Write seeded, frozen evaluation mask sets (PNG files, 255 = hole, with manifest.json) "
        "and preview grids. Mask i of a set is generator(1, H, W, seeded_generator(seed, i)).",
    )
    ap.add_argument("--out", type=Path, help="output folder; each generator writes <out>/<name>/")
    ap.add_argument("--mask", action="append", default=[], metavar="NAME|YAML",
                    help="generator from conf/mask (repeatable); see --list")
    ap.add_argument("--count", type=int, default=1000, help="masks per generator (default 1000)")
    ap.add_argument("--size", type=int, default=256, help="mask height (and width unless --width), default 256")
    ap.add_argument("--width", type=int, default=None, help="mask width (default: --size)")
    ap.add_argument("--seed", type=int, default=2024,
                    help="set seed (default 2024 = the DataModule's eval_mask_seed: the validation masks)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                    help="override a field of every --mask node, e.g. --set per_batch=false")
    ap.add_argument("--preview", action="store_true", help="also write preview.png grids")
    ap.add_argument("--preview-only", action="store_true", help="write only the preview grids, no mask set")
    ap.add_argument("--preview-count", type=int, default=32, help="masks per preview grid (default 32)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing set")
    ap.add_argument("--list", action="store_true", help="list the generators of conf/mask and exit")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name in available_masks():
            first = (MASK_CONF_DIR / f"{name}.yaml").read_text().splitlines()[0].lstrip("# ").strip()
            print(f"{name:24s} {first}")
        return 0
    if args.out is None or not args.mask:
        raise ConfigError("give --out DIR and at least one --mask NAME (see --list)")
    if args.count < 1 or args.size < 1 or (args.width is not None and args.width < 1) or args.preview_count < 1:
        raise ConfigError("--count, --size, --width and --preview-count must be positive")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a file; expected a folder (each generator writes <out>/<name>/)")
    import torch

    from inpaintlab.data.mask_sets import check_size, preview_grid, write_mask_set
    from inpaintlab.data.masks import seeded_generator
    from inpaintlab.utils.destinations import check_writable

    check_writable(args.out, "--out")
    h, w = args.size, args.width or args.size
    generators = []
    for spec in args.mask:  # every generator is built and checked at the size before anything is written
        name, cfg = load_mask_config(spec, args.overrides)
        gen = build_generator(cfg)
        check_size(gen, h, w, f"--mask {name}", "--size", args.seed)
        generators.append((name, cfg, gen))
    sheets = []
    for name, cfg, gen in generators:
        target = args.out / name
        if not args.preview_only:
            manifest = write_mask_set(gen, target, args.count, h, w, seed=args.seed, name=name, config=cfg,
                                      overwrite=args.overwrite)
            bins = ", ".join(f"{k} {v}" for k, v in manifest["bins"].items() if v)
            print(f"{name}: {args.count} masks {h}×{w} seed {args.seed} → {target}  mean hole "
                  f"{manifest['mean_hole_ratio']:.1%}  [{bins}]")
        if args.preview or args.preview_only:
            k = min(args.preview_count, args.count)
            masks = torch.cat([gen(1, h, w, seeded_generator(args.seed, i)) for i in range(k)])
            title = f"{name}  (mean hole {float(masks.mean()):.1%} of first {k})"
            sheet = preview_grid(masks, columns=8, title=title)
            target.mkdir(parents=True, exist_ok=True)
            sheet.save(target / "preview.png")
            sheets.append(sheet)
            print(f"{name}: preview → {target / 'preview.png'}")
    if sheets:  # one sheet of every generator (also for a single --mask)
        width = max(s.width for s in sheets)
        combined = Image.new("RGB", (width, sum(s.height for s in sheets)), (128, 128, 128))
        y = 0
        for s in sheets:
            combined.paste(s, (0, y))
            y += s.height
        combined.save(args.out / "preview.png")
        print(f"all: preview → {args.out / 'preview.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of("inpaintlab-make-masks", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

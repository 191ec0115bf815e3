"""``inpaintlab-inpaint``: fill the holes of pictures with any trained model of the package or released weights.

Examples::

    inpaintlab-inpaint --weights outputs/<task>/runs/<time>/checkpoints/last.ckpt --image photo.jpg --mask hole.png --out out.png
    inpaintlab-inpaint --model crfill --weights crfill.pth --image photo.jpg --mask hole.png --out out.png
    inpaintlab-inpaint --pretrained crfill/places2 --image photo.jpg --mask hole.png --out out.png
    inpaintlab-inpaint --model deepfill_v2 --weights places2.pth --image imgs/ --mask masks/ --out results/
    inpaintlab-inpaint --model crfill --weights crfill.pth --image big.jpg --mask m.png --out o.png --highres
    inpaintlab-inpaint --weights yeh.ckpt --image i.png --mask m.png --out o.png --option steps=3000

Python: ``Inpainter.from_checkpoint(path).fill(image, mask) -> np.ndarray`` (``inpaintlab.Inpainter``); the
CLI and the API give the same pixels. Everything lives in ``inpaintlab.inference``: picture and mask rules in
``pictures``, folder pairing in ``files``, sizes and channels in ``sizing``, weights in ``loading``, each
method's knobs in its adapter (``--option key=value``). This module only parses arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inpaintlab.conventions import parse_key_values
from inpaintlab.errors import ConfigError, exit_code_of, one_line_parser
from inpaintlab.inference import registry
from inpaintlab.inference.coarse_to_fine import COARSE_MULTIPLE, coarse_to_fine, least_size, pad_multiple
from inpaintlab.inference.files import check_jobs, pair_files, plan_folder_jobs
from inpaintlab.inference.inpainter import Inpainter, unwrap
from inpaintlab.inference.loading import find_run_config, load_model, parse_model_args, pick_device
from inpaintlab.inference.pictures import (
    InpaintInputError,
    Picture,
    check_sizes,
    exif_hint,
    is_16bit_colour,
    load_image,
    load_picture,
    open_image,
    oriented_size,
    read_hole,
    read_mask,
    read_picture,
    write_image,
)

MODELS = ("deepfill_v1", "deepfill_v2", "crfill")  # released-weights names of the coarse-to-fine family
# dedicated flags that are only spellings of a method's inference options (--option key=value says the same)
OPTION_FLAGS = {"steps": int, "restarts": int, "postprocess": str}

__all__ = [
    "COARSE_MULTIPLE", "InpaintInputError", "Picture", "check_jobs", "check_sizes", "coarse_to_fine",
    "find_run_config", "generate", "inpaint", "least_size", "load_model", "main", "pad_multiple", "pair_files",
    "parse_model_args", "read_mask", "read_picture", "write_image",
]


def _painter(model: Any, coarse_scale: float = 1.0) -> Inpainter:
    gen = unwrap(model)
    options = {"coarse_scale": coarse_scale} if coarse_scale != 1.0 else {}
    return Inpainter(gen, **options)


def generate(model: Any, image, mask, coarse_scale: float = 1.0):
    """Raw generator output (B×3×H×W in [-1, 1], before compositing) for any H×W (``Inpainter.generate``)."""
    return _painter(model, coarse_scale).generate(image, mask)


def inpaint(
    model: Any, image: Any, mask: Any, *, coarse_scale: float = 1.0, keep_layout: bool = True
) -> np.ndarray:
    """``Inpainter(model, coarse_scale=...).fill(image, mask)`` for a generator or an ``InpaintingModule``."""
    return _painter(model, coarse_scale).fill(image, mask, keep_layout=keep_layout)


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``--option key=value`` (value as YAML) → adapter options."""
    return parse_key_values(items, "--option", "steps=1500")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = one_line_parser(
        prog="inpaintlab-inpaint",
        description="Fill the holes of images with any model trained by inpaintlab-train, or released "
        "DeepFill v1/v2 / CR-Fill weights. "
        "Known pixels are kept bit for bit; any image size (large ones in tiles, within the memory available); "
        "masks: white (≥ half way) = hole, same size as the image. "
        "Give --image/--mask/--out as files, or as folders (pairs matched by file stem, results "
        "<out>/<stem>.png).",
    )
    ap.add_argument(
        "--model",
        default=None,
        help="released weights' architecture (deepfill_v1, deepfill_v2, crfill, or another registered name); "
        "not needed for our checkpoints, which carry their model config",
    )
    ap.add_argument(
        "--weights",
        type=Path,
        help="released weights (.pth/.pt/.npz) or one of our Lightning checkpoints (.ckpt)",
    )
    ap.add_argument(
        "--pretrained",
        metavar="NAME",
        help="released weights by name, downloaded once into torch's hub cache (inpaintlab-weights list), e.g. "
        "crfill/places2; instead of --model/--weights",
    )
    ap.add_argument("--image", required=True, type=Path, help="image file, or folder of images")
    ap.add_argument(
        "--mask", required=True, type=Path, help="mask file (white = hole, see --invert-mask), or folder of masks"
    )
    ap.add_argument("--out", required=True, type=Path, help="output file, or output folder in folder mode")
    ap.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto (cuda if available)"
    )
    ap.add_argument(
        "--highres",
        action="store_true",
        help="CR-Fill's high-resolution mode: the coarse network at half size (= --coarse-scale 0.5)",
    )
    ap.add_argument(
        "--coarse-scale",
        type=float,
        default=None,
        metavar="S",
        help="run the coarse network at S × the input size, 0 < S ≤ 1 (default 1)",
    )
    ap.add_argument(
        "--rgb",
        action="store_true",
        help="write 8-bit RGB (alpha composited over white) instead of the input's layout "
        "(grey, 16-bit, alpha kept)",
    )
    ap.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow un-pickling Python objects in --weights (only for files you trust: it can run code)",
    )
    ap.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generator constructor argument (YAML value, dotted keys nest), e.g. cnum=48 or "
        "attention_kwargs.official_compat=true; repeatable",
    )
    ap.add_argument(
        "--no-run-config",
        action="store_true",
        help="ignore the training run's config.yaml beside a .ckpt (its generator arguments)",
    )
    ap.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the method's inference option (YAML value), e.g. steps=3000 for Yeh et al., postprocess=none for "
        "GLCIC; repeatable. Unknown keys are an error that lists the model's options",
    )
    for flag, kind in OPTION_FLAGS.items():
        ap.add_argument(f"--{flag}", type=kind, default=None, help=f"= --option {flag}=VALUE")
    ap.add_argument(
        "--invert-mask",
        action="store_true",
        help="black (dark) pixels of the mask are the hole, white ones known (masks drawn the other way round)",
    )
    ap.add_argument(
        "--tile",
        default="auto",
        metavar="auto|off|N",
        help="large pictures: auto (default) fills whole when the estimated memory fits, else in the largest "
        "overlapping tiles that fit; off refuses instead; N fills in N×N tiles",
    )
    ap.add_argument(
        "--max-side",
        type=int,
        default=None,
        metavar="PIXELS",
        help="the network works at most PIXELS on the longer side: a larger picture is filled at a reduced size "
        "and the fill scaled back into the hole (known pixels stay exact)",
    )
    ap.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="memory a fill may use, e.g. 8G (default: what the device has available now, without swap)",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace existing output files")
    ap.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    args = ap.parse_args(argv)
    registry.check_source_args(ap, args)
    return args


def _coarse_scale(args: argparse.Namespace) -> float:
    scale = args.coarse_scale
    if args.highres:
        if scale is not None and scale != 0.5:
            raise ConfigError(f"--highres means --coarse-scale 0.5; got --coarse-scale {scale} as well")
        scale = 0.5
    scale = 1.0 if scale is None else float(scale)
    if not (0.0 < scale <= 1.0) or not math.isfinite(scale):
        raise ConfigError(f"--coarse-scale must be in (0, 1], got {scale}")
    return scale


class _Progress:
    """``progress(done, total)`` callback for fills that take a while (tiles, Yeh's latent search): nothing for the
    first 2 s; then a tqdm bar on a terminal, or a plain line at most every 10 s when stderr is a file. Timed from
    its creation, and again after each finished run (the next image's search)."""

    def __init__(self, what: str, unit: str) -> None:
        self.what, self.unit, self.bar, self.finished = what, unit, None, False
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.finished:
            self.start, self.last, self.finished = now, now, False
        if now - self.start >= 2.0:
            if sys.stderr.isatty():
                if self.bar is None:
                    from tqdm import tqdm

                    self.bar = tqdm(total=total, initial=done - 1, desc=self.what, unit=self.unit, file=sys.stderr,
                                    leave=False)
                self.bar.update(1)
            elif now - self.last >= 10.0 or done == total:
                self.last = now
                print(f"inpaintlab-inpaint: {self.what}: {done}/{total} {self.unit}s, {now - self.start:.0f} s",
                      file=sys.stderr, flush=True)
        if done >= total:
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            self.finished = True


def _warn(message: str) -> None:
    print(f"inpaintlab-inpaint: warning: {message}", file=sys.stderr)


def _read_hole(mask_path: Path, invert: bool) -> np.ndarray:
    """The mask's hole map by the one mask rule, with one warning each for grey pixels, a hole over half the
    picture (an inverted mask?) and no hole at all."""
    mk = load_image(mask_path, "mask")
    try:
        reading = read_hole(mk, invert)
    except InpaintInputError as e:
        raise InpaintInputError(f"mask {mask_path}: {e}") from None
    finally:
        mk.close()
    hole = reading.hole
    if reading.grey:
        _warn(f"mask {mask_path} has {reading.grey} pixels between black and white (anti-aliased edges?): those at "
              f"least half way to white are holes ({int(hole.sum())} hole pixels in all)")
    share = float(hole.mean())
    if share > 0.5:
        flip = "without --invert-mask" if invert else "pass --invert-mask"
        _warn(f"mask {mask_path} makes {share:.0%} of the picture a hole: if its black part is the hole, {flip}")
    if not hole.any():
        _warn(f"mask {mask_path} has no hole pixels (white = hole{', inverted' if invert else ''}); "
              "the output equals the input")
    return hole


def _layout_bytes(img: Any, keep_layout: bool) -> float:
    """Bytes per pixel the CLI holds besides the tensors: the decoded picture, its 8-bit RGB view, the output and
    its encoding (each in the output's layout)."""
    channels = len(img.getbands()) if keep_layout else 3
    depth = 2 if keep_layout and (is_16bit_colour(img) or img.mode.startswith("I")) else 1
    return 4 * channels * depth + 3 + 16  # + the hole map and the mask's reading


def _fill_one(painter: Inpainter, job: tuple[Path, Path, Path], args: argparse.Namespace, device: str, say) -> None:
    """Fill one (image, mask, output) triple; user errors raise InpaintInputError. The memory the fill needs is
    checked before the picture is decoded."""
    import torch

    image_path, mask_path, out_path = job
    t = time.perf_counter()
    hole = _read_hole(mask_path, args.invert_mask)
    with open_image(image_path, "image") as head:  # the header only
        size, hint, per_px = oriented_size(head), exif_hint(head), _layout_bytes(head, not args.rgb)
    check_sizes(size, hole.shape[::-1], str(image_path), str(mask_path), hint)
    plan = None
    if hole.any():
        try:
            plan = painter.plan(hole, args.max_memory, tile=args.tile, max_side=args.max_side,
                                picture_bytes_per_pixel=per_px)
        except ConfigError as e:
            raise InpaintInputError(f"{image_path}: {e}") from None
        if plan.tile or plan.work != plan.size:
            from inpaintlab.inference.memory import format_bytes

            how = (f"in {plan.tile}² tiles, each seeing {plan.margin} px beyond its share (an attention layer "
                   "reaches only within its tile)") if plan.tile else "whole"
            work = f" at {plan.work[1]}×{plan.work[0]} (--max-side)" if plan.work != plan.size else ""
            say(f"{image_path}: {size[0]}×{size[1]}, whole about {format_bytes(plan.whole_estimate)} of "
                f"{format_bytes(plan.budget)} available: filling{work} {how}, about {format_bytes(plan.estimate)}")
    pic, img = load_picture(image_path, keep_layout=not args.rgb)
    icc = img.info.get("icc_profile") if pic.colour_kept and not args.rgb else None
    img.close()
    progress = None if args.quiet else _Progress(image_path.name, "tile")
    try:
        out = painter.fill_picture(pic, hole, plan, progress)
    except torch.OutOfMemoryError:
        raise InpaintInputError(
            f"out of memory on {device} for {image_path} ({pic.size[0]}×{pic.size[1]}): try --tile 1024, "
            "--max-side 2048, --highres or --device cpu"
        ) from None
    write_image(out, out_path, icc)
    say(
        f"{image_path} → {out_path}  {pic.size[0]}×{pic.size[1]}, hole {hole.mean():.1%}, "
        f"{time.perf_counter() - t:.2f} s"
    )


def _tile_option(value: str) -> int | str:
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    if not text.isdigit() or int(text) < 32:
        raise ConfigError(f"--tile must be auto, off or a tile size of at least 32 pixels, got {value!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    scale = _coarse_scale(args)
    model_args = parse_model_args(args.model_arg)
    options = parse_options(args.option)
    for flag in OPTION_FLAGS:
        if getattr(args, flag) is not None:
            options[flag] = getattr(args, flag)
    if scale != 1.0:
        options["coarse_scale"] = scale
    device = pick_device(args.device)
    args.tile = _tile_option(args.tile)
    if args.max_side is not None and args.max_side < 8:
        raise ConfigError(f"--max-side must be at least 8 pixels, got {args.max_side}")
    if args.max_memory is not None:
        from inpaintlab.inference.memory import parse_bytes

        args.max_memory = parse_bytes(args.max_memory)
    jobs = pair_files(args.image, args.mask, args.out)
    from inpaintlab.utils.destinations import check_writable

    check_writable(args.out if args.image.is_dir() else args.out.parent, "--out")
    folder = args.image.is_dir()
    errors: list[str] = []
    say = (lambda *_: None) if args.quiet else print
    if folder:
        total = len(jobs)
        jobs, warnings, errors, done = plan_folder_jobs(jobs, args.overwrite, keep_layout=not args.rgb)
        if done:
            say(f"skipping {done} of {total} pairs whose output is already in {args.out} (--overwrite redoes them)")
    else:
        warnings = check_jobs(jobs, args.overwrite, keep_layout=not args.rgb)
    for w in warnings:
        print(f"inpaintlab-inpaint: warning: {w}", file=sys.stderr)
    for e in errors:
        print(f"inpaintlab-inpaint: error: {e}", file=sys.stderr)
    if not jobs:
        return 1 if errors else 0

    t0 = time.perf_counter()
    if args.pretrained:
        painter = Inpainter.from_pretrained(args.pretrained, None, device, trusted=args.trust_checkpoint,
                                            model_args=model_args, quiet=args.quiet, **options)
    else:
        painter = Inpainter.from_checkpoint(
            args.weights,
            device,
            model=args.model,
            trusted=args.trust_checkpoint,
            model_args=model_args,
            use_run_config=not args.no_run_config,
            **options,
        )
    say(
        f"{painter.name}: {args.weights or 'released weights'} on {device} ({time.perf_counter() - t0:.1f} s)"
        + (f", options {painter.adapter.settings}" if painter.adapter.settings else "")
    )

    if hasattr(painter.adapter, "progress") and not args.quiet:  # per-image searches (Yeh): a progress bar
        painter.adapter.progress = _Progress("latent search", "step")
    attempted = len(jobs) + len(errors)
    for job in jobs:
        if not folder:
            _fill_one(painter, job, args, device, say)
            continue
        try:  # folder mode: one bad pair is reported and the others go on
            _fill_one(painter, job, args, device, say)
        except (InpaintInputError, OSError) as e:
            errors.append(f"{job[0].name}: {e}")
            msg = " ".join(str(e).split())
            print(f"inpaintlab-inpaint: error: {msg if str(job[0].name) in msg else f'{job[0]}: {msg}'}",
                  file=sys.stderr)
    if errors:
        print(f"inpaintlab-inpaint: error: {len(errors)} of {attempted} pairs failed"
              f" (listed above); the others were written — rerun to retry only these", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of("inpaintlab-inpaint", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

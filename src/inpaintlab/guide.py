"""``inpaintlab-guide``: BTGMI's interactive guided inpainting (003 Sec. 4.4, Fig. 11).

    inpaintlab-guide --weights CKPT --image I.jpg --guide G.jpg --box x,y,w,h --at x,y --out OUT.png \\
        [--scale S] [--object-mask M.png]

The box ``x,y,w,h`` of the guide image is resized by ``--scale`` (default 1: as it is; the paper's "resize and
paste") and pasted into the input image with its top-left corner at ``--at x,y``; the object's foreground inside
the box comes from ``--object-mask`` (a mask of the guide's size or of the box's size, white = object by the one
mask rule, ``data.masks.reading``), else from torchvision's Mask R-CNN (the highest-scoring instance of any of its
COCO classes inside the box — a stand-in for the paper's class-agnostic segmenter; weights from torchvision's
cache, never downloaded). The guided model of
``experiment=btgmi_guided_coco`` runs on the composite with [box, foreground]; the result is its harmonized
object inside the foreground and its inpainting in the rest of the box (``inference.guided.guided_result``).
Every pixel outside the box is the input's, bit for bit (8-bit RGB). Bad boxes and missing files: one line,
exit status 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from inpaintlab.conventions import from_uint8, to_uint8
from inpaintlab.errors import exit_code_of, one_line_parser
from inpaintlab.inference.pictures import InpaintInputError, load_image, read_mask, read_picture, write_image

__all__ = ["check_box", "guide", "main", "parse_ints", "parse_scale", "scaled_size"]


def parse_ints(text: str, n: int, flag: str, spelling: str) -> tuple[int, ...]:
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != n:
        raise InpaintInputError(f"{flag} {text!r}: expected {n} integers {spelling}")
    return values


def parse_scale(text: str) -> float:
    """``--scale``: a finite number > 0, the factor the pasted box is resized by."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise InpaintInputError(f"--scale {text!r}: expected a positive number (the pasted box's size factor, "
                                "e.g. 0.5 or 2)")
    return value


def scaled_size(box: Sequence[int], scale: float) -> tuple[int, int]:
    """(w, h) of the box resized by ``scale``, rounded to whole pixels."""
    return round(box[2] * scale), round(box[3] * scale)


def check_box(box: Sequence[int], at: Sequence[int], guide_size: tuple[int, int], image_size: tuple[int, int],
              scale: float = 1.0) -> None:
    """The box (x, y, w, h) must be non-empty, inside the guide (W×H ``guide_size``), and, resized by ``scale``, at
    least a pixel, no larger than the input and, placed at ``at``, inside the input (``image_size``). One clear
    line otherwise."""
    x, y, bw, bh = box
    ax, ay = at
    gw, gh = guide_size
    iw, ih = image_size
    if bw <= 0 or bh <= 0:
        raise InpaintInputError(f"--box {x},{y},{bw},{bh} is empty: width and height must be positive")
    if x < 0 or y < 0 or x + bw > gw or y + bh > gh:
        raise InpaintInputError(
            f"--box {x},{y},{bw},{bh} lies outside the guide image ({gw}×{gh}): need 0 <= x, x+w <= {gw}, 0 <= y, "
            f"y+h <= {gh}"
        )
    w, h = scaled_size(box, scale)
    if w < 1 or h < 1:
        raise InpaintInputError(f"--scale {scale:g} shrinks the {bw}×{bh} box to {w}×{h} pixels: use a larger scale")
    if w > iw or h > ih:
        what = f"--box {w}×{h}" if (w, h) == (bw, bh) else f"--box {bw}×{bh} scaled by {scale:g} ({w}×{h})"
        raise InpaintInputError(f"{what} is larger than the input image ({iw}×{ih})")
    if ax < 0 or ay < 0 or ax + w > iw or ay + h > ih:
        raise InpaintInputError(
            f"--at {ax},{ay} puts the {w}×{h} box outside the input image ({iw}×{ih}): need 0 <= x <= {iw - w}, "
            f"0 <= y <= {ih - h}"
        )


def _object_mask(path: str | None, guide_rgb: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """h×w bool foreground of the box: from the mask file (guide-sized or box-sized), or Mask R-CNN."""
    x, y, w, h = box
    if path is not None:
        hole = read_mask(load_image(Path(path), "object mask"))
        gh, gw = guide_rgb.shape[:2]
        if hole.shape == (gh, gw):
            hole = hole[y:y + h, x:x + w]
        elif hole.shape != (h, w):
            raise InpaintInputError(
                f"--object-mask {path} is {hole.shape[1]}×{hole.shape[0]}: expected the guide's size ({gw}×{gh}) "
                f"or the box's ({w}×{h})"
            )
        if not hole.any():
            raise InpaintInputError(f"--object-mask {path} marks no pixel inside the box: white = object")
        return hole
    from inpaintlab.inference.guided import box_foreground
    from inpaintlab.utils.backbones import maskrcnn

    crop = torch.from_numpy(np.ascontiguousarray(guide_rgb[y:y + h, x:x + w])).permute(2, 0, 1).float() / 255.0
    return box_foreground(maskrcnn(pretrained=True), crop).numpy()


def _resized(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` resized to (w, h) with PIL: uint8 RGB bicubic (antialiased when shrinking), bool masks nearest."""
    from PIL import Image

    if pixels.shape[1::-1] == size:
        return pixels
    if pixels.dtype == bool:
        return np.asarray(Image.fromarray(pixels.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127
    return np.asarray(Image.fromarray(pixels).resize(size, Image.BICUBIC))


def guide(weights: str | Path, image: np.ndarray, guide_rgb: np.ndarray, box: Sequence[int], at: Sequence[int],
          object_mask: np.ndarray, device: str = "cpu", trusted: bool = False, scale: float = 1.0) -> np.ndarray:
    """The guided-inpainting result (H×W×3 uint8) of 8-bit RGB ``image`` with ``box`` of ``guide_rgb``, resized by
    ``scale``, at ``at``; ``object_mask``: the box's h×w foreground (resized with it). Pixels outside the pasted
    box are ``image``'s."""
    from inpaintlab.inference.guided import GuidedAdapter
    from inpaintlab.inference.inpainter import Inpainter

    painter = Inpainter.from_checkpoint(weights, device, trusted=trusted)
    if not isinstance(painter.adapter, GuidedAdapter):
        raise InpaintInputError(
            f"{weights} is a {type(painter.generator).__name__}, not a guided model: train one with "
            "experiment=btgmi_guided_coco"
        )
    x, y, bw, bh = box
    ax, ay = at
    w, h = scaled_size(box, scale)  # Sec. 4.4: "we resize and paste B_g to I"
    ih, iw = image.shape[:2]
    composite = image.copy()
    composite[ay:ay + h, ax:ax + w] = _resized(guide_rgb[y:y + bh, x:x + bw], (w, h))
    boxm = np.zeros((ih, iw), bool)
    boxm[ay:ay + h, ax:ax + w] = True
    fg = np.zeros((ih, iw), bool)
    fg[ay:ay + h, ax:ax + w] = _resized(object_mask, (w, h))
    to = painter.device
    comp_t = from_uint8(torch.from_numpy(composite).permute(2, 0, 1)[None]).to(to)
    box_t = torch.from_numpy(boxm)[None, None].float().to(to)
    fg_t = torch.from_numpy(fg)[None, None].float().to(to)
    painter.generator.eval()
    result = painter.adapter.guide(comp_t, box_t, fg_t)[0]
    pixels = to_uint8(result).permute(1, 2, 0).cpu().numpy()
    out = image.copy()
    out[boxm] = pixels[boxm]  # only the box changes: the rest is the input bit for bit
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = one_line_parser(prog="inpaintlab-guide", description=__doc__.split("\n\n")[0],
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="checkpoint of experiment=btgmi_guided_coco")
    p.add_argument("--image", required=True, help="the input picture I")
    p.add_argument("--guide", required=True, help="the guide picture I_g")
    p.add_argument("--box", required=True, help="x,y,w,h of the box in the guide picture")
    p.add_argument("--at", required=True, help="x,y of the box's top-left corner in the input picture")
    p.add_argument("--scale", default="1", help="resize the box by this factor before pasting (default 1)")
    p.add_argument("--out", required=True, help="output picture (PNG/JPEG/... by extension)")
    p.add_argument("--object-mask", default=None,
                   help="the object's foreground (guide-sized or box-sized; white = object); default: Mask R-CNN")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--trusted", action="store_true", help="allow full un-pickling of a checkpoint you trust")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    from inpaintlab.inference.loading import pick_device
    from inpaintlab.inference.pictures import save_format
    from inpaintlab.utils.destinations import check_writable

    box = parse_ints(args.box, 4, "--box", "x,y,w,h")
    at = parse_ints(args.at, 2, "--at", "x,y")
    save_format(Path(args.out))
    check_writable(Path(args.out).parent, "--out")
    scale = parse_scale(args.scale)
    image = read_picture(load_image(Path(args.image), "image"), keep_layout=False).rgb
    guide_rgb = read_picture(load_image(Path(args.guide), "guide"), keep_layout=False).rgb
    check_box(box, at, (guide_rgb.shape[1], guide_rgb.shape[0]), (image.shape[1], image.shape[0]), scale)
    if not Path(args.weights).is_file():
        raise InpaintInputError(f"no weights file at {args.weights}")
    fg = _object_mask(args.object_mask, guide_rgb, box)
    out = guide(args.weights, image, guide_rgb, box, at, fg, pick_device(args.device), args.trusted, scale)
    write_image(out, Path(args.out))
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of("inpaintlab-guide", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

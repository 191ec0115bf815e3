"""``inpaintlab-guide``: BTGMI's interactive guided inpainting (003 Sec. 4.4, Fig. 11).

    inpaintlab-guide --weights CKPT --image I.jpg --guide G.jpg --box x,y,w,h --at x,y --out OUT.png \\
        [--object-mask M.png]

The box ``x,y,w,h`` of the guide image is pasted into the input image with its top-left corner at ``--at x,y``
(same size, no resizing); the object's foreground inside the box comes from ``--object-mask`` (a mask of the
guide's size or of the box's size, non-zero = object), else from torchvision's Mask R-CNN (class-agnostic,
highest-scoring instance in the box; weights from torchvision's cache, never downloaded). The guided model of
``experiment=btgmi_guided_coco`` runs on the composite with [box, foreground]; the result is its harmonized
object inside the foreground and its inpainting in the rest of the box (``inference.guided.guided_result``).
Every pixel outside the box is the input's, bit for bit (8-bit RGB). Bad boxes and missing files: one line,
exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from inpaintlab.conventions import from_uint8, to_uint8
from inpaintlab.errors import exit_code_of, one_line_parser
from inpaintlab.inference.pictures import InpaintInputError, load_image, read_mask, read_picture, write_image

__all__ = ["check_box", "guide", "main", "parse_ints"]


def parse_ints(text: str, n: int, flag: str, spelling: str) -> tuple[int, ...]:
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != n:
        raise InpaintInputError(f"{flag} {text!r}: expected {n} integers {spelling}")
    return values


def check_box(box: Sequence[int], at: Sequence[int], guide_size: tuple[int, int], image_size: tuple[int, int]) -> None:
    """The box (x, y, w, h) must be non-empty, inside the guide (W×H ``guide_size``), no larger than the input and,
    placed at ``at``, inside the input (``image_size``). One clear line otherwise."""
    x, y, w, h = box
    ax, ay = at
    gw, gh = guide_size
    iw, ih = image_size
    if w <= 0 or h <= 0:
        raise InpaintInputError(f"--box {x},{y},{w},{h} is empty: width and height must be positive")
    if x < 0 or y < 0 or x + w > gw or y + h > gh:
        raise InpaintInputError(
            f"--box {x},{y},{w},{h} lies outside the guide image ({gw}×{gh}): need 0 <= x, x+w <= {gw}, 0 <= y, "
            f"y+h <= {gh}"
        )
    if w > iw or h > ih:
        raise InpaintInputError(f"--box {w}×{h} is larger than the input image ({iw}×{ih})")
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
            raise InpaintInputError(f"--object-mask {path} marks no pixel inside the box: non-zero = object")
        return hole
    from inpaintlab.inference.guided import box_foreground
    from inpaintlab.utils.backbones import maskrcnn

    crop = torch.from_numpy(np.ascontiguousarray(guide_rgb[y:y + h, x:x + w])).permute(2, 0, 1).float() / 255.0
    return box_foreground(maskrcnn(pretrained=True), crop).numpy()


def guide(weights: str | Path, image: np.ndarray, guide_rgb: np.ndarray, box: Sequence[int], at: Sequence[int],
          object_mask: np.ndarray, device: str = "cpu", trusted: bool = False) -> np.ndarray:
    """The guided-inpainting result (H×W×3 uint8) of 8-bit RGB ``image`` with ``box`` of ``guide_rgb`` at ``at``;
    ``object_mask``: the box's h×w foreground. Pixels outside the box are ``image``'s."""
    from inpaintlab.inference.guided import GuidedAdapter
    from inpaintlab.inference.inpainter import Inpainter

    painter = Inpainter.from_checkpoint(weights, device, trusted=trusted)
    if not isinstance(painter.adapter, GuidedAdapter):
        raise InpaintInputError(
            f"{weights} is a {type(painter.generator).__name__}, not a guided model: train one with "
            "experiment=btgmi_guided_coco"
        )
    x, y, w, h = box
    ax, ay = at
    ih, iw = image.shape[:2]
    composite = image.copy()
    composite[ay:ay + h, ax:ax + w] = guide_rgb[y:y + h, x:x + w]
    boxm = np.zeros((ih, iw), bool)
    boxm[ay:ay + h, ax:ax + w] = True
    fg = np.zeros((ih, iw), bool)
    fg[ay:ay + h, ax:ax + w] = object_mask
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
    p.add_argument("--out", required=True, help="output picture (PNG/JPEG/... by extension)")
    p.add_argument("--object-mask", default=None,
                   help="the object's foreground (guide-sized or box-sized; non-zero = object); default: Mask R-CNN")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--trusted", action="store_true", help="allow full un-pickling of a checkpoint you trust")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    from inpaintlab.inference.loading import pick_device

    box = parse_ints(args.box, 4, "--box", "x,y,w,h")
    at = parse_ints(args.at, 2, "--at", "x,y")
    image = read_picture(load_image(Path(args.image), "image"), keep_layout=False).rgb
    guide_rgb = read_picture(load_image(Path(args.guide), "guide"), keep_layout=False).rgb
    check_box(box, at, (guide_rgb.shape[1], guide_rgb.shape[0]), (image.shape[1], image.shape[0]))
    if not Path(args.weights).is_file():
        raise InpaintInputError(f"no weights file at {args.weights}")
    fg = _object_mask(args.object_mask, guide_rgb, box)
    out = guide(args.weights, image, guide_rgb, box, at, fg, pick_device(args.device), args.trusted)
    write_image(out, Path(args.out))
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of("inpaintlab-guide", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

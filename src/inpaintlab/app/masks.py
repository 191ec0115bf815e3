"""Uploads of the web app → the pictures and hole maps the one inference interface takes.

* Photos: decoded as ``inpaintlab-inpaint`` reads files (``inference.pictures``: EXIF orientation applied, any
  mode), after a size check on the header alone, so one upload cannot exhaust memory (``max_side``).
* The page's brush layer: an RGBA PNG the size of the photo, transparent where nothing was painted. Any stroke
  of any colour or opacity is a hole: hole = alpha > 0 (an eraser makes pixels fully transparent again).
* An uploaded mask file: the package's one mask rule (``data.masks.reading``, through
  ``inference.pictures.read_mask``: a hole from half way to full scale, 0/1 masks, the alpha when it alone varies),
  so a mask gives the same hole in the app, in ``inpaintlab-inpaint`` and in the datasets.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from inpaintlab.inference.pictures import InpaintInputError, check_sizes, oriented_size, read_mask, upright

DEFAULT_MAX_SIDE = 4096


def decode_upload(data: bytes, what: str, max_side: int = DEFAULT_MAX_SIDE) -> Any:
    """The decoded, upright PIL image of an uploaded file; one-sentence ``InpaintInputError`` when it is empty,
    unreadable or larger than ``max_side`` pixels on a side (checked on the header, before decoding)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from inpaintlab.data.decode import ImageTooLargeError, open_image_file

    if not data:
        raise InpaintInputError(f"the {what} file is empty: choose an image file (PNG, JPEG, WebP, TIFF, BMP, …)")
    try:
        img = open_image_file(io.BytesIO(data), f"the {what}")  # PIL's bomb limit: the CLI's check and sentence
    except ImageTooLargeError as e:
        raise InpaintInputError(str(e)) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise InpaintInputError(
            f"the {what} file is not an image this app can read: choose a PNG, JPEG, WebP, TIFF or BMP file"
        ) from None
    w, h = oriented_size(img)
    if max(w, h) > max_side:
        raise InpaintInputError(
            f"the {what} is {w}×{h} pixels, larger than this app's limit of {max_side} pixels on a side: "
            "use a smaller image (or start inpaintlab-app with a larger --max-side)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InpaintInputError(f"the {what} file is damaged or truncated and cannot be decoded") from None
    return upright(img)


def brush_hole(layer: Any) -> np.ndarray:
    """H×W bool hole map of the page's brush layer: every pixel a stroke touched (alpha > 0), whatever its colour
    and opacity (the page's own paint layer, not a mask file). A layer without alpha falls back to the mask rule."""
    from PIL import Image

    if isinstance(layer, Image.Image) and (layer.mode in ("RGBA", "LA", "PA", "RGBa", "La")
                                           or (layer.mode == "P" and "transparency" in layer.info)):
        return np.asarray(layer.convert("RGBA"))[..., 3] != 0
    return read_mask(layer)


def uploaded_hole(mask: Any) -> np.ndarray:
    """H×W bool hole map of an uploaded mask file: the one mask rule (``read_mask``), as ``inpaintlab-inpaint``."""
    return read_mask(mask)


def combine(
    size: tuple[int, int], brush: np.ndarray | None, mask: np.ndarray | None, photo: str = "photo", mask_name: str = "file"
) -> np.ndarray:
    """The union of the brush layer's and the uploaded mask's holes, each checked to be the photo's
    ``size`` (width, height); one-sentence errors for a wrong size or a mask that covers nothing."""
    hole = np.zeros(size[::-1], bool)
    for name, part in (("brush layer", brush), (mask_name, mask)):
        if part is not None:
            check_sizes(size, part.shape[::-1], photo, name)
            hole |= part
    if not hole.any():
        raise InpaintInputError("the mask covers nothing: paint the hole with the brush (or upload a mask) first")
    return hole


def overlay_png(hole: np.ndarray, colour: tuple[int, int, int] = (255, 40, 90)) -> bytes:
    """A PNG the size of ``hole``: ``colour`` opaque on hole pixels, fully transparent elsewhere — loaded into the
    page's brush layer, where ``brush_hole`` reads back exactly ``hole``."""

    rgba = np.zeros(hole.shape + (4,), np.uint8)
    rgba[hole] = (*colour, 255)
    return png_bytes(rgba)


def preview_png(img: Any) -> bytes:
    """An 8-bit PNG of a decoded photo for the browser to show (TIFF, 16-bit, CMYK, … included): the network's
    view of it (``data.transforms.to_rgb``); 8-bit grey/colour with alpha as stored, alpha kept."""
    from inpaintlab.inference.pictures import read_picture

    pic = read_picture(img)
    if pic.has_alpha and pic.pixels.dtype == np.uint8:  # LA / RGBA as stored (to_rgb would flatten the alpha)
        colour = pic.pixels[..., :-1]
        return png_bytes(np.concatenate([np.repeat(colour, 3 // colour.shape[2], axis=2), pic.pixels[..., -1:]], 2))
    return png_bytes(pic.rgb)


def png_bytes(pixels: np.ndarray, icc_profile: bytes | None = None) -> bytes:
    """An H×W×C (C ∈ 1..4) uint8 array, or H×W×1 uint16 (16-bit grey), as PNG bytes."""
    from PIL import Image

    arr = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    buf = io.BytesIO()
    kwargs = {"icc_profile": icc_profile} if icc_profile else {}
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", **kwargs)
    return buf.getvalue()

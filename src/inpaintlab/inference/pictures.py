"""Pictures and masks in, pictures out: the user's pixels as the output keeps them and as the network sees them.

* Pixels: the network sees the project's one RGB conversion (``data.transforms.to_rgb``: alpha composited over
  white, palette expanded, 16-bit grey scaled, CMYK/YCbCr converted), in [-1, 1]. The output keeps the input's
  layout: grey stays grey (ITU-R 601 luma of the generated colour, as PIL's ``convert("L")``), 16-bit grey
  stays 16-bit, RGBA/LA keep their alpha (known pixels keep theirs, hole pixels become opaque), palette images
  become RGB(A). ``keep_layout=False`` (``--rgb``) gives 8-bit RGB. The composite is formed in integer space,
  ``out = where(hole, round(generated), input)``, so every known pixel equals the input bit for bit.
* Masks: same width and height as the image (never resized); a pixel is a hole if any colour channel is
  non-zero, unless it is fully transparent; any mode. Grey levels (anti-aliased edges) are holes too: every
  non-zero pixel counts, and the CLI warns once per mask with how many such pixels it met.
* Orientation: photos and masks are read as the user sees them — an EXIF orientation tag is applied to the pixels
  (``ImageOps.exif_transpose``), so the mask lands where it was drawn and the output is written upright
  (no tag left to re-apply).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inpaintlab.errors import InpaintlabError

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, PIL's convert("L")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_LOSSY = (".jpg", ".jpeg", ".jfif", ".webp")


class InpaintInputError(InpaintlabError):
    """An input of ``inpaintlab-inpaint`` (image, mask, weights, output path) is missing or unusable."""


@dataclass
class Picture:
    """An image as the output will store it (``pixels``) and as the network sees it (``rgb``)."""

    pixels: np.ndarray  # H×W×C, C ∈ {1, 2, 3, 4} (alpha last for 2 and 4), uint8 or uint16
    rgb: np.ndarray  # H×W×3 uint8: data.transforms.to_rgb of the input
    squeeze: bool = False  # the caller gave H×W: return H×W
    colour_kept: bool = True  # pixels are in the input's own colour model (an ICC profile still applies)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports sizes."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)


def _to_rgb(img: Any) -> np.ndarray:
    from inpaintlab.data.transforms import to_rgb

    return np.array(to_rgb(img), dtype=np.uint8)  # a writable copy (torch.from_numpy wants one)


def _pil_pixels(img: Any) -> tuple[np.ndarray, bool]:
    """(H×W×C uint8/uint16 pixels in the layout the output keeps, colour model unchanged?) of a PIL image."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        a = np.asarray(img)
        return (a[..., None] if a.ndim == 2 else a), True
    if mode == "1":
        return np.asarray(img.convert("L"))[..., None], True
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)[..., None], True
    if mode == "I":
        a = np.asarray(img)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise InpaintInputError(
                f"32-bit integer image with values {lo}..{hi}: expected 0..255 or 0..65535 "
                "(8- or 16-bit grey)"
            )
        # the same rule as data.transforms.to_rgb: values above 255 mean 16-bit
        return a.astype(np.uint16 if hi > 255 else np.uint8)[..., None], True
    if mode == "F":  # float grey: written as its 8-bit conversion
        return _to_rgb(img)[..., :1].copy(), False
    if mode == "La":
        return np.asarray(img.convert("LA")), True
    if mode in ("P", "PA", "RGBa"):
        has_alpha = mode != "P" or "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB")), True
    return np.asarray(img.convert("RGB")), False  # CMYK, YCbCr, LAB, HSV, RGBX


def _array_rgb(a: np.ndarray) -> np.ndarray:
    """to_rgb of an H×W×C uint8/uint16 array (16-bit scaled as to_rgb scales I;16)."""
    from PIL import Image

    if a.dtype == np.uint16:
        a = np.clip(np.rint(a / 65535.0 * 255.0), 0, 255).astype(np.uint8)
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a[..., 0] if a.shape[2] == 1 else a)))


def read_picture(image: Any, keep_layout: bool = True) -> Picture:
    """A ``Picture`` from a PIL image or an H×W / H×W×C (C ≤ 4) uint8 or uint16 array.

    ``keep_layout=False``: the output is the 8-bit RGB conversion (``--rgb``)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        rgb = _to_rgb(image)
        if not keep_layout:
            return Picture(rgb.copy(), rgb)
        pixels, kept = _pil_pixels(image)
        return Picture(np.ascontiguousarray(pixels), rgb, squeeze=pixels.shape[2] == 1, colour_kept=kept)
    if isinstance(image, np.ndarray):
        a = image
        if a.dtype not in (np.uint8, np.uint16):
            raise InpaintInputError(
                f"image array has dtype {a.dtype}: expected uint8 (0..255) or uint16 (0..65535)"
            )
        if not (a.ndim == 2 or (a.ndim == 3 and 1 <= a.shape[2] <= 4)) or 0 in a.shape[:2]:
            raise InpaintInputError(
                f"image array has shape {a.shape}: expected H×W (grey) or H×W×C with C = 1 (grey), "
                "2 (grey + alpha), 3 (RGB) or 4 (RGBA)"
            )
        squeeze = a.ndim == 2
        a = np.ascontiguousarray(a[..., None] if squeeze else a)
        rgb = _array_rgb(a)
        if not keep_layout:
            return Picture(rgb.copy(), rgb)
        return Picture(a, rgb, squeeze=squeeze)
    raise InpaintInputError(f"image must be a PIL image or a numpy array, got {type(image).__name__}")


def read_mask(mask: Any) -> np.ndarray:
    """H×W bool hole map (True = hole) of a PIL image or array: a pixel is a hole if any colour channel is
    non-zero, unless it is fully transparent (alpha 0)."""
    from PIL import Image

    if isinstance(mask, Image.Image):
        mode = mask.mode
        if mode in _ALPHA_MODES or (mode == "P" and "transparency" in mask.info):
            a = np.asarray(mask.convert("RGBA"))
        elif mode in ("1", "L", "I", "F") or mode.startswith("I;16"):
            a = np.asarray(mask)
        else:  # palette without transparency, RGB, CMYK, …: what the mask looks like
            a = np.asarray(mask.convert("RGB"))
    elif isinstance(mask, np.ndarray):
        a = mask
        if not (a.ndim == 2 or (a.ndim == 3 and 1 <= a.shape[2] <= 4)) or 0 in a.shape[:2]:
            raise InpaintInputError(
                f"mask array has shape {a.shape}: expected H×W or H×W×C (C ≤ 4, alpha last for 2 and 4)"
            )
    else:
        raise InpaintInputError(f"mask must be a PIL image or a numpy array, got {type(mask).__name__}")
    if a.ndim == 2:
        return a != 0
    if a.shape[2] in (2, 4):
        return (a[..., :-1] != 0).any(axis=2) & (a[..., -1] != 0)
    return (a != 0).any(axis=2)


def compose(pic: Picture, hole: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Compose in integer space: generated values (H×W×3 float in [0, 255]) in the hole, the input
    elsewhere."""
    c, dtype = pic.pixels.shape[2], pic.pixels.dtype
    top = 65535.0 if dtype == np.uint16 else 255.0
    colour = generated if c >= 3 else (generated @ np.asarray(_LUMA, dtype=generated.dtype))[..., None]
    colour = np.clip(np.rint(colour * (top / 255.0)), 0, top)
    if c in (2, 4):  # filled pixels are opaque
        colour = np.concatenate([colour, np.full(colour.shape[:2] + (1,), top, colour.dtype)], axis=2)
    return np.where(hole[..., None], colour.astype(dtype), pic.pixels)


def check_sizes(
    image_size: tuple[int, int],
    mask_size: tuple[int, int],
    image_name: str = "image",
    mask_name: str = "mask",
    hint: str = "",
) -> None:
    if tuple(image_size) != tuple(mask_size):
        raise InpaintInputError(
            f"mask {mask_name} is {mask_size[0]}×{mask_size[1]} but image {image_name} is "
            f"{image_size[0]}×{image_size[1]} (width×height); masks are not resized — give a mask of "
            f"the image's size{hint}"
        )




def open_image(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except FileNotFoundError:
        raise InpaintInputError(f"{what} {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise InpaintInputError(f"cannot read {what} {path}: {e}") from None


def load_image(path: Path, what: str):
    """The decoded picture as the user sees it: its EXIF orientation applied to the pixels."""
    img = open_image(path, what)
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise InpaintInputError(f"cannot decode {what} {path}: {e}") from None
    return upright(img)


def _orientation(img: Any) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: stored pixels as they are
        return 1


def upright(img: Any):
    """``img`` with its EXIF orientation (tag 0x0112) applied to the pixels and the tag removed; a file opened
    sideways is closed once turned."""
    out = as_displayed(img)
    if out is not img:
        img.close()
    return out


def as_displayed(img: Any) -> Any:
    """A PIL image with its EXIF orientation applied, as a new image (``img`` itself is left open and unchanged);
    anything else as it is."""
    if not hasattr(img, "getexif") or _orientation(img) == 1:
        return img
    from PIL import ImageOps

    return ImageOps.exif_transpose(img)


def oriented_size(img: Any) -> tuple[int, int]:
    """(width, height) as displayed: swapped for the EXIF orientations that rotate by 90° (5–8)."""
    w, h = img.size
    return (h, w) if _orientation(img) in (5, 6, 7, 8) else (w, h)


def grey_pixels(mask: Any) -> int:
    """How many mask pixels are neither 0 nor full scale (anti-aliased edges); 0 for binary masks."""
    from PIL import Image

    if not isinstance(mask, Image.Image) or mask.mode in ("1",) or mask.mode.startswith("I") or mask.mode == "F":
        return 0
    a = np.asarray(mask.convert("LA" if mask.mode in _ALPHA_MODES else "L"))
    values = a[..., 0] if a.ndim == 3 else a
    return int(((values > 0) & (values < 255)).sum())


def exif_hint(img: Any) -> str:
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the hint
        return ""
    if orientation in (5, 6, 7, 8):
        return " (sizes as displayed, after the EXIF rotation tag)"
    return ""


def save_format(out: Path) -> str:
    from PIL import Image

    ext = out.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise InpaintInputError(f"--out {out}: cannot write {ext or 'files without an extension'}; use .png")
    return fmt



def write_image(pixels: np.ndarray, out: Path, icc_profile: bytes | None = None) -> None:
    """Write an H×W×C uint8/uint16 array atomically (temporary file in the same folder, then rename)."""
    from PIL import Image

    fmt = save_format(out)
    arr = pixels[..., 0] if pixels.shape[2] == 1 else pixels
    if arr.dtype == np.uint16 and arr.ndim != 2:
        raise InpaintInputError(
            f"cannot write {out}: 16-bit colour images are not supported by PIL; use --rgb"
        )
    img = Image.fromarray(np.ascontiguousarray(arr))
    kwargs: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if icc_profile and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = icc_profile
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, format=fmt, **kwargs)
        os.replace(tmp, out)
    except OSError as e:
        raise InpaintInputError(f"cannot write {out}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)



"""The one image pipeline of every dataset: decode, to RGB, resize the short side, crop, flip, scale to [-1, 1]."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from inpaintlab.conventions import from_uint8
from inpaintlab.errors import ConfigError

__all__ = ["IMAGE_EXTENSIONS", "ImageTransform", "load_image", "to_rgb", "to_tensor"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".gif")

# Transparent pixels are shown over white, as image viewers do (their stored colour is often garbage).
_BACKGROUND = (255, 255, 255)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode → 8-bit RGB: grey (L, 1, I;16, I, F), palette (P, with transparency), alpha (LA, RGBA, PA)
    composited over white, CMYK/YCbCr/LAB converted. 16-bit and 32-bit grey are scaled, not clipped."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(img, dtype=np.float64)
        if mode == "F" and a.size and a.max() <= 1.0:
            top = 1.0  # float images are usually in [0, 1]
        elif mode.startswith("I;16") or (a.size and a.max() > 255):
            top = 65535.0
        else:
            top = 255.0
        gray = np.clip(np.rint(a / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
        if mode == "RGB":
            return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, _BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def to_tensor(img: Image.Image) -> Tensor:
    """8-bit RGB image → 3×H×W float tensor in [-1, 1]."""
    return from_uint8(torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1))


def load_image(path: str | os.PathLike) -> Image.Image:
    """Decode a file fully (truncated files raise here, not later) and convert it to RGB."""
    with Image.open(path) as img:
        img.load()
        return to_rgb(img)


def _hw(size, name: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        h = w = int(size)
    elif isinstance(size, Sequence) and len(size) == 2:
        h, w = int(size[0]), int(size[1])
    else:
        raise ConfigError(f"{name} must be an int or an [height, width] pair, got {size!r}")
    if h < 1 or w < 1:
        raise ConfigError(f"{name} must be positive, got {size!r}")
    return h, w


class ImageTransform:
    """One image pipeline for all datasets (DeepFill v1 Sec. 4, CR-Fill Sec. 5, BTGMI Sec. 4: resize, crop, flip).

    1. ``pre_crop``: optional centre crop in the file's own pixels (CelebA's aligned 178×218 faces → 178²);
    2. resize (PIL bicubic, antialiased): ``resize="cover"`` scales so the image just covers ``image_size``
       (short side = crop side for square crops); an int sets the short side; ``[lo, hi]`` draws the short side
       uniformly in lo..hi pixels per image for random crops (GLCIC Sec. 4: short side 256–384, then a random
       256² crop) and uses ``lo`` for centre crops (evaluation); ``"native"`` keeps the file's
       resolution (DeepFill's random crops from high-resolution Places2), upscaling only images too small;
    3. crop ``image_size``: ``crop="random"`` (training) or ``"center"``;
    4. ``flip``: horizontal flip with probability ½;
    5. to a 3×H×W float tensor in [-1, 1].

    ``jpeg_draft`` lets libjpeg decode large JPEGs at 1/2, 1/4 or 1/8 scale when the resize shrinks them that
    much anyway (several times faster for high-resolution Places2 / ImageNet; pixels differ slightly).
    Random choices use ``generator`` or torch's global RNG, which the DataLoader seeds per worker.
    """

    def __init__(
        self,
        image_size: int | Sequence[int] = 256,
        resize: int | str | Sequence[int] = "cover",
        crop: str = "center",
        flip: bool = False,
        pre_crop: int | Sequence[int] | None = None,
        jpeg_draft: bool = False,
    ) -> None:
        self.size = _hw(image_size, "image_size")
        self.resize_range: tuple[int, int] | None = None
        if not isinstance(resize, (str, int, np.integer)) and isinstance(resize, Sequence) and len(resize) == 2:
            lo, hi = (int(v) for v in resize)
            if not 1 <= lo <= hi:
                raise ConfigError(f"resize range must be [lo, hi] short-side pixels with 1 <= lo <= hi, got {list(resize)}")
            self.resize_range = (lo, hi)
            resize = lo
        if isinstance(resize, str):
            if resize not in ("cover", "native"):
                raise ConfigError(f"resize must be 'cover', 'native' or a short-side length in pixels, got {resize!r}")
        elif isinstance(resize, bool) or not isinstance(resize, (int, np.integer)) or resize < 1:
            raise ConfigError(f"resize must be 'cover', 'native' or a positive short-side length, got {resize!r}")
        self.resize = resize if isinstance(resize, str) else int(resize)
        if crop not in ("random", "center"):
            raise ConfigError(f"crop must be 'random' or 'center', got {crop!r}")
        self.crop = crop
        self.flip = bool(flip)
        self.pre_crop = None if pre_crop is None else _hw(pre_crop, "pre_crop")
        self.jpeg_draft = bool(jpeg_draft)

    def __repr__(self) -> str:
        return (
            f"ImageTransform(image_size={list(self.size)}, resize={list(self.resize_range) if self.resize_range else self.resize!r}, crop={self.crop!r}, flip={self.flip}, "
            f"pre_crop={self.pre_crop}, jpeg_draft={self.jpeg_draft})"
        )

    def _target_size(self, w: int, h: int, resize: int | str | None = None) -> tuple[int, int]:
        """Size (w, h) after the resize step for an image of size (w, h) after the pre-crop."""
        ch, cw = self.size
        resize = self.resize if resize is None else resize
        if resize == "native":
            s = 1.0
        elif resize == "cover":
            s = max(ch / h, cw / w)
        else:
            s = resize / min(w, h)
        s = max(s, ch / h, cw / w)  # never smaller than the crop
        return max(cw, round(w * s)), max(ch, round(h * s))

    def _largest_resize(self) -> int | str:
        """The largest short side a random ``[lo, hi]`` resize may draw (libjpeg must not decode below it)."""
        return self.resize_range[1] if self.resize_range is not None and self.crop == "random" else self.resize

    def too_small(self, width: int, height: int) -> bool:
        """Whether a file of ``width``×``height`` pixels is smaller than the crop (the model's input) once the
        ``pre_crop`` is cut: its pixels would be upscaled, not just resampled."""
        if self.pre_crop is not None:
            height, width = min(height, self.pre_crop[0]), min(width, self.pre_crop[1])
        return height < self.size[0] or width < self.size[1]

    def load(self, path: str | os.PathLike) -> Image.Image:
        """Decode ``path`` (with libjpeg's draft scaling when enabled) and convert it to RGB; the file's own size
        (w, h) is kept in ``info["inpaintlab_size"]``."""
        with Image.open(path) as img:
            w0, h0 = img.size
            if self.jpeg_draft and img.format == "JPEG" and self.resize != "native":
                w, h = img.size
                if self.pre_crop is not None:
                    pw, ph = min(self.pre_crop[1], w), min(self.pre_crop[0], h)
                    tw, th = self._target_size(pw, ph, self._largest_resize())
                    req = (max(1, round(w * tw / pw)), max(1, round(h * th / ph)))
                else:
                    req = self._target_size(w, h, self._largest_resize())
                img.draft("RGB", req)
            img.load()
            rgb = to_rgb(img)
            rgb.info["inpaintlab_scale"] = rgb.size[0] / w0 if w0 else 1.0
            rgb.info["inpaintlab_size"] = (w0, h0)
            return rgb

    def __call__(self, img: Image.Image, generator: torch.Generator | None = None) -> Tensor:
        if img.mode != "RGB":
            img = to_rgb(img)
        w, h = img.size
        if self.pre_crop is not None:
            # pre_crop is in the file's pixels; a draft-decoded image is smaller by inpaintlab_scale
            scale = img.info.get("inpaintlab_scale", 1.0)
            ph = min(h, max(1, round(self.pre_crop[0] * scale)))
            pw = min(w, max(1, round(self.pre_crop[1] * scale)))
            top, left = (h - ph) // 2, (w - pw) // 2
            img = img.crop((left, top, left + pw, top + ph))
            w, h = pw, ph
        resize = self.resize
        if self.resize_range is not None and self.crop == "random":
            lo, hi = self.resize_range
            resize = int(torch.randint(lo, hi + 1, (1,), generator=generator))
        tw, th = self._target_size(w, h, resize)
        if (tw, th) != (w, h):
            img = img.resize((tw, th), Image.BICUBIC)
        ch, cw = self.size
        if self.crop == "random":
            top = int(torch.randint(0, th - ch + 1, (1,), generator=generator))
            left = int(torch.randint(0, tw - cw + 1, (1,), generator=generator))
        else:
            top, left = (th - ch) // 2, (tw - cw) // 2
        if (tw, th) != (cw, ch):
            img = img.crop((left, top, left + cw, top + ch))
        if self.flip and bool(torch.rand(1, generator=generator) < 0.5):
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return to_tensor(img)

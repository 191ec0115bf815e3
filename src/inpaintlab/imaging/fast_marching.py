"""Fast-marching inpainting (Telea 2004) through OpenCV: the first step of GLCIC's post-processing (Iizuka Sec. 3.4)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from inpaintlab.conventions import from_uint8, to_uint8
from inpaintlab.errors import ConfigError

__all__ = ["telea_inpaint"]


def telea_inpaint(image: Tensor, mask: Tensor, radius: int = 1) -> Tensor:
    """Fill the holes of ``image`` (B×C×H×W in [-1, 1], mask B×1×H×W, 1 = hole) by fast marching from their border.

    ``cv2.inpaint(..., cv2.INPAINT_TELEA)`` on 8-bit images, one call per image (OpenCV has no batch API; this runs
    at inference only) and per channel group of 1 or 3; the official GLCIC code uses radius 1. Known pixels come
    back exactly as given (only hole pixels are taken from OpenCV's 8-bit result). A hole covering the whole
    image has no border to march from: it is returned unchanged. Any number of holes, touching the border or
    not, of any width.
    """
    import cv2  # opencv-python-headless

    if image.dim() != 4 or mask.dim() != 4 or mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
        raise ConfigError(f"telea_inpaint: need B×C×H×W image and B×1×H×W mask, got {tuple(image.shape)}, {tuple(mask.shape)}")
    b, c, h, w = image.shape
    hole = mask[:, :1] > 0.5
    u8 = to_uint8(image.detach()).permute(0, 2, 3, 1).cpu().numpy()
    m8 = hole[:, 0].to(torch.uint8).cpu().numpy() * np.uint8(255)
    out = u8.copy()
    for i in range(b):
        n_hole = int(m8[i].astype(bool).sum())
        if n_hole == 0 or n_hole == h * w:
            continue
        mi = np.ascontiguousarray(m8[i])
        for start in range(0, c, 3):
            chans = np.ascontiguousarray(u8[i, :, :, start : min(c, start + 3)])
            if chans.shape[-1] == 2:  # OpenCV takes 1 or 3 channels
                filled = np.stack([cv2.inpaint(np.ascontiguousarray(chans[..., k]), mi.copy(), radius, cv2.INPAINT_TELEA)
                                   for k in range(2)], -1)
            else:
                filled = cv2.inpaint(chans, mi.copy(), radius, cv2.INPAINT_TELEA)
                filled = filled.reshape(h, w, -1)
            out[i, :, :, start : start + filled.shape[-1]] = filled
    filled = from_uint8(torch.from_numpy(out).permute(0, 3, 1, 2).to(image.device)).to(image.dtype)
    return torch.where(hole.expand_as(image), filled, image)

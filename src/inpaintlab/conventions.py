"""The package's conventions, each written once (docs/design.md).

* Images are B×C×H×W floats in [-1, 1]; 8-bit pixels map to them as x/127.5 − 1 (:func:`from_uint8`) and back
  as round((x + 1)·127.5) (:func:`to_uint8`).
* Masks are B×1×H×W with 1 = hole (:func:`check_mask`); the known pixels of a result are the input's exactly
  (:func:`composite`).
* A box is (top, left, height, width) in pixels, end-exclusive (``top + height`` is the first row below it):
  :func:`hole_boxes` of a mask, :func:`centred_crop` around a box.
* A training run's resolved config sits beside its checkpoints (:func:`find_run_config`); the package's Hydra
  configs live in :data:`CONFIG_DIR`.
* Command-line options of the form KEY=VALUE read VALUE as YAML (:func:`parse_key_values`).

Importing this module does not import torch (the command-line checks run before it loads).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inpaintlab.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "CONFIG_DIR", "Box", "centred_crop", "check_mask", "composite", "find_run_config", "from_uint8", "hole_boxes",
    "parse_key_values", "parse_value", "to_pixel_values", "to_uint8",
]

CONFIG_DIR = Path(__file__).resolve().parent / "conf"  # the Hydra configs shipped in the package

Box = "Tensor | Sequence[int]"  # (top, left, height, width), or B×4 of them


# ---------------------------------------------------------------------------------------------- pixels
def composite(output: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """output·mask + image·(1−mask): generated pixels in the hole, the known pixels exactly as given."""
    return output * mask + image * (1.0 - mask)


def from_uint8(pixels: Tensor) -> Tensor:
    """8-bit levels (any dtype, 0…255) → float32 in [-1, 1]: x/127.5 − 1 (a new tensor)."""
    import torch

    return pixels.to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def to_pixel_values(image: Tensor) -> Tensor:
    """[-1, 1] → float32 levels (x + 1)·127.5, neither rounded nor clipped (for composing in integer space)."""
    return image.float().add(1.0).mul(127.5)


def to_uint8(image: Tensor) -> Tensor:
    """[-1, 1] → uint8: clipped to [-1, 1], then round((x + 1)·127.5)."""
    import torch

    return to_pixel_values(image.float().clamp(-1.0, 1.0)).round().to(torch.uint8)


# ---------------------------------------------------------------------------------------------- masks
def check_mask(mask: Any, image: Tensor | None = None, who: str = "mask", error: type[Exception] = ValueError) -> None:
    """Raise ``error`` ("<who>: expected a B×1×H×W mask (1 = hole) …, got …") unless ``mask`` is a B×1×H×W tensor,
    with the batch size and H×W of ``image`` when given."""
    from torch import Tensor

    ok = isinstance(mask, Tensor) and mask.dim() == 4 and mask.shape[1] == 1
    if ok and image is not None:
        ok = image.dim() == 4 and mask.shape[0] == image.shape[0] and mask.shape[2:] == image.shape[2:]
    if not ok:
        found = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        like = f" matching the image {tuple(image.shape)}" if image is not None else ""
        raise error(f"{who}: expected a B×1×H×W mask (1 = hole){like}, got {found}")


def hole_boxes(mask: Tensor, threshold: float = 0.0) -> Tensor:
    """B×4 (top, left, height, width) bounding each sample's hole (pixels above ``threshold``); the whole image
    for a sample without a hole."""
    import torch

    check_mask(mask, who="hole_boxes")
    b, _, h, w = mask.shape
    rows = mask[:, 0].amax(dim=2) > threshold  # B×H
    cols = mask[:, 0].amax(dim=1) > threshold  # B×W
    has = rows.any(dim=1)
    # argmax returns the first maximum: the first hole row from the top (from the bottom on the flipped axis)
    top = rows.to(torch.uint8).argmax(dim=1)
    bottom = h - 1 - rows.flip(1).to(torch.uint8).argmax(dim=1)
    left = cols.to(torch.uint8).argmax(dim=1)
    right = w - 1 - cols.flip(1).to(torch.uint8).argmax(dim=1)
    box = torch.stack([top, left, bottom - top + 1, right - left + 1], dim=1)
    full = torch.tensor([0, 0, h, w], device=mask.device).expand(b, 4)
    return torch.where(has[:, None], box, full)


def _as_boxes(box: Box, batch: int, device: Any) -> Tensor:
    import torch

    boxes = torch.as_tensor(box, device=device).long()
    if boxes.shape == (4,):
        boxes = boxes.expand(batch, 4)
    if boxes.shape != (batch, 4):
        raise ValueError(
            f"box must be (top, left, height, width): shape (4,) shared by the batch or ({batch}, 4), "
            f"got shape {tuple(boxes.shape)}"
        )
    return boxes


def centred_crop(image: Tensor, size: int | Sequence[int], box: Box) -> tuple[Tensor, Tensor]:
    """A ``size`` window centred on each sample's box (centre row top + height // 2), shifted inside the image:
    the B×C×s×s crops (differentiable, gathered in one call for the batch) and the B×2 (top, left) of each window.
    ``box``: one per sample (B×4) or one for the batch (4,)."""
    import torch

    if image.dim() != 4:
        raise ValueError(f"centred_crop expects a B×C×H×W image, got shape {tuple(image.shape)}")
    sh, sw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    b, c, h, w = image.shape
    if sh > h or sw > w:
        raise ConfigError(f"a local crop of {sh}×{sw} does not fit in the {h}×{w} image")
    boxes = _as_boxes(box, b, image.device)
    top = (boxes[:, 0] + boxes[:, 2] // 2 - sh // 2).clamp(0, h - sh)
    left = (boxes[:, 1] + boxes[:, 3] // 2 - sw // 2).clamp(0, w - sw)
    rows = (top[:, None] + torch.arange(sh, device=image.device)).view(b, 1, sh, 1).expand(b, c, sh, w)
    out = image.gather(2, rows)
    cols = (left[:, None] + torch.arange(sw, device=image.device)).view(b, 1, 1, sw).expand(b, c, sh, sw)
    return out.gather(3, cols), torch.stack([top, left], dim=1)


# ---------------------------------------------------------------------------------------------- runs and options
def find_run_config(ckpt: Path) -> Path | None:
    """The resolved config.yaml of the training run that wrote ``ckpt`` (<run>/checkpoints/x.ckpt), if any."""
    for parent in (ckpt.parent, ckpt.parent.parent):
        if (parent / "config.yaml").is_file():
            return parent / "config.yaml"
    return None


def parse_value(text: str) -> Any:
    """A command-line value as YAML (``64`` → int, ``[1, 2]`` → list, ``null`` or empty → None); ValueError when
    it is not valid YAML."""
    import yaml

    if not text:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(str(e)) from None


def parse_key_values(items: Sequence[str], flag: str, example: str, nested: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` items (VALUE as YAML) → a dict; ``nested``: dotted keys make nested dicts. Every malformed
    item is one ``ConfigError`` naming ``flag`` and an ``example``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE (e.g. {example}), got {item!r}")
        try:
            parsed = parse_value(value)
        except ValueError as e:
            raise ConfigError(f"{flag} {item!r}: value is not valid YAML ({e})") from None
        node = out
        *parents, leaf = key.strip().split(".") if nested else [key.strip()]
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{flag} {item!r} conflicts with an earlier value of {p!r}")
        node[leaf] = parsed
    return out

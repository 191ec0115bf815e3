"""DeepFill v1's global and local WGAN critics, and the hole-centred local crop they need."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintlab.nn.padding import PADDING_MODES, PaddedConv2d

BBox = Tensor | Sequence[int]


def _check_mask(name: str, image: Tensor, mask: Tensor) -> None:
    if image.dim() != 4:
        raise ValueError(f"{name} expects a B×C×H×W image, got shape {tuple(image.shape)}")
    if (
        mask.dim() != 4
        or mask.shape[1] != 1
        or mask.shape[0] != image.shape[0]
        or mask.shape[2:] != image.shape[2:]
    ):
        raise ValueError(
            f"{name} expects a B×1×H×W mask (1 = hole) matching the image {tuple(image.shape)}, "
            f"got {tuple(mask.shape)}"
        )


def hole_bboxes(mask: Tensor) -> Tensor:
    """B×4 (top, left, height, width) of each sample's hole bounding box; the whole image where no hole."""
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"hole_bboxes expects a B×1×H×W mask, got shape {tuple(mask.shape)}")
    b, _, h, w = mask.shape
    rows = mask[:, 0].amax(dim=2) > 0  # B×H
    cols = mask[:, 0].amax(dim=1) > 0  # B×W
    has = rows.any(dim=1)
    # argmax returns the first maximum: the first hole row from the top (from the bottom on the flipped axis).
    top = rows.to(torch.uint8).argmax(dim=1)
    bottom = h - 1 - rows.flip(1).to(torch.uint8).argmax(dim=1)
    left = cols.to(torch.uint8).argmax(dim=1)
    right = w - 1 - cols.flip(1).to(torch.uint8).argmax(dim=1)
    box = torch.stack([top, left, bottom - top + 1, right - left + 1], dim=1)
    full = torch.tensor([0, 0, h, w], device=mask.device).expand(b, 4)
    return torch.where(has[:, None], box, full)


def _as_boxes(bbox: BBox, batch: int, device: torch.device) -> Tensor:
    box = torch.as_tensor(bbox, device=device).long()
    if box.shape == (4,):
        box = box.expand(batch, 4)
    if box.shape != (batch, 4):
        raise ValueError(
            f"bbox must be (top, left, height, width): shape (4,) shared by the batch or ({batch}, 4), "
            f"got shape {tuple(box.shape)}"
        )
    return box


def crop_local(image: Tensor, size: int | Sequence[int], bbox: BBox) -> tuple[Tensor, Tensor]:
    """Crop a window centred on each sample's box, shifted inside the image (DeepFill v1 ``local_patch``).

    ``bbox``: (top, left, height, width), one per sample (B×4) or one for the batch (4,). Returns the B×C×s×s
    crops (differentiable, gathered in one call for the whole batch) and the B×2 (top, left) of each window.
    """
    if image.dim() != 4:
        raise ValueError(f"crop_local expects a B×C×H×W image, got shape {tuple(image.shape)}")
    sh, sw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    b, c, h, w = image.shape
    if sh > h or sw > w:
        raise ValueError(f"local crop {sh}×{sw} does not fit in the {h}×{w} image")
    box = _as_boxes(bbox, b, image.device)
    top = (box[:, 0] + box[:, 2] // 2 - sh // 2).clamp(0, h - sh)
    left = (box[:, 1] + box[:, 3] // 2 - sw // 2).clamp(0, w - sw)
    rows = (top[:, None] + torch.arange(sh, device=image.device)).view(b, 1, sh, 1).expand(b, c, sh, w)
    out = image.gather(2, rows)
    cols = (left[:, None] + torch.arange(sw, device=image.device)).view(b, 1, 1, sw).expand(b, c, sh, sw)
    return out.gather(3, cols), torch.stack([top, left], dim=1)


class WGANCritic(nn.Module):
    """DeepFill v1 Sec. 3 ("Global and local Wasserstein GANs"): 5×5 s2 convs + LeakyReLU(0.2), dense → 1.

    No normalisation (WGAN-GP). ``input_size`` fixes the dense layer; TF "SAME" padding as in the official
    code.
    """

    def __init__(
        self,
        input_size: int | Sequence[int],
        widths: Sequence[int],
        in_channels: int = 3,
        with_mask: bool = False,
        leaky_slope: float = 0.2,
        padding: str = "same_tf",
    ) -> None:
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(PADDING_MODES)}")
        self.input_size = (
            (int(input_size), int(input_size))
            if isinstance(input_size, int)
            else tuple(int(s) for s in input_size)
        )
        self.image_channels, self.with_mask = int(in_channels), bool(with_mask)
        layers: list[nn.Module] = []
        c = self.image_channels + int(self.with_mask)
        h, w = self.input_size
        for out in widths:
            layers += [PaddedConv2d(c, int(out), 5, 2, 1, padding), nn.LeakyReLU(leaky_slope)]
            c = int(out)
            h, w = (-(-h // 2), -(-w // 2)) if padding == "same_tf" else ((h - 1) // 2 + 1, (w - 1) // 2 + 1)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * h * w, 1)

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        name = type(self).__name__
        if image.dim() != 4 or image.shape[1] != self.image_channels:
            raise ValueError(f"{name} expects a B×{self.image_channels}×H×W image, got {tuple(image.shape)}")
        if tuple(image.shape[2:]) != self.input_size:
            raise ValueError(
                f"{name} was built for {self.input_size[0]}×{self.input_size[1]} inputs (its dense layer "
                f"fixes the size), got {tuple(image.shape[2:])}; set input_size to match"
            )
        if self.with_mask:
            if mask is None:
                raise ValueError(f"{name}(with_mask=True) needs the mask")
            _check_mask(name, image, mask)
            image = torch.cat([image, mask.to(image.dtype)], dim=1)
        return self.fc(self.features(image).flatten(1))


class GlobalCritic(WGANCritic):
    """DeepFill v1 Sec. 3: global critic on the whole 256² image, convs 64, 128, 256, 256 → dense 1."""

    def __init__(
        self,
        input_size: int | Sequence[int] = 256,
        in_channels: int = 3,
        cnum: int = 64,
        with_mask: bool = False,
        leaky_slope: float = 0.2,
        padding: str = "same_tf",
    ) -> None:
        super().__init__(
            input_size, (cnum, 2 * cnum, 4 * cnum, 4 * cnum), in_channels, with_mask, leaky_slope, padding
        )


class LocalCritic(WGANCritic):
    """DeepFill v1 Sec. 3: local critic on the 128² patch around the hole, convs 64-128-256-512 → dense 1."""

    def __init__(
        self,
        input_size: int | Sequence[int] = 128,
        in_channels: int = 3,
        cnum: int = 64,
        with_mask: bool = False,
        leaky_slope: float = 0.2,
        padding: str = "same_tf",
    ) -> None:
        super().__init__(
            input_size, (cnum, 2 * cnum, 4 * cnum, 8 * cnum), in_channels, with_mask, leaky_slope, padding
        )


class GlobalLocalCritic(nn.Module):
    """DeepFill v1 Sec. 3 (after GLCIC): a global critic on the image, a local one on the crop at the hole.

    ``forward(image, mask, bbox=None) -> {"global": B×1, "local": B×1}``. The local window (``local_size``) is
    centred on each sample's hole bounding box, or on ``bbox`` (one (top, left, height, width) for the batch,
    as the official code draws one box per batch, or one per sample). With DeepFill v1's box masks (a 128² box
    shrunk equally on opposite sides) the hole-centred window is exactly the official ``local_patch``.
    """

    def __init__(
        self,
        global_size: int | Sequence[int] = 256,
        local_size: int = 128,
        in_channels: int = 3,
        cnum: int = 64,
        with_mask: bool = False,
        leaky_slope: float = 0.2,
        padding: str = "same_tf",
    ) -> None:
        super().__init__()
        self.local_size = int(local_size)
        self.global_critic = GlobalCritic(global_size, in_channels, cnum, with_mask, leaky_slope, padding)
        self.local_critic = LocalCritic(self.local_size, in_channels, cnum, with_mask, leaky_slope, padding)

    def forward(self, image: Tensor, mask: Tensor, bbox: BBox | None = None) -> dict[str, Tensor]:
        _check_mask(type(self).__name__, image, mask)
        box = hole_bboxes(mask) if bbox is None else bbox
        both, _ = crop_local(torch.cat([image, mask.to(image.dtype)], dim=1), self.local_size, box)
        local_image, local_mask = both[:, :-1], both[:, -1:]
        return {
            "global": self.global_critic(image, mask),
            "local": self.local_critic(local_image, local_mask),
        }

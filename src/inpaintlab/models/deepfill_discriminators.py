"""DeepFill v1's global and local WGAN critics (the hole-centred local crop: ``conventions.centred_crop``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintlab.conventions import Box, centred_crop, check_mask, hole_boxes
from inpaintlab.nn.padding import PADDING_MODES, PaddedConv2d


def _check_mask(name: str, image: Tensor, mask: Tensor) -> None:
    if image.dim() != 4:
        raise ValueError(f"{name} expects a B×C×H×W image, got shape {tuple(image.shape)}")
    check_mask(mask, image, who=name)


class WGANCritic(nn.Module):
    """DeepFill v1 Sec. 3 ("Global and local Wasserstein GANs"): 5×5 s2 convs + LeakyReLU(0.2), dense → 1.

    No normalisation (WGAN-GP). The conv widths are ``widths`` × ``cnum``; ``input_size`` fixes the dense layer;
    TF "SAME" padding as in the official code. Subclasses set the paper's widths and input size.
    """

    widths: tuple[int, ...] = (1, 2, 4, 4)
    default_size: int = 256

    def __init__(
        self,
        input_size: int | Sequence[int] | None = None,
        in_channels: int = 3,
        cnum: int = 64,
        with_mask: bool = False,
        leaky_slope: float = 0.2,
        padding: str = "same_tf",
    ) -> None:
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(PADDING_MODES)}")
        input_size = self.default_size if input_size is None else input_size
        self.input_size = (
            (int(input_size), int(input_size))
            if isinstance(input_size, int)
            else tuple(int(s) for s in input_size)
        )
        self.image_channels, self.with_mask = int(in_channels), bool(with_mask)
        layers: list[nn.Module] = []
        c = self.image_channels + int(self.with_mask)
        h, w = self.input_size
        for out in (m * int(cnum) for m in self.widths):
            layers += [PaddedConv2d(c, out, 5, 2, 1, padding), nn.LeakyReLU(leaky_slope)]
            c = out
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

    widths = (1, 2, 4, 4)
    default_size = 256


class LocalCritic(WGANCritic):
    """DeepFill v1 Sec. 3: local critic on the 128² patch around the hole, convs 64-128-256-512 → dense 1."""

    widths = (1, 2, 4, 8)
    default_size = 128


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

    def forward(self, image: Tensor, mask: Tensor, bbox: Box | None = None) -> dict[str, Tensor]:
        _check_mask(type(self).__name__, image, mask)
        box = hole_boxes(mask) if bbox is None else bbox
        both, _ = centred_crop(torch.cat([image, mask.to(image.dtype)], dim=1), self.local_size, box)
        local_image, local_mask = both[:, :-1], both[:, -1:]
        return {
            "global": self.global_critic(image, mask),
            "local": self.local_critic(local_image, local_mask),
        }

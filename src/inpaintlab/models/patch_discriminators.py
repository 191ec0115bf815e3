"""SN-PatchGAN, the discriminator of DeepFill v2 and CR-Fill."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintlab.conventions import check_mask
from inpaintlab.nn.padding import PADDING_MODES, PaddedConv2d
from inpaintlab.nn.precision import spectral_norm_fp32


class SNPatchGAN(nn.Module):
    """DeepFill v2 Sec. 3.2, Fig. 3: six 5×5 stride-2 spectral-normalised convs + LeakyReLU; logits per patch.

    ``forward(image, mask)`` concatenates the mask (1 = hole) when ``in_channels`` is the image's channels + 1
    (the official ``gan_with_mask``). Returns the B×256×H/64×W/64 map of patch logits (the official code
    flattens it; the hinge loss averages either way). The last conv is also followed by LeakyReLU, as in both
    official codes. The spectral norm's power iteration runs in fp32 under mixed precision. Paper/DeepFill v2 code: slope 0.2 and TF "SAME" padding; CR-Fill code: slope 0.01
    (``leaky_slope=0.01``) and zero padding 2 (``padding="zeros"``).
    """

    def __init__(
        self,
        in_channels: int = 4,
        cnum: int = 64,
        leaky_slope: float = 0.2,
        padding: str = "same_tf",
        width_multipliers: Sequence[int] = (1, 2, 4, 4, 4, 4),
        kernel_size: int = 5,
    ) -> None:
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(PADDING_MODES)}")
        self.in_channels = int(in_channels)
        layers: list[nn.Module] = []
        c = self.in_channels
        for mult in width_multipliers:
            out = int(cnum * mult)
            layers += [
                spectral_norm_fp32(PaddedConv2d(c, out, kernel_size, 2, 1, padding)),
                nn.LeakyReLU(leaky_slope),
            ]
            c = out
        self.net = nn.Sequential(*layers)
        self.out_channels = c
        self.downscale = 2 ** len(width_multipliers)

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        if image.dim() != 4:
            raise ValueError(f"SNPatchGAN expects a B×C×H×W image, got shape {tuple(image.shape)}")
        c = image.shape[1]
        if c + 1 == self.in_channels:
            if mask is None:
                raise ValueError(
                    f"SNPatchGAN(in_channels={self.in_channels}) concatenates a mask to the {c}-channel "
                    "image; "
                    "pass mask (B×1×H×W, 1 = hole)"
                )
            check_mask(mask, image, who="SNPatchGAN")
            image = torch.cat([image, mask.to(image.dtype)], dim=1)
        elif c != self.in_channels:
            raise ValueError(
                f"SNPatchGAN(in_channels={self.in_channels}) got a {c}-channel image; expected "
                f"{self.in_channels - 1} channels (+ the mask it appends) or {self.in_channels}"
            )
        return self.net(image)

"""The Partial Convolutions U-Net (Liu et al. 2018, Sec. 3.3 and the appendix's architecture table)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.nn.partial_conv import PartialConv2d

__all__ = ["PConvUNet", "VanillaConv2d", "he_init"]

CONV_TYPES = ("partial", "vanilla")
INITS = ("he", "pytorch")


def he_init(module: nn.Module) -> None:
    """Sec. 4.2: "We initialize the weights using the initialization method described in [He et al. 2015]":
    convolution weights ~ N(0, 2/fan_in) (fan_in = C_in·k², the ReLU gain), biases 0; BatchNorm keeps γ = 1, β = 0."""
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, a=0.0, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class VanillaConv2d(PartialConv2d):
    """A plain convolution with PartialConv2d's signature (the comparison baseline, Sec. 5.1 "Conv"): it reads
    every input value, hole or not; the mask is updated the same way only so the U-Net's shapes stay identical."""

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        _, update = self.mask_update(mask)
        new_mask = 1.0 - update
        if self.multi_channel:
            new_mask = new_mask.expand(-1, self.out_channels, -1, -1)
        return self._conv_forward(x, self.weight, self.bias), new_mask.to(mask.dtype)


class _Block(nn.Module):
    """conv (partial or vanilla) → BatchNorm (optional) → activation (optional)."""

    def __init__(self, conv: PartialConv2d, bn: bool, act: nn.Module | None) -> None:
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm2d(conv.out_channels) if bn else nn.Identity()
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        y, m = self.conv(x, mask)
        return self.act(self.bn(y)), m


def _one(mask: Tensor) -> Tensor:
    """One channel of a mask whose channels are identical (what PartialConv2d returns)."""
    return mask[:, :1]


class PConvUNet(nn.Module):
    """PConv U-Net (Sec. 3.3; appendix): ``levels`` stride-2 partial convolutions (7×7 → 64, 5×5 → 128, 5×5 →
    256, then 3×3 → 512 …; no BatchNorm on the first; ReLU), and a decoder that up-samples features and mask
    by nearest ×2, concatenates the encoder's skip features **and masks**, and applies a 3×3 partial
    convolution with BatchNorm and LeakyReLU(0.2); the last layer also sees the input image and mask, has a
    bias, no BatchNorm and no activation. 8 levels at 512² (the paper), 7 at 256².

    ``forward(masked_image, mask) -> {"output": B×C×H×W}`` with mask B×1×H×W, 1 = hole; H and W must be
    multiples of ``size_multiple = 2**levels``. ``conv_type="vanilla"`` builds the same U-Net with plain
    convolutions (the masks still flow, unused), the baseline whose output depends on the hole's content.
    The encoder is ``self.encoder`` (freeze its BatchNorm with ``freeze_bn: [encoder]``), the decoder
    ``self.decoder``. ``init="he"`` (Sec. 4.2, default) draws the weights as He et al. 2015 (``he_init``);
    ``"pytorch"`` keeps PyTorch's default (Kaiming-uniform with a = √5, a smaller spread, and random biases).
    """

    def __init__(
        self,
        image_channels: int = 3,
        levels: int = 8,
        base_channels: int = 64,
        max_channels: int = 512,
        conv_type: str = "partial",
        init: str = "he",
    ) -> None:
        super().__init__()
        if conv_type not in CONV_TYPES:
            raise ConfigError(f"PConvUNet conv_type must be one of {CONV_TYPES}, got {conv_type!r}")
        if init not in INITS:
            raise ConfigError(f"PConvUNet init must be one of {INITS}, got {init!r}")
        if levels < 1:
            raise ConfigError(f"PConvUNet levels must be >= 1, got {levels}")
        self.image_channels, self.levels, self.conv_type = int(image_channels), int(levels), conv_type
        self.size_multiple = 2 ** self.levels
        conv = PartialConv2d if conv_type == "partial" else VanillaConv2d
        widths = [min(base_channels * 2 ** i, max_channels) for i in range(3)]
        widths += [max_channels] * (self.levels - 3)
        widths = widths[: self.levels]
        kernels = ([7, 5, 5] + [3] * self.levels)[: self.levels]
        self.widths = widths
        self.encoder = nn.ModuleList()
        c_in = self.image_channels
        for i, (w, k) in enumerate(zip(widths, kernels)):
            self.encoder.append(
                _Block(conv(c_in, w, k, stride=2, padding=k // 2, bias=i == 0), bn=i > 0, act=nn.ReLU())
            )
            c_in = w
        # decoder level i (deepest first) joins the up-sampled level-i features with encoder level i−1's
        # (the input image for the last layer) and outputs level i−1's width (the image's channels at the end)
        self.decoder = nn.ModuleList()
        skips = [self.image_channels, *widths[:-1]]
        for i in reversed(range(self.levels)):
            last = i == 0
            c_out = self.image_channels if last else skips[i]
            self.decoder.append(
                _Block(conv(c_in + skips[i], c_out, 3, padding=1, bias=last, multi_channel=True), bn=not last,
                       act=None if last else nn.LeakyReLU(0.2))
            )
            c_in = c_out
        if init == "he":
            self.apply(he_init)

    def forward(self, masked_image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        h, w = masked_image.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ConfigError(
                f"PConvUNet with {self.levels} levels needs H and W divisible by {self.size_multiple}, got {h}×{w}"
            )
        x, m = masked_image, mask
        feats, masks = [x], [m]
        for block in self.encoder:
            x, m = block(x, _one(m))
            feats.append(x)
            masks.append(_one(m))
        feats.pop(), masks.pop()
        m = masks_up = _one(m)
        for block in self.decoder:
            skip, skip_mask = feats.pop(), masks.pop()
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            masks_up = F.interpolate(_one(m), scale_factor=2.0, mode="nearest")
            x = torch.cat([x, skip], 1)
            m = torch.cat([masks_up.expand(-1, x.shape[1] - skip.shape[1], -1, -1),
                           skip_mask.expand(-1, skip.shape[1], -1, -1)], 1)
            x, m = block(x, m)
        return {"output": x}

    def extra_repr(self) -> str:
        return f"image_channels={self.image_channels}, levels={self.levels}, conv_type={self.conv_type!r}"

"""Partial convolution: a convolution that only sees known pixels, renormalised, with a mask update."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PartialConv2d"]

_EPS = 1e-8  # added to the window's known count before dividing (NVIDIA/partialconv does the same)


class PartialConv2d(nn.Conv2d):
    """Partial Convolutions Sec. 3.1, Eq. (1)–(2): ``x' = Wᵀ(X⊙M)·sum(1)/sum(M) + b`` where sum(M) > 0, else 0;
    ``m' = 1`` where sum(M) > 0.

    ``forward(x, mask) -> (y, new_mask)``. ``mask`` uses the project's convention, **1 = hole**: B×1×H×W (one
    mask for every input channel, window size k²) or, with ``multi_channel=True``, B×C_in×H×W (a mask per
    channel, window size C_in·k², as the U-Net's concatenated skips need). The paper's M (1 = valid) is
    ``1 − mask``, converted here at the boundary. ``new_mask`` is returned in the same convention: one channel,
    or C_out identical channels (an expanded view) with ``multi_channel``, as NVIDIA/partialconv does.

    The mask path (counts, ratio, update) runs in float32 outside autocast: in fp16 ``window/(0 + 1e-8)``
    overflows to inf and ``0·inf`` gives NaN in all-hole windows. The known count of a multi-channel mask is
    the box filter of the channel sum, not a C_in·k² convolution (same counts, C_in times cheaper).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        multi_channel: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, bias=bias)
        self.multi_channel = bool(multi_channel)
        kh, kw = self.kernel_size
        self.window = float(kh * kw * (in_channels if self.multi_channel else 1))
        self.register_buffer("box", torch.ones(1, 1, kh, kw), persistent=False)

    def mask_update(self, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(ratio·update, update) in float32 for a 1 = hole mask; update = 1 where the window has a known pixel."""
        with torch.autocast(device_type=mask.device.type, enabled=False):
            mask = mask.float()
            if self.multi_channel:
                # known count per pixel over the channels: C − Σ mask (an expanded mask: C·(1 − one channel))
                c = mask.shape[1]
                holes = mask[:, :1] * c if mask.stride(1) == 0 else mask.sum(1, keepdim=True)
                valid = c - holes
            elif mask.shape[1] != 1:
                raise ValueError(
                    f"PartialConv2d(multi_channel=False) takes a B×1×H×W mask, got {tuple(mask.shape)}"
                )
            else:
                valid = 1.0 - mask
            count = F.conv2d(valid, self.box.float(), None, self.stride, self.padding, self.dilation)
            update = count.clamp(0.0, 1.0)
            ratio = self.window / (count + _EPS) * update
        return ratio, update

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        if self.multi_channel and mask.shape[1] != self.in_channels:
            raise ValueError(
                f"PartialConv2d(multi_channel=True) takes a B×{self.in_channels}×H×W mask, got {tuple(mask.shape)}"
            )
        ratio, update = self.mask_update(mask)
        m = mask.to(x.dtype)
        y = self._conv_forward(torch.addcmul(x, x, m, value=-1.0), self.weight, None)  # x·(1 − mask), one pass
        # in place on the convolution's output (its backward does not need it): y·ratio + b·update, which is
        # the reference's ((y + b − b)·ratio + b)·update for binary masks (update ∈ {0, 1})
        y = y.mul_(ratio.to(y.dtype))
        if self.bias is not None:
            y = y.addcmul_(self.bias.to(y.dtype).view(1, -1, 1, 1), update.to(y.dtype))
        new_mask = 1.0 - update
        if self.multi_channel:
            new_mask = new_mask.expand(-1, self.out_channels, -1, -1)
        return y, new_mask.to(mask.dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", multi_channel={self.multi_channel}"

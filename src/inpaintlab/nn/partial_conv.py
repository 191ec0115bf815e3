"""Partial convolution: a convolution that only sees known pixels, renormalised, with a mask update."""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PartialConv2d"]

_EPS = 1e-8  # added to the window's known count before dividing (NVIDIA/partialconv does the same)


class _Scratch(threading.local):
    """One reusable buffer per thread for the masked input x·(1 − mask) at CPU inference.

    Its lifetime ends with the convolution, so every layer can reuse the same memory: a fresh tensor above
    glibc's largest mmap threshold (32 MiB) would be page-faulted in afresh at every call, which costs as much
    as the masking pass itself (64×256², batch 4: 40 ms fresh vs 16 ms reused, one thread). It grows to the
    largest masked input seen on the thread and is kept.
    """

    def __init__(self) -> None:
        self.buf: Tensor | None = None

    def like(self, x: Tensor) -> Tensor | None:
        """An uninitialised tensor with ``x``'s shape, dtype and strides; None if ``x`` has gaps or overlaps."""
        if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):
            return None
        n = x.numel()
        buf = self.buf
        # a tensor made under inference_mode cannot be written outside it (and the other way round is fine,
        # but one rule is simpler): a mode change allocates afresh
        if (buf is None or buf.numel() < n or buf.dtype != x.dtype or buf.device != x.device
                or buf.is_inference() != torch.is_inference_mode_enabled()):
            buf = self.buf = torch.empty(n, dtype=x.dtype, device=x.device)
        return buf.as_strided(x.shape, x.stride())


_scratch = _Scratch()


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
    the box filter of the channel sum, not a C_in·k² convolution (same counts, C_in times cheaper; an expanded
    one-channel mask is not summed). Without autograd the renormalisation is one fused multiply-add over the
    output and the masked input goes to a reused buffer (``make bench-pconv``: experiments/pconv/README.md).
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
        # the in-place and out= fast paths only in eager inference: a traced or exported graph takes plain ops
        inference = not torch.is_grad_enabled() and not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())
        # x·(1 − mask) in one pass (on CPU without autograd into the reused buffer), then the plain convolution
        if inference and x.device.type == "cpu":
            known = torch.addcmul(x, x, m, value=-1.0, out=_scratch.like(x))
        else:
            known = torch.addcmul(x, x, m, value=-1.0)
        y = self._conv_forward(known, self.weight, None)
        del known
        y = self._renormalise(y, ratio.to(y.dtype), update, inference)
        new_mask = 1.0 - update
        if self.multi_channel:
            new_mask = new_mask.expand(-1, self.out_channels, -1, -1)
        return y, new_mask.to(mask.dtype)

    def _renormalise(self, y: Tensor, ratio: Tensor, update: Tensor, inference: bool) -> Tensor:
        """Eq. (1) on the convolution's output, in place (its backward does not need it): y·ratio + b·update,
        the reference's ((y + b − b)·ratio + b)·update for binary masks (update ∈ {0, 1}, ratio 0 where 0)."""
        if self.bias is None:
            return y.mul_(ratio)
        b = self.bias.to(y.dtype).view(1, -1, 1, 1)
        if not inference:
            return y.mul_(ratio).addcmul_(b, update.to(y.dtype))
        # one fused pass b + y·ratio, then the windows without a known pixel (ratio 0, usually few) set to 0
        torch.addcmul(b, y, ratio, out=y)
        empty = update[:, 0] == 0
        if bool(empty.any()):
            y.permute(0, 2, 3, 1)[empty] = 0.0
        return y

    def extra_repr(self) -> str:
        return super().extra_repr() + f", multi_channel={self.multi_channel}"

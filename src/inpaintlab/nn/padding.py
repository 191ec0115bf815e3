"""Padding for the DeepFill family: TensorFlow "SAME" padding and PyTorch-style symmetric padding.

The official DeepFill v1/v2 code is TensorFlow and pads "SAME": for a stride-2 3×3 conv on an even-sized input
that is 0 px top/left and 1 px bottom/right, so the sampling grid differs from PyTorch's symmetric padding by
half a pixel. Released TF weights only reproduce their outputs with the TF rule, hence ``padding="same_tf"``.
CR-Fill (a PyTorch code base) pads symmetrically with ``dilation·(k−1)/2`` zeros: ``padding="zeros"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PADDING_MODES = ("same_tf", "zeros", "reflect", "replicate")


def _check_mode(padding: str) -> None:
    if padding not in PADDING_MODES:
        raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(PADDING_MODES)}")


def same_tf_pads(size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one spatial axis under TensorFlow "SAME" (tf.nn docs, "SAME padding").

    Output size is ceil(size / stride); the total padding is split with the extra pixel after.
    """
    if size < 1 or kernel_size < 1 or stride < 1 or dilation < 1:
        raise ValueError(
            f"same_tf_pads needs positive size, kernel_size, stride and dilation, got "
            f"size={size}, kernel_size={kernel_size}, stride={stride}, dilation={dilation}"
        )
    out = -(-size // stride)
    effective = (kernel_size - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def pad_same_tf(x: Tensor, kernel_size: int, stride: int = 1, dilation: int = 1) -> Tensor:
    """Zero-pad the last two axes of ``x`` the way TensorFlow "SAME" convolution does."""
    if x.dim() < 2:
        raise ValueError(
            f"pad_same_tf expects a tensor with at least 2 spatial axes, got shape {tuple(x.shape)}"
        )
    top, bottom = same_tf_pads(x.shape[-2], kernel_size, stride, dilation)
    left, right = same_tf_pads(x.shape[-1], kernel_size, stride, dilation)
    if top == bottom == left == right == 0:
        return x
    if torch.is_grad_enabled() and x.requires_grad:
        return F.pad(x, (left, right, top, bottom))
    return _pad_zero_borders(x, top, bottom, left, right)


def _pad_zero_borders(x: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """``F.pad(x, (left, right, top, bottom))`` bit for bit, writing each element once (F.pad zero-fills the
    whole output and then copies the interior: at 1024² a tenth of DeepFill v2's inference time on CPU)."""
    h, w = x.shape[-2:]
    shape = (*x.shape[:-2], h + top + bottom, w + left + right)
    cl = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    out = torch.empty(shape, dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last if cl else torch.contiguous_format)
    out[..., top : top + h, left : left + w].copy_(x)
    out[..., :top, :].zero_()
    out[..., top + h :, :].zero_()
    out[..., top : top + h, :left].zero_()
    out[..., top : top + h, left + w :].zero_()
    return out


def symmetric_padding(kernel_size: int, dilation: int = 1) -> int:
    """PyTorch-style padding ``dilation·(k−1)/2`` per side (CR-Fill ``gen_conv``; floor for even kernels)."""
    return dilation * (kernel_size - 1) // 2


class SamePad2d(nn.Module):
    """TensorFlow "SAME" zero padding as a module (DeepFill v1/v2 official code, ``padding='SAME'``)."""

    def __init__(self, kernel_size: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.dilation = int(kernel_size), int(stride), int(dilation)

    def forward(self, x: Tensor) -> Tensor:
        return pad_same_tf(x, self.kernel_size, self.stride, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}"


class PaddedConv2d(nn.Conv2d):
    """nn.Conv2d with a named padding rule: TF "SAME" (DeepFill v1 Sec. 3.1 code) or symmetric (CR-Fill code).

    State-dict keys are those of nn.Conv2d (``weight``, ``bias``). For a stride-1 convolution with an odd
    effective kernel TF "SAME" is symmetric, so "same_tf" uses the convolution's own padding there when it is at
    most ``BUILTIN_PAD_MAX`` per side: oneDNN (CPU) then computes the same bits as an explicit pad followed by an
    unpadded convolution (every such DeepFill layer, 64²–1024² features, 1–2 threads:
    ``tests/nn/test_padding.py``), without the padded copy of the input (DeepFill v2 at 1024²: 16 % of the
    generator's CPU time). Larger paddings (the dilation-8 and -16 layers) make oneDNN pick kernels that round
    differently (2e-8 per layer, which the attention's softmax amplifies to 9e-5 against the reference fixture)
    and the stride-2 layers pad more after than before: both pad explicitly, as the TF-port reference does.
    """

    BUILTIN_PAD_MAX = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        padding: str = "same_tf",
        bias: bool = True,
    ) -> None:
        _check_mode(padding)
        if not isinstance(kernel_size, int):
            raise TypeError(f"PaddedConv2d takes a square kernel as an int, got kernel_size={kernel_size!r}")
        sym = symmetric_padding(kernel_size, dilation)
        symmetric_same = stride == 1 and (kernel_size - 1) * dilation % 2 == 0 and sym <= self.BUILTIN_PAD_MAX
        # pad explicitly before every call (TF "SAME" that the convolution's own padding cannot express)
        self.tf_same = padding == "same_tf" and not symmetric_same
        conv_pad = 0 if self.tf_same else sym
        mode = "zeros" if padding == "same_tf" else padding
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=conv_pad,
            dilation=dilation,
            bias=bias,
            padding_mode=mode,
        )
        self.padding_rule = padding

    def forward(self, x: Tensor) -> Tensor:
        if self.tf_same:
            x = pad_same_tf(x, self.kernel_size[0], self.stride[0], self.dilation[0])
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", padding_rule={self.padding_rule}"

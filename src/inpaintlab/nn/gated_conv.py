"""Convolution blocks of the DeepFill family: gated conv, the plain conv + ELU block, nearest-×2 + conv."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.nn.padding import PaddedConv2d

CONV_TYPES = ("gated", "vanilla")


def get_activation(activation: str | nn.Module | None) -> nn.Module | None:
    """An activation by name ("elu", "relu", "leaky_relu", "tanh", "sigmoid", "none") or a module as is."""
    if activation is None or isinstance(activation, nn.Module):
        return activation
    name = str(activation).lower()
    table = {
        "elu": nn.ELU,
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
        "lrelu": lambda: nn.LeakyReLU(0.2),
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
    }
    if name in ("none", "identity", "linear"):
        return None
    if name not in table:
        raise ValueError(
            f"unknown activation {activation!r}; expected one of {', '.join(sorted(table))}, 'none' "
            "or an nn.Module"
        )
    return table[name]()


class GatedConv2d(nn.Module):
    """DeepFill v2 Sec. 3.1, Eq. 2: O = φ(Feature)·σ(Gating), both halves from one conv with 2·out channels.

    As in the official ``gen_conv``, the first ``out_channels`` conv outputs are the features and the last the
    gates. ``activation=None`` keeps the features linear (a GLU-style gate). ``out_channels`` is the effective
    width: the official TF code passes the conv width (2·out_channels) instead.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        padding: str = "same_tf",
        activation: str | nn.Module | None = "elu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.out_channels = int(out_channels)
        self.conv = PaddedConv2d(
            in_channels, 2 * self.out_channels, kernel_size, stride, dilation, padding, bias
        )
        self.act = get_activation(activation)

    def forward(self, x: Tensor) -> Tensor:
        features, gates = self.conv(x).chunk(2, dim=1)
        if self.act is not None:
            features = self.act(features)
        if torch.is_grad_enabled():
            return features * torch.sigmoid(gates)
        # Inference: gate in place so large images keep one fewer full-size temporary alive.
        return features.mul_(gates.sigmoid_()) if self.act is not None else features * gates.sigmoid_()


class ConvBlock(nn.Module):
    """DeepFill v1 Sec. 3.1 (``gen_conv``): convolution followed by ELU, no normalisation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        padding: str = "same_tf",
        activation: str | nn.Module | None = "elu",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.out_channels = int(out_channels)
        self.conv = PaddedConv2d(in_channels, self.out_channels, kernel_size, stride, dilation, padding, bias)
        self.act = get_activation(activation)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return x if self.act is None else self.act(x)


def make_conv(
    conv_type: str,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    padding: str = "same_tf",
    activation: str | nn.Module | None = "elu",
) -> GatedConv2d | ConvBlock:
    """A ``GatedConv2d`` (``conv_type="gated"``, DeepFill v2) or ``ConvBlock`` ("vanilla", DeepFill v1)."""
    if conv_type == "gated":
        return GatedConv2d(in_channels, out_channels, kernel_size, stride, dilation, padding, activation)
    if conv_type == "vanilla":
        return ConvBlock(in_channels, out_channels, kernel_size, stride, dilation, padding, activation)
    raise ValueError(f"unknown conv_type {conv_type!r}; expected one of {', '.join(CONV_TYPES)}")


class UpConv(nn.Module):
    """DeepFill v1 Sec. 3.1 (``gen_deconv``): nearest-neighbour ×2 upsampling, then a 3×3 conv block.

    Upsampling by pixel duplication is the same in TF ``resize_nearest_neighbor`` and PyTorch ``nearest``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        conv_type: str = "gated",
        kernel_size: int = 3,
        padding: str = "same_tf",
        activation: str | nn.Module | None = "elu",
        scale_factor: int = 2,
    ) -> None:
        super().__init__()
        self.scale_factor = int(scale_factor)
        self.conv = make_conv(conv_type, in_channels, out_channels, kernel_size, 1, 1, padding, activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale_factor, mode="nearest"))

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}"

"""Feature losses on a frozen ImageNet VGG-16: perceptual (content) and style, plus total variation.

Partial Convolutions Sec. 3.4 (after Johnson et al. and Gatys et al.): VGG-16 pool1, pool2, pool3 features of
I_out and I_comp against I_gt. One extractor per (layers, pretrained) is shared by every term built with the
same arguments, and it caches the features of the last (output, ground truth, mask) it saw, so the perceptual
and style terms of one step run VGG once (output, composite and ground truth batched in one pass).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.conventions import composite
from inpaintlab.errors import ConfigError
from inpaintlab.losses.base import LossTerm
from inpaintlab.losses.reconstruction import MaskedL1Loss

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PConvL1Loss",
    "TotalVariationLoss",
    "VGG16Features",
    "VGGPerceptualLoss",
    "VGGStyleLoss",
    "gram_matrix",
    "shared_vgg16_features",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# index of each named activation in torchvision's vgg16().features (slices [0:5], [5:10], [10:17] = pool1..3)
VGG16_LAYERS = {
    "relu1_2": 3, "pool1": 4, "relu2_2": 8, "pool2": 9, "relu3_3": 15, "pool3": 16,
    "relu4_3": 22, "pool4": 23, "relu5_3": 29, "pool5": 30,
}
KINDS = ("output", "composite")


def _version(t: Tensor) -> int:
    return -1 if t.is_inference() else t._version  # inference tensors cannot change in place


class VGG16Features(nn.Module):
    """Frozen VGG-16 activations at ``layers`` for images in [-1, 1] (1-channel images are repeated to RGB),
    mapped to [0, 1] and normalised with ImageNet's mean/std as torchvision's VGG expects. Weights come through
    ``inpaintlab.utils.backbones.torchvision_backbone("vgg16", pretrained)``: ``pretrained=False`` gives random
    weights (tests), absent weights offline give one clear line naming the file."""

    def __init__(self, layers: Sequence[str] = ("pool1", "pool2", "pool3"), pretrained: bool = True) -> None:
        super().__init__()
        from inpaintlab.utils.backbones import torchvision_backbone

        unknown = [name for name in layers if name not in VGG16_LAYERS]
        if unknown or not layers:
            raise ConfigError(f"unknown VGG-16 layer(s) {unknown or list(layers)}; known: {', '.join(VGG16_LAYERS)}")
        self.layers = tuple(layers)
        self.pretrained = bool(pretrained)
        last = max(VGG16_LAYERS[n] for n in self.layers)
        self.features = torchvision_backbone("vgg16", pretrained).features[: last + 1]
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._cache: dict[str, list[Tensor]] = {}
        self._key: tuple | None = None

    def train(self, mode: bool = True) -> VGG16Features:  # always eval: no dropout/BN here, but keep it explicit
        return super().train(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = ((x + 1) * 0.5 - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = {VGG16_LAYERS[n]: n for n in self.layers}
        found: dict[str, Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                found[wanted[i]] = x
        return [found[n] for n in self.layers]

    # ------------------------------------------------------------ the per-step feature cache
    def _same(self, pred: Tensor, target: Tensor, mask: Tensor) -> bool:
        if self._key is None:
            return False
        refs, versions, grad = self._key
        return (all(r() is t for r, t in zip(refs, (pred, target, mask)))
                and versions == (_version(pred), _version(target), _version(mask)) and grad == torch.is_grad_enabled())

    def _forget(self, _ref=None) -> None:
        self._cache, self._key = {}, None

    def features_of(self, pred: Tensor, target: Tensor, mask: Tensor, kinds: Sequence[str]) -> dict[str, list[Tensor]]:
        """Features of ``kinds`` ("output" = pred, "composite" = pred·mask + target·(1−mask)) and of "target",
        computed once per (pred, target, mask) in one batched pass; freed when ``pred`` is."""
        if not self._same(pred, target, mask):
            self._forget()
            self._key = (tuple(weakref.ref(t, self._forget if t is pred else None) for t in (pred, target, mask)),
                         (_version(pred), _version(target), _version(mask)), torch.is_grad_enabled())
        missing = [k for k in (*kinds, "target") if k not in self._cache]
        if missing:
            images = {"output": pred, "composite": composite(pred, target, mask), "target": target.detach()}
            feats = self(torch.cat([images[k] for k in missing], 0))
            b = pred.shape[0]
            for j, k in enumerate(missing):
                self._cache[k] = [f[j * b:(j + 1) * b] for f in feats]
        return {k: self._cache[k] for k in (*kinds, "target")}


_SHARED: dict[tuple[tuple[str, ...], bool], VGG16Features] = {}


def shared_vgg16_features(layers: Sequence[str] = ("pool1", "pool2", "pool3"), pretrained: bool = True) -> VGG16Features:
    """The one extractor for these arguments in this process (terms built alike share VGG and its cache)."""
    key = (tuple(layers), bool(pretrained))
    if key not in _SHARED:
        _SHARED[key] = VGG16Features(layers, pretrained)
    return _SHARED[key]


def gram_matrix(features: Tensor) -> Tensor:
    """G = Ψᵀ Ψ / (C·H·W) for B×C×H×W features viewed as C×(H·W) (PConv Sec. 3.4, style loss): B×C×C."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w).float()
    with torch.autocast(device_type=f.device.type, enabled=False):  # sums over H·W overflow fp16
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


class VGGPerceptualLoss(LossTerm):
    """PConv Sec. 3.4 Eq. (3): L_perceptual = Σ_kinds Σ_p ‖Ψ_p(I_kind) − Ψ_p(I_gt)‖₁ / N(Ψ_p(I_gt)).

    ``images`` picks the images compared with the ground truth: "output" (I_out) and/or "composite" (I_comp,
    the output with the known pixels of the ground truth); PConv uses both. Any paper's VGG perceptual loss:
    set ``layers`` (e.g. ``[relu2_2]``) and ``images: [output]``.
    """

    def __init__(
        self,
        weight: float = 1.0,
        source: str = "output",
        layers: Sequence[str] = ("pool1", "pool2", "pool3"),
        images: Sequence[str] = KINDS,
        pretrained: bool = True,
    ) -> None:
        super().__init__(weight=weight, source=source)
        bad = [k for k in images if k not in KINDS]
        if bad or not images:
            raise ConfigError(
                f"{type(self).__name__}.images must be a non-empty subset of {list(KINDS)}, got {list(images)}"
            )
        self.images = tuple(images)
        self.vgg = shared_vgg16_features(layers, pretrained)

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return (a - b).abs().mean()

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        feats = self.vgg.features_of(pred, target, mask, self.images)
        total = pred.new_zeros(())
        for kind in self.images:
            for f, g in zip(feats[kind], feats["target"]):
                total = total + self.distance(f, g)
        return total

    def extra_repr(self) -> str:
        return super().extra_repr() + f", layers={list(self.vgg.layers)}, images={list(self.images)}"


class VGGStyleLoss(VGGPerceptualLoss):
    """PConv Sec. 3.4 Eq. (4)–(5): L_style = Σ_kinds Σ_p ‖G_p(I_kind) − G_p(I_gt)‖₁ / N(G_p(I_gt)), with the Gram
    matrices divided by C_p·H_p·W_p (:func:`gram_matrix`)."""

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return (gram_matrix(a) - gram_matrix(b)).abs().mean()


class TotalVariationLoss(LossTerm):
    """PConv Sec. 3.4 Eq. (6): Σ over horizontal/vertical neighbour pairs both inside R of |ΔI_comp| / N(I_comp),
    R = the hole dilated by ``dilation`` pixels (1 in the paper). ``region="image"`` sums over every pair (the
    plain TV of I_comp)."""

    def __init__(self, weight: float = 1.0, source: str = "output", dilation: int = 1, region: str = "hole") -> None:
        super().__init__(weight=weight, source=source)
        if region not in ("hole", "image"):
            raise ConfigError(f"TotalVariationLoss region must be 'hole' or 'image', got {region!r}")
        self.dilation, self.region = int(dilation), region

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        comp = composite(pred, target, mask)
        if self.region == "hole":
            d = self.dilation
            r = F.max_pool2d(mask, 2 * d + 1, stride=1, padding=d) if d > 0 else mask
            rh, rv = r[..., :, 1:] * r[..., :, :-1], r[..., 1:, :] * r[..., :-1, :]
        else:
            rh = rv = comp.new_ones(())
        dh = (comp[..., :, 1:] - comp[..., :, :-1]).abs() * rh
        dv = (comp[..., 1:, :] - comp[..., :-1, :]).abs() * rv
        return (dh.sum() + dv.sum()) / comp.numel()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dilation={self.dilation}, region={self.region!r}"


class PConvL1Loss(MaskedL1Loss):
    """PConv Sec. 3.4 Eq. (1)–(2): L_hole = ‖M_hole⊙(I_out − I_gt)‖₁ / N(I_gt), L_valid likewise on the known
    pixels — divided by the number of all image values ("size-averaged"), not by the region's size."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        weight = mask if self.region == "hole" else 1.0 - mask
        return ((pred - target).abs() * weight).mean()

"""BTGMI's Patch Perceptual Loss (003 Sec. 3.2, Eq. 2): LPIPS between hole patches, at two scales, per hole.

Batched from end to end: the holes of the whole batch are found at once (:func:`component_boxes`, connected
components by max-propagation with pointer jumping); every patch of every hole at both scales is cut at its own
size (Eq. 2 scores the patch itself; optionally all resampled to one ``crop_size``²) in one
``torchvision.ops.roi_align`` call onto a shared canvas, and one LPIPS pass scores them all —
:func:`padded_lpips` keeps each patch's valid extent through AlexNet, so a patch's score is exactly LPIPS of
the patch alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.conventions import composite
from inpaintlab.errors import ConfigError
from inpaintlab.losses.base import LossTerm


def connected_components(mask: Tensor) -> Tensor:
    """Labels of the 8-connected hole components of B×1×H×W ``mask`` (> 0 = hole): every hole pixel gets the
    flat index (y·W + x) of the largest pixel of its component; known pixels get −1.

    Max-propagation over 3×3 neighbourhoods plus pointer jumping (label ← label[label]); labels only grow and
    stay inside the component, so the fixpoint is the component's largest index. No per-sample loop.
    """
    b, _, h, w = mask.shape
    hole = (mask[:, 0] > 0).flatten(1)
    idx = torch.arange(h * w, device=mask.device).expand(b, -1)
    labels = torch.where(hole, idx, torch.full_like(idx, -1))
    while True:
        grown = F.max_pool2d(labels.view(b, 1, h, w).double(), 3, stride=1, padding=1).view(b, -1).long()
        grown = torch.where(hole, grown, labels)
        jumped = torch.where(hole, grown.gather(1, grown.clamp_min(0)), grown)
        jumped = torch.maximum(jumped, grown)
        if torch.equal(jumped, labels):
            return labels.view(b, 1, h, w)
        labels = jumped


def component_boxes(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Bounding boxes of every hole (8-connected component) of the batch: (batch index K, boxes K×4 as
    (top, left, height, width), the package's box convention), sorted by (sample, component)."""
    b, _, h, w = mask.shape
    labels = connected_components(mask).flatten(1)
    hole = labels >= 0
    sample = torch.arange(b, device=mask.device)[:, None].expand(b, h * w)[hole]
    key = sample * (h * w) + labels[hole]
    uniq, inverse = torch.unique(key, return_inverse=True)
    pix = torch.arange(h * w, device=mask.device).expand(b, -1)[hole]
    ys, xs = pix // w, pix % w
    k = uniq.numel()

    def reduce(values: Tensor, how: str) -> Tensor:
        init = torch.full((k,), h * w if how == "amin" else -1, dtype=values.dtype, device=values.device)
        return init.scatter_reduce(0, inverse, values, reduce=how, include_self=False)

    top, left = reduce(ys, "amin"), reduce(xs, "amin")
    boxes = torch.stack([top, left, reduce(ys, "amax") + 1 - top, reduce(xs, "amax") + 1 - left], 1)
    return uniq // (h * w), boxes


def zoom_boxes(boxes: Tensor, factor: float, height: int, width: int, whole_pixels: bool = False) -> Tensor:
    """(top, left, height, width) boxes scaled by ``factor`` about their centres, shifted back inside the image
    (and clipped to it if larger): the zoomed-out patch that "covers a larger contextual area" (Sec. 3.2).
    ``whole_pixels``: sides and corners rounded to whole pixels (a patch cut at its own size)."""
    boxes = boxes.to(torch.float32)
    size = boxes[:, 2:] * factor
    limit = torch.tensor([height, width], dtype=boxes.dtype, device=boxes.device)
    size = torch.minimum(size.round() if whole_pixels else size, limit)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    lo = centre - size / 2
    lo = torch.minimum((lo.round() if whole_pixels else lo).clamp_min(0), limit - size)
    return torch.cat([lo, size], 1)


def crop_patches(images: Tensor, batch_index: Tensor, boxes: Tensor, size: int | tuple[int, int],
                 extents: Tensor | None = None) -> Tensor:
    """Every (top, left, height, width) box of ``images[batch_index]`` resampled in one ``roi_align`` call
    (bilinear samples averaged per output bin; a box of exactly the output's pixels gives its pixels unchanged).

    ``size``: the output (h, w) (an int: square). ``extents`` (K×2, rows and columns per box): box k fills only
    the top-left ``extents[k]`` of the output — the rest of the canvas is zero — so boxes of different sizes
    share one call; a box whose extent equals its size in pixels comes out as its pixels."""
    from torchvision.ops import roi_align

    out_h, out_w = (size, size) if isinstance(size, int) else size
    # float32 coordinates (and samples): half-precision boxes would be off by pixels at 512²
    t, l, h, w = boxes.float().unbind(1)
    if extents is not None:  # stretch each box so that its first extent bins cover it (1-px bins: exactly)
        h, w = h * out_h / extents[:, 0], w * out_w / extents[:, 1]
    rois = torch.stack([batch_index.float(), l, t, l + w, t + h], 1)  # roi_align takes corners (x0, y0, x1, y1)
    crops = roi_align(images.float(), rois, output_size=(out_h, out_w), spatial_scale=1.0, sampling_ratio=-1,
                      aligned=True)
    if extents is not None:
        crops = crops * _valid(extents[:, 0], extents[:, 1], out_h, out_w)
    return crops.to(images.dtype)


def _valid(heights: Tensor, widths: Tensor, h: int, w: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """K×1×h×w: 1 inside each item's top-left heights[k]×widths[k], 0 beyond."""
    rows = torch.arange(h, device=heights.device)[None, :, None] < heights[:, None, None]
    cols = torch.arange(w, device=widths.device)[None, None, :] < widths[:, None, None]
    return (rows & cols)[:, None].to(dtype)


def _extent(n: Tensor, layer: nn.Module, dim: int) -> Tensor:
    """Output length of ``layer`` (Conv2d / MaxPool2d, floor mode) along ``dim`` for inputs of length ``n``."""
    def pick(v):
        return v[dim] if isinstance(v, tuple) else v
    k, s, p, d = (pick(getattr(layer, a)) for a in ("kernel_size", "stride", "padding", "dilation"))
    return (n + 2 * p - d * (k - 1) - 1).div(s, rounding_mode="floor") + 1


def padded_lpips(net: nn.Module, x0: Tensor, x1: Tensor, heights: Tensor, widths: Tensor) -> Tensor:
    """LPIPS (``lpips.LPIPS``, version 0.1, spatially averaged) of every pair x0[k], x1[k] (K×3×H×W in [-1, 1])
    restricted to its top-left ``heights[k]`` × ``widths[k]`` pixels: K values, each LPIPS of the cropped pair
    alone — patches of different sizes in one batch.

    Exact because every layer's output is zeroed beyond the crop's own extent before the next layer: inside it,
    a convolution then reads the crop and zeros exactly where it would read its zero padding, max-pooling only
    the crop; the spatial average of each layer runs over the crop's extent. lpips' ``normalize_tensor`` is
    taken with its square root guarded at 0 (the value is the same; the gradient at an all-zero feature vector
    is 0 instead of NaN)."""
    k = x0.shape[0]
    h, w = heights.repeat(2), widths.repeat(2)
    x = net.scaling_layer(torch.cat([x0, x1]))
    x = x * _valid(h, w, *x.shape[-2:], x.dtype)
    total = x0.new_zeros(k)
    for i in range(net.net.N_slices):
        for layer in getattr(net.net, f"slice{i + 1}"):
            x = layer(x)
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                h, w = _extent(h, layer, 0), _extent(w, layer, 1)
                x = x * _valid(h, w, *x.shape[-2:], x.dtype)
        sq = x.pow(2).sum(1, keepdim=True)
        feats = x / (torch.sqrt(torch.where(sq > 0, sq, torch.ones_like(sq))) + 1e-10)
        a, b = feats.chunk(2)
        total = total + net.lins[i]((a - b) ** 2).sum((1, 2, 3)) / (h[:k] * w[:k])
    return total


def build_lpips(pretrained: bool = True) -> nn.Module:
    """lpips.LPIPS(net="alex", version="0.1") with AlexNet weights from torchvision's cache via
    ``utils.backbones.torchvision_backbone`` (nothing downloads by the lpips package itself) and the learned
    linear weights shipped in the lpips package; frozen, eval mode. ``pretrained=False``: random AlexNet (tests)."""
    import contextlib
    import io
    import warnings

    import lpips

    from inpaintlab.utils.backbones import torchvision_backbone

    features = torchvision_backbone("alexnet", pretrained=pretrained).features
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        net = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)  # linear heads: package weights
    # lpips' alexnet slices hold torchvision's features[0:2], [2:5], [5:8], [8:10], [10:12] under their indices
    state = {}
    for s, (lo, hi) in enumerate(((0, 2), (2, 5), (5, 8), (8, 10), (10, 12)), start=1):
        for i in range(lo, hi):
            for name, value in features[i].state_dict().items():
                state[f"slice{s}.{i}.{name}"] = value
    net.net.load_state_dict(state, strict=True)
    net.requires_grad_(False)
    return net.eval()


ALEXNET_MIN = 31  # AlexNet's smallest input side (conv1 11×11/4, two 3×3/2 max-pools)


class PatchPerceptualLoss(LossTerm):
    """Eq. 2: Σ_{scales} Σ_l 1/(H_l W_l) Σ_{h,w} ‖w_l ⊙ (F̂_l(x_p) − F̂_l(G(s)_p))‖² — LPIPS (AlexNet, learned w_l)
    between the patch of the completed image and of x, for every hole p, at the hole's bounding box and at the
    box zoomed out by ``zoom``; summed over holes and scales, averaged over images. λ_PPL = 10 (Sec. 3.2).

    ``crop_size=None`` (Eq. 2): every patch at its own size (the zoomed box rounded to whole pixels); a side
    shorter than AlexNet's 31 px is resampled up to 31. ``crop_size=N``: every patch resampled to N² (square,
    whatever the box's shape). ``composite=True`` scores G(s) with the known context pasted in (Eq. 1's note:
    only the hole contents are kept). The LPIPS network is frozen and stays in eval mode whatever ``train()`` is
    called with (reference notes: Lightning's .train() would turn its dropout on).
    """

    def __init__(
        self,
        weight: float = 10.0,
        source: str = "output",
        crop_size: int | None = None,
        zoom: float = 1.5,
        composite: bool = True,
        pretrained: bool = True,
        lpips: nn.Module | None = None,
    ) -> None:
        super().__init__(weight=weight, source=source)
        if crop_size is not None and int(crop_size) < ALEXNET_MIN:
            raise ConfigError(f"PatchPerceptualLoss crop_size must be >= {ALEXNET_MIN} (AlexNet's smallest input) or "
                              f"null (each patch at its own size), got {crop_size}")
        if float(zoom) < 1.0:
            raise ConfigError(f"PatchPerceptualLoss zoom must be >= 1 (the zoomed-out patch), got {zoom}")
        self.crop_size = None if crop_size is None else int(crop_size)
        self.zoom, self.composite = float(zoom), bool(composite)
        self.lpips = lpips if lpips is not None else build_lpips(pretrained)

    def train(self, mode: bool = True) -> PatchPerceptualLoss:
        super().train(mode)
        self.lpips.eval()
        return self

    def patches(self, pred: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(pred patches, target patches, batch index, extents K×2) for [all local boxes; all zoomed boxes], on one
        canvas: patch k fills its top-left ``extents[k]`` (rows, columns), zeros beyond."""
        if self.composite:
            pred = composite(pred, target, mask)
        index, boxes = component_boxes(mask)
        h, w = mask.shape[-2:]
        native = self.crop_size is None
        all_boxes = torch.cat([boxes.to(torch.float32), zoom_boxes(boxes, self.zoom, h, w, whole_pixels=native)])
        all_index = torch.cat([index, index])
        n = all_index.numel()
        if native:
            extents = all_boxes[:, 2:].round().long().clamp_min(ALEXNET_MIN)
            size = (int(extents[:, 0].max()), int(extents[:, 1].max())) if n else (ALEXNET_MIN, ALEXNET_MIN)
        else:
            extents = torch.full((n, 2), self.crop_size, dtype=torch.long, device=mask.device)
            size = (self.crop_size, self.crop_size)
        both = torch.cat([pred, target])  # one roi_align call for the prediction and the target
        crops = crop_patches(both, torch.cat([all_index, all_index + pred.shape[0]]), all_boxes.repeat(2, 1), size,
                             extents.repeat(2, 1) if native else None)
        return crops[:n], crops[n:], all_index, extents

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        p, t, _, extents = self.patches(pred, target, mask)
        if p.shape[0] == 0:
            return pred.sum() * 0.0
        if p.shape[1] == 1:  # grey images (MNIST): AlexNet wants three channels
            p, t = p.expand(-1, 3, -1, -1), t.expand(-1, 3, -1, -1)
        return padded_lpips(self.lpips, p, t, extents[:, 0], extents[:, 1]).sum() / pred.shape[0]

    def extra_repr(self) -> str:
        size = "native" if self.crop_size is None else self.crop_size
        return f"{super().extra_repr()}, crop_size={size}, zoom={self.zoom}, composite={self.composite}"

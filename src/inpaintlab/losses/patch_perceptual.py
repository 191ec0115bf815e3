"""BTGMI's Patch Perceptual Loss (003 Sec. 3.2, Eq. 2): LPIPS between hole patches, at two scales, per hole.

Batched from end to end: the holes of the whole batch are found at once (:func:`component_boxes`, connected
components by max-propagation with pointer jumping), and every patch of every hole at both scales is resampled
to ``crop_size``² in one ``torchvision.ops.roi_align`` call, then one LPIPS forward scores them all.
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


def zoom_boxes(boxes: Tensor, factor: float, height: int, width: int) -> Tensor:
    """(top, left, height, width) boxes scaled by ``factor`` about their centres, shifted back inside the image
    (and clipped to it if larger): the zoomed-out patch that "covers a larger contextual area" (Sec. 3.2)."""
    boxes = boxes.to(torch.float32)
    size = boxes[:, 2:] * factor
    limit = torch.tensor([height, width], dtype=boxes.dtype, device=boxes.device)
    size = torch.minimum(size, limit)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    lo = (centre - size / 2).clamp_min(0)
    lo = torch.minimum(lo, limit - size)
    return torch.cat([lo, size], 1)


def crop_patches(images: Tensor, batch_index: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Every (top, left, height, width) box of ``images[batch_index]`` resampled to ``size``² in one ``roi_align``
    call (bilinear samples averaged per output bin; a box of exactly ``size`` pixels gives its pixels unchanged)."""
    from torchvision.ops import roi_align

    # float32 coordinates (and samples): half-precision boxes would be off by pixels at 512²; roi_align takes
    # pixel-edge corners (x0, y0, x1, y1)
    t, l, h, w = boxes.float().unbind(1)
    rois = torch.stack([batch_index.float(), l, t, l + w, t + h], 1)
    crops = roi_align(images.float(), rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)
    return crops.to(images.dtype)


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


class PatchPerceptualLoss(LossTerm):
    """Eq. 2: Σ_{scales} Σ_l 1/(H_l W_l) Σ_{h,w} ‖w_l ⊙ (F̂_l(x_p) − F̂_l(G(s)_p))‖² — LPIPS (AlexNet, learned w_l)
    between the patch of the completed image and of x, for every hole p, at the hole's bounding box and at the
    box zoomed out by ``zoom``; summed over holes and scales, averaged over images. λ_PPL = 10 (Sec. 3.2).

    ``composite=True`` scores G(s) with the known context pasted in (Eq. 1's note: only the hole contents are
    kept). Patches are resampled to ``crop_size``² (AlexNet needs ≥ 31 px). The LPIPS network is frozen and
    stays in eval mode whatever ``train()`` is called with (reference notes: Lightning's .train() would turn
    its dropout on).
    """

    def __init__(
        self,
        weight: float = 10.0,
        source: str = "output",
        crop_size: int = 64,
        zoom: float = 1.5,
        composite: bool = True,
        pretrained: bool = True,
        lpips: nn.Module | None = None,
    ) -> None:
        super().__init__(weight=weight, source=source)
        if int(crop_size) < 31:
            raise ConfigError(f"PatchPerceptualLoss crop_size must be >= 31 (AlexNet's smallest input), got {crop_size}")
        if float(zoom) < 1.0:
            raise ConfigError(f"PatchPerceptualLoss zoom must be >= 1 (the zoomed-out patch), got {zoom}")
        self.crop_size, self.zoom, self.composite = int(crop_size), float(zoom), bool(composite)
        self.lpips = lpips if lpips is not None else build_lpips(pretrained)

    def train(self, mode: bool = True) -> PatchPerceptualLoss:
        super().train(mode)
        self.lpips.eval()
        return self

    def patches(self, pred: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(pred patches, target patches, batch index) for [all local boxes; all zoomed boxes]."""
        if self.composite:
            pred = composite(pred, target, mask)
        index, boxes = component_boxes(mask)
        h, w = mask.shape[-2:]
        all_boxes = torch.cat([boxes.to(torch.float32), zoom_boxes(boxes, self.zoom, h, w)])
        all_index = torch.cat([index, index])
        both = torch.cat([pred, target])  # one roi_align call for the prediction and the target
        crops = crop_patches(both, torch.cat([all_index, all_index + pred.shape[0]]), torch.cat([all_boxes, all_boxes]),
                             self.crop_size)
        n = all_index.numel()
        return crops[:n], crops[n:], all_index

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        p, t, _ = self.patches(pred, target, mask)
        if p.shape[0] == 0:
            return pred.sum() * 0.0
        if p.shape[1] == 1:  # grey images (MNIST): AlexNet wants three channels
            p, t = p.expand(-1, 3, -1, -1), t.expand(-1, 3, -1, -1)
        return self.lpips(p, t).sum() / pred.shape[0]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, crop_size={self.crop_size}, zoom={self.zoom}, composite={self.composite}"

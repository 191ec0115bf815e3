"""Any picture size and channel count for any network: the one documented way per kind of net.

* Fully convolutional nets (``size_multiple``, ``min_size``): the masked image and the mask are padded at the
  bottom/right to the multiple (and at least ``min_size``) and the output is cropped back. Padding *mirrors*
  the masked image and the mask together: a padded pixel that mirrors a known pixel is known and holds that
  real value, one that mirrors a hole stays a hole (zero padding marked known would show the network grey
  bands; padding marked as hole would make it invent content beside every border). Images smaller than the
  padding use edge replication instead.
* Fixed-size nets (``native_size``, e.g. the gradient-attention MNIST autoencoder at 28×28): the masked image
  is resized to the native size (bilinear, antialiased) with the mask (area; a small pixel is a hole if any
  pixel under it is), filled there, and the fill is resized back (bilinear) — it is pasted into the hole only,
  so known pixels stay exactly the input's. The aspect ratio is not kept: the net sees the whole picture.
* Channels: a 1-channel net sees the ITU-R 601 luma of an RGB picture and its grey fill is given to every
  colour channel; a 3-channel net sees grey pictures replicated to RGB.
* Large pictures (``plan_fill``, ``composite_planned``): the memory a fill needs is estimated before it starts
  from the bytes per pixel the network holds on a small probe of the same picture (``inference.memory``). A fill
  that does not fit the memory available runs in overlapping tiles (fully convolutional nets; an attention layer
  then reaches only within its tile), or at a reduced working size (``max_side``: the masked picture is resized,
  filled and the fill resized back, as for fixed-size nets), or is refused in one line with the numbers.
* Tiles: square tiles of ``tile`` pixels overlap by three margins (``margin`` = tile/8); between two tiles the
  cut is the line of the overlap's middle third that crosses the fewest hole pixels — usually a line of known
  pixels, where the composite shows the input and no seam can appear; where a hole spans the whole band, the
  two fills are cross-faded over one margin. Each tile sees at least one margin of context beyond its cuts;
  tiles with no hole pixel in their share are not run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import Adapter, fill_composite

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, PIL's convert("L")


def mirror_pad(x: Tensor, ph: int, pw: int) -> Tensor:
    """Pad ``ph`` rows at the bottom and ``pw`` columns at the right by reflection (replication when the
    picture is too small to reflect)."""
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def to_channels(image: Tensor, channels: int) -> Tensor:
    """B×C×H×W in [-1, 1] → B×``channels``×H×W: RGB → luma for grey nets, grey → RGB for colour nets."""
    c = image.shape[1]
    if c == channels:
        return image
    if channels == 1 and c == 3:
        weights = image.new_tensor(LUMA).view(1, 3, 1, 1)
        return (image * weights).sum(1, keepdim=True)
    if channels == 3 and c == 1:
        return image.expand(-1, 3, -1, -1)
    raise ConfigError(f"the network works on {channels}-channel images; cannot convert a {c}-channel picture")


def from_channels(output: Tensor, channels: int) -> Tensor:
    """The network's output back to the picture's ``channels`` (a grey fill goes to every colour channel)."""
    c = output.shape[1]
    if c == channels:
        return output
    if c == 1:
        return output.expand(-1, channels, -1, -1)
    return to_channels(output, channels)


def fill_padded(adapter: Adapter, image: Tensor, mask: Tensor) -> Tensor:
    h, w = image.shape[-2:]
    m, least = max(1, adapter.size_multiple), max(1, adapter.min_size)
    ph, pw = (max(n, least) + (-max(n, least) % m) - n for n in (h, w))
    masked = image * (1.0 - mask)
    out = adapter.fill(mirror_pad(masked, ph, pw), mirror_pad(mask, ph, pw))
    return out[..., :h, :w]


def fill_resized(fill: Callable[[Tensor, Tensor], Tensor], image: Tensor, mask: Tensor, size: tuple[int, int]) -> Tensor:
    """``fill`` at ``size``: the masked image resized (bilinear, antialiased) with its mask (area; a small pixel is
    a hole if any pixel under it is), filled, and the fill resized back (bilinear)."""
    h, w = image.shape[-2:]
    if (h, w) == tuple(size):
        return fill(image, mask)
    small_mask = (F.interpolate(mask, size=size, mode="area") > 0).to(image.dtype)
    small = F.interpolate(image * (1.0 - mask), size=size, mode="bilinear", align_corners=False, antialias=True)
    out = fill(small * (1.0 - small_mask), small_mask)
    return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)


def fill_native(adapter: Adapter, image: Tensor, mask: Tensor, size: tuple[int, int]) -> Tensor:
    return fill_resized(lambda x, m: adapter.fill(x * (1.0 - m), m), image, mask, size)


def fill_any_size(adapter: Adapter, image: Tensor, mask: Tensor) -> Tensor:
    """The adapter's raw fill (before compositing) of a B×C×H×W picture of any size and channel count."""
    return fill_planned(adapter, image, mask, None)


def composite_any_size(adapter: Adapter, image: Tensor, mask: Tensor) -> Tensor:
    """fill → composite → postprocess → composite at the picture's own size: every known pixel as given."""
    return composite_planned(adapter, image, mask, None)


# ---------------------------------------------------------------------------------------------- large pictures
MARGIN_FRACTION = 8  # a tile's context margin: tile / 8 pixels
MAX_TILE = 2048  # tiles chosen automatically are at most this large (fewer seams gain nothing beyond)
PROBE_PIXELS = 128 * 128  # the memory probe's size
HEADROOM = 1.25  # × the probed bytes: operators' scratch space and the allocator's slack
FIXED_BYTES = 256 * 2**20  # chunk buffers of the attention layers, libraries' workspaces
TENSOR_BYTES_PER_PIXEL = 48  # the picture as float tensors: image, mask, fill, composite temporaries
POSTPROCESS_BYTES_PER_PIXEL = 64  # methods that post-process the whole composite (GLCIC: OpenCV on float64)


@dataclass(frozen=True)
class FillPlan:
    """How a picture of ``size`` (H, W) is filled: at ``work`` (H, W) — its size, or smaller with ``max_side`` —
    whole (``tile`` None) or in ``tile``² tiles; ``estimate`` bytes needed of the ``budget`` available."""

    size: tuple[int, int]
    work: tuple[int, int]
    tile: int | None
    estimate: int
    budget: int
    whole_estimate: int

    @property
    def margin(self) -> int:
        return max(1, (self.tile or 0) // MARGIN_FRACTION)


def _padded(adapter: Adapter, n: int) -> int:
    m, least = max(1, adapter.size_multiple), max(1, adapter.min_size)
    return max(n, least) + (-max(n, least) % m)


def _probe_size(adapter: Adapter, h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, math.sqrt(PROBE_PIXELS / (h * w)))
    return _padded(adapter, max(1, round(h * scale))), _padded(adapter, max(1, round(w * scale)))


def _small_hole(hole: np.ndarray, size: tuple[int, int]) -> Tensor:
    """The hole map at ``size`` (a small pixel is a hole if any pixel under it is)."""
    import cv2

    small = cv2.resize(hole.astype(np.uint8) * 255, (size[1], size[0]), interpolation=cv2.INTER_AREA) > 0
    return torch.from_numpy(small)[None, None].float()


def bytes_per_pixel(adapter: Adapter, hole: np.ndarray, device: torch.device | str = "cpu") -> float:
    """Bytes the network's fill holds per pixel of its working size, measured on a small probe of ``hole``'s
    picture (a black picture with the hole scaled down; the attention's share depends on the hole's extent)."""
    from inpaintlab.inference.memory import measure_peak

    ph, pw = _probe_size(adapter, *hole.shape)
    m = _small_hole(hole, (ph, pw)).to(device)
    x = torch.zeros(1, adapter.channels, ph, pw, device=device)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small fill: one thread is enough, and immune to a busy machine's other jobs
    try:
        with torch.no_grad():
            peak = measure_peak(lambda: composite_planned(adapter, x, m, None))
    finally:
        torch.set_num_threads(threads)
    return 2048.0 if peak is None else peak / (ph * pw)  # 2 KB/px: more than any net of the package measures


def plan_fill(
    adapter: Adapter,
    hole: np.ndarray,
    budget: int,
    *,
    picture_bytes_per_pixel: float = 16.0,
    tile: int | str = "auto",
    max_side: int | None = None,
    device: torch.device | str = "cpu",
) -> FillPlan:
    """Decide how to fill a picture whose H×W bool ``hole`` map is given, within ``budget`` bytes; ``ConfigError``
    (one line: the size, the estimate, what is available and the options that fit) when it cannot.

    ``picture_bytes_per_pixel``: what the caller holds per pixel besides the tensors (decoded picture, output).
    ``tile``: "auto" (whole when it fits, else the largest tiles that fit), "off" (whole or refused), or a tile
    size in pixels (rounded up to the net's multiple); ``max_side``: the network works at most this many pixels
    on the longer side."""
    h, w = hole.shape
    work = (h, w)
    if max_side is not None and max(h, w) > max_side:
        s = max_side / max(h, w)
        work = (max(1, round(h * s)), max(1, round(w * s)))
    fixed = (picture_bytes_per_pixel + TENSOR_BYTES_PER_PIXEL) * h * w + FIXED_BYTES
    if type(adapter).postprocess is not Adapter.postprocess:
        fixed += POSTPROCESS_BYTES_PER_PIXEL * h * w
    if work != (h, w):
        fixed += TENSOR_BYTES_PER_PIXEL * work[0] * work[1]
    tiling = adapter.native_size is None  # fixed-size nets: the network's cost does not grow with the picture
    per_px = 0.0
    if tiling:
        small_hole = hole if work == (h, w) else (_small_hole(hole, work)[0, 0].numpy() > 0)
        per_px = bytes_per_pixel(adapter, small_hole, device) * HEADROOM

    def need(t: int | None) -> int:
        th, tw = work if t is None else (min(t, work[0]), min(t, work[1]))
        return int(fixed + per_px * _padded(adapter, th) * _padded(adapter, tw))

    whole = need(None)
    if tile not in ("auto", "off"):
        t = _padded(adapter, max(int(tile), 4 * MARGIN_FRACTION))
        t = t if tiling and t < max(work) else None
    elif tile == "off" or whole <= budget or not tiling:
        t = None
    else:
        t = _largest_tile(adapter, work, need, budget)
    plan = FillPlan((h, w), work, t, need(t), budget, whole)
    if plan.estimate > budget:
        raise ConfigError(_refusal(plan, adapter, fixed, per_px, need, tiling))
    return plan


def _largest_tile(adapter: Adapter, work: tuple[int, int], need: Callable[[int | None], int], budget: int) -> int:
    t, smallest = _padded(adapter, min(MAX_TILE, max(work))), _padded(adapter, 16 * MARGIN_FRACTION)
    while t > smallest and need(t) > budget:
        t = _padded(adapter, max(smallest, int(t * 0.8)))
    return t


def _refusal(plan: FillPlan, adapter: Adapter, fixed: float, per_px: float, need: Callable[[int | None], int],
             tiling: bool) -> str:
    """One line: the picture's size, the estimate, the memory available and the options that would fit."""
    from inpaintlab.inference.memory import format_bytes

    h, w = plan.size
    how = f"in {plan.tile}² tiles " if plan.tile else ""
    head = f"a {w}×{h} fill {how}needs about {format_bytes(plan.estimate)} but {format_bytes(plan.budget)} is available"
    if fixed >= plan.budget:
        return (f"{head}: the picture alone takes {format_bytes(fixed)} (decoded, and as tensors); use a smaller "
                "picture or free memory (--max-memory sets the budget)")
    options = []
    if tiling:
        t = _largest_tile(adapter, plan.work, need, plan.budget)
        if need(t) <= plan.budget:
            options.append(f"--tile {t}")
    if per_px > 0:
        side = int(math.sqrt((plan.budget - fixed) / per_px * max(h, w) / min(h, w)) // 64 * 64)
        if 64 <= side < max(plan.work):
            options.append(f"--max-side {side} (the network then works at {side} pixels on the longer side)")
    return f"{head}: pass {' or '.join(options) or 'a smaller picture'}"


def tile_cuts(profile: np.ndarray, length: int, tile: int, margin: int) -> tuple[list[int], list[int]]:
    """Tile starts and the cuts between consecutive tiles along one axis of ``length`` pixels: the tiles overlap
    by at least three margins, and each cut is the line of the overlap's middle third with the fewest hole
    pixels (``profile``: hole pixels per line), the middle one on ties."""
    if length <= tile:
        return [0], []
    n = math.ceil((length - tile) / (tile - 3 * margin)) + 1
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    cuts = []
    for a, b in zip(starts[:-1], starts[1:]):
        lo, hi = b + margin, a + tile - margin
        middle = (lo + hi) / 2
        best = min(range(lo, hi + 1), key=lambda c: (int(profile[c]), abs(c - middle)))
        cuts.append(best)
    return starts, cuts


def _axis_weights(length: int, tile: int, starts: list[int], cuts: list[int], fade: int) -> list[Tensor]:
    """Per tile, its 1-D weight over its extent: 1 in its share, cross-fading over ``2·fade`` around each cut
    (consecutive tiles' weights sum to 1)."""
    weights = []
    for i, s in enumerate(starts):
        x = torch.arange(s, min(s + tile, length), dtype=torch.float32)
        wgt = torch.ones_like(x)
        if i > 0:
            wgt *= ((x - cuts[i - 1] + fade) / (2 * fade)).clamp(0, 1)
        if i < len(cuts):
            wgt *= ((cuts[i] + fade - x) / (2 * fade)).clamp(0, 1)
        weights.append(wgt)
    return weights


def fill_tiled(
    adapter: Adapter, image: Tensor, mask: Tensor, tile: int, progress: Callable[[int, int], None] | None = None
) -> Tensor:
    """The raw fill of a B×C×H×W picture in overlapping ``tile``² tiles (see the module's docstring)."""
    h, w = image.shape[-2:]
    margin = max(1, tile // MARGIN_FRACTION)
    fade = max(1, margin // 2)
    rows_hole = mask.sum(dim=(0, 1, 3)).cpu().numpy()
    cols_hole = mask.sum(dim=(0, 1, 2)).cpu().numpy()
    ys, ycuts = tile_cuts(rows_hole, h, tile, margin)
    xs, xcuts = tile_cuts(cols_hole, w, tile, margin)
    wy, wx = _axis_weights(h, tile, ys, ycuts, fade), _axis_weights(w, tile, xs, xcuts, fade)
    out = torch.zeros_like(image)
    jobs = []
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            weight = wy[i].to(image.device)[:, None] * wx[j].to(image.device)[None, :]
            m = mask[..., y:y + len(wy[i]), x:x + len(wx[j])]
            if bool(((weight > 0) & (m[:, 0] > 0)).any()):  # tiles that own no hole pixel are not run
                jobs.append((y, x, weight))
    for k, (y, x, weight) in enumerate(jobs):
        th, tw = weight.shape
        piece = fill_padded(adapter, image[..., y:y + th, x:x + tw], mask[..., y:y + th, x:x + tw])
        out[..., y:y + th, x:x + tw].addcmul_(piece, weight)
        if progress is not None:
            progress(k + 1, len(jobs))
    return out


def fill_planned(
    adapter: Adapter, image: Tensor, mask: Tensor, plan: FillPlan | None,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """The adapter's raw fill of a B×C×H×W picture of any size and channel count, as ``plan`` says (None: whole,
    at the picture's size)."""
    x = to_channels(image, adapter.channels)
    native = adapter.native_size
    if native is not None:
        out = fill_native(adapter, x, mask, native)
    elif plan is None:  # the whole picture at its size (also what inpaintlab-export traces)
        out = fill_padded(adapter, x, mask)
    else:
        def grid(xx: Tensor, mm: Tensor) -> Tensor:
            return fill_padded(adapter, xx, mm) if plan.tile is None else fill_tiled(adapter, xx, mm, plan.tile, progress)

        out = fill_resized(grid, x, mask, plan.work)
    return from_channels(out, image.shape[1])


def composite_planned(
    adapter: Adapter, image: Tensor, mask: Tensor, plan: FillPlan | None,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """fill → composite → postprocess → composite at the picture's own size (``adapters.fill_composite``), the
    raw fill as ``plan`` says: every known pixel as given."""
    return fill_composite(adapter, image, mask, fill=lambda a, x, m: fill_planned(a, x, m, plan, progress))


def check_batch(image: Tensor, mask: Tensor) -> None:
    from inpaintlab.inference.pictures import InpaintInputError

    if (
        image.dim() != 4
        or mask.dim() != 4
        or mask.shape[1] != 1
        or mask.shape[0] != image.shape[0]
        or (mask.shape[-2:] != image.shape[-2:])
    ):
        raise InpaintInputError(
            f"expected a B×C×H×W image and a B×1×H×W mask of the same size, got {tuple(image.shape)} and "
            f"{tuple(mask.shape)}"
        )


__all__ = [
    "FillPlan", "check_batch", "composite_any_size", "composite_planned", "fill_any_size", "fill_planned", "fill_tiled",
    "from_channels", "mirror_pad", "plan_fill", "tile_cuts", "to_channels",
]

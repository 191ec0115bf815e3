"""Contextual attention: fill a hole by attending to (and pasting) known background patches.

DeepFill v1 (Yu et al. 2018) Sec. 3.2 / Fig. 3. The algorithm follows the official TensorFlow layer
(JiahuiYu/generative_inpainting ``inpaint_ops.contextual_attention``) as ported with TensorFlow semantics
(SAME padding, nearest downsampling with ``align_corners``), so that ``official_compat=True`` reproduces the
released DeepFill v1/v2 models exactly. Implementation notes:

* Scores are one grouped convolution over the batch (no per-sample loop) of the foreground with the
  L2-normalised background patches, the reference's own op, so that they round as the reference's do; the
  paste is a batched matmul with the raw patches plus an overlap-add. Without autograd the foreground is
  processed a band of rows at a time ("chunk") through a few reused buffers, so peak memory grows linearly
  with the image area instead of with its square.
* The official fuse step convolves the (positions × patches) score matrix with a ``fuse_k`` identity kernel
  twice, the second time with both axes in column-major order. In flattened indices this is a sum along the
  diagonal, and it wraps across image rows/columns at their ends; that quirk is reproduced exactly (wrapped
  terms included) while streaming rows through two small caches.
* A background patch is usable only if its window of the downsampled mask is fully known. Excluded patches
  are skipped in the paste matmul exactly: in the official layer their fused score is multiplied by 0 before
  the softmax, so each adds ``exp(0 - max)`` to the denominator and nothing to the output. The score matmul
  skips the excluded patches that no usable fused score depends on (the fuse mixes neighbours).
* On CPU the softmax weights below √tiny (float32: 1e-19 of the largest) are exactly 0: their products with the
  raw patches would be denormal, which x86 computes many times slower, and together they change no sum.
* With a ``region`` (inference that composites) scores are computed on a window around the needed positions, and
  the softmax and paste only on the needed ones (see ``_Window``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.nn.precision import fp32

__all__ = ["ContextualAttention", "flow_to_color", "tf_nearest_downsample"]

# Score blocks of at most this many floats (16 MiB): below glibc's largest mmap threshold (32 MiB), so they
# are recycled from the heap instead of being page-faulted in afresh for every chunk.
_BLOCK_FLOATS = 2**22


def _tf_nearest_index(n_in: int, n_out: int, device: torch.device) -> Tensor:
    # round(i·(n_in−1)/(n_out−1)) computed in float32 exactly as the TF-compatible port does it, so that
    # ties land on the same pixel as the reference.
    return torch.linspace(0, n_in - 1, steps=n_out, device=device).add_(0.5).floor_().long()


def tf_nearest_downsample(x: Tensor, factor: int) -> Tensor:
    """Nearest downsampling by ``factor``, TF ``align_corners=True`` sampling (DeepFill v1 Sec. 3.2 code)."""
    h, w = x.shape[-2:]
    rows = _tf_nearest_index(h, h // factor, x.device)
    cols = _tf_nearest_index(w, w // factor, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _same_pad(k: int, s: int, n: int) -> tuple[int, int, int]:
    """TF "SAME" padding (before, after) and output length for kernel ``k``, stride ``s`` on length ``n``."""
    n_out = -(-n // s)
    total = max((n_out - 1) * s + k - n, 0)
    return total // 2, total - total // 2, n_out


def _patches(x: Tensor, k: int, s: int) -> Tensor:
    """``k``×``k`` patches with stride ``s`` and TF SAME padding: B×(C·k·k)×L, L in raster order."""
    pt, pb, _ = _same_pad(k, s, x.shape[-2])
    pl, pr, _ = _same_pad(k, s, x.shape[-1])
    return F.unfold(F.pad(x, (pl, pr, pt, pb)), k, stride=s)


def _raw_patches(x: Tensor, k: int, s: int, idx: Tensor | None) -> Tensor:
    """``k``×``k`` patches (stride ``s``, TF SAME padding) number ``idx`` (raster; None: all): B×n×(C·k·k), by
    unfold + index_select (plain autograd)."""
    pat = _patches(x, k, s)
    return (pat if idx is None else pat.index_select(2, idx)).transpose(1, 2)


def _cl_patches(x: Tensor, k: int, s: int, idx: Tensor | None) -> Tensor:
    """``k``×``k`` patches (stride ``s``, TF SAME padding) number ``idx`` (raster; None: all): B×n×k×k×C. Read
    from a channels-last copy, where each patch row is one run of k·C values, so the gather streams through
    memory (2–3× faster than gathering k-value runs from B×C×H×W; inference only)."""
    B, C, H, W = x.shape
    pt, pb, hb = _same_pad(k, s, H)
    pl, pr, wb = _same_pad(k, s, W)
    xp = F.pad(x, (pl, pr, pt, pb)).permute(0, 2, 3, 1).contiguous()
    hp, wp = xp.shape[1:3]
    view = xp.as_strided((B, hb, wb, k, k * C), (hp * wp * C, s * wp * C, s * C, wp * C, 1))
    if idx is None:
        return view.reshape(B, hb * wb, k, k, C)
    return view[:, idx // wb, idx % wb].view(B, idx.numel(), k, k, C)


def _patch_norms(pat: Tensor, inplace: bool) -> Tensor:
    """B×1×L L2 norms, ``max(norm, 1e-4)``, of unfolded patches B×(C·k²)×L, reduced over the C·k² rows as the
    reference reduces them: the kernels, and so the scores, then round as the reference's (a box sum of the
    channel-summed squares is cheaper but rounds otherwise, which the softmax amplifies to 2.5e-5 against the
    reference fixture). ``inplace`` squares ``pat`` itself."""
    return torch.sqrt((pat.pow_(2) if inplace else pat.pow(2)).sum(1, keepdim=True)).clamp_min(1e-4)


def _dilate(x: Tensor, lo: int, hi: int) -> Tensor:
    """out[j] = OR over t in [−lo, hi] of x[j − t] along the last dim (dependency set of a diagonal fuse)."""
    out = x.clone()
    n = x.shape[-1]
    for t in range(-lo, hi + 1):
        if t == 0 or abs(t) >= n:
            continue
        if t > 0:
            out[..., t:] |= x[..., :-t]
        else:
            out[..., :t] |= x[..., -t:]
    return out


def _make_color_wheel(device: torch.device) -> Tensor:
    """Middlebury optical-flow colour wheel (Baker et al. 2011): 55×3 RGB in [0, 1]."""
    segments = [  # (length, start colour, end colour) around the hue circle
        (15, (1, 0, 0), (1, 1, 0)),  # red -> yellow
        (6, (1, 1, 0), (0, 1, 0)),  # yellow -> green
        (4, (0, 1, 0), (0, 1, 1)),  # green -> cyan
        (11, (0, 1, 1), (0, 0, 1)),  # cyan -> blue
        (13, (0, 0, 1), (1, 0, 1)),  # blue -> magenta
        (6, (1, 0, 1), (1, 0, 0)),  # magenta -> red
    ]
    rows = []
    for n, c0, c1 in segments:
        # the reference wheel steps in whole uint8 levels: floor(255·i/n)
        f = torch.floor(255 * torch.arange(n, dtype=torch.float64) / n) / 255
        c0t = torch.tensor(c0, dtype=torch.float64)
        c1t = torch.tensor(c1, dtype=torch.float64)
        rows.append(c0t + f[:, None] * (c1t - c0t))
    return torch.cat(rows).to(device=device, dtype=torch.float32)


def flow_to_color(flow: Tensor, max_radius: Tensor | float | None = None) -> Tensor:
    """Middlebury colour coding of a B×2×H×W flow (dx, dy) → B×3×H×W in [0, 1] (DeepFill v1 Fig. 3/5 style).

    Each sample is normalised by its own largest flow magnitude unless ``max_radius`` is given; zero flow is
    white, the hue encodes the direction and the saturation the length.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be B×2×H×W (dx, dy), got shape {tuple(flow.shape)}")
    u, v = flow[:, 0].float(), flow[:, 1].float()
    rad = torch.sqrt(u * u + v * v)
    if max_radius is None:
        max_radius = rad.flatten(1).amax(1).view(-1, 1, 1)
    eps = torch.finfo(torch.float64).eps  # as the reference: keeps an all-zero flow white, not NaN
    u = u / (max_radius + eps)
    v = v / (max_radius + eps)
    rad = torch.sqrt(u * u + v * v)
    wheel = _make_color_wheel(flow.device)
    ncols = wheel.shape[0]
    a = torch.atan2(-v, -u) / math.pi
    fk = (a + 1) / 2 * (ncols - 1)
    k0 = fk.floor().long().clamp(0, ncols - 1)
    k1 = (k0 + 1) % ncols
    f = (fk - k0).unsqueeze(1)
    col = (1 - f) * wheel[k0].permute(0, 3, 1, 2) + f * wheel[k1].permute(0, 3, 1, 2)
    inside = (rad <= 1).unsqueeze(1)
    rad = rad.unsqueeze(1)
    # inside the unit circle: blend towards white by the radius; outside: darken
    return torch.where(inside, 1 - rad * (1 - col), col * 0.75)


class ContextualAttention(nn.Module):
    """Contextual attention layer, DeepFill v1 (Yu et al. 2018) Sec. 3.2 / Fig. 3.

    Args:
        ksize: matching patch size (on the ``rate``-downsampled features).
        stride: stride between background patches (on the downsampled features).
        rate: downsampling factor for matching; raw background patches of ``2·rate`` pixels with stride
            ``rate·stride`` are pasted back at full feature resolution.
        fuse_k: size of the identity kernel of the fuse step ("encourage large patches").
        softmax_scale: scale of the scores before the softmax (10 in the paper and code).
        fuse: apply the fuse step (official DeepFill v1/v2 models: on).
        n_down: the mask is given at image resolution, ``2**n_down`` times the feature resolution.
        official_compat: reproduce the official layer exactly, including its use of the FIRST sample's mask
            for the whole batch. Off (default): each sample uses its own mask.
        chunk_size: without autograd, at most this many scores (batch × matching positions × background
            patches) are held per chunk of foreground rows (at least one matching row at a time); ``None``:
            one chunk. The default (2**25, 128 MiB per score buffer) keeps the layer under ~2 GB at a 2048² image.
            Chunking changes nothing but float rounding (the score convolution of a thin band of rows may
            accumulate in another order).
        return_flow: also return the attention flow image (see :meth:`forward`).

    Under autograd (training) the whole score matrix is computed at once with out-of-place ops: the backward
    pass needs all of it anyway. Masks: 1 = hole, given at image resolution.
    """

    def __init__(
        self,
        ksize: int = 3,
        stride: int = 1,
        rate: int = 2,
        fuse_k: int = 3,
        softmax_scale: float = 10.0,
        fuse: bool = True,
        n_down: int = 2,
        official_compat: bool = False,
        chunk_size: int | None = 2**25,
        return_flow: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("ksize", ksize), ("stride", stride), ("rate", rate), ("fuse_k", fuse_k)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if int(n_down) != n_down or n_down < 0:
            raise ValueError(f"n_down must be a non-negative integer, got {n_down!r}")
        if chunk_size is not None and (int(chunk_size) != chunk_size or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        self.ksize = int(ksize)
        self.stride = int(stride)
        self.rate = int(rate)
        self.fuse_k = int(fuse_k)
        self.softmax_scale = float(softmax_scale)
        self.fuse = bool(fuse)
        self.n_down = int(n_down)
        self.official_compat = bool(official_compat)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.return_flow = bool(return_flow)

    def extra_repr(self) -> str:
        return (
            f"ksize={self.ksize}, stride={self.stride}, rate={self.rate}, fuse_k={self.fuse_k}, "
            f"softmax_scale={self.softmax_scale}, fuse={self.fuse}, n_down={self.n_down}, "
            f"official_compat={self.official_compat}, chunk_size={self.chunk_size}, "
            f"return_flow={self.return_flow}"
        )

    # ------------------------------------------------------------------ input checks
    def _check_inputs(self, fg: Tensor, bg: Tensor, mask: Tensor | None) -> None:
        for name, t in (("foreground", fg), ("background", bg)):
            if not isinstance(t, Tensor) or t.dim() != 4:
                shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise ValueError(f"{name} must be a 4-D B×C×h×w feature tensor, got {shape}")
            if not t.is_floating_point():
                raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
        if fg.shape != bg.shape:
            raise ValueError(
                f"foreground and background must have the same B×C×h×w shape, got "
                f"{tuple(fg.shape)} and {tuple(bg.shape)}"
            )
        _, _, h, w = fg.shape
        r = self.rate
        if h % r or w % r or h < r or w < r:
            raise ValueError(
                f"feature height and width must be positive multiples of rate={r}, got {h}×{w} "
                f"(crop the image to a multiple of rate·2**n_down={r * 2**self.n_down})"
            )
        reach = self.fuse_k - 1 - (self.fuse_k - 1) // 2  # the fuse's largest shift
        grid = (-(-(h // r) // self.stride), -(-(w // r) // self.stride))
        if self.fuse and reach > min(grid):
            raise ValueError(
                f"fuse_k={self.fuse_k} needs a background patch grid of at least {reach}×{reach}, got "
                f"{grid[0]}×{grid[1]} (features {h}×{w}, rate={r}, stride={self.stride})"
            )
        if mask is None:
            return
        f = r * 2**self.n_down
        if not isinstance(mask, Tensor) or mask.dim() != 4 or mask.shape[1] != 1:
            shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"mask must be a B×1×H×W tensor (1 = hole) at image resolution, got {shape}")
        if mask.shape[0] != fg.shape[0]:
            raise ValueError(f"mask batch size {mask.shape[0]} does not match the features' {fg.shape[0]}")
        mh, mw = mask.shape[-2:]
        if (mh // f, mw // f) != (h // r, w // r):
            raise ValueError(
                f"mask must be at image resolution, 2**n_down={2**self.n_down} times the {h}×{w} features "
                f"(expected {h * 2**self.n_down}×{w * 2**self.n_down}), got {mh}×{mw}"
            )

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        foreground: Tensor,
        background: Tensor,
        mask: Tensor | None = None,
        region: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend from ``foreground`` to ``background`` (B×C×h×w) given the image-resolution ``mask``
        (B×1×H×W, 1 = hole; ``None``: every background patch usable).

        Returns the B×C×h×w output, and with ``return_flow`` also the flow image: B×3×h×w float in [0, 1]
        (multiply by 255 for uint8), the Middlebury colour of (dx, dy) = (centre of the argmax background
        patch − own position), normalised per sample by its largest offset and bilinearly upsampled by
        ``rate`` as in the official code. The official code feeds (dy, dx) to the colour wheel; we use the
        standard (dx, dy). A sample with no usable patch gets zero flow (white).

        ``region`` (B×1×h×w, nonzero = needed; inference only) names the output positions the caller will
        read: the layer then attends only from the matching positions whose pasted patches reach them (plus
        a margin for the fuse step), a window of one size for the batch at each sample's own offset. The
        output equals the full computation's there up to float reassociation; elsewhere it is arbitrary
        (zero or partial sums). Ignored under autograd and with ``return_flow`` (the full computation runs).
        """
        self._check_inputs(foreground, background, mask)
        B, C, H, W = foreground.shape
        if region is not None and (
            not isinstance(region, Tensor) or region.dim() != 4 or tuple(region.shape) != (B, 1, H, W)
        ):
            shape = tuple(region.shape) if isinstance(region, Tensor) else type(region).__name__
            raise ValueError(f"region must be a B×1×h×w tensor like the features' {(B, 1, H, W)}, got {shape}")
        grad = torch.is_grad_enabled() and (foreground.requires_grad or background.requires_grad)
        if grad or self.return_flow:
            region = None
        pl = self._plan(foreground, background, mask, grad, region)
        if pl.window is not None and pl.window.empty:  # no output position is needed
            self.last_stats = {"positions": 0, "positions_full": pl.P_full, "patches": pl.L, "chunks": 0,
                               "scored_patches": 0, "pasted_patches": 0, "flops": 0}
            return foreground.new_zeros(B, C, H, W)
        r, hf, wf = self.rate, pl.hf, pl.wf

        out_pad = foreground.new_zeros(B, C, (hf + 1) * r, (wf + 1) * r)
        offsets = foreground.new_zeros(B, 2, hf, wf) if self.return_flow else None
        if grad:  # whole score matrix at once, out-of-place ops (autograd keeps it all anyway)
            chunks = [(0, hf, self._fused_scores_full(pl))]
        else:
            chunks = self._fused_scores_streamed(pl)
        n_chunks = 0
        for y0, y1, z in chunks:
            self._softmax_and_paste(pl, z, y0, y1, out_pad, offsets, inplace=not grad)
            n_chunks += 1
            del z

        self.last_stats = {  # what the call computed (benchmarks, tests); FLOPs count multiply-adds twice
            "positions": pl.P,
            "positions_full": pl.P_full,
            "patches": pl.L,
            "scored_patches": pl.n_need,
            "pasted_patches": pl.n_paste,
            "chunks": n_chunks,
            "flops": 2 * B * pl.scored_rows * wf * pl.n_need * C * self.ksize**2 + pl.paste_flops,
        }
        if pl.window is not None and pl.window.crop:
            out_pad = pl.window.place(out_pad, r)
        c0 = r // 2  # TF SAME crop of the transposed conv
        out = out_pad[:, :, c0 : c0 + H, c0 : c0 + W] / 4.0
        if offsets is None:
            return out
        flow = flow_to_color(offsets)
        if r != 1:
            flow = F.interpolate(flow, scale_factor=r, mode="bilinear", align_corners=True)
        return out, flow.to(foreground.dtype)

    # ------------------------------------------------------------------ preparation
    def _plan(
        self, fg: Tensor, bg: Tensor, mask: Tensor | None, grad: bool, region: Tensor | None = None
    ) -> SimpleNamespace:
        """Geometry, normalised matching kernels, raw pasting kernels and the usable/scored patch sets.

        ``hf``/``wf``/``P`` are the matching positions computed (a window of them with ``region``);
        ``hb``/``wb``/``L`` the background patch grid, always the whole feature map."""
        B, C = fg.shape[:2]
        r, k, s = self.rate, self.ksize, self.stride
        pl = SimpleNamespace(B=B, C=C)
        fd = tf_nearest_downsample(fg, r)
        bd = tf_nearest_downsample(bg, r)
        hf, wf = fd.shape[-2:]
        pl.P_full = hf * wf
        pl.pt, _, pl.hb = _same_pad(k, s, hf)
        pl.pl, _, pl.wb = _same_pad(k, s, wf)
        pl.L = L = pl.hb * pl.wb
        pl.a = a = (self.fuse_k - 1) // 2 if self.fuse else 0  # fuse offsets t ∈ [−a, b]
        pl.b = b = self.fuse_k - 1 - a if self.fuse else 0
        kp = (k - 1) // 2
        pl.fpad = F.pad(fd, (kp, k - 1 - kp, kp, k - 1 - kp))
        pl.window = None if region is None else _Window.of(region, r, hf, wf, a, b)
        if pl.window is not None and pl.window.empty:
            return pl
        if pl.window is not None and pl.window.crop:
            hf, wf = pl.window.h, pl.window.w
            pl.fpad = pl.window.gather(pl.fpad, k - 1)
        pl.hf, pl.wf = hf, wf
        pl.P = hf * wf

        # After the first fuse the patch axis is in column-major ("work") order, for the second fuse.
        perm = torch.arange(L, device=fg.device).view(pl.hb, pl.wb).t().reshape(-1) if self.fuse else None
        pl.perm = perm
        usable = self._usable(mask, B, *bd.shape[-2:])  # B×L raster, or None when every patch is usable
        pl.need_idx = pl.keep = pl.u_idx = pl.sel = None
        pl.n_out = 0
        if usable is not None:
            u_work = usable[:, perm] if perm is not None else usable
            pl.u_idx = u_work.any(0).nonzero().squeeze(1)
            pl.n_out = L - pl.u_idx.numel()  # excluded for every sample: only exp(0 − max) in the denominator
            keep = u_work[:, pl.u_idx]
            pl.keep = None if bool(keep.all()) else keep.to(fg.dtype).unsqueeze(2)
            need = usable
            if self.fuse:  # raw scores that some usable fused score depends on
                n1 = _dilate(u_work, a, b)
                need = torch.empty_like(n1)
                need[:, perm] = n1
                need = _dilate(need, a, b)
            need = need.any(0)
            short = -int(need.sum()) % 16
            if short:  # whole 16-channel groups: a ragged group falls back to a kernel that rounds otherwise
                need[(~need).nonzero().squeeze(1)[:short]] = True
            if not bool(need.all()):
                pl.need_idx = need.nonzero().squeeze(1)
            if not self.fuse:  # scores come out in need order: pick the usable ones from them
                pos = torch.full((L,), -1, dtype=torch.long, device=fg.device)
                pos[need.nonzero().squeeze(1)] = torch.arange(int(need.sum()), device=fg.device)
                sel = pos[pl.u_idx]
                pl.sel = None if sel.numel() == int(need.sum()) else sel
        pl.n_need = L if pl.need_idx is None else pl.need_idx.numel()
        # Matching kernels B×n_need×C×k×k, L2-normalised with max(norm, 1e-4).
        pat = _patches(bd, k, s)
        norm = _patch_norms(pat, inplace=not grad)
        if grad:  # unfold + index_select: plain autograd
            wmat = (pat / norm).transpose(1, 2)
            wmat = wmat if pl.need_idx is None else wmat.index_select(1, pl.need_idx)
        else:  # only the scored patches, gathered and divided by their norms in one pass into the conv layout
            norm = norm.squeeze(1) if pl.need_idx is None else norm.squeeze(1)[:, pl.need_idx]
            wmat = bd.new_empty(B, pl.n_need, C, k, k)
            pat = _cl_patches(bd, k, s, pl.need_idx).permute(0, 1, 4, 2, 3)
            torch.div(pat, norm.view(B, pl.n_need, 1, 1, 1), out=wmat)
        del pat, norm
        pl.wmat = wmat.reshape(B * pl.n_need, C, k, k)
        # The pasted patches (work order): raster index of each row of the softmax weights.
        raw_idx = perm if pl.u_idx is None else (pl.u_idx if perm is None else perm[pl.u_idx])
        if raw_idx is None:
            raw_idx = torch.arange(L, device=fg.device)
        pl.n_paste = raw_idx.numel()
        pl.paste_flops = 0
        pl.phases = not grad and s == 1
        if pl.phases:  # the background's r² sub-pixel phases and where each patch lands in them (_paste_phases)
            pt, pb, _ = _same_pad(2 * r, r, bg.shape[-2])
            pleft, pright, _ = _same_pad(2 * r, r, bg.shape[-1])
            bgp = F.pad(bg, (pleft, pright, pt, pb)).view(B, C, pl.hb + 1, r, pl.wb + 1, r)
            pl.bg_phases = [bgp[:, :, :, qy, :, qx].reshape(B, C, -1) for qy in range(r) for qx in range(r)]
            py, px = raw_idx // pl.wb, raw_idx % pl.wb
            pl.shifts = [((py + vy) * (pl.wb + 1) + px + vx, vy, vx) for vy in (0, 1) for vx in (0, 1)]
        else:
            # Pasting kernels B×(pasted patches, work order)×C·(2r)²: raw background patches at full resolution.
            pl.raw = _raw_patches(bg, 2 * r, r * s, raw_idx)
        pl.scored_rows = 0
        return pl

    def _scores(self, pl: SimpleNamespace, r0: int, r1: int) -> Tensor:
        """Raw scores of foreground rows [r0, r1) against the scored patches: B×n_need×n."""
        k = self.ksize
        band = pl.fpad[:, :, r0 : r1 + k - 1]
        # one grouped conv computes each sample's scores bit for bit as the reference's per-sample conv
        sc = F.conv2d(band.reshape(1, pl.B * pl.C, *band.shape[-2:]), pl.wmat, groups=pl.B)
        pl.scored_rows += r1 - r0
        return sc.view(pl.B, pl.n_need, (r1 - r0) * pl.wf)

    def _scores_into(self, pl: SimpleNamespace, r0: int, r1: int, dst: Tensor, scatter: bool) -> None:
        """Raw scores of rows [r0, r1) written into ``dst`` (B×L×n when ``scatter``: into the rows of the
        scored patches; else B×n_need×n). Computed in blocks of patches whose output stays below glibc's mmap
        threshold, so every chunk reuses heap memory instead of faulting in fresh pages; blocks of whole
        16-channel groups give the same bits as one big conv."""
        B, C, k, n = pl.B, pl.C, self.ksize, (r1 - r0) * pl.wf
        band = pl.fpad[:, :, r0 : r1 + k - 1]
        band = band.reshape(1, B * C, *band.shape[-2:])
        nb = max(16, (_BLOCK_FLOATS // (B * n)) // 16 * 16) if dst.device.type == "cpu" else pl.n_need
        if getattr(pl, "wblocks", None) is None or pl.wblock_size != nb:
            w = pl.wmat.view(B, pl.n_need, C, k, k)
            pl.wblocks = [w[:, i : i + nb].reshape(-1, C, k, k) for i in range(0, pl.n_need, nb)]
            pl.wblock_size = nb
        for j, wb in enumerate(pl.wblocks):
            sc = F.conv2d(band, wb, groups=B).view(B, -1, n)
            i0 = j * nb
            if scatter and pl.need_idx is not None:
                dst.index_copy_(1, pl.need_idx[i0 : i0 + sc.shape[1]], sc.to(dst.dtype))  # bf16 under autocast
            else:
                dst[:, i0 : i0 + sc.shape[1]].copy_(sc)
            del sc
        pl.scored_rows += r1 - r0

    # ------------------------------------------------------------------ autograd path
    def _fused_scores_full(self, pl: SimpleNamespace) -> Tensor:
        """Fused scores for all positions with out-of-place ops: B×(usable patches, work order)×P."""
        B, L, P = pl.B, pl.L, pl.P
        sc = self._scores(pl, 0, pl.hf)
        if not self.fuse:
            return sc if pl.sel is None else sc.index_select(1, pl.sel)
        if pl.need_idx is not None:
            sc = sc.new_zeros(B, L, P).index_copy(1, pl.need_idx, sc)
        sc = _diagonal_sum(sc, pl.a, pl.b)
        # both axes to column-major order, fuse again, positions back to raster
        sc = sc.view(B, pl.hb, pl.wb, pl.hf, pl.wf).permute(0, 2, 1, 4, 3).reshape(B, L, P)
        sc = _diagonal_sum(sc, pl.a, pl.b)
        sc = sc.view(B, L, pl.wf, pl.hf).transpose(2, 3).reshape(B, L, P)
        return sc if pl.u_idx is None else sc.index_select(1, pl.u_idx)

    # ------------------------------------------------------------------ inference path
    def _fused_scores_streamed(self, pl: SimpleNamespace):
        """Yield (y0, y1, fused scores of the usable patches for matching rows [y0, y1)), a band of rows at a
        time, reusing a few buffers (fresh large allocations cost page faults on CPU)."""
        B, L, P, hf, wf, a, b = pl.B, pl.L, pl.P, pl.hf, pl.wf, pl.a, pl.b
        budget = self.chunk_size if self.chunk_size is not None else B * P * L
        rows_per = max(1, min(hf, budget // (B * wf * L)))
        single = rows_per == hf
        nc = rows_per * wf
        if not self.fuse:
            sbuf = pl.fpad.new_empty(B, pl.n_need, nc)
            zu = None if pl.sel is None else pl.fpad.new_empty(B, pl.sel.numel(), nc)
            for y0 in range(0, hf, rows_per):
                y1 = min(hf, y0 + rows_per)
                sc = sbuf[:, :, : (y1 - y0) * wf]
                self._scores_into(pl, y0, y1, sc, scatter=False)
                if pl.sel is not None:
                    sc = torch.index_select(sc, 1, pl.sel, out=zu[:, :, : sc.shape[-1]])
                yield y0, y1, sc
            return

        ah, bh = int(a > 0), int(b > 0)  # raw-score rows a fused row reaches into (a, b ≤ wf)
        s_cap = hf if single else min(hf, rows_per + b + 2)
        t_cap = hf if single else min(hf, rows_per + a + b)
        # raw scores, rows [s_lo, s_hi); patches that are not scored keep 0
        s_buf = (pl.fpad.new_zeros if pl.need_idx is not None else pl.fpad.new_empty)(B, L, s_cap * wf)
        t_buf = pl.fpad.new_empty(B, L, t_cap * wf)  # once-fused scores (work order), rows [t_lo, t_hi)
        # one chunk: the fused scores go where the raw ones were, the usable ones where the once-fused were
        z = s_buf if single else pl.fpad.new_empty(B, L, nc)
        n_u = 0 if pl.u_idx is None else pl.u_idx.numel()
        zu_mem = t_buf if single or pl.u_idx is None else pl.fpad.new_empty(B, n_u, nc)
        s_lo = s_hi = t_lo = t_hi = 0

        def put_scores(dst: Tensor, r0: int, r1: int) -> None:
            self._scores_into(pl, r0, r1, dst, scatter=True)

        t_top = t_bot = pl.fpad.new_zeros(B, L, 0)
        if not single and a > 0:  # the first rows wrap onto the last ones: compute those now
            lo = max(hf - a - ah, 0)
            tmp = pl.fpad.new_zeros(B, L, (hf - lo) * wf)
            put_scores(tmp, lo, hf)
            t_bot = pl.fpad.new_empty(B, L, a * wf)
            _fuse_once(tmp, lo * wf, (hf - a) * wf, P, t_bot, a, b, pl.hb, pl.wb, P)
            del tmp

        for y0 in range(0, hf, rows_per):
            y1 = min(hf, y0 + rows_per)
            need_rows = min(hf, y1 + b)
            if need_rows > t_hi:
                lo, hi = max(t_hi - ah, 0), min(need_rows + bh, hf)
                if hi > s_hi:  # drop raw rows no longer needed, then score the new ones
                    s_keep = max(s_hi - lo, 0)
                    if lo > s_lo and s_keep:
                        _move_front(s_buf, (lo - s_lo) * wf, s_keep * wf)
                    s_lo, first_new = (lo, lo + s_keep) if s_keep else (s_hi, s_hi)
                    put_scores(s_buf[:, :, (first_new - s_lo) * wf : (hi - s_lo) * wf], first_new, hi)
                    s_hi = hi
                keep_lo = max(y0 - a, t_lo)
                t_keep = t_hi - keep_lo
                if keep_lo > t_lo and t_keep:
                    _move_front(t_buf, (keep_lo - t_lo) * wf, t_keep * wf)
                t_lo = keep_lo if t_keep else t_hi
                dst = t_buf[:, :, (t_hi - t_lo) * wf : (need_rows - t_lo) * wf]
                _fuse_once(s_buf, s_lo * wf, t_hi * wf, need_rows * wf, dst, a, b, pl.hb, pl.wb, P)
                t_hi = need_rows
                if t_top.shape[-1] == 0 and b > 0:
                    t_top = t_buf[:, :, : b * wf] if single else t_buf[:, :, : b * wf].clone()
            if single and a > 0:
                t_bot = t_buf[:, :, (hf - a) * wf : hf * wf]
            zc = z[:, :, : (y1 - y0) * wf]
            _fuse_twice(t_buf, t_lo, y0, y1, t_top, t_bot, zc, a, b, hf, wf)
            if pl.u_idx is not None:
                zu = zu_mem.view(-1)[: B * n_u * zc.shape[-1]].view(B, n_u, zc.shape[-1])
                zc = torch.index_select(zc, 1, pl.u_idx, out=zu)
            yield y0, y1, zc

    # ------------------------------------------------------------------ softmax and paste
    def _softmax_and_paste(self, pl, z: Tensor, y0: int, y1: int, out_pad: Tensor, offsets, inplace: bool):
        """Masked softmax over patches (as the official layer: masked before and after), then paste the raw
        patches with the transposed conv (matmul + overlap-add), into ``out_pad`` rows of band [y0, y1)."""
        r, keep, n_out = self.rate, pl.keep, pl.n_out
        x0, x1 = 0, pl.wf
        crop = None
        if pl.window is not None:  # only the positions some needed output reads: the window less its margin
            rows, cols = pl.window.rows, pl.window.cols
            crop = (max(y0, rows.start), min(y1, rows.stop), cols.start, cols.stop)
            if crop[1] <= crop[0]:
                return
            if crop == (y0, y1, x0, x1):
                crop = None
        denom = None
        if crop is not None:  # (inference only) scaled straight into a compact buffer: no extra pass
            B, n = z.shape[:2]
            zv = z.view(B, n, y1 - y0, pl.wf)[:, :, crop[0] - y0 : crop[1] - y0, crop[2] : crop[3]]
            y0, y1, x0, x1 = crop
            size = B * n * (y1 - y0) * (x1 - x0)
            dtype = torch.float32 if z.element_size() < 4 else z.dtype  # the softmax in fp32, as below
            if getattr(pl, "crop_buf", None) is None or pl.crop_buf.numel() < size:
                pl.crop_buf = z.new_empty(z.numel(), dtype=dtype)  # the largest crop is at most a whole chunk
            z = torch.mul(zv, self.softmax_scale, out=pl.crop_buf[:size].view(zv.shape)).view(B, n, -1)
        elif z.shape[1] > 0:
            z = fp32(z)  # the softmax in fp32 under bf16/fp16 autocast (exp of scaled scores overflows fp16)
            z = z.mul_(self.softmax_scale) if inplace else z * self.softmax_scale
        if z.shape[1] > 0:
            if keep is not None:  # a patch this sample excludes but another one uses: score 0 here
                z = z.mul_(keep) if inplace else z * keep
            m = z.detach().amax(1, keepdim=True)
            if n_out > 0:
                m.clamp_min_(0.0)  # the excluded patches' zero scores take part in the max
            z = z.sub_(m) if inplace else z - m
            cpu = z.device.type == "cpu" and z.dtype in (torch.float32, torch.float64)
            if cpu:  # exp() of far-below-max scores would take x86's slow denormal path: clamped, e^floor ≈ 4e-38
                floor = math.log(torch.finfo(z.dtype).tiny) + 1.0
                z = z.clamp_min_(floor) if inplace else z.clamp_min(floor)
            z = z.exp_() if inplace else torch.exp(z)
            if cpu:
                # weights below √tiny (float32: ≈ 1e-19 of the largest) become exactly 0, or their products with
                # the raw patches in the paste matmul would be denormal, which x86 CPUs compute many times slower;
                # together they stay below 1e-14 of the largest term, so no sum changes
                cut = math.exp(0.5 * math.log(torch.finfo(z.dtype).tiny))
                z = torch.threshold_(z, cut, 0.0) if inplace else F.threshold(z, cut, 0.0)
            denom = z.sum(1, keepdim=True)
            if n_out > 0:
                denom = denom + n_out * torch.exp(-m)
            if keep is not None:
                z = z.mul_(keep) if inplace else z * keep
            if offsets is not None:
                self._record_offsets(pl, offsets, z, y0, y1)
        if pl.phases:
            if denom is not None:
                z = z.div_(denom)
            self._paste_phases(pl, z, y0, y1, x0, x1, out_pad)
            return
        # dividing the pasted patches instead of the scores is cheaper when there are more patches than
        # pasted values per position
        late = denom is not None and z.shape[1] > pl.raw.shape[2]
        if denom is not None and not late:
            z = z.div_(denom) if inplace else z / denom
        cols = torch.matmul(pl.raw.transpose(1, 2), z.to(pl.raw.dtype))
        if late:
            cols = cols.div_(denom) if inplace else cols / denom
        pl.paste_flops += 2 * cols.numel() * z.shape[1]
        strip = F.fold(cols, ((y1 - y0 + 1) * r, (x1 - x0 + 1) * r), 2 * r, stride=r)
        out_pad[:, :, y0 * r : (y1 + 1) * r, x0 * r : (x1 + 1) * r].add_(strip)

    def _paste_phases(self, pl, z: Tensor, y0: int, y1: int, x0: int, x1: int, out_pad: Tensor) -> None:
        """The paste (the official transposed convolution) of positions [y0, y1)×[x0, x1) by sub-pixel phases
        (inference, stride 1): a 2r×2r patch pasted at stride r adds to each output pixel from the four
        positions p − v, v ∈ {0, 1}², with the raw patch's pixel at the same phase q = pixel mod r, which is
        background pixel r·(patch + v) + q. So the output's phase q at position p is Σ_i bg_q[i]·W[i, p] with
        W[i, p] = Σ_v w[patch i − v, p − v]: four shifted adds of the softmax weights, then r² matmuls
        C×patches×positions — a quarter of the matmul + overlap-add's multiply-adds, the same sums."""
        r = self.rate
        B, n = z.shape[:2]
        rows, cols = y1 - y0, x1 - x0
        n_ext = pl.bg_phases[0].shape[-1]
        size = B * n_ext * (rows + 1) * (cols + 1)
        if getattr(pl, "phase_buf", None) is None or pl.phase_buf.numel() < size:
            pl.phase_buf = z.new_empty(size)  # the first chunk is the largest
        w = pl.phase_buf[:size].view(B, n_ext, rows + 1, cols + 1).zero_()
        zv = z.view(B, n, rows, cols)
        for ext, vy, vx in pl.shifts:
            w[:, :, vy : vy + rows, vx : vx + cols].index_add_(1, ext, zv)
        w = w.view(B, n_ext, -1)
        for i, phase in enumerate(pl.bg_phases):
            qy, qx = divmod(i, r)
            part = torch.matmul(phase, w.to(phase.dtype)).view(B, -1, rows + 1, cols + 1)
            out_pad[:, :, r * y0 + qy : r * (y1 + 1) : r, r * x0 + qx : r * (x1 + 1) : r].add_(part)
        pl.paste_flops += 2 * B * pl.C * n_ext * (rows + 1) * (cols + 1) * r * r

    # ------------------------------------------------------------------ helpers
    def _usable(self, mask: Tensor | None, B: int, hf: int, wf: int) -> Tensor | None:
        """B×L bool: background patches whose window of the downsampled mask is fully known (SAME padding
        counts as known), or None when all are usable."""
        if mask is None:
            return None
        m = tf_nearest_downsample(mask, self.rate * 2**self.n_down)
        if self.official_compat:
            m = m[:1].expand(B, -1, -1, -1)  # the official layer reads only the first sample's mask
        hole = (m != 0).to(torch.float32)
        k, s = self.ksize, self.stride
        pt, pb, _ = _same_pad(k, s, hf)
        pl, pr, _ = _same_pad(k, s, wf)
        excluded = F.max_pool2d(F.pad(hole, (pl, pr, pt, pb)), k, stride=s) > 0
        usable = ~excluded.flatten(1)
        return None if bool(usable.all()) else usable

    def _record_offsets(self, pl, offsets: Tensor, z: Tensor, y0: int, y1: int) -> None:
        """Store (dx, dy) = centre of the argmax background patch − own position, in matching pixels."""
        B, wf = z.shape[0], pl.wf
        idx = z.detach().argmax(1)  # B×n, index into the pasted patches
        if pl.u_idx is not None:
            idx = pl.u_idx[idx]
        if pl.perm is not None:
            idx = pl.perm[idx]
        k, s = self.ksize, self.stride
        cy = (idx // pl.wb) * s - pl.pt + (k - 1) // 2
        cx = (idx % pl.wb) * s - pl.pl + (k - 1) // 2
        pos = torch.arange(y0 * wf, y1 * wf, device=z.device)
        d = torch.stack([cx - pos % wf, cy - pos // wf], 1).to(offsets.dtype)  # B×2×n
        if pl.keep is not None:  # a sample without any usable patch: zero flow
            d = d * (pl.keep.squeeze(2) > 0).any(1).view(B, 1, 1).to(d.dtype)
        offsets[:, :, y0:y1] = d.view(B, 2, y1 - y0, wf)


# ---------------------------------------------------------------------------------------------- windows
class _Window:
    """The matching positions a ``region`` of needed outputs depends on: per sample a window of one size
    (``h``×``w``, the largest any sample needs) at its own offset (``y0``, ``x0``: B), so the batch stays one
    tensor; ``rows``/``cols``: the window's slice that holds every sample's needed positions (softmax and
    paste run there only).

    A matching position p pastes a 2r×2r patch at stride r, so it is needed when that footprint meets the
    region (one max-pool). Its fused score reads raw scores of the positions up to ``a``/``b`` away in raster
    order and then in column-major order, wrapping across rows/columns at the ends. Away from the image's
    borders a margin of max(a, b) positions around the needed ones holds every score they read, so the
    window's own wraps only reach the margin. At a border the full computation's wrap reaches the far side,
    so a sample needing positions within the margin of a border takes the whole axis; a wrap there moves a read
    to the neighbouring row or column, from where the other fuse reaches a further max(a, b): the other axis
    then keeps a margin of max(a, b) + 1. Both margins are tight (one less fails the exactness tests).
    """

    def __init__(self, full: tuple[int, int], empty: bool, crop: bool, y0=None, x0=None, h=0, w=0,
                 rows: slice = slice(0), cols: slice = slice(0)) -> None:
        self.full, self.empty, self.crop, self.y0, self.x0, self.h, self.w = full, empty, crop, y0, x0, h, w
        self.rows, self.cols = rows, cols

    @staticmethod
    def margins(a: int, b: int) -> tuple[int, int]:
        """(margin away from the borders, margin of the other axis when one axis is whole)."""
        return max(a, b), max(a, b) + 1

    @staticmethod
    def _axis(lo: Tensor, hi: Tensor, has: Tensor, n: int, margin: int) -> tuple[Tensor, int]:
        """Needed [lo, hi) per sample along one axis of length n → (per-sample window start B, length)."""
        if bool((has & ((lo < margin) | (hi > n - margin))).any()):
            return torch.zeros_like(lo), n
        size = min(n, int(torch.where(has, hi - lo, 0).amax()) + 2 * margin)
        start = torch.where(has, (lo - margin).clamp(0, n - size), 0)
        return start, size

    @classmethod
    def of(cls, region: Tensor, r: int, hf: int, wf: int, a: int, b: int) -> _Window:
        c0 = r // 2  # the paste's crop: output row Y comes from padded row Y + c0
        reg = F.pad((region != 0).to(torch.float32), (c0, r - c0, c0, r - c0))
        need = F.max_pool2d(reg, 2 * r, stride=r)[:, 0] > 0  # B×hf×wf matching positions needed
        has = need.flatten(1).any(1)
        if not bool(has.any()):
            return cls((hf, wf), empty=True, crop=False)
        bounds = []
        for along, n in ((need.any(2), hf), (need.any(1), wf)):  # needed [lo, hi) of each sample per axis
            ar = torch.arange(n, device=need.device)
            bounds.append((torch.where(along, ar, n).amin(1), torch.where(along, ar + 1, 0).amax(1), n))
        interior, wrapped = cls.margins(a, b)
        (y0, h), (x0, w) = (cls._axis(lo, hi, has, n, interior) for lo, hi, n in bounds)
        if (h, w) != (hf, wf) and (h == hf or w == wf):  # one axis whole: its wraps chain into the other
            (y0, h), (x0, w) = (cls._axis(lo, hi, has, n, wrapped) for lo, hi, n in bounds)

        def inner(lo: Tensor, hi: Tensor, n: int, start: Tensor) -> slice:
            return slice(int(torch.where(has, lo - start, n).amin()), int(torch.where(has, hi - start, 0).amax()))

        rows, cols = inner(*bounds[0], y0), inner(*bounds[1], x0)
        return cls((hf, wf), empty=False, crop=(h, w) != (hf, wf), y0=y0, x0=x0, h=h, w=w, rows=rows, cols=cols)

    def _index(self, extra_h: int, extra_w: int, scale: int = 1):
        dev = self.y0.device
        bi = torch.arange(self.y0.shape[0], device=dev).view(-1, 1, 1)
        ri = (self.y0 * scale).view(-1, 1, 1) + torch.arange(self.h * scale + extra_h, device=dev).view(1, -1, 1)
        ci = (self.x0 * scale).view(-1, 1, 1) + torch.arange(self.w * scale + extra_w, device=dev).view(1, 1, -1)
        return bi, ri, ci

    def gather(self, fpad: Tensor, extra: int) -> Tensor:
        """Each sample's window of the padded foreground (``extra`` = k − 1 rows/cols of neighbours)."""
        bi, ri, ci = self._index(extra, extra)
        return fpad.permute(0, 2, 3, 1)[bi, ri, ci].permute(0, 3, 1, 2).contiguous()

    def place(self, out_pad: Tensor, r: int) -> Tensor:
        """The window's B×C×(h+1)r×(w+1)r pasted output at each sample's offset in a zero full-size one."""
        B, C = out_pad.shape[:2]
        hf, wf = self.full
        full = out_pad.new_zeros(B, (hf + 1) * r, (wf + 1) * r, C)
        bi, ri, ci = self._index(r, r, scale=r)
        full[bi, ri, ci] = out_pad.permute(0, 2, 3, 1)
        return full.permute(0, 3, 1, 2)


# ---------------------------------------------------------------------------------------------- fuse kernels
def _diagonal_sum(x: Tensor, a: int, b: int) -> Tensor:
    """out[:, l, p] = Σ_{t=−a..b} x[:, l+t, p+t], zero outside: the fuse's identity conv, out of place."""
    out = x
    L, P = x.shape[1:]
    for t in range(-a, b + 1):
        if t == 0 or abs(t) >= L or abs(t) >= P:
            continue
        if t > 0:
            out = out + F.pad(x[:, t:, t:], (0, t, 0, t))
        else:
            out = out + F.pad(x[:, :t, :t], (-t, 0, -t, 0))
    return out


def _move_front(buf: Tensor, start: int, n: int) -> None:
    """buf[..., :n] = buf[..., start:start+n] (columns), safe when the ranges overlap."""
    src = buf[:, :, start : start + n]
    buf[:, :, :n].copy_(src.clone() if start < n else src)


def _fuse_once(src: Tensor, base: int, i0: int, i1: int, dst: Tensor, a, b, hb, wb, P):
    """First fuse into ``dst`` (B×L×(i1−i0), patches in work order): dst[l, i] = Σ_t src[l+t, i+t] with l, i
    flat raster indices and zero outside; ``src`` holds positions from ``base``. The raster patch shift is
    split into the part within a patch row and the part wrapping to the next/previous row."""
    B, L = dst.shape[:2]
    n = i1 - i0
    d4 = dst.view(B, wb, hb, n).transpose(1, 2)  # raster view of the work-order destination
    d4.copy_(src[:, :, i0 - base : i1 - base].view(B, hb, wb, n))
    for t in range(-a, b + 1):
        if t == 0:
            continue
        d0, d1 = max(i0, -t), min(i1, P - t)
        if d1 <= d0:
            continue
        s4 = src[:, :, d0 + t - base : d1 + t - base].view(B, hb, wb, d1 - d0)
        o4 = d4[..., d0 - i0 : d1 - i0]
        u = abs(t)
        if t > 0:  # patch (y, x) takes (y, x+t), or (y+1, x+t−wb) past the row end
            o4[:, :, : wb - u].add_(s4[:, :, u:])
            o4[:, :-1, wb - u :].add_(s4[:, 1:, :u])
        else:
            o4[:, :, u:].add_(s4[:, :, : wb - u])
            o4[:, 1:, :u].add_(s4[:, :-1, wb - u :])


def _fuse_twice(tb: Tensor, t_lo: int, y0: int, y1: int, top: Tensor, bot: Tensor, out: Tensor, a, b, hf, wf):
    """Second fuse into ``out`` for rows [y0, y1): positions in column-major order, so a shift of t is t rows
    (patches: t in the work order). ``tb`` holds rows from ``t_lo``; ``top`` (rows [0, b)) and ``bot`` (rows
    [hf−a, hf)) feed the wrap above row 0 / below the last row into the previous / next column."""
    B, L = out.shape[:2]
    tv, top, bot = (x.view(B, L, x.shape[-1] // wf, wf) for x in (tb, top, bot))
    o4 = out.view(B, L, y1 - y0, wf)
    o4.copy_(tv[:, :, y0 - t_lo : y1 - t_lo])
    for t in range(-a, b + 1):
        l0, l1 = max(0, -t), L - max(0, t)
        if t == 0 or l1 <= l0:
            continue
        dst = o4[:, l0:l1]
        d0, d1 = max(y0, -t), min(y1, hf - t)
        if d1 > d0:
            dst[:, :, d0 - y0 : d1 - y0].add_(tv[:, l0 + t : l1 + t, d0 + t - t_lo : d1 + t - t_lo])
        if t < 0 and wf > 1 and min(y1, -t) > y0:  # above row 0: bottom rows of the previous column
            d1 = min(y1, -t)
            dst[:, :, : d1 - y0, 1:].add_(bot[:, l0 + t : l1 + t, y0 + t + a : d1 + t + a, :-1])
        if t > 0 and wf > 1 and y1 > max(y0, hf - t):  # below the last row: top rows of the next column
            d0 = max(y0, hf - t)
            dst[:, :, d0 - y0 :, :-1].add_(top[:, l0 + t : l1 + t, d0 + t - hf : y1 + t - hf, 1:])

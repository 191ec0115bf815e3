"""The project's one Poisson solver: gradient-domain blending of a source into a target's holes.

Yeh et al. 2017 §3.3 (and Pérez et al. 2003): x̂ = argmin_x ‖∇x − ∇s‖² with x = t on known pixels, whose
Euler–Lagrange equation is the discrete Poisson equation Δx = Δs inside the hole. Batched torch code that
runs on the tensors' device (CPU or GPU); no per-image Python loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from inpaintlab.errors import ConfigError

__all__ = ["poisson_blend", "neumann_laplacian"]


def neumann_laplacian(x: torch.Tensor) -> torch.Tensor:
    """Discrete 4-neighbour Laplacian with only the existing neighbours (Neumann at the image border).

    ``L(x)_i = Σ_{j ∈ N(i)} (x_i − x_j)`` where N(i) holds the 2, 3 or 4 neighbours of i inside the image —
    the graph Laplacian of the pixel grid; replicate padding makes every missing neighbour contribute 0.
    Sign convention: positive definite (this is −Δ).
    """
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return 4.0 * x - (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:])


def _degree(h: int, w: int, device, dtype) -> torch.Tensor:
    """Number of in-image 4-neighbours of every pixel (2 at corners, 3 on edges, 4 inside), 1×1×H×W."""
    d = torch.full((1, 1, h, w), 4.0, device=device, dtype=dtype)
    d[..., 0, :] -= 1
    d[..., -1, :] -= 1
    d[..., :, 0] -= 1
    d[..., :, -1] -= 1
    return d


_LAST_ITERS = [0]  # iterations of the last finest-level solve (for tests and benchmarks)


def _coarse_guess(t, s, hole, known, tol):
    """Nested iteration: solve the same problem on a 2× coarser grid and upsample it as the initial guess.

    A coarse pixel is known if any of its 2×2 fine pixels is (value = mean of those known pixels), the source is
    average-pooled; the upsampled coarse solution plus the source's fine detail removes the smooth error
    components that CG is slowest on.
    """
    kc = F.avg_pool2d(known, 2)
    tc = F.avg_pool2d(known * t, 2) / kc.clamp_min(1e-12)
    sc = F.avg_pool2d(s, 2)
    mc = (kc < 1e-6).to(t.dtype)  # B×C mask: a coarse pixel is a hole iff all its 2×2 fine pixels are
    xc = poisson_blend(tc, sc, mc, tol=tol)
    # coarse correction (solution − source, smooth) upsampled, added to the fine source
    corr = F.interpolate(xc - sc, scale_factor=2, mode="bilinear", align_corners=False)
    return s + corr


def poisson_blend(
    target: torch.Tensor,
    source: torch.Tensor,
    mask: torch.Tensor,
    iters: int | None = None,
    tol: float = 1e-6,
    coarse_init: bool = True,
) -> torch.Tensor:
    """Poisson-blend ``source`` into the holes of ``target``: Δx = Δsource in the hole, x = target elsewhere.

    Yeh et al. 2017 §3.3 / Pérez et al. 2003, Eq. 7: minimise Σ over all grid edges (i, j) touching the hole of
    ((x_i − x_j) − (s_i − s_j))², i.e. for every hole pixel i
    ``Σ_{j∈N(i)} (x_i − x_j) = Σ_{j∈N(i)} (s_i − s_j)`` with N(i) the in-image 4-neighbours (Neumann at the
    image border: holes may touch it) and x_j = target_j for known j (Dirichlet data).

    Args:
        target: B×C×H×W image whose known pixels are kept exactly (any value range).
        source: B×C×H×W guidance image (e.g. the generator's output); only its gradients matter where the
            hole touches known pixels, its values where a hole component touches no known pixel at all.
        mask: B×1×H×W (or B×C×H×W), 1 = hole (values > 0.5), 0 = known. Any number of holes per image,
            different per image.
        iters: maximum number of conjugate-gradient iterations; ``None`` = ``4·max(H, W) + 50``, enough for
            ``tol`` = 1e-6 on a hole as large as the image (CG needs O(hole diameter) iterations).
        tol: stop when every (image, channel) has ‖r‖₂ ≤ tol·‖b‖₂ (relative residual of the hole system).
        coarse_init: start from the solution on a 2× coarser grid (recursively, for even sizes ≥ 64);
            changes the iteration count only, not the solution.

    Returns:
        B×C×H×W blended image, equal to ``target`` bit for bit on known pixels, in ``target``'s dtype.

    Solver: Jacobi-preconditioned conjugate gradient on the hole unknowns, all images and channels at once
    (each (image, channel) has its own step sizes), started from ``source`` in the hole; the system is the
    grid graph Laplacian restricted to the hole (symmetric positive definite when every hole component
    touches a known pixel; an all-hole image is consistent and returns ``source``). Computed in float32
    (float64 if given). Measured (CPU, 3 channels, centred square hole, tol 1e-6): 32² hole in 64²: 70
    iterations, 0.01 s; 128² in 256²: 220 it., 0.3 s; 256² in 512²: 380 it., 2.8 s; all but 2 columns of
    512²: 1180 it., 8.8 s (without ``coarse_init``: 80 / 300 / 570 / 1830 iterations).
    """
    if target.dim() != 4 or source.shape != target.shape:
        raise ConfigError(
            f"poisson_blend: target and source must be the same B×C×H×W shape, got {tuple(target.shape)} "
            f"and {tuple(source.shape)}"
        )
    b, c, h, w = target.shape
    if mask.dim() != 4 or mask.shape[0] != b or mask.shape[1] not in (1, c) or mask.shape[2:] != target.shape[2:]:
        raise ConfigError(
            f"poisson_blend: mask must be B×1×H×W matching the image {tuple(target.shape)}, got {tuple(mask.shape)}"
        )
    out_dtype = target.dtype
    dtype = torch.float64 if out_dtype == torch.float64 else torch.float32
    t = target.to(dtype)
    s = source.to(dtype)
    hole = (mask > 0.5).to(dtype).expand(b, c, h, w)
    known = 1.0 - hole
    if iters is None:
        iters = 4 * max(h, w) + 50

    # A u = hole·L(u) for u supported on the hole; right-hand side b = hole·(L(s) − L(known·t)).
    def apply_a(u: torch.Tensor) -> torch.Tensor:
        return hole * neumann_laplacian(u)

    rhs = hole * (neumann_laplacian(s) - neumann_laplacian(known * t))
    inv_diag = hole / _degree(h, w, t.device, dtype)  # Jacobi preconditioner (0 outside the hole)
    u = hole * s
    if coarse_init and min(h, w) >= 64 and h % 2 == 0 and w % 2 == 0:
        u = hole * _coarse_guess(t, s, hole, known, tol)
    r = rhs - apply_a(u)
    z = inv_diag * r
    p = z
    rz = (r * z).sum(dim=(2, 3), keepdim=True)
    bnorm = rhs.pow(2).sum(dim=(2, 3), keepdim=True).sqrt()
    # a zero right-hand side (e.g. a flat source over a flat target) has no scale of its own: relative to the
    # first residual then, instead of running every iteration towards an exact 0
    thresh = tol * torch.where(bnorm > 0, bnorm, r.pow(2).sum(dim=(2, 3), keepdim=True).sqrt())
    tiny = torch.finfo(dtype).tiny
    check_every = 10  # one host sync per 10 iterations
    for k in range(iters):
        ap = apply_a(p)
        pap = (p * ap).sum(dim=(2, 3), keepdim=True)
        alpha = torch.where(pap > tiny, rz / pap.clamp_min(tiny), torch.zeros_like(pap))
        u = u + alpha * p
        r = r - alpha * ap
        z = inv_diag * r
        rz_new = (r * z).sum(dim=(2, 3), keepdim=True)
        beta = torch.where(rz > tiny, rz_new / rz.clamp_min(tiny), torch.zeros_like(rz))
        p = z + beta * p
        rz = rz_new
        if (k + 1) % check_every == 0:
            rnorm = r.pow(2).sum(dim=(2, 3), keepdim=True).sqrt()
            if bool((rnorm <= thresh).all()):
                break
    _LAST_ITERS[0] = k + 1
    out = torch.where(hole > 0.5, u, t)
    out = out.to(out_dtype)
    # known pixels: exactly the target (no round trip through the solver's dtype)
    return torch.where(hole > 0.5, out, target)

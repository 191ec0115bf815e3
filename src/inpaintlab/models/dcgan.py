"""DCGAN (Radford et al. 2016) as the frozen prior of Yeh et al. 2017, its latent search and inference adapter.

Inpainting with this family is an optimisation per image against the frozen G and D (Yeh et al. §3.2–3.3):
``latent_search`` finds ẑ = argmin L_c(z | y, M) + λ·L_p(z) for a whole batch at once, and
``LatentSearchAdapter`` (registered for ``DCGANGenerator``) plugs it, followed by Poisson blending, into the
one inference interface (``inpaintlab.inference``), so ``inpaintlab-eval`` / ``-inpaint`` run it unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.imaging.poisson import poisson_blend
from inpaintlab.inference.adapters import Adapter, register_adapter
from inpaintlab.losses.semantic_inpainting import context_loss, importance_weights, prior_loss

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "LatentSearchAdapter", "frozen", "latent_search"]


def _stages(image_size: int) -> int:
    """Stride-2 stages between 4×4 and ``image_size`` (a power of two ≥ 8)."""
    n = int(image_size)
    if n < 8 or n & (n - 1):
        raise ConfigError(f"DCGAN image_size must be a power of two >= 8 (32, 64, ...), got {image_size}")
    return int(math.log2(n)) - 2


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2016 §3, Fig. 1): z ∈ [−1, 1]^100 → 4×4×(8·width) → … → size²×C.

    Projection by a 4×4 transposed convolution, then stride-2 4×4 transposed convolutions halving the width
    at each doubling, BatchNorm + ReLU after every layer but the last, tanh output. ``image_size`` 64 gives
    the paper's 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 → 64×64×C; 32 gives 4×4×256 → … → 32×32×C.
    z is drawn uniformly from [−1, 1] (Radford et al. §4), the range the latent search clips to.
    """

    z_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def __init__(self, image_size: int = 64, channels: int = 3, z_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        stages = _stages(image_size)
        self.image_size, self.image_channels, self.z_dim = int(image_size), int(channels), int(z_dim)
        ch = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        for m in self.modules():  # Radford et al. §4: N(0, 0.02) weights, BatchNorm γ ~ N(1, 0.02)
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    @property
    def native_size(self) -> int:
        """A fixed-size net: the inference interface resizes pictures to this size, fills, and pastes back."""
        return self.image_size

    def sample_z(self, n: int, device: Any = None, generator: torch.Generator | None = None) -> Tensor:
        """n latent codes from the prior U(−1, 1)^z_dim (drawn on the CPU when a CPU ``generator`` is given)."""
        lo, hi = self.z_range
        dev = generator.device if generator is not None else device
        z = torch.rand(n, self.z_dim, generator=generator, device=dev) * (hi - lo) + lo
        return z.to(device) if device is not None else z

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.reshape(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator (Radford et al. 2016 §3): 4×4 stride-2 convolutions doubling the width, BatchNorm
    (not on the first layer), LeakyReLU 0.2, a final 4×4 convolution to one logit per image.

    Returns logits (length-B); D(x) = sigmoid(logit) — the sigmoid lives in the NS-GAN loss (BCE with logits)
    and in ``prior_loss``. ``mask`` is accepted and ignored (the base module passes it to every critic).
    """

    def __init__(self, image_size: int = 64, channels: int = 3, width: int = 64) -> None:
        super().__init__()
        stages = _stages(image_size)
        self.image_size = int(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ConfigError(
                f"DCGANDiscriminator({self.image_size}²) got {x.shape[-2]}×{x.shape[-1]} images; set its image_size"
            )
        return self.net(x).flatten()


@contextmanager
def frozen(*modules: nn.Module | None):
    """Eval mode and no parameter gradients for the duration (the search's frozen G and D); restored after."""
    mods = [m for m in modules if m is not None]
    modes = [m.training for m in mods]
    flags = [[p.requires_grad for p in m.parameters()] for m in mods]
    try:
        for m in mods:
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)
        yield
    finally:
        for m, mode, fl in zip(mods, modes, flags):
            m.train(mode)
            for p, f in zip(m.parameters(), fl):
                p.requires_grad_(f)


def latent_search(
    generator: DCGANGenerator,
    discriminator: nn.Module | None,
    image: Tensor,
    mask: Tensor,
    steps: int = 1500,
    restarts: int = 1,
    lambda_p: float = 0.003,
    weighted: bool = True,
    lr: float = 0.01,
    window: int = 7,
    seed: int | None = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Tensor]:
    """Yeh et al. 2017 §3.2 Eq. 2: ẑ = argmin_z L_c(z | y, M) + λ·L_p(z), Adam from a random z (1,500 steps).

    Every image of the batch (and every restart) has its own z, all optimised together: one G and one D
    forward per step for the whole (restarts·B) batch; the per-image losses are summed, so each z receives
    exactly its own image's gradient. z is clipped to the prior's range after every step; G and D run frozen
    in eval mode (BatchNorm running statistics; reference-notes: batch statistics make results depend on the
    batch). With ``restarts`` > 1 each image keeps the restart with the lowest final loss.
    ``lr``: the paper gives none; 0.01 as in the bamos port. ``seed`` makes the initial z reproducible.

    Returns dict: ``z`` (B×z_dim), ``output`` = G(ẑ) (B×C×H×W), ``loss``, ``context``, ``prior`` (length B).
    """
    if steps < 0 or restarts < 1:
        raise ConfigError(f"latent search needs steps >= 0 and restarts >= 1, got steps={steps}, restarts={restarts}")
    if lambda_p and discriminator is None:
        raise ConfigError("the latent search's prior loss (lambda_p > 0) needs the trained discriminator")
    b = image.shape[0]
    device = image.device
    with torch.inference_mode(False), torch.enable_grad(), frozen(generator, discriminator):
        # inputs may be inference-mode tensors (Lightning's evaluation loop): clone them into normal ones
        y = image.detach().clone().repeat(restarts, 1, 1, 1)
        w = importance_weights(mask.detach().clone(), window=window, weighted=weighted).repeat(restarts, 1, 1, 1)
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        z = generator.sample_z(restarts * b, device=device, generator=g).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        lo, hi = generator.z_range

        def losses(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            out = generator(z)
            lc = context_loss(out, y, w)
            lp = prior_loss(discriminator(out), lambda_p) if lambda_p else torch.zeros_like(lc)
            return out, lc, lp

        for step in range(steps):
            _, lc, lp = losses(z)
            opt.zero_grad(set_to_none=True)
            (lc + lp).sum().backward()
            opt.step()
            with torch.no_grad():
                z.clamp_(lo, hi)
            if progress is not None:
                progress(step + 1, steps)
        with torch.no_grad():
            out, lc, lp = losses(z)
            total = (lc + lp).view(restarts, b)
            best = total.argmin(0)  # per image: the restart with the lowest loss
            pick = best * b + torch.arange(b, device=device)
            return {
                "z": z.detach()[pick],
                "output": out[pick],
                "loss": total.min(0).values,
                "context": lc[pick],
                "prior": lp[pick],
            }


@register_adapter(DCGANGenerator)
class LatentSearchAdapter(Adapter):
    """Yeh et al. 2017 through the one inference interface: latent search, then Poisson blending (§3.3).

    ``fill(image, mask)`` searches ẑ for the whole batch at once and returns the blended image
    x̂ = argmin ‖∇x − ∇G(ẑ)‖² with x = y on known pixels (``inpaintlab.imaging.poisson_blend``), clamped to
    [−1, 1]; ``blend=False`` returns G(ẑ) (pasted by the compositing step). Images at the prior's
    ``native_size``. ``last_seconds_per_image``: wall time of the last ``fill`` divided by the batch size.
    ``progress``: optional callable(step, steps) called after every search step (the CLI's progress bar).
    """

    needs_discriminator: ClassVar[bool] = True
    options = {
        "steps": (1500, "latent-search Adam steps (Yeh et al.: 1500)"),
        "restarts": (1, "random initial z per image; the lowest final loss wins"),
        "blend": (True, "Poisson-blend G(z) into the known pixels (Yeh et al. §3.3); false: paste G(z)"),
        "lambda_p": (0.003, "weight λ of the prior loss log(1 − D(G(z))) (Yeh et al.: 0.003)"),
        "weighted": (True, "importance-weighted context loss (Yeh Eq. 3, 7×7 window); false: binary mask"),
        "lr": (0.01, "Adam learning rate of the search (the paper gives none; bamos port: 0.01)"),
        "seed": (0, "seed of the initial z (reproducible fills)"),
    }

    def __init__(self, generator: nn.Module, discriminator: nn.Module | None = None, **options: Any) -> None:
        super().__init__(generator, discriminator, **options)
        for key, lo in (("steps", 0), ("restarts", 1)):
            if int(self.settings[key]) < lo:
                raise ConfigError(f"inference option {key} must be >= {lo}, got {self.settings[key]}")
        self.progress: Callable[[int, int], None] | None = None
        self.last_seconds_per_image: float | None = None
        self.last_search: dict[str, Tensor] | None = None

    @property
    def native_size(self) -> tuple[int, int]:
        n = int(self.generator.image_size)
        return (n, n)

    def search(self, image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        s = self.settings
        return latent_search(
            self.generator, self.discriminator, image, mask, steps=int(s["steps"]), restarts=int(s["restarts"]),
            lambda_p=float(s["lambda_p"]), weighted=bool(s["weighted"]), lr=float(s["lr"]),
            seed=None if s["seed"] is None else int(s["seed"]), progress=self.progress,
        )

    def fill(self, image: Tensor, mask: Tensor) -> Tensor:
        start = time.perf_counter()
        found = self.search(image, mask)
        out = found["output"]
        if self.settings["blend"]:
            out = poisson_blend(image, out, mask).clamp(-1.0, 1.0)
        if out.is_cuda:
            torch.cuda.synchronize(out.device)
        self.last_seconds_per_image = (time.perf_counter() - start) / max(1, image.shape[0])
        self.last_search = found
        return out

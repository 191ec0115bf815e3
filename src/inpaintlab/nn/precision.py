"""Full-precision islands inside mixed-precision training (``trainer.precision=bf16-mixed`` / ``16-mixed``).

Autocast runs convolutions and matmuls in bf16/fp16; the parts whose range or rounding matters run in fp32:
GAN losses and WGAN-GP's gradient penalty (Gulrajani et al. 2017 Eq. 3 takes a double backward), the spectral
norm's power iteration (Miyato et al. 2018 Alg. 1), and the attention softmaxes (DeepFill v1 Sec. 3.2 Eq. 1,
CR-Fill Eq. 5). Under plain fp32 every helper here is a no-op.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


def fp32(x: Tensor) -> Tensor:
    """``x`` as float32 when it is a lower-precision float (bf16/fp16); otherwise unchanged."""
    return x.float() if x.is_floating_point() and x.element_size() < 4 else x


@contextmanager
def full_precision(device_type: str):
    """Autocast off on ``device_type`` ("cuda", "cpu"): ops inside run in their inputs' dtype (fp32)."""
    with torch.autocast(device_type=device_type, enabled=False):
        yield


class _FP32SpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrization with the power iteration and σ in fp32 whatever autocast says."""

    def forward(self, weight: Tensor) -> Tensor:
        with full_precision(weight.device.type):
            return super().forward(fp32(weight))


def spectral_norm_fp32(module: nn.Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """``torch.nn.utils.parametrizations.spectral_norm`` (same state-dict keys) computed in fp32 (Miyato et
    al. 2018 Alg. 1): under bf16/fp16 autocast the power iteration's matrix-vector products keep fp32."""
    weight = getattr(module, name)
    dim = 1 if isinstance(module, nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d) else 0
    parametrize.register_parametrization(module, name, _FP32SpectralNorm(weight, n_power_iterations, dim, eps))
    return module

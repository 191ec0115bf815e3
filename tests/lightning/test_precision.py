"""Mixed precision for every experiment family: a few bf16-mixed CPU steps with finite losses, fp16 through
Lightning's gradient scaler (one scaler step per optimiser step), fp32 islands under autocast."""

from __future__ import annotations

import pytest
import torch
from lightning_support import FAMILIES, batches, build_module, fit

STEPS = {"glcic": 4}  # enough steps to cross every phase boundary; 2 otherwise


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bf16_mixed_steps_are_finite(family, tmp_path):
    torch.manual_seed(0)
    module, size, channels = build_module(family, tmp_path)
    steps = STEPS.get(family, 2)
    trainer, recorder = fit(module, batches(size, channels), steps=steps, precision="bf16-mixed")
    assert trainer.global_step == steps
    logged = {k for row in recorder.losses for k in row}
    assert "train/loss/total" in logged
    if module.has_gan:
        assert {"train/loss/adv_d", "train/loss/adv_g"} <= logged
    for row in recorder.losses:
        assert all(torch.isfinite(torch.tensor(v)) for v in row.values()), row
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert all(p.dtype == torch.float32 for p in module.parameters())  # mixed precision keeps fp32 masters


class CountingScaler(torch.amp.GradScaler):
    def __init__(self):
        super().__init__("cpu", init_scale=2.0**10)
        self.steps = self.updates = 0

    def step(self, optimizer, *args, **kwargs):
        self.steps += 1
        return super().step(optimizer, *args, **kwargs)

    def update(self, *args, **kwargs):
        self.updates += 1
        return super().update(*args, **kwargs)


@pytest.mark.parametrize("family", ["ga_dilated_wgan_gp", "deepfill_v2"])
def test_fp16_manual_optimisation_one_scaler_step_per_optimiser_step(family, tmp_path):
    """Lightning refuses 16-mixed on CPU (it falls back to bf16); its MixedPrecision plugin with a CPU
    GradScaler runs the same fp16 code path as on CUDA: manual_backward scales, each LightningOptimizer.step
    unscales, steps (or skips) and updates once."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    torch.manual_seed(0)
    module, size, channels = build_module(family, tmp_path)
    scaler = CountingScaler()
    trainer, recorder = fit(module, batches(size, channels), steps=2,
                            plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    n_batches = trainer.fit_loop.epoch_loop.batch_progress.total.completed
    optimiser_steps = trainer.global_step + module.d_steps  # generator steps + critic steps
    assert module.d_steps == n_batches  # one critic step per batch
    assert scaler.steps == scaler.updates == optimiser_steps
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_fp32_islands_under_autocast():
    """GAN losses, the WGAN-GP penalty and the spectral norm stay fp32 inside a bf16 autocast region."""
    from inpaintlab.losses.adversarial import HingeGANLoss, WGANGPLoss
    from inpaintlab.models.patch_discriminators import SNPatchGAN

    torch.manual_seed(0)
    d = SNPatchGAN(in_channels=4, cnum=4, width_multipliers=(1, 2))
    real, fake = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = d(real, mask)
        assert logits.dtype == torch.bfloat16  # the convolutions themselves run in bf16
        conv = d.net[0]
        assert conv.weight.dtype == torch.float32 and conv.parametrizations.weight[0]._u.dtype == torch.float32
        hinge = HingeGANLoss()
        assert hinge.discriminator_loss(logits, logits).dtype == torch.float32
        assert hinge.generator_loss(logits).dtype == torch.float32
        penalty = WGANGPLoss().penalty(d, real, fake, mask)
        assert penalty.dtype == torch.float32
    ref = WGANGPLoss()
    d.eval()  # no power-iteration update between the two calls
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        p_amp = ref.penalty(d, real, fake, mask)
    torch.manual_seed(1)
    p_32 = ref.penalty(d, real, fake, mask)
    assert float(p_amp) == pytest.approx(float(p_32), rel=1e-5)  # the penalty ignores autocast entirely


def test_contextual_attention_softmax_fp32_under_autocast():
    from inpaintlab.nn.contextual_attention import ContextualAttention

    torch.manual_seed(0)
    ca = ContextualAttention()
    fg, bg = torch.randn(1, 8, 16, 16) * 30, torch.randn(1, 8, 16, 16) * 30  # large scores: fp16 exp overflows
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ca(fg, bg, mask)
    ref = ca(fg, bg, mask)
    assert torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()

"""model.compile and model.channels_last: same numbers as eager / NCHW, state-dict keys unchanged."""

from __future__ import annotations

import torch
from hydra.core.global_hydra import GlobalHydra
from lightning_support import FAMILIES, batches, build_module, fit


def test_channels_last_same_output_and_trains(tmp_path):
    torch.manual_seed(0)
    ref, size, channels = build_module("deepfill_v2", tmp_path)
    GlobalHydra.instance().clear()
    nhwc, _, _ = build_module("deepfill_v2", tmp_path, ["model.channels_last=true"])
    nhwc.load_state_dict(ref.state_dict())
    nhwc.configure_model()
    conv = next(m for m in nhwc.generator.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    batch = next(iter(batches(size, channels)))
    seen = []
    nhwc.generator.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    ref.eval(), nhwc.eval()
    with torch.no_grad():
        a = ref(batch["image"], batch["mask"])["output"]
        b = nhwc(batch["image"], batch["mask"])["output"]
    assert seen[0].is_contiguous(memory_format=torch.channels_last)  # the pre-hook converted the NCHW input
    assert (a - b).abs().max() < 1e-4
    nhwc.train()
    trainer, recorder = fit(nhwc, batches(size, channels), steps=1)
    assert trainer.global_step == 1 and all(torch.isfinite(torch.tensor(v)) for v in recorder.losses[-1].values())


def test_compile_generator_and_critic_keeps_keys_and_values(tmp_path):
    """aot_eager traces forward and backward like inductor, without a C++ compiler (fast on CI)."""
    torch.manual_seed(0)
    module, size, channels = build_module("ga_fc", tmp_path, ["+model.compile.backend=aot_eager"])
    keys = set(module.state_dict())
    eager_out = module(*next(iter(batches(size, channels))).values())["output"].detach()
    module.configure_model()
    assert module.generator._compiled_call_impl is not None
    assert set(module.state_dict()) == keys
    out = module(*next(iter(batches(size, channels))).values())["output"]
    assert torch.allclose(out, eager_out, atol=1e-6)
    trainer, recorder = fit(module, batches(size, channels), steps=2)
    assert trainer.global_step == 2 and torch.isfinite(torch.tensor(recorder.losses[-1]["train/loss/total"]))


def test_compile_keeps_a_wgan_gp_critic_eager(tmp_path):
    module, _, _ = build_module("ga_dilated_wgan_gp", tmp_path, ["model.compile=true"])
    module.configure_model()  # torch.compile is lazy: nothing is compiled before the first call
    assert module.generator._compiled_call_impl is not None
    assert module.discriminator._compiled_call_impl is None  # the gradient penalty's double backward


def test_families_listed():
    assert {"ga_fc", "deepfill_v1", "deepfill_v2", "crfill"} <= set(FAMILIES)

"""BTGMI Sec. 4.4: the two-output guided generator and its joint inpainting + harmonization training module."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.inference import adapter_for
from inpaintlab.inference.guided import GuidedAdapter, guided_result
from inpaintlab.lightning import GuidedBTGMIModule, PhaseSchedule
from inpaintlab.losses import HoleAwarePatchGANLoss, L1Loss
from inpaintlab.models.btgmi import BTGMIGenerator, GuidedBTGMIGenerator, MultiScalePatchDiscriminator


def _batch(b: int = 2, size: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, size, size)
    mask[:, :, 8:24, 6:26] = 1
    fg = torch.zeros_like(mask)
    fg[:, :, 12:20, 10:22] = 1
    composite = image * (1 - mask) + mask * (torch.rand(b, 3, size, size, generator=g) * 2 - 1)
    return {"image": image, "mask": mask, "foreground": fg, "composite": composite}


def test_generator_two_outputs_and_planes():
    torch.manual_seed(0)
    gen = GuidedBTGMIGenerator(channels=(4, 8, 8), num_blocks=1, max_extra_blocks=1)
    b = _batch()
    out = gen(b["composite"], torch.cat([b["mask"], b["foreground"]], 1))
    assert set(out) == {"output", "harmonized"} and out["harmonized"].shape == (2, 3, 32, 32)
    assert not torch.equal(out["output"], out["harmonized"])
    assert gen.down[0].in_channels == 5 and gen.up[-2].out_channels == 6
    with pytest.raises(ConfigError, match="2 mask plane"):
        gen(b["composite"], b["mask"])
    with pytest.raises(ConfigError, match="outputs=2"):
        GuidedBTGMIGenerator(outputs=1)
    # growth (Sec. 3.3) as in BTGMI: a new block at fade 0 leaves both outputs unchanged
    gen.eval()
    planes = torch.cat([b["mask"], b["foreground"]], 1)
    before = gen(b["composite"], planes)
    gen.set_growth(1, fade=0.0)
    after = gen(b["composite"], planes)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert set(BTGMIGenerator(channels=(4, 8, 8), num_blocks=1)(b["image"], b["mask"])) == {"output"}


def _module(adv: bool = True) -> GuidedBTGMIModule:
    torch.manual_seed(0)
    disc = MultiScalePatchDiscriminator(ndf=4, num_scales=2, norm="none", condition_channels=5) if adv else None
    return GuidedBTGMIModule(
        generator=GuidedBTGMIGenerator(channels=(4, 8, 8), num_blocks=1, max_extra_blocks=1),
        losses={"rec": L1Loss(weight=1.0, source="output"), "rec_h": L1Loss(weight=1.0, source="harmonized")},
        optimizer_g=partial(torch.optim.Adam, lr=1e-3),
        discriminator=disc, adversarial=HoleAwarePatchGANLoss(weight=1.0) if adv else None,
        optimizer_d=partial(torch.optim.Adam, lr=1e-3) if adv else None,
        phases=PhaseSchedule([{"name": "head", "steps": 2, "settings": {"blocks": 0}},
                              {"name": "block1", "steps": 2, "settings": {"blocks": 1}}]),
    )


def test_losses_reach_both_outputs():
    module = _module()
    batch = _batch()
    out = module.forward_batch(batch)
    total, logs = module.generator_loss(batch, out)
    assert {"loss/rec", "loss/rec_h", "loss/adv_g", "loss/adv_g_output", "loss/adv_g_harmonized"} <= set(logs)
    assert torch.isclose(logs["loss/adv_g"], logs["loss/adv_g_output"] + logs["loss/adv_g_harmonized"])
    grads = torch.autograd.grad(total, [out["output"], out["harmonized"]])
    for grad in grads:  # every output is supervised, only inside the box I_b for the adversarial/L1 composite
        assert grad.abs().sum() > 0
    d_total, d_logs = module.discriminator_loss(batch, out)
    assert torch.isfinite(d_total) and "loss/adv_d" in d_logs
    with pytest.raises(ConfigError, match="composite"):
        module.forward_batch({"image": batch["image"], "mask": batch["mask"]})


def test_critic_is_conditioned_on_the_generators_input():
    """Eq. 1's D(s, x), s = the guided generator's input: every critic call (I, and both outputs' composites) sees
    [x, composite, box, foreground·box] — the same planes the generator got."""
    module = _module()
    seen: list[torch.Tensor] = []
    module.discriminator.critics[0].net[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    batch = _batch()
    with torch.no_grad():
        out = module.forward_batch(batch)
        module.discriminator_loss(batch, out)
    assert module.discriminator.critics[0].net[0].in_channels == 8 and len(seen) == 3  # real, output, harmonized
    box, fg = batch["mask"], batch["foreground"]
    s = torch.cat([batch["composite"], box, fg * box], 1)
    assert torch.equal(seen[0], torch.cat([batch["image"], s], 1))
    for got, source in zip(seen[1:], ("output", "harmonized")):
        assert torch.equal(got, torch.cat([out[source] * box + batch["image"] * (1 - box), s], 1))
    # the planes reach the logits: another foreground, other real logits
    other = dict(batch, foreground=torch.zeros_like(fg))
    with torch.no_grad():
        a = module.discriminator(*module.discriminator_inputs(batch, batch["image"], real=True))["d1"]
        b = module.discriminator(*module.discriminator_inputs(other, batch["image"], real=True))["d1"]
    assert not torch.equal(a, b)
    with pytest.raises(ConfigError, match="condition_channels=5"):
        GuidedBTGMIModule(generator=GuidedBTGMIGenerator(channels=(4, 8, 8), num_blocks=1),
                          losses={"rec": L1Loss(weight=1.0)}, optimizer_g=partial(torch.optim.Adam, lr=1e-3),
                          discriminator=MultiScalePatchDiscriminator(ndf=4), adversarial=HoleAwarePatchGANLoss(),
                          optimizer_d=partial(torch.optim.Adam, lr=1e-3))


def test_eval_outputs_combine_harmonized_object_and_inpainted_background():
    module = _module(adv=False).eval()
    batch = _batch()
    with torch.no_grad():
        out = module.forward_batch(batch)
        res = module.eval_outputs(batch, "test")
    box, fg = batch["mask"], batch["foreground"]
    final = res["composite"]
    assert torch.equal(final[:, :, box[0, 0] == 0], batch["composite"][:, :, box[0, 0] == 0])
    assert torch.equal(final[:, :, fg[0, 0] > 0], out["harmonized"][:, :, fg[0, 0] > 0])
    ring = (box[0, 0] > 0) & (fg[0, 0] == 0)
    assert torch.equal(final[:, :, ring], out["output"][:, :, ring])
    assert torch.equal(res["composite_paste"], batch["composite"])
    # the inference adapter gives the same image at the same size, and at a size that needs padding
    adapter = adapter_for(module.generator)
    assert isinstance(adapter, GuidedAdapter)
    with torch.no_grad():
        assert torch.allclose(adapter.guide(batch["composite"], box, fg), final, atol=1e-6)
        odd = adapter.guide(batch["composite"][..., :30, :29], box[..., :30, :29], fg[..., :30, :29])
    assert odd.shape == (2, 3, 30, 29)
    assert torch.equal(guided_result(out["output"], out["harmonized"], batch["composite"], box, fg), final)
    # without a guide (module(image, mask), Inpainter.fill): plain inpainting, known pixels kept
    with torch.no_grad():
        plain = module(batch["image"], box)["composite"]
        assert torch.equal(plain, adapter.fill(batch["image"], box) * box + batch["image"] * (1 - box))

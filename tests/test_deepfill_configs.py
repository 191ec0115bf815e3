"""DeepFill v1 / v2 experiment configs: the composed values, the official loss compositions recomputed by hand,
and DeepFill v1's masked gradient penalty over the global/local critic dict against its closed form."""

from __future__ import annotations

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from helpers import REPO, compose_config
from inpaintlab.conventions import centred_crop, hole_boxes
from inpaintlab.data.masks import DeepFillBoxMask, FreeFormMask, UnionMask
from inpaintlab.losses import HingeGANLoss, L1Loss, MaskedL1Loss, WGANGPLoss
from inpaintlab.losses.spatial_discount import SpatiallyDiscountedL1
from inpaintlab.models.coarse_to_fine import CoarseToFineGenerator, deepfill_v1, deepfill_v2
from inpaintlab.models.deepfill_discriminators import GlobalLocalCritic
from inpaintlab.models.patch_discriminators import SNPatchGAN

V1 = ("deepfill_v1_places2", "deepfill_v1_celeba")
V2 = ("deepfill_v2_places2", "deepfill_v2_celeba")


def _cfg(tmp_path, *overrides):
    GlobalHydra.instance().clear()
    return compose_config(list(overrides), tmp_path)


def _adam(factory):
    opt = factory(params=[torch.zeros(1, requires_grad=True)])
    assert isinstance(opt, torch.optim.Adam)
    return opt.defaults["lr"], tuple(opt.defaults["betas"])


@pytest.mark.parametrize("experiment", V1)
def test_v1_config_values(experiment, tmp_path):
    cfg = _cfg(tmp_path, f"experiment={experiment}")
    assert cfg.data.batch_size == 16 and cfg.data.dataset.image_size == 256
    assert cfg.data.dataset._target_.endswith("Places2" if "places2" in experiment else "CelebA")
    mask = instantiate(cfg.mask)
    assert isinstance(mask, DeepFillBoxMask) and mask.per_batch
    assert (mask.height, mask.width, mask.max_delta) == (128, 128, (32, 32))
    model = instantiate(cfg.model)
    g = model.generator
    assert isinstance(g, CoarseToFineGenerator)
    assert (g.conv_type, g.cnum, g.out_act, g.refine_with_mask, g.has_attention) == ("vanilla", 32, "clip", True, True)
    assert g.padding == "reflect"  # the paper's mirror padding; the official code: same_tf
    assert g.attention_kwargs["softmax_scale"] == 10 and g.attention_kwargs["fuse"] is True
    d = model.discriminator
    assert isinstance(d, GlobalLocalCritic) and d.local_size == 128
    assert d.global_critic.input_size == (256, 256) and d.local_critic.input_size == (128, 128)
    assert not d.global_critic.with_mask
    adv = model.adversarial
    assert isinstance(adv, WGANGPLoss) and (adv.weight, adv.gp_weight, adv.masked_penalty) == (0.001, 10.0, True)
    assert model.n_critic == 5 and model.fake_input == "composite"
    assert _adam(model.optimizer_g) == _adam(model.optimizer_d) == (1e-4, (0.5, 0.9))
    terms = {name: (type(t), t.weight, t.source) for name, t in model.losses.items()}
    assert terms == {
        "l1_coarse": (SpatiallyDiscountedL1, pytest.approx(1.44), "coarse"),
        "l1_output": (SpatiallyDiscountedL1, 1.2, "output"),
        "ae_coarse": (MaskedL1Loss, pytest.approx(1.44), "coarse"),
        "ae_output": (MaskedL1Loss, 1.2, "output"),
    }
    for name in ("l1_coarse", "l1_output"):
        assert (model.losses[name].gamma, model.losses[name].distance) == (0.99, "hole")
    assert {model.losses[n].region for n in ("ae_coarse", "ae_output")} == {"valid"}


def test_v1_official_options_follow_one_override(tmp_path):
    cfg = _cfg(tmp_path, "experiment=deepfill_v1_places2", "model.losses.l1_coarse.gamma=0.9",
               "model.losses.l1_coarse.distance=box", "model.generator.padding=same_tf")
    model = instantiate(cfg.model)
    for name in ("l1_coarse", "l1_output"):
        t = model.losses[name]
        assert (t.gamma, t.distance, t.box_size) == (0.9, "box", (128, 128))
    # the released-weight topology: same modules and shapes as deepfill_v1(), so official weights load
    ours, factory = model.generator, deepfill_v1()
    assert ours.padding == "same_tf"
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in factory.state_dict().items()}
    ours.load_official_state_dict(factory.official_state_dict())


@pytest.mark.parametrize("experiment", V2)
def test_v2_config_values(experiment, tmp_path):
    cfg = _cfg(tmp_path, f"experiment={experiment}")
    assert cfg.data.batch_size == 16 and cfg.data.dataset.image_size == 256
    mask = instantiate(cfg.mask)
    assert isinstance(mask, UnionMask)
    assert sorted(type(m).__name__ for m in mask.generators) == ["DeepFillBoxMask", "FreeFormMask"]
    model = instantiate(cfg.model)
    g = model.generator
    assert (g.conv_type, g.cnum, g.out_act, g.padding, g.refine_with_mask) == ("gated", 48, "tanh", "same_tf", False)
    assert g.has_attention and g.attention_kwargs["fuse"] is True
    d = model.discriminator
    assert isinstance(d, SNPatchGAN) and d.in_channels == 4 and d.out_channels == 256 and d.downscale == 64
    adv = model.adversarial
    assert isinstance(adv, HingeGANLoss) and (adv.weight, adv.d_scale) == (1.0, 1.0)
    assert model.n_critic == 1 and model.fake_input == "composite"
    assert _adam(model.optimizer_g) == _adam(model.optimizer_d) == (1e-4, (0.5, 0.999))
    terms = {name: (type(t), t.weight, t.source) for name, t in model.losses.items()}
    assert terms == {"l1_coarse": (L1Loss, 1.0, "coarse"), "l1_output": (L1Loss, 1.0, "output")}
    # released DeepFill v2 weights load into the configured generator and give the factory's outputs
    torch.manual_seed(0)
    ref = deepfill_v2().eval()
    g.load_official_state_dict(ref.official_state_dict())
    g.eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    m = torch.zeros(1, 1, 64, 64)
    m[..., 16:40, 20:44] = 1
    with torch.no_grad():
        a, b = g(x * (1 - m), m), ref(x * (1 - m), m)
    assert torch.equal(a["output"], b["output"]) and torch.equal(a["coarse"], b["coarse"])


def _official_window(h, w, gamma):
    """The official ``spatial_discounting_mask``, written out pixel by pixel."""
    out = torch.empty(h, w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            out[i, j] = max(gamma ** min(i, h - i), gamma ** min(j, w - j))
    return out


def _small_v1(tmp_path, *extra):
    cfg = _cfg(tmp_path, "experiment=deepfill_v1_places2", "data.dataset.image_size=32", "mask.height=16",
               "mask.width=16", "mask.max_delta=8", "model.generator.cnum=8", "model.discriminator.cnum=4", *extra)
    model = instantiate(cfg.model).double()
    return model, instantiate(cfg.mask)


def test_v1_generator_objective_is_the_official_one(tmp_path):
    """Official v1.0.0 with gamma 0.9 and the box window: G = 0.001·(g_global + g_local) + 1.2·l1 + 1.2·ae with
    l1 = 1.2·mean(|x − x1|·sd) + mean(|x − x2|·sd) over the local patch, ae = (1.2·mean(|x − x1|·(1 − m)) +
    mean(|x − x2|·(1 − m))) / mean(1 − m), g_* = −mean(D_*(composite))."""
    model, masks = _small_v1(tmp_path, "model.losses.l1_coarse.gamma=0.9", "model.losses.l1_coarse.distance=box")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    m, outer = masks.sample_boxes(1, 32, 32, g)  # one box for the batch, as the official graph
    m = m.double().expand(2, 1, 32, 32)
    t, l = int(outer[0, 0]), int(outer[0, 1])
    x, x1, x2 = (torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1 for _ in range(3))
    total, logs = model.generator_loss({"image": x, "mask": m}, {"coarse": x1, "output": x2})

    sd = _official_window(16, 16, 0.9)

    def patch(z):
        return z[..., t : t + 16, l : l + 16]

    l1 = 1.2 * (patch(x - x1).abs() * sd).mean() + (patch(x - x2).abs() * sd).mean()
    known = 1 - m[:1]
    ae = (1.2 * ((x - x1).abs() * known).mean() + ((x - x2).abs() * known).mean()) / known.mean()
    comp = x2 * m + x * (1 - m)
    d = model.discriminator
    adv = -d.global_critic(comp).mean() - d.local_critic(patch(comp)).mean()
    expected = 0.001 * adv + 1.2 * l1 + 1.2 * ae
    assert total.item() == pytest.approx(expected.item(), rel=1e-10)
    assert logs["loss/adv_g"].item() == pytest.approx(adv.item(), rel=1e-10)
    # the local critic's hole-centred window is the official local patch of the unshrunk box
    assert centred_crop(x, 16, hole_boxes(m))[1].tolist() == [[t, l], [t, l]]


def _probe_gradient(f, shape):
    """∇f of an affine f: f(e_k) − f(0) for every basis image e_k (exact for a linear critic)."""
    n = int(torch.tensor(shape).prod())
    basis = torch.eye(n, dtype=torch.float64).view(n, *shape)
    with torch.no_grad():
        return (f(basis) - f(torch.zeros(1, *shape, dtype=torch.float64))).view(shape)


def test_v1_masked_gradient_penalty_closed_form_over_global_local_dict(tmp_path):
    """With LeakyReLU slope 1 both critics are affine, so ∇D is a constant a and the penalty is
    λ·Σ_critics mean_b (‖a_critic ⊙ m_b‖₂ − 1)², the local gradient living on each sample's own window."""
    model, _ = _small_v1(tmp_path, "model.discriminator.leaky_slope=1.0")
    torch.manual_seed(0)
    d = model.discriminator
    assert isinstance(d, GlobalLocalCritic)
    a_global = _probe_gradient(d.global_critic, (3, 32, 32))
    a_local = _probe_gradient(d.local_critic, (3, 16, 16))
    mask = torch.zeros(3, 1, 32, 32, dtype=torch.float64)
    mask[0, :, 2:14, 3:15] = 1  # window rows 0..15 (clamped at the top), cols 1..16
    mask[1, :, 20:30, 18:32] = 1  # window rows 17..32 → clamped to 16..31, cols 16..31
    mask[2, :, 9:23, 9:23] = 1  # a centred 14² hole
    tops_lefts = centred_crop(mask, 16, hole_boxes(mask))[1]
    expected_global, expected_local = 0.0, 0.0
    for b in range(3):
        mb = mask[b]
        expected_global += (torch.sqrt((a_global**2 * mb).sum()) - 1) ** 2
        t, l = (int(v) for v in tops_lefts[b])
        expected_local += (torch.sqrt((a_local**2 * mb[:, t : t + 16, l : l + 16]).sum()) - 1) ** 2
    expected = 10.0 * (expected_global + expected_local) / 3
    real = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    fake = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    penalty = model.adversarial.penalty(d, real, fake, mask)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-9)
    # hand numbers on the same path: the window of sample 1 is clamped inside the image
    assert tops_lefts.tolist() == [[0, 1], [16, 16], [8, 8]]
    # the unmasked penalty differs: it also counts the known pixels' gradients
    full = WGANGPLoss(gp_weight=10.0, masked_penalty=False).penalty(d, real, fake, mask)
    assert abs(full.item() - penalty.item()) > 1e-3
    penalty.backward()  # the penalty trains both critics' weights (∇D does not depend on the biases)
    weights = [p for n, p in d.named_parameters() if n.endswith("weight")]
    assert weights and all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


class _DictCritic(torch.nn.Module):
    """{"global": Σ 0.5·x, "local": Σ x over rows/cols 0..1}: ∇ = 0.5 everywhere and 1 on the 2×2 corner."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x, mask):
        return {"global": self.scale * 0.5 * x.flatten(1).sum(1), "local": self.scale * x[..., :2, :2].flatten(1).sum(1)}


def test_masked_gradient_penalty_hand_numbers_with_a_critic_dict():
    # hole = 3 pixels of which 2 are in the local corner, 1 channel:
    # global ‖0.5·m‖ = 0.5·√3, local ‖1·m_corner‖ = √2 → 10·((0.5√3 − 1)² + (√2 − 1)²)
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, 0] = mask[0, 0, 1, 1] = mask[0, 0, 3, 3] = 1
    p = WGANGPLoss(gp_weight=10.0, masked_penalty=True).penalty(_DictCritic(), torch.rand(1, 1, 4, 4),
                                                                torch.rand(1, 1, 4, 4), mask)
    expected = 10 * ((0.5 * 3**0.5 - 1) ** 2 + (2**0.5 - 1) ** 2)
    assert p.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("d_scale", [1.0, 0.5])
def test_v2_objectives_are_the_official_ones(d_scale, tmp_path):
    """G = mean|x − x1| + mean|x − x2| − mean(D(composite, m)); D = s·(mean relu(1 − D(x, m)) +
    mean relu(1 + D(composite, m))), s = 1 (paper) or 0.5 (official gan_hinge_loss)."""
    cfg = _cfg(tmp_path, "experiment=deepfill_v2_places2", f"model.adversarial.d_scale={d_scale}",
               "model.generator.cnum=8", "model.discriminator.cnum=4")
    model = instantiate(cfg.model).double()
    model.discriminator.eval()  # no spectral-norm power iteration between the two evaluations
    torch.manual_seed(0)
    x, x1, x2 = (torch.rand(2, 3, 64, 64, dtype=torch.float64) * 2 - 1 for _ in range(3))
    m = FreeFormMask()(2, 64, 64, torch.Generator().manual_seed(1)).double()
    total, _ = model.generator_loss({"image": x, "mask": m}, {"coarse": x1, "output": x2})
    comp = x2 * m + x * (1 - m)
    d = model.discriminator
    expected = (x - x1).abs().mean() + (x - x2).abs().mean() - d(comp, m).mean()
    assert total.item() == pytest.approx(expected.item(), rel=1e-10)
    d_total, logs = model.discriminator_loss({"image": x, "mask": m}, {"coarse": x1, "output": x2})
    expected_d = d_scale * (torch.relu(1 - d(x, m)).mean() + torch.relu(1 + d(comp, m)).mean())
    assert d_total.item() == pytest.approx(expected_d.item(), rel=1e-10)
    assert logs["loss/penalty"].item() == 0.0


def test_measure_forward_in_a_fresh_process():
    """The benchmark helper behind bench_deepfill: a subprocess per measurement, its own peak RSS and the
    attention layer's stats; bad factories and failing models give clear messages instead of numbers."""
    import sys
    from functools import partial

    from inpaintlab.nn.contextual_attention import ContextualAttention

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from _common import attention_inputs, composited, mask_inputs, measure_forward
    finally:
        sys.path.pop(0)

    m = measure_forward(partial(ContextualAttention, rate=2), 64, "cpu", repeats=2,
                        inputs_fn=partial(attention_inputs, channels=8), threads=1)
    assert m.ok and len(m.times_s) == 2 and m.median_s > 0 and m.threads == 1
    assert m.peak_mb >= m.base_mb > 50 and m.extra_mb == pytest.approx(m.peak_mb - m.base_mb)
    # 16² features of a 64² image, matched at 1/rate: 8² positions
    assert m.stats["."]["positions"] == 8 * 8 and m.stats["."]["flops"] > 0
    with pytest.raises(ValueError, match="cannot be rebuilt in a fresh process"):
        measure_forward(lambda: ContextualAttention(), 64)
    bad = measure_forward("inpaintlab.models.coarse_to_fine:deepfill_v2", 100, repeats=1)
    assert not bad.ok and "divisible by 8" in bad.error
    # issue 18: the composited forward runs the attention on a window only (a box hole, a small generator)
    box = partial(mask_inputs, kind="box", box=(0.25, 0.3))
    full = measure_forward(partial(composited, "deepfill_v2", cnum=8, restrict_attention=False), 256, repeats=1,
                           inputs_fn=box, threads=1)
    part = measure_forward(partial(composited, "deepfill_v2", cnum=8), 256, repeats=1, inputs_fn=box, threads=1)
    ca_full, ca_part = full.stats["generator.refine.attention"], part.stats["generator.refine.attention"]
    assert ca_full["positions"] == ca_full["positions_full"] == 32 * 32
    assert ca_part["positions"] < ca_part["positions_full"] == 32 * 32

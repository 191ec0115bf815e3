"""CR-Fill training module: the CR term's wiring and weight, the baseline's parameters and cost, fixture parity
through the module's hooks, the official-code options, and the CR-Fill configs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

import lightning as L
from helpers import compose_config, reference_fixture
from inpaintlab import pretrained
from inpaintlab.errors import ConfigError
from inpaintlab.lightning.crfill_module import CRFillModule
from inpaintlab.losses import HingeGANLoss, L1Loss
from inpaintlab.losses.contextual_reconstruction import ContextualReconstructionLoss
from inpaintlab.models.coarse_to_fine import crfill
from inpaintlab.models.crfill_aux import CRFillAuxNet, convert_crfill_aux_state_dict
from inpaintlab.models.patch_discriminators import SNPatchGAN

SIZE = 64  # 7×7 CR patches (16×16, stride 8); the SN-PatchGAN's six stride-2 convs reach 1×1
# small widths so that a few training steps take seconds; the real configs are untouched
TINY = ["model.generator.cnum=8", "model.discriminator.cnum=4"]
TINY_CR = [*TINY, "model.cr_loss.aux_net.cnum=8"]


def _model(experiment: str, tmp_path: Path, extra=()) -> CRFillModule:
    overrides = TINY if experiment == "crfill_baseline_places2" else TINY_CR
    cfg = compose_config([f"experiment={experiment}", *overrides, *extra], tmp_path)
    GlobalHydra.instance().clear()
    return instantiate(cfg.model)


def _batch(n: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1
    image = torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    mask = torch.zeros(n, 1, SIZE, SIZE)
    for i in range(n):  # a different hole per sample, leaving fully known 16×16 patches
        y, x = (int(v) for v in torch.randint(8, 32, (2,), generator=g))
        mask[i, :, y : y + 20, x : x + 16] = 1.0
    return {"image": image, "mask": mask}


class _Batches(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        b = _batch(1, seed=i)
        return {k: v[0] for k, v in b.items()}


def _flops(model: CRFillModule, batch) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(batch["image"], batch["mask"])
    return counter.get_total_flops()


def _call_recorder(module: torch.nn.Module) -> list[str]:
    calls: list[str] = []
    for name, sub in module.named_modules():
        sub.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    return calls


def test_trained_cr_model_has_exactly_the_baseline_generator(tmp_path):
    torch.manual_seed(0)
    model = _model("crfill_places2", tmp_path / "cr")
    base = _model("crfill_baseline_places2", tmp_path / "base")
    assert type(model) is CRFillModule and base.cr_loss is None
    aux_before = {k: v.clone() for k, v in model.cr_loss.aux_net.state_dict().items()}
    d_aux_before = {k: v.clone() for k, v in model.cr_loss.discriminator.state_dict().items()}
    trainer = L.Trainer(
        accelerator="cpu", max_steps=3, logger=CSVLogger(tmp_path, name="log"), log_every_n_steps=1,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )
    trainer.fit(model, train_dataloaders=DataLoader(_Batches(), batch_size=2))
    assert trainer.global_step == 3

    # the CR term and the auxiliary critic appear in the logs by name, finite
    with open(Path(trainer.logger.log_dir) / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for name in ("train/loss/cr", "train/loss/cr_l1", "train/loss/cr_adv", "train/loss/adv_d_aux",
                 "train/loss/l1", "train/loss/coarse_l1", "train/loss/adv_g", "train/loss/adv_d"):
        values = [float(r[name]) for r in rows if r.get(name)]
        assert len(values) == 3 and all(torch.isfinite(torch.tensor(values))), name
    # the auxiliary network trained with G, the auxiliary critic with D (official create_optimizers)
    opt_g, opt_d = trainer.optimizers
    n_g = sum(p.numel() for g in opt_g.param_groups for p in g["params"])
    n_d = sum(p.numel() for g in opt_d.param_groups for p in g["params"])
    n_aux = sum(p.numel() for p in model.cr_loss.aux_net.parameters())
    assert n_g == sum(p.numel() for p in model.generator.parameters()) + n_aux
    assert n_d == 2 * sum(p.numel() for p in model.discriminator.parameters())
    assert any(not torch.equal(v, model.cr_loss.aux_net.state_dict()[k]) for k, v in aux_before.items())
    assert any(not torch.equal(v, model.cr_loss.discriminator.state_dict()[k]) for k, v in d_aux_before.items())

    # same generator: state-dict keys, shapes, parameter count
    ours, theirs = model.generator.state_dict(), base.generator.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert sum(p.numel() for p in model.generator.parameters()) == sum(p.numel() for p in base.generator.parameters())

    # same inference cost, and the inference path never runs the auxiliary branch
    batch = _batch()
    model.eval(), base.eval()
    calls = _call_recorder(model.cr_loss)
    flops = _flops(model, batch)
    assert flops == _flops(base, batch) > 0
    assert calls == []
    base.generator.load_state_dict(model.generator.state_dict())
    with torch.no_grad():
        out = model(batch["image"], batch["mask"])
        assert set(out) == {"output", "coarse", "composite"}
        assert torch.equal(out["output"], base(batch["image"], batch["mask"])["output"])
    model.train()
    with torch.no_grad():
        model.generator_forward(batch["image"], batch["mask"])
    assert "aux_net.enc1" in calls  # sanity: the recorder sees the branch when training

    # our checkpoint loads as a plain CR-Fill generator (the aux branch's keys are dropped)
    ckpt = tmp_path / "cr.ckpt"
    trainer.save_checkpoint(ckpt)
    gen = pretrained.load("crfill", ckpt, trusted=True, cnum=8)
    with torch.no_grad():
        assert torch.equal(gen(batch["image"] * (1 - batch["mask"]), batch["mask"])["output"], out["output"])


def _same_state(model: CRFillModule, base: CRFillModule) -> None:
    model.generator.load_state_dict(base.generator.state_dict())
    model.discriminator.load_state_dict(base.discriminator.state_dict())
    for m in (model, base):
        m.train()
        m.discriminator.eval()  # spectral norm without power iteration: repeatable critic calls
    model.cr_loss.discriminator.eval()


def test_cr_term_by_name_and_its_weight(tmp_path):
    torch.manual_seed(0)
    model = _model("crfill_places2", tmp_path / "cr")
    base = _model("crfill_baseline_places2", tmp_path / "base")
    _same_state(model, base)
    batch = _batch()
    image, mask = batch["image"], batch["mask"]

    out_b = base.generator_forward(image, mask)
    total_b, logs_b = base.generator_loss(batch, out_b)
    out = model.generator_forward(image, mask)
    total, logs = model.generator_loss(batch, out)
    assert {"loss/cr", "loss/cr_l1", "loss/cr_adv"} <= set(logs)
    assert not {"loss/cr", "loss/cr_l1", "loss/cr_adv"} & set(logs_b)
    for k, v in logs_b.items():  # the base terms are untouched
        if k != "loss/total":
            assert torch.equal(v, logs[k]), k
    # Eq. 2: total = L(Y) + λ·L_CR with λ = 0.5, and L_CR = β·l1 + adv with β = 1.5 (Eq. 3, 7)
    assert torch.allclose(total, total_b + 0.5 * logs["loss/cr"], atol=1e-6)
    assert torch.allclose(logs["loss/cr"], 1.5 * logs["loss/cr_l1"] + logs["loss/cr_adv"], atol=1e-6)
    assert logs["loss/cr"] > 0
    # the same value as the CR loss module's own forward on the generator's features and output
    feats = model.generator(image * (1 - mask), mask, return_features=True)["attention_features"]
    ref = model.cr_loss(feats, out["output"], image, mask)
    assert torch.allclose(ref["aux"], out["aux"], atol=1e-6)
    assert torch.allclose(ref["loss"], 0.5 * logs["loss/cr"], atol=1e-6)
    assert torch.allclose(ref["adv"], logs["loss/cr_adv"], atol=1e-6)

    # the critic step adds the auxiliary critic's hinge on A(U)∘M + U, with A(U) detached
    d_total_b, _ = base.discriminator_loss(batch, out_b)
    d_total, d_logs = model.discriminator_loss(batch, out)
    d_aux = model.cr_loss.discriminator_loss(out["aux"], image, mask)
    assert torch.allclose(d_logs["loss/adv_d_aux"], d_aux)
    assert torch.allclose(d_total, d_total_b + d_aux, atol=1e-6)
    d_total.backward()
    assert all(p.grad is None for p in model.cr_loss.aux_net.parameters())
    assert all(p.grad is not None for p in model.cr_loss.discriminator.parameters())

    # λ matters: twice λ, twice the added term; λ = 0 is the Baseline's total exactly (no aux image built)
    model.cr_loss.weight = 1.0
    total_1, _ = model.generator_loss(batch, model.generator_forward(image, mask))
    assert torch.allclose(total_1 - total_b, 2 * (total - total_b), atol=1e-5)
    model.cr_loss.weight = 0.0
    out_0 = model.generator_forward(image, mask)
    assert "aux" not in out_0
    total_0, logs_0 = model.generator_loss(batch, out_0)
    assert torch.equal(total_0, total_b) and "loss/cr" not in logs_0


def test_module_hooks_reproduce_the_fixture():
    """Train-mode generator_forward gives the reference's auxiliary image; eval mode its inference output."""
    ref = torch.load(reference_fixture("crfill_generator.pt"))
    gen = crfill()
    leftover = gen.load_official_state_dict(ref["state_dict"])
    aux = CRFillAuxNet()
    aux.load_state_dict(convert_crfill_aux_state_dict(leftover))
    cr = ContextualReconstructionLoss(aux_net=aux, normalization="feature_map", disallowed="zero_score",
                                      l1_weight=1.0)  # the fixture's options: norm_type=1, lambda_l1=1
    model = CRFillModule(gen, {"l1": L1Loss(1.0)}, torch.optim.Adam, cr_loss=cr)
    model.train()
    with torch.no_grad():
        out = model.generator_forward(ref["image"], ref["mask"])
        assert (out["output"] - ref["train_stage2"]).abs().max() < 1e-4
        assert (out["aux"] - ref["train_aux"]).abs().max() < 1e-4
        _, logs = model.generator_loss(ref, out)
        assert torch.allclose(logs["loss/cr"], (ref["train_aux"] - ref["image"]).abs().mean(), atol=1e-5)
        model.eval()
        out = model(ref["image"], ref["mask"])
    assert "aux" not in out
    assert (out["output"] - ref["eval_stage2"]).abs().max() < 1e-4
    assert (out["coarse"] - ref["eval_stage1"]).abs().max() < 1e-4


def test_hinge_generator_forms_hand_computed():
    fake = torch.tensor([-2.0, 0.5, 3.0])
    real = torch.tensor([0.5, 2.0])
    paper = HingeGANLoss(generator_form="hinge")
    # Eq. 3: mean ReLU(1 − D) = (3 + 0.5 + 0) / 3
    assert torch.allclose(paper.generator_loss(fake), torch.tensor(3.5 / 3))
    # official / DeepFill v2: −mean D = −1.5 / 3
    assert torch.allclose(HingeGANLoss(generator_form="mean").generator_loss(fake), torch.tensor(-0.5))
    # Eq. 1: mean ReLU(1 − D(X)) + mean ReLU(1 + D(fake)) = (0.5 + 0)/2 + (0 + 1.5)/2
    assert torch.allclose(paper.discriminator_loss(real, fake[:2]), torch.tensor(1.0))
    with pytest.raises(ConfigError, match="generator_form"):
        HingeGANLoss(generator_form="relu")


def test_official_critic_input_is_a_ones_channel():
    torch.manual_seed(0)
    batch = _batch()
    image, mask = batch["image"], batch["mask"]
    d, d_aux = SNPatchGAN(cnum=4).eval(), SNPatchGAN(cnum=4).eval()
    ref_d, ref_aux = SNPatchGAN(cnum=4).eval(), SNPatchGAN(cnum=4).eval()
    ref_d.load_state_dict(d.state_dict())
    ref_aux.load_state_dict(d_aux.state_dict())
    cr = ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8), discriminator=d_aux)
    model = CRFillModule(crfill(cnum=8), {"l1": L1Loss(1.0)}, torch.optim.Adam, cr_loss=cr, discriminator=d,
                         adversarial=HingeGANLoss(generator_form="hinge"), optimizer_d=torch.optim.Adam, discriminator_mask="ones")
    ones = torch.ones_like(mask)
    with torch.no_grad():
        for ours, reference in ((model.discriminator, ref_d), (model.cr_loss.discriminator, ref_aux)):
            assert torch.equal(ours(image, mask), reference(image, ones))
            assert torch.equal(ours(image, mask=mask), reference(image, ones))
            assert not torch.equal(ours(image, mask), reference(image, mask))


def test_default_critics_see_the_image_only():
    """CR-Fill Eq. 1 and 3: D(X), D(Y∘M+U) — both critics' logits do not depend on the mask."""
    torch.manual_seed(0)
    batch = _batch()
    image, mask = batch["image"], batch["mask"]
    d, d_aux = SNPatchGAN(in_channels=3, cnum=4).eval(), SNPatchGAN(in_channels=3, cnum=4).eval()
    cr = ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8), discriminator=d_aux)
    model = CRFillModule(crfill(cnum=8), {"l1": L1Loss(1.0)}, torch.optim.Adam, cr_loss=cr, discriminator=d,
                         adversarial=HingeGANLoss(generator_form="hinge"), optimizer_d=torch.optim.Adam)
    assert model.discriminator_mask == "none"
    with torch.no_grad():
        for critic in (model.discriminator, model.cr_loss.discriminator):
            assert torch.equal(critic(image, mask), critic(image, 1 - mask))


def test_bad_configurations_raise_clear_errors():
    gen, losses = crfill(cnum=8), {"l1": L1Loss(1.0)}
    with pytest.raises(ConfigError, match="ContextualReconstructionLoss"):
        CRFillModule(gen, losses, torch.optim.Adam, cr_loss=L1Loss(1.0))
    cr_with_critic = ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8), discriminator=SNPatchGAN(cnum=4))
    with pytest.raises(ConfigError, match="model.discriminator"):
        CRFillModule(gen, losses, torch.optim.Adam, cr_loss=cr_with_critic)
    with pytest.raises(ConfigError, match="discriminator_mask"):
        CRFillModule(gen, losses, torch.optim.Adam, discriminator_mask="zeros")
    with pytest.raises(ConfigError, match="in_channels=4 does not fit model.discriminator_mask='none'"):
        CRFillModule(gen, losses, torch.optim.Adam, discriminator=SNPatchGAN(cnum=4),
                     adversarial=HingeGANLoss(), optimizer_d=torch.optim.Adam)
    with pytest.raises(ConfigError, match="expected 4"):
        CRFillModule(gen, losses, torch.optim.Adam, discriminator=SNPatchGAN(in_channels=3, cnum=4),
                     adversarial=HingeGANLoss(), optimizer_d=torch.optim.Adam, discriminator_mask="mask")

    class NoFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)

        def forward(self, x, mask, return_features=False):
            return {"output": self.conv(x)}

    model = CRFillModule(NoFeatures(), losses, torch.optim.Adam,
                         cr_loss=ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8)))
    batch = _batch()
    with pytest.raises(ConfigError, match="features"):
        model.train().generator_forward(batch["image"], batch["mask"])


def test_experiment_configs_carry_the_paper_values(tmp_path):
    cfg = compose_config(["experiment=crfill_places2"], tmp_path)
    m = cfg.model
    assert m._target_ == "inpaintlab.lightning.CRFillModule"
    assert m.generator._target_.endswith("crfill") and m.generator.attention is False
    assert (m.losses.coarse_l1.source, m.losses.coarse_l1.weight) == ("coarse", 1.0)  # coarse: L1 only
    assert (m.losses.l1.source, m.losses.l1.weight) == ("output", 1.5)  # β
    assert (m.cr_loss.weight, m.cr_loss.l1_weight, m.cr_loss.softmax_scale) == (0.5, 1.5, 10.0)  # λ, β, α
    assert (m.cr_loss.normalization, m.cr_loss.disallowed) == ("cosine", "exclude")
    assert m.adversarial.generator_form == "hinge" and m.discriminator_mask == "none"  # Eq. 1, 3: D sees the image
    assert m.discriminator.in_channels == m.cr_loss.discriminator.in_channels == 3
    assert m.optimizer_g.lr == m.optimizer_d.lr == 1e-4
    assert cfg.mask._target_.endswith("MixtureMask") and cfg.mask.choose == "batch" and cfg.mask.per_batch is False
    assert cfg.data.dataset.image_size == 256 and cfg.data.dataset._target_.endswith("Places2")
    GlobalHydra.instance().clear()
    # β moves with the refinement's L1 weight (Eq. 7 reuses Eq. 3)
    cfg = compose_config(["experiment=crfill_places2", "model.losses.l1.weight=1"], tmp_path)
    assert cfg.model.cr_loss.l1_weight == 1.0
    GlobalHydra.instance().clear()

    cfg = compose_config(["experiment=crfill_baseline_places2"], tmp_path)
    assert cfg.model.get("cr_loss") is None and cfg.model.losses.l1.weight == 1.5
    GlobalHydra.instance().clear()
    cfg = compose_config(["experiment=crfill_imagenet"], tmp_path)
    assert cfg.data.dataset._target_.endswith("ImageNet") and cfg.model.cr_loss.weight == 0.5
    GlobalHydra.instance().clear()

    cfg = compose_config(["experiment=crfill_deepfillv2_ca_cr_places2"], tmp_path)
    m = cfg.model
    assert m.generator.attention is False and m.generator.padding == "same_tf" and m.generator.cnum == 48
    assert m.cr_loss.l1_weight == 1.0 == m.losses.l1_output.weight  # β = 1
    assert m.cr_loss.weight == 0.5 and m.adversarial.generator_form == "mean"
    assert list(m.optimizer_g.betas) == [0.5, 0.999] and cfg.mask._target_.endswith("UnionMask")
    GlobalHydra.instance().clear()

    cfg = compose_config(["experiment=crfill_places2_official"], tmp_path)
    m = cfg.model
    assert (m.cr_loss.normalization, m.cr_loss.disallowed, m.cr_loss.l1_weight) == ("feature_map", "zero_score", 1.0)
    assert (m.optimizer_g.lr, m.optimizer_d.lr) == (1e-4, 4e-4)
    assert list(m.optimizer_g.betas) == list(m.optimizer_d.betas) == [0.0, 0.9]
    assert (m.discriminator.leaky_slope, m.discriminator.padding, m.discriminator_mask) == (0.01, "zeros", "ones")
    assert m.cr_loss.discriminator.leaky_slope == 0.01 and m.cr_loss.adversarial.generator_form == "mean"
    assert "strokes" in cfg.mask.generators
    GlobalHydra.instance().clear()

    cfg = compose_config(["experiment=crfill_places2", "hparams_search=crfill_lambda"], tmp_path)
    assert cfg.hydra.mode.name == "MULTIRUN"
    lambdas = [float(v) for v in cfg.hydra.sweeper.params["model.cr_loss.weight"].split(",")]
    assert 0.0 in lambdas and 0.5 in lambdas and cfg.optimized_metric == "val/psnr"


@pytest.mark.parametrize("experiment", ["crfill_places2", "crfill_deepfillv2_ca_cr_places2",
                                        "crfill_places2_official"])
def test_every_cr_experiment_builds_a_cr_module_whose_features_fit(experiment, tmp_path):
    model = _model(experiment, tmp_path)
    assert isinstance(model, CRFillModule) and model.uses_cr
    batch = _batch()
    with torch.no_grad():
        out = model.train().generator_forward(batch["image"], batch["mask"])
    assert out["aux"].shape == batch["image"].shape


def test_phases_and_generator_batch_reach_the_base_module(tmp_path):
    """CR-Fill takes every base-module argument: a critic-only phase leaves the generator and the auxiliary network
    untouched (critic steps counted), then ``generator_batch=fresh`` gives each generator step a batch of its own."""
    torch.manual_seed(0)
    cr = ContextualReconstructionLoss(aux_net=CRFillAuxNet(cnum=8), discriminator=SNPatchGAN(in_channels=3, cnum=4))
    model = CRFillModule(crfill(cnum=8), {"l1": L1Loss(1.0)}, torch.optim.Adam, cr_loss=cr,
                         discriminator=SNPatchGAN(in_channels=3, cnum=4), adversarial=HingeGANLoss(),
                         optimizer_d=torch.optim.Adam, generator_batch="fresh",
                         phases=[{"name": "critic", "steps": 2, "generator": False}, {"name": "joint", "steps": 1}])
    trained = [*model.generator.parameters(), *model.cr_loss.aux_net.parameters()]
    seen: list[tuple[int, bool]] = []  # (global step, generator + aux network still the initial ones) per batch
    initial = [p.detach().clone() for p in trained]

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            seen.append((trainer.global_step, all(torch.equal(p, q) for p, q in zip(trained, initial))))

    trainer = L.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
                        callbacks=[Record()])
    trainer.fit(model, DataLoader(_Batches(), batch_size=2))
    # batches: two critic-only steps (counted), then the joint phase's critic batch and the generator's own batch
    assert seen == [(1, True), (2, True), (2, True), (3, False)]
    assert model.d_steps == 3 and model.gan_batches == 2

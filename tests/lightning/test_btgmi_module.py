"""BTGMIModule (003 Sec. 3.3, Alg. 1): blocks, fade-in, lr_i and λ_adv^i per phase; resume mid-phase; growth identity."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import lightning as L
from inpaintlab.errors import ConfigError
from inpaintlab.lightning import BTGMIModule, PhaseSchedule
from inpaintlab.losses import HoleAwarePatchGANLoss, L1Loss
from inpaintlab.models.btgmi import BTGMIGenerator, MultiScalePatchDiscriminator

LR0 = 1e-3
PHASES = [
    {"name": "head", "steps": 3, "settings": {"blocks": 0}},
    {"name": "block1", "steps": 2, "settings": {"blocks": 1}},
    {"name": "block2", "steps": 2, "settings": {"blocks": 2}},
]
# (blocks, fade, lr_g = lr_d, λ_adv) at global steps 0..6: polynomial decay (power 1) over the 3 head steps, then
# lr_i = 0.1^i lr_0 derived from the optimisers' base rate (Alg. 1 line 6), α = (phase_step + 1) / steps,
# λ_adv^i = 0.1^i
EXPECTED = [
    (0, 1.0, LR0, 1.0), (0, 1.0, LR0 * 2 / 3, 1.0), (0, 1.0, LR0 / 3, 1.0),
    (1, 0.5, 1e-4, 0.1), (1, 1.0, 1e-4, 0.1),
    (2, 0.5, 1e-5, 0.1**2), (2, 1.0, 1e-5, 0.1**2),
]


class _Data(Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        mask = torch.zeros(1, 32, 32)
        mask[:, 4 + i % 8 : 16 + i % 8, 6:22] = 1
        return {"image": torch.rand(3, 32, 32, generator=g) * 2 - 1, "mask": mask}


class _Recording(BTGMIModule):
    """Records, at the start of every training step, what the step runs with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.records: dict[int, tuple] = {}

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self._opts()
        self.records[self.global_step] = (
            int(self.generator.active_blocks), float(self.generator.fade), opt_g.param_groups[0]["lr"],
            opt_d.param_groups[0]["lr"], self.adversarial_weight(),
        )
        return super().training_step(batch, batch_idx)


def _module(anneal: float = 0.1, phases=PHASES, **kwargs) -> _Recording:
    torch.manual_seed(0)
    return _Recording(
        generator=BTGMIGenerator(channels=(4, 8, 8), num_blocks=1, max_extra_blocks=2),
        losses={"l1": L1Loss(weight=1.0)},
        optimizer_g=lambda params: torch.optim.Adam(params, lr=LR0),
        discriminator=MultiScalePatchDiscriminator(ndf=4),
        adversarial=HoleAwarePatchGANLoss(weight=1.0),
        optimizer_d=lambda params: torch.optim.Adam(params, lr=LR0),
        scheduler_g=lambda optimizer: torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=3, power=1.0),
        scheduler_d=lambda optimizer: torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=3, power=1.0),
        phases=PhaseSchedule(phases),
        anneal=anneal,
        **kwargs,
    )


def _fit(module, max_steps, tmp_path, ckpt_path=None) -> L.Trainer:
    trainer = L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False)
    trainer.fit(module, DataLoader(_Data(), batch_size=2), ckpt_path=ckpt_path)
    return trainer


def _check(records: dict[int, tuple], expected, steps) -> None:
    for step in steps:
        blocks, fade, lr_g, lr_d, adv = records[step]
        e = expected[step]
        assert (blocks, fade) == e[:2], step
        assert lr_g == pytest.approx(e[2], rel=1e-9, abs=1e-15) and lr_d == pytest.approx(e[2], rel=1e-9, abs=1e-15), step
        assert adv == pytest.approx(e[3], rel=1e-12), step


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    module = _module()
    _fit(module, 7, tmp_path_factory.mktemp("btgmi_full"))
    return module


def test_blocks_fade_lr_and_ala_per_phase(full_run):
    _check(full_run.records, EXPECTED, range(7))
    assert int(full_run.generator.active_blocks) == 2 and float(full_run.generator.fade) == 1.0


def test_no_ala_keeps_the_adversarial_weight(tmp_path):
    module = _module(anneal=1.0)
    _fit(module, 4, tmp_path)
    _check(module.records, [(*e[:3], 1.0) for e in EXPECTED], range(4))


def test_block_lr_follows_lr_anneal_and_explicit_phase_lr_wins(tmp_path):
    """lr_i = lr_anneal^i · lr_0 for any factor; a phase's own lr_g / lr_d overrides the derived rate."""
    phases = [PHASES[0], PHASES[1], {**PHASES[2], "lr_g": 3e-6}]
    module = _module(phases=phases, lr_anneal=0.5)
    _fit(module, 7, tmp_path)
    lrs = {step: r[2:4] for step, r in module.records.items()}
    assert lrs[3] == lrs[4] == (LR0 * 0.5, LR0 * 0.5)
    assert lrs[5] == lrs[6] == (3e-6, LR0 * 0.5**2)
    with pytest.raises(ConfigError, match="lr_anneal"):
        _module(lr_anneal=0.0)


def test_paper_config_derives_block_rates(tmp_path):
    """conf/model/btgmi.yaml names lr_0 once: the block phases carry no rate of their own, lr_anneal = 0.1."""
    from hydra.core.global_hydra import GlobalHydra

    from helpers import compose_config

    try:
        cfg = compose_config(["experiment=btgmi_places2"], tmp_path)
    finally:
        GlobalHydra.instance().clear()
    phases = cfg.model.phases.phases
    assert [p.get("lr_g") for p in phases] == [p.get("lr_d") for p in phases] == [None] * 4
    assert cfg.model.lr_anneal == 0.1 and cfg.model.optimizer_g.lr == cfg.model.optimizer_d.lr == 2e-4
    assert cfg.model.generator.block_init == "zero"  # measured: experiments/btgmi/README.md


@pytest.mark.parametrize("resume_at", [2, 4])  # mid-head (lr decay) and mid-block1 (fade-in)
def test_resume_mid_phase_restores_everything(resume_at, full_run, tmp_path):
    first = _module()
    trainer = _fit(first, resume_at, tmp_path / "a")
    ckpt = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(ckpt)
    second = _module()
    _fit(second, 7, tmp_path / "b", ckpt_path=str(ckpt))
    assert min(second.records) == resume_at
    for step in range(resume_at, 7):
        assert second.records[step] == pytest.approx(full_run.records[step], rel=1e-12), step


def test_entering_a_block_phase_keeps_the_output(tmp_path):
    """Alg. 1 line 5 through the module: after the head, growing block 1 (α = 0) changes no output bit."""
    module = _module()
    _fit(module, 3, tmp_path)
    image = _Data()[0]["image"][None]
    mask = _Data()[0]["mask"][None]
    module.eval()
    with torch.no_grad():
        before = module(image, mask)["output"]
        module.enter_phase(1, module.phases.phases[1])
        assert int(module.generator.active_blocks) == 1 and float(module.generator.fade) == 0.0
        assert torch.equal(before, module(image, mask)["output"])


def test_schedule_larger_than_the_generator():
    with pytest.raises(ConfigError, match="max_extra_blocks=2"):
        _module(phases=[*PHASES, {"name": "block3", "steps": 1, "settings": {"blocks": 3}}])

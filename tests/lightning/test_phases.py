"""The one phase schedule: GLCIC-style G-only / D-only / joint phases, lr switches, frozen BatchNorm, resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import lightning as L
from inpaintlab.errors import ConfigError
from inpaintlab.lightning import InpaintingModule, PhaseSchedule
from inpaintlab.losses.adversarial import NonSaturatingGANLoss
from inpaintlab.losses.reconstruction import L1Loss


class _Batches(Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        mask = torch.zeros(1, 8, 8)
        mask[:, 2:6, 2:6] = 1
        return {"image": torch.rand(1, 8, 8, generator=g) * 2 - 1, "mask": mask}


class _Gen(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.dec = nn.Sequential(nn.Conv2d(4, 1, 3, padding=1), nn.Tanh())

    def forward(self, x, mask):
        return {"output": self.dec(self.enc(torch.cat([x, mask], 1)))}


class _Critic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.Flatten(), nn.LazyLinear(1))

    def forward(self, x, mask=None):
        return self.net(x)


def _module(schedule: PhaseSchedule) -> InpaintingModule:
    torch.manual_seed(0)
    critic = _Critic()
    critic(torch.zeros(1, 1, 8, 8))  # materialise the lazy layer
    return InpaintingModule(
        generator=_Gen(),
        losses={"l1": L1Loss(weight=1.0)},
        optimizer_g=lambda params: torch.optim.Adam(params, lr=1e-3),
        discriminator=critic,
        adversarial=NonSaturatingGANLoss(weight=0.1),
        optimizer_d=lambda params: torch.optim.Adam(params, lr=1e-3),
        phases=schedule,
    )


GLCIC_LIKE = [
    {"name": "completion", "steps": 3, "discriminator": False, "adversarial": False},
    {"name": "discriminator", "steps": 2, "generator": False},
    {"name": "joint", "steps": None, "lr_g": 5e-4, "freeze_bn": ["enc"]},
]


class _Snapshot(L.Callback):
    """Copies generator and critic states when the given global step is about to run."""

    def __init__(self, at: int) -> None:
        self.at, self.states = at, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.at and self.states is None:
            self.states = tuple(
                {k: v.clone() for k, v in m.state_dict().items()} for m in (module.generator, module.discriminator)
            )


def _fit(module: InpaintingModule, max_steps: int, tmp_path, ckpt_path=None, callbacks=()) -> L.Trainer:
    trainer = L.Trainer(
        max_steps=max_steps, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False, callbacks=list(callbacks),
    )
    trainer.fit(module, DataLoader(_Batches(), batch_size=4), ckpt_path=ckpt_path)
    return trainer


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(v, b[k]) for k, v in a.items())


def test_schedule_lookup():
    s = PhaseSchedule(GLCIC_LIKE)
    assert [s.at(i)[1].name for i in range(7)] == ["completion"] * 3 + ["discriminator"] * 2 + ["joint"] * 2
    assert s.at(4)[2] == 1 and s.total_steps is None
    assert PhaseSchedule([{"name": "a", "steps": 2}, {"name": "b", "steps": 5}]).total_steps == 7


@pytest.mark.parametrize(
    "phases, message",
    [
        ([{"name": "a"}, {"name": "b", "steps": 2}], "not the last phase"),
        ([{"name": "a", "steps": 0}], "steps must be >= 1"),
        ([{"name": "a", "generator": False, "discriminator": False}], "neither"),
        ([{"name": "a", "steps": 1}, {"name": "a"}], "unique"),
        ([], "at least one"),
    ],
)
def test_bad_schedules(phases, message):
    with pytest.raises(ConfigError, match=message):
        PhaseSchedule(phases)


def test_phases_switch_what_trains(tmp_path):
    module = _module(PhaseSchedule(GLCIC_LIKE))
    g_before = {k: v.clone() for k, v in module.generator.state_dict().items()}
    d_before = {k: v.clone() for k, v in module.discriminator.state_dict().items()}
    _fit(module, 3, tmp_path)  # completion phase only: the critic never moves
    assert module.global_step == 3
    assert all(torch.equal(v, module.discriminator.state_dict()[k]) for k, v in d_before.items())
    assert not torch.equal(g_before["dec.0.weight"], module.generator.state_dict()["dec.0.weight"])


def test_discriminator_phase_counts_steps_and_freezes_generator(tmp_path):
    module = _module(PhaseSchedule(GLCIC_LIKE))
    at3, at5 = _Snapshot(3), _Snapshot(5)
    trainer = _fit(module, 6, tmp_path, callbacks=[at3, at5])
    assert trainer.global_step == 6 and module.d_steps == 3  # two critic-only steps counted, one joint step
    assert _same(at3.states[0], at5.states[0])  # generator untouched, BatchNorm statistics included
    assert not _same(at3.states[1], at5.states[1])
    assert not _same(at5.states[0], module.generator.state_dict())  # and trains again in the joint phase


def test_joint_phase_sets_lr_and_freezes_bn(tmp_path):
    module = _module(PhaseSchedule(GLCIC_LIKE))
    at5 = _Snapshot(5)
    _fit(module, 8, tmp_path, callbacks=[at5])
    bn = module.generator.enc[1]
    opt_g, opt_d = module._opts()
    assert opt_g.param_groups[0]["lr"] == 5e-4 and opt_d.param_groups[0]["lr"] == 1e-3
    assert not bn.training and not bn.weight.requires_grad
    for key in ("enc.1.running_mean", "enc.1.weight", "enc.1.bias"):
        assert torch.equal(at5.states[0][key], module.generator.state_dict()[key])
    assert not torch.equal(at5.states[0]["enc.0.weight"], module.generator.enc[0].weight)


def test_resume_enters_the_right_phase(tmp_path):
    module = _module(PhaseSchedule(GLCIC_LIKE))
    trainer = _fit(module, 6, tmp_path)
    ckpt = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(ckpt)
    assert torch.load(ckpt, weights_only=False)["inpaintlab"]["phase"] == "joint"
    fresh = _module(PhaseSchedule(GLCIC_LIKE))
    _fit(fresh, 7, tmp_path, ckpt_path=str(ckpt))
    assert fresh.global_step == 7
    assert fresh._opts()[0].param_groups[0]["lr"] == 5e-4
    assert not fresh.generator.enc[1].training

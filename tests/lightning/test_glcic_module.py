"""GLCIC's three phases on the real networks: what trains in each phase, global_step as Alg. 1 counts iterations,
resume in the middle of the critic-only phase; real images scored at their own masks M_d; the experiment config
states T_C, T_D, T_train."""

from __future__ import annotations

import torch
from hydra.core.global_hydra import GlobalHydra
from torch.utils.data import DataLoader, Dataset

import lightning as L
from helpers import compose_config
from inpaintlab.data.masks import RandomBoxMask
from inpaintlab.lightning import GLCICModule, PhaseSchedule
from inpaintlab.lightning.inpainting_module import composite
from inpaintlab.losses import MaskedL2Loss, NonSaturatingGANLoss
from inpaintlab.models.glcic import GLCICCompletionNetwork, GLCICDiscriminator, hole_centred_crop


def test_experiment_configs_state_the_papers_schedule(tmp_path):
    for name in ("glcic_places2", "glcic_celeba", "glcic_imagenet"):
        GlobalHydra.instance().clear()
        cfg = compose_config([f"experiment={name}"], tmp_path)
        phases = cfg.model.phases
        assert [(p.name, p.steps) for p in phases] == [("completion", 90000), ("discriminator", 10000), ("joint", 400000)]
        assert phases[0].discriminator is False and phases[0].adversarial is False and phases[1].generator is False
        assert cfg.trainer.max_steps == 500000 == PhaseSchedule(list(phases)).total_steps  # T_train
        assert cfg.model.adversarial.weight == 0.0004 and cfg.data.batch_size == 96
        assert cfg.model.optimizer_g._target_ == cfg.model.optimizer_d._target_ == "torch.optim.Adadelta"
        assert list(cfg.mask.size) == [96, 128] and cfg.model.discriminator.local_size == 128
        assert cfg.model.real_mask == cfg.mask  # M_d drawn like M_c (Alg. 1)


class _Photos(Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"image": torch.rand(3, 32, 32, generator=g) * 2 - 1,
                "mask": RandomBoxMask(size=[8, 12])(1, 32, 32, g)[0]}


SCHEDULE = [
    {"name": "completion", "steps": 2, "discriminator": False, "adversarial": False},
    {"name": "discriminator", "steps": 2, "generator": False},
    {"name": "joint", "steps": 2},
]


def _module(**kwargs) -> GLCICModule:
    torch.manual_seed(0)
    return GLCICModule(
        generator=GLCICCompletionNetwork(cnum=4, fill_value=[0.0, 0.0, 0.0]),
        losses={"rec": MaskedL2Loss()},
        optimizer_g=lambda params: torch.optim.Adadelta(params, lr=1.0),
        discriminator=GLCICDiscriminator(global_size=32, local_size=16, cnum=4, fc_units=8),
        adversarial=NonSaturatingGANLoss(weight=0.0004),
        optimizer_d=lambda params: torch.optim.Adadelta(params, lr=1.0),
        phases=PhaseSchedule(SCHEDULE),
        **kwargs,
    )


class _States(L.Callback):
    def __init__(self) -> None:
        self.at: dict[int, tuple[dict, dict]] = {}

    def _grab(self, module, step):
        self.at[step] = tuple({k: v.clone() for k, v in m.state_dict().items()}
                              for m in (module.generator, module.discriminator))

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._grab(module, trainer.global_step)

    def on_train_end(self, trainer, module) -> None:
        self._grab(module, trainer.global_step)


def _fit(module, steps, tmp_path, ckpt_path=None, callbacks=()):
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False,
                        callbacks=list(callbacks))
    trainer.fit(module, DataLoader(_Photos(), batch_size=4), ckpt_path=ckpt_path)
    return trainer


def _same(a, b):
    return all(torch.equal(v, b[k]) for k, v in a.items())


def test_what_changes_in_each_phase(tmp_path):
    module, states = _module(), _States()
    trainer = _fit(module, 6, tmp_path, callbacks=[states])
    s = states.at
    assert trainer.global_step == 6 and module.d_steps == 4  # 2 critic-only + 2 joint critic steps
    # completion phase (steps 0–1): the completion network moves, the critic is bit-identical
    assert not _same(s[0][0], s[2][0]) and _same(s[0][1], s[2][1])
    # critic phase (steps 2–3): the completion network bit-identical (BatchNorm statistics too), the critic moves
    assert _same(s[2][0], s[4][0]) and not _same(s[2][1], s[4][1])
    # joint phase: both move
    assert not _same(s[4][0], s[6][0]) and not _same(s[4][1], s[6][1])


def test_resume_in_the_middle_of_the_critic_phase(tmp_path):
    module = _module()
    trainer = _fit(module, 3, tmp_path)
    ckpt = tmp_path / "mid.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)
    assert saved["inpaintlab"]["phase"] == "discriminator" and saved["global_step"] == 3
    fresh, states = _module(), _States()
    _fit(fresh, 6, tmp_path, ckpt_path=str(ckpt), callbacks=[states])
    assert fresh.global_step == 6 and fresh.d_steps == 1 + 1 + 2
    assert _same(states.at[3][0], states.at[4][0])  # step 3 was still critic-only after the resume
    assert not _same(states.at[4][0], states.at[6][0])


def _critic_crops(module: GLCICModule, seed: int) -> tuple[dict, dict, list[torch.Tensor]]:
    """One critic loss on a batch of four; the local discriminator's inputs in call order (real, then fake)."""
    crops: list[torch.Tensor] = []
    module.discriminator.local_d.register_forward_pre_hook(lambda m, args: crops.append(args[0].clone()))
    batch = next(iter(DataLoader(_Photos(), batch_size=4)))
    with torch.no_grad():
        out = module.forward_batch(batch)
        torch.manual_seed(seed)
        module.discriminator_loss(batch, out)
    return batch, out, crops


def test_real_crops_follow_their_own_masks():
    """Alg. 1: real images are cropped at the holes of their own random masks M_d, completed ones at M_c."""
    masks = RandomBoxMask(size=[8, 12])
    batch, out, crops = _critic_crops(_module(real_mask=masks), seed=7)
    torch.manual_seed(7)
    m_d = masks(4, 32, 32)  # the draw the module made
    image, m_c = batch["image"], batch["mask"]
    assert not torch.equal(m_d, m_c)
    real, fake = crops
    assert torch.equal(real, hole_centred_crop(image, m_d, 16))
    assert not torch.equal(real, hole_centred_crop(image, m_c, 16))
    assert torch.equal(fake, hole_centred_crop(composite(out["output"], image, m_c), m_c, 16))
    # another draw, other crops: M_d is random per step, not a fixed second mask
    _, _, again = _critic_crops(_module(real_mask=masks), seed=8)
    assert not torch.equal(again[0], real) and torch.equal(again[1], fake)


def test_without_real_mask_real_crops_sit_at_the_fake_holes():
    batch, _, crops = _critic_crops(_module(real_mask=None), seed=7)
    assert torch.equal(crops[0], hole_centred_crop(batch["image"], batch["mask"], 16))

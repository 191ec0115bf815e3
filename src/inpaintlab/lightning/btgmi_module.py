"""BTGMI training (003 Sec. 3.3, Alg. 1): block-wise procedural training with adversarial loss annealing (ALA).

:class:`BTGMIModule` is :class:`~inpaintlab.lightning.InpaintingModule` driven by the one phase schedule: each
phase's ``settings["blocks"]`` is the number of grown refinement blocks (0 for the head). Overridden hooks:
``enter_phase`` (activates the blocks — the new one starts at fade-in weight 0, so the network is the trained
one — and sets lr_i = lr_anneal^i·lr_0 from each optimiser's base rate), ``on_train_batch_start`` (fade-in weight from
``phase_step``), ``adversarial_weight`` (λ_adv^i = anneal^i·λ_adv^0, anneal = 0.1) and ``generator_loss`` (logs
the growth state). The MSPAL loss (``HoleAwarePatchGANLoss``) takes the critic's hole label maps Q (Eq. 4) from
the critic and mask the base module hands it. Everything is a function of the global
step (and the state dict), so a run resumed in the middle of any phase continues with the same block count,
fade-in weight, learning rate and adversarial weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from inpaintlab.errors import ConfigError
from inpaintlab.lightning.inpainting_module import InpaintingModule
from inpaintlab.lightning.phases import Phase


class BTGMIModule(InpaintingModule):
    """Alg. 1. ``anneal``: the ALA factor of λ_adv (0.1; 1.0 switches ALA off, the ``btgmi_no_ala`` ablation);
    ``lr_anneal``: the factor of the learning rates, lr_i = lr_anneal^i·lr_0 (Alg. 1 line 6: 0.1), lr_0 being each
    optimiser's base rate (``optimizer_g.lr`` / ``optimizer_d.lr``); a phase's explicit ``lr_g`` / ``lr_d`` wins.
    Hole-aware labels (MSPAL, Eq. 4) are the adversarial loss's option (``HoleAwarePatchGANLoss(hole_aware=…)``).
    Phase settings: ``blocks`` (grown blocks in the phase, default 0) and ``fade_steps`` (steps over which a newly
    added block's weight rises from 0 to 1; default the phase's length). Other arguments as
    :class:`InpaintingModule`.
    """

    def __init__(self, *args: Any, anneal: float = 0.1, lr_anneal: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, value in (("anneal", anneal), ("lr_anneal", lr_anneal)):
            if not 0 < float(value) <= 1:
                raise ConfigError(f"model.{name} (Alg. 1 line 6's factor) must lie in (0, 1], got {value}")
        self.anneal, self.lr_anneal = float(anneal), float(lr_anneal)
        if self.phases is not None:
            wanted = max(int(p.settings.get("blocks", 0)) for p in self.phases.phases)
            have = getattr(self.generator, "max_extra_blocks", 0)
            if wanted > have:
                raise ConfigError(
                    f"the phase schedule grows {wanted} blocks but the generator has max_extra_blocks={have}"
                )

    # ---------------------------------------------------------------- growth and annealing
    def blocks(self, phase: Phase | None = None) -> int:
        """Grown blocks i in ``phase`` (the current one by default)."""
        return int((phase or self.phase).settings.get("blocks", 0))

    def _new_block(self, index: int, phase: Phase) -> bool:
        """Whether ``phase`` adds a block to the previous phase's (its newest block fades in)."""
        before = self.blocks(self.phases.phases[index - 1]) if index > 0 else 0
        return self.blocks(phase) > before

    def fade_weight(self) -> float:
        """α of the newest block at this step: (phase_step + 1) / fade_steps, capped at 1 — rises linearly over the
        phase and reaches 1 on its last step (so a phase's final model is the full block). 1 when the phase adds
        no block. At growth time (``enter_phase``) α = 0: the grown net equals the trained one."""
        if self.phases is None:
            return 1.0
        index, phase, step = self.phases.at(self.global_step)
        if not self._new_block(index, phase):
            return 1.0
        fade_steps = phase.settings.get("fade_steps", phase.steps)
        if fade_steps is None:
            raise ConfigError(f"phase {phase.name!r} adds a block but has neither steps nor settings.fade_steps")
        return min(1.0, (step + 1) / max(1, int(fade_steps)))

    def enter_phase(self, index: int, phase: Phase) -> None:
        """Alg. 1 lines 5–6: add the skip path and block r_i (weight 0), set lr_i = lr_anneal^i·lr_0."""
        super().enter_phase(index, phase)  # a phase's explicit lr_g / lr_d
        blocks = self.blocks(phase)
        for opt, explicit in zip(self._opts(), (phase.lr_g, phase.lr_d)):
            if opt is None:
                continue
            for group in getattr(opt, "optimizer", opt).param_groups:
                # lr_0: the rate the optimiser was built with ("initial_lr", as schedulers keep it; saved with
                # the optimiser's state, so a resumed block phase derives lr_i from lr_0, not from lr_{i-1})
                base = group.setdefault("initial_lr", group["lr"])
                if explicit is None and blocks > 0:
                    group["lr"] = base * self.lr_anneal ** blocks
        if hasattr(self.generator, "set_growth"):
            self.generator.set_growth(self.blocks(phase), fade=0.0 if self._new_block(index, phase) else 1.0)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_start(batch, batch_idx)
        if self.phases is not None and hasattr(self.generator, "set_growth"):
            self.generator.set_growth(self.blocks(), fade=self.fade_weight())

    def adversarial_weight(self) -> float:
        """ALA (Sec. 3.3): λ_adv^i = anneal^i · λ_adv^0 after the i-th grown block."""
        if self.adversarial is None:
            return 0.0
        return self.adversarial.weight * self.anneal ** self.blocks()

    def generator_loss(self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """λ_PPL·PPL (the named terms) + λ_adv^i · Σ_k L_G(D_k) with Q̄ (Eq. 5–6), and the growth state's logs."""
        total, logs = super().generator_loss(batch, out)
        logs["adv_weight"] = total.new_tensor(self.adversarial_weight())
        logs["fade"] = total.new_tensor(float(getattr(self.generator, "fade", 1.0)))
        logs["blocks"] = total.new_tensor(float(getattr(self.generator, "active_blocks", 0)))
        return total, logs

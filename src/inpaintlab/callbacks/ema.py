"""Exponential moving average of the generator's weights, for evaluation and the saved generator."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

import lightning as L
from inpaintlab.errors import ConfigError

log = logging.getLogger(__name__)


class GeneratorEMA(L.Callback):
    """θ_ema ← d·θ_ema + (1−d)·θ after every generator step (Karras et al. 2018, PGGAN Sec. A.1: d = 0.999).

    ``decay=None`` turns the callback off (``ema_decay: null`` in train.yaml). When on, validation and test of
    the in-memory model use the averaged generator, and every checkpoint's ``state_dict`` holds the averaged
    generator (what ``inpaintlab-eval`` / ``inpaintlab-inpaint`` load); the trained ("online") weights and the
    average travel in the callback's state so that ``ckpt_path=…`` resumes training on the online weights.
    Buffers (BatchNorm statistics) are copied from the online generator, not averaged.
    """

    def __init__(self, decay: float | None = None) -> None:
        if decay is not None and not 0.0 < float(decay) < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1) (e.g. 0.999) or null, got {decay}")
        self.decay = None if decay is None else float(decay)
        self.shadow: dict[str, Tensor] | None = None  # the averaged generator's state dict
        self._online: dict[str, Tensor] | None = None  # the trained weights while the average is swapped in
        self._restored_online: dict[str, Tensor] | None = None
        self._module: L.LightningModule | None = None
        self._last_step: int | None = None

    @property
    def state_key(self) -> str:
        return "GeneratorEMA"

    @staticmethod
    def _generator(pl_module: L.LightningModule) -> nn.Module:
        return pl_module.generator

    # ---------------------------------------------------------------- averaging
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._module = pl_module

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.decay is None:
            return
        gen = self._generator(pl_module)
        if self._restored_online is not None:  # resumed: train on the online weights, not the saved average
            gen.load_state_dict(self._restored_online)
            self._restored_online = None
        if self.shadow is None:
            self.shadow = {k: v.detach().clone() for k, v in gen.state_dict().items()}
        else:
            self.shadow = {k: v.to(gen.state_dict()[k].device) for k, v in self.shadow.items()}
        self._last_step = trainer.global_step

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """One averaging step from the generator's current weights."""
        params = dict(generator.named_parameters())
        for k, v in generator.state_dict().items():
            target = self.shadow[k]
            if k in params and v.is_floating_point():
                target.lerp_(v.detach().to(target.dtype), 1.0 - self.decay)
            else:
                target.copy_(v)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.decay is None or self.shadow is None:
            return
        if trainer.global_step != self._last_step:  # a generator step happened (critic-only batches do not count)
            self._last_step = trainer.global_step
            self.update(self._generator(pl_module))

    # ---------------------------------------------------------------- evaluation on the average
    def _swap_in(self, pl_module: L.LightningModule) -> None:
        if self.shadow is None or self._online is not None:
            return
        gen = self._generator(pl_module)
        self._online = {k: v.detach().clone() for k, v in gen.state_dict().items()}
        gen.load_state_dict(self.shadow)

    def _swap_out(self, pl_module: L.LightningModule) -> None:
        if self._online is not None:
            self._generator(pl_module).load_state_dict(self._online)
            self._online = None

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swap_in(pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swap_out(pl_module)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.ckpt_path is None:  # a loaded checkpoint already holds the averaged generator
            self._swap_in(pl_module)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swap_out(pl_module)

    # ---------------------------------------------------------------- checkpoints
    def _online_state(self) -> dict[str, Tensor] | None:
        if self._online is not None:
            return self._online
        if self._module is None:
            return None
        return {k: v.detach().clone() for k, v in self._generator(self._module).state_dict().items()}

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self.shadow is not None:
            checkpoint["state_dict"].update({f"generator.{k}": v.detach().clone() for k, v in self.shadow.items()})
            checkpoint.setdefault("inpaintlab", {})["ema_decay"] = self.decay

    def state_dict(self) -> dict[str, Any]:
        if self.shadow is None:
            return {}
        return {"decay": self.decay, "shadow": self.shadow, "online": self._online_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.decay is None or not state_dict:
            return
        self.shadow = {k: v.clone() for k, v in state_dict["shadow"].items()}
        self._restored_online = state_dict.get("online")

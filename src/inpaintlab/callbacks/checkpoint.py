"""Checkpointing that always leaves last.ckpt at the final step."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint as _ModelCheckpoint


class ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ModelCheckpoint, plus a final ``last.ckpt`` when training stops between two validations.

    Checkpoints hold the generator, the discriminator(s) and every optimiser state, so a resume continues
    the GAN game exactly where it stopped.
    """

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if self.save_last and not trainer.interrupted and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

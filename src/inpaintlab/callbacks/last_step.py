"""Validation at the last step: the last validation of a run scores its final model, whatever
``val_check_interval`` is (papers report the model at a fixed iteration count)."""

from __future__ import annotations

import lightning as L


class ValidateLastStep(L.Callback):
    """Asks Lightning to stop once ``trainer.max_steps`` generator steps are done, which also makes it validate on
    that batch (as for early stopping): the last row of metrics.csv, the last image grid and the checkpoint
    callback's last score are then the final model's. Nothing changes when the interval already lands there
    (one validation) or when validation is off (``limit_val_batches=0``)."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if trainer.max_steps is not None and 0 < trainer.max_steps <= trainer.global_step:
            trainer.should_stop = True

"""Checkpointing that always leaves last.ckpt at the final step, writes every file atomically, never ranks a NaN
metric as best, and saves last.ckpt when the run is interrupted (docs/reliability.md, principles 4–6)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch
from lightning.pytorch.callbacks import ModelCheckpoint as _ModelCheckpoint

log = logging.getLogger("inpaintlab")


def _fsync(path: str | Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ModelCheckpoint(_ModelCheckpoint):
    """Lightning's ModelCheckpoint, plus:

    * a final ``last.ckpt`` when training stops between two validations;
    * atomic files: each checkpoint is written to ``<name>.tmp`` then renamed over ``<name>`` (a kill during a
      save leaves the previous file whole and loadable);
    * a NaN/inf monitored value never becomes the best checkpoint;
    * Ctrl-C (SIGINT) or SIGTERM saves ``last.ckpt`` at the current step before the run exits.

    Checkpoints hold the generator, the discriminator(s) and every optimiser state, so a resume continues
    the GAN game exactly where it stopped.
    """

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        tmp = f"{filepath}.tmp"
        trainer.save_checkpoint(tmp, self.save_weights_only)
        if trainer.is_global_zero and os.path.exists(tmp):
            _fsync(tmp)
            os.replace(tmp, filepath)
            _fsync(os.path.dirname(filepath) or ".")
        trainer.strategy.barrier("inpaintlab.atomic_checkpoint")
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            from weakref import proxy

            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def check_monitor_top_k(self, trainer, current=None) -> bool:
        if current is not None and not math.isfinite(float(torch.as_tensor(current).float())):
            log.warning("%s=%s at step %d is not a number: not a candidate for the best checkpoint",
                        self.monitor, float(current), trainer.global_step)
            return False
        resumed = getattr(self, "_resumed_best", None)
        if current is not None and resumed is not None and not self.best_k_models:
            # resumed into a new run folder: a new checkpoint is "best" only if it beats the resumed run's best
            op = {"min": torch.lt, "max": torch.gt}[self.mode]
            if not bool(op(torch.as_tensor(current).float(), torch.as_tensor(resumed).float())):
                return False
        return super().check_monitor_top_k(trainer, current)

    def load_state_dict(self, state_dict) -> None:
        """Resume keeps best-checkpoint tracking: in a new run folder (Lightning then forgets the scores), the
        resumed run's best score stays the bar and its best path stays ``best_model_path`` until beaten; its files
        are never deleted by this run."""
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The dirpath has changed")
            super().load_state_dict(state_dict)
        score = state_dict.get("best_model_score")
        if state_dict.get("dirpath", self.dirpath) != self.dirpath and score is not None:
            self._resumed_best = torch.as_tensor(score).float()
            self.best_model_score = self._resumed_best
            log.info("resumed: the best %s so far is %.6g (%s)", self.monitor, float(score),
                     state_dict.get("best_model_path"))

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if self.save_last and not trainer.interrupted and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """SIGINT (KeyboardInterrupt) or SIGTERM: save last.ckpt at the current step, then let the run exit."""
        if not self.save_last or not _is_interrupt(exception) or trainer.state.fn != "fit":
            return
        if self._last_global_step_saved == trainer.global_step and self.last_model_path:
            log.warning("interrupted at step %d: %s is at this step; resume with ckpt_path=%s",
                        trainer.global_step, self.last_model_path, self.last_model_path)
            return
        try:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        except Exception as e:  # noqa: BLE001 - the interrupt wins; the previous last.ckpt is still whole
            log.error("interrupted at step %d; saving last.ckpt failed: %s", trainer.global_step, e)
            return
        log.warning("interrupted at step %d: saved %s; resume with ckpt_path=%s", trainer.global_step,
                    self.last_model_path, self.last_model_path)


def _is_interrupt(exception: BaseException) -> bool:
    if isinstance(exception, KeyboardInterrupt):
        return True
    return type(exception).__name__ in ("SIGTERMException",)

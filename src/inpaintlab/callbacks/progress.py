"""Progress on the console: a Rich bar that reads right for step-limited runs ("Epoch 3", not "Epoch 3/-2") on a
terminal, and plain lines when stdout is a file (CI, ``nohup``, SLURM logs, a redirected ``make demo``), where a
Rich bar draws nothing until the run ends."""

from __future__ import annotations

import sys
import time
from typing import Any

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar


class StepRichProgressBar(RichProgressBar):
    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        text = f"Epoch {current_epoch}"
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            text += f"/{trainer.max_epochs - 1}"
        return text


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


class PlainProgress(ProgressBar):
    """One plain line at the first training step, then every ``every_n_steps`` steps (when set) or ``interval``
    seconds, whichever comes first, and at the end: ``step 1200/14000 · train/loss 0.1234 · 3.20 it/s · ETA
    1:06:40`` (steps are generator steps, ``trainer.global_step``; the ETA from the run's mean rate). Validation
    and test print ``validation: batch k/n`` when they run past ``interval`` seconds. Lines come at batch ends:
    25 s keeps them under 30 s apart while a batch takes less than 5 s."""

    def __init__(self, interval: float = 25.0, every_n_steps: int | None = None) -> None:
        super().__init__()
        self.interval, self.every_n_steps = float(interval), every_n_steps
        self._enabled = True
        self._start = self._last = 0.0
        self._first_step = self._last_step = 0
        self._printed = 0.0  # when the last line of any kind was printed

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.trainer.is_global_zero

    def _say(self, text: str) -> None:
        print(text, file=sys.stdout, flush=True)
        self._printed = time.monotonic()

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._start = self._last = self._printed = time.monotonic()
        self._first_step = self._last_step = int(trainer.global_step)

    def _line(self, trainer: Any, pl_module: Any, now: float) -> str:
        step, total = int(trainer.global_step), int(trainer.max_steps or -1)
        parts = [f"Epoch {trainer.current_epoch}", f"step {step}" + (f"/{total}" if total > 0 else "")]
        metrics = self.get_metrics(trainer, pl_module)
        parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items() if "loss" in k][:3]
        rate = (step - self._last_step) / max(now - self._last, 1e-9)
        parts.append(f"{rate:.2f} it/s")
        done = step - self._first_step
        if total > 0 and done > 0:
            parts.append(f"ETA {_clock((total - step) * (now - self._start) / done)}")
        return " · ".join(parts)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = int(trainer.global_step)
        if not self.is_enabled or step == self._last_step:
            return  # a critic batch (n_critic > 1) or a repeated call: no generator step yet
        now = time.monotonic()
        due = step == self._first_step + 1 or now - self._printed >= self.interval or (
            self.every_n_steps and step % self.every_n_steps == 0)
        if due:
            self._say(self._line(trainer, pl_module, now))
            self._last, self._last_step = now, step

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.is_enabled and int(trainer.global_step) != self._last_step:
            now = time.monotonic()
            self._say(self._line(trainer, pl_module, now))
            self._last, self._last_step = now, int(trainer.global_step)

    def _eval_batch(self, stage: str, trainer: Any, batch_idx: int, dataloader_idx: int) -> None:
        if self.is_enabled and time.monotonic() - self._printed >= self.interval:
            totals = trainer.num_val_batches if stage == "validation" else trainer.num_test_batches
            total = totals[dataloader_idx] if dataloader_idx < len(totals) else "?"
            self._say(f"{stage}: batch {batch_idx + 1}/{total}" + (f" of suite {dataloader_idx}" if len(totals) > 1 else ""))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch("validation", trainer, batch_idx, dataloader_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_batch("test", trainer, batch_idx, dataloader_idx)


def progress_bar():
    """A plain-line ``PlainProgress`` when stdout is not a terminal; else Rich when installed (Lightning's default
    choice), else tqdm."""
    if not sys.stdout.isatty():
        return PlainProgress()
    try:
        import rich  # noqa: F401
    except ImportError:
        return TQDMProgressBar()
    return StepRichProgressBar()

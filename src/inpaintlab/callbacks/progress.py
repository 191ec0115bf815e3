"""A progress bar that reads right for step-limited runs (``max_epochs=-1``): "Epoch 3", not "Epoch 3/-2"."""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar


class StepRichProgressBar(RichProgressBar):
    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        text = f"Epoch {current_epoch}"
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            text += f"/{trainer.max_epochs - 1}"
        return text


def progress_bar():
    """Rich when installed (Lightning's default choice), else tqdm."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return TQDMProgressBar()
    return StepRichProgressBar()

"""Pieces that SIGKILL their own process, imported by name in subprocesses: a callback after a given training step
(the kill-and-resume test), and a trainer that dies half way through writing a checkpoint (the atomic-save test)."""

import os
import signal
from types import SimpleNamespace

import torch
from lightning.pytorch.callbacks import Callback


class KillAt(Callback):
    def __init__(self, step: int, sig: int = int(signal.SIGKILL)) -> None:
        self.step, self.sig = int(step), int(sig)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.sig)


class DyingTrainer(SimpleNamespace):
    """What ModelCheckpoint._save_checkpoint uses of a Trainer; ``save_checkpoint`` writes half a file and dies."""

    def __init__(self, step: int, die: bool) -> None:
        super().__init__(global_step=step, is_global_zero=True, loggers=[],
                         strategy=SimpleNamespace(barrier=lambda *_: None))
        self.die = die

    def save_checkpoint(self, path, weights_only=False) -> None:
        import io

        buf = io.BytesIO()
        torch.save({"global_step": self.global_step, "state_dict": {"w": torch.arange(10_000.0)}}, buf)
        data = buf.getvalue()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2] if self.die else data)
            f.flush()
            if self.die:
                os.kill(os.getpid(), 9)  # SIGKILL half way through the write

"""A callback that SIGKILLs its own process after a given training step (the kill-and-resume test)."""

import os
import signal

from lightning.pytorch.callbacks import Callback


class KillAt(Callback):
    def __init__(self, step: int, sig: int = int(signal.SIGKILL)) -> None:
        self.step, self.sig = int(step), int(sig)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.sig)

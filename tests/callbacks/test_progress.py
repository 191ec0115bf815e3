"""Plain progress lines when stdout is a file (``callbacks.progress.PlainProgress``): the first step, then no more
than ``interval`` seconds apart at batch ends — through validation and test too — and the run's end."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from inpaintlab.callbacks import progress as progress_module
from inpaintlab.callbacks.progress import PlainProgress, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def run(monkeypatch, capsys):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    trainer = SimpleNamespace(global_step=0, max_steps=100, current_epoch=0, is_global_zero=True, loggers=[],
                              progress_bar_metrics={"train/loss": 0.5, "val/psnr": 20.0},
                              num_val_batches=[40], num_test_batches=[10, 10])
    bar = PlainProgress(interval=25.0)
    bar.setup(trainer, None, "fit")
    bar.on_train_start(trainer, None)

    def lines() -> list[str]:
        return [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]

    return clock, trainer, bar, lines


def test_lines_at_the_first_step_then_every_interval(run):
    clock, trainer, bar, lines = run
    for step in range(1, 11):  # 10 steps of 4 s: lines at steps 1 (first), 8 (28 s ≥ 25 s after step 1's)
        clock.now += 4.0
        trainer.global_step = step
        bar.on_train_batch_end(trainer, None, None, None, step - 1)
    got = lines()
    assert got == ["Epoch 0 · step 1/100 · train/loss 0.5 · 0.25 it/s · ETA 0:06:36",
                   "Epoch 0 · step 8/100 · train/loss 0.5 · 0.25 it/s · ETA 0:06:08"]  # 92 steps × 4 s
    bar.on_train_batch_end(trainer, None, None, None, 10)  # a critic batch: no new generator step, no line
    clock.now += 100
    bar.on_validation_batch_end(trainer, None, None, None, 6)  # validation past the interval says where it is
    bar.on_test_batch_end(trainer, None, None, None, 2, dataloader_idx=1)
    assert lines() == ["validation: batch 7/40"]  # the test line would come < 25 s after it
    clock.now += 30
    bar.on_test_batch_end(trainer, None, None, None, 3, dataloader_idx=1)
    trainer.global_step = 12
    bar.on_train_end(trainer, None)
    # the end: 4 steps in the 138 s since step 8; ETA = 88 steps × 170 s / 12
    assert lines() == ["test: batch 4/10 of suite 1", "Epoch 0 · step 12/100 · train/loss 0.5 · 0.03 it/s · ETA 0:20:47"]


def test_plain_lines_when_stdout_is_not_a_terminal(capsys):
    assert isinstance(progress_bar(), PlainProgress)  # pytest captures stdout: not a terminal

"""Principle 4 (nothing already written is lost) and the NaN-best rule of principle 6: unique run folders for
runs started in the same second, atomic checkpoint files (a kill during a save leaves the previous file whole),
and a NaN monitored metric never ranked best."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers import CONF_DIR, run_script


def _claim(path: str, q) -> None:
    from inpaintlab.utils.runtime import unique_dir

    q.put(unique_dir(path))


def test_same_second_runs_get_their_own_folders(tmp_path):
    """Eight processes asking for the same <time> folder at once: eight distinct folders, each created once."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_path / "runs" / "2026-01-01_00-00-00"), q)) for _ in range(8)]
    for p in procs:
        p.start()
    got = sorted(q.get(timeout=30) for _ in procs)
    for p in procs:
        p.join()
    assert len(set(got)) == 8 and all(Path(g).is_dir() for g in got)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(Path(g).name for g in got)


def test_run_dir_config_uses_unique_dir():
    text = (CONF_DIR / "hydra" / "default.yaml").read_text()
    assert "dir: ${unique_dir:${paths.log_dir}/${task_name}/runs/" in text


def test_existing_run_folder_is_refused_untouched(tmp_path, capsys):
    from inpaintlab.utils.runtime import refuse_existing_run_dir

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.yaml").write_text("old: run\n")
    with pytest.raises(SystemExit) as e:
        refuse_existing_run_dir([f"hydra.run.dir={tmp_path}"])
    assert e.value.code == 1 and "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "config.yaml").read_text() == "old: run\n"
    refuse_existing_run_dir([f"hydra.run.dir={tmp_path / 'new'}"])  # a new folder is fine


def test_kill_during_save_leaves_the_previous_checkpoint_whole(tmp_path):
    """A process SIGKILLed while writing last.ckpt: the previous last.ckpt still loads, at its step."""
    last = tmp_path / "last.ckpt"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from killer import DyingTrainer
        from inpaintlab.callbacks.checkpoint import ModelCheckpoint
        cb = ModelCheckpoint(dirpath={str(tmp_path)!r})
        cb._save_checkpoint(DyingTrainer(5, die=False), {str(last)!r})
        cb._save_checkpoint(DyingTrainer(6, die=True), {str(last)!r})
    """)
    (tmp_path / "die_saving.py").write_text(script)
    path = os.pathsep.join(sys.path)  # the package as this process imports it
    res = run_script(tmp_path / "die_saving.py", [], tmp_path, timeout=120, env={"PYTHONPATH": path})
    assert res.returncode == -9, res.stderr
    assert torch.load(last, weights_only=True)["global_step"] == 5
    assert (tmp_path / "last.ckpt.tmp").is_file()  # the torn write is the temporary file, never last.ckpt


def test_nan_metric_never_becomes_best(tmp_path):
    from inpaintlab.callbacks.checkpoint import ModelCheckpoint

    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val/psnr", mode="max", save_top_k=1)
    trainer = SimpleNamespace(global_step=3, strategy=SimpleNamespace(reduce_boolean_decision=lambda x: x))
    assert cb.check_monitor_top_k(trainer, torch.tensor(float("nan"))) is False
    assert cb.check_monitor_top_k(trainer, torch.tensor(float("inf"))) is False
    assert cb.check_monitor_top_k(trainer, torch.tensor(12.0)) is True  # a first finite value is a candidate


def test_resume_keeps_best_tracking(tmp_path):
    """Resumed into a new folder: the old best score is the bar, the old best path stays best until beaten."""
    from inpaintlab.callbacks.checkpoint import ModelCheckpoint

    old = ModelCheckpoint(dirpath=tmp_path / "old", monitor="val/psnr", mode="max")
    state = {**old.state_dict(), "best_model_score": torch.tensor(20.0),
             "best_model_path": str(tmp_path / "old" / "step0000005.ckpt")}
    cb = ModelCheckpoint(dirpath=tmp_path / "new", monitor="val/psnr", mode="max")
    cb.load_state_dict(state)
    trainer = SimpleNamespace(global_step=8, strategy=SimpleNamespace(reduce_boolean_decision=lambda x: x))
    assert cb.best_model_path.endswith("step0000005.ckpt") and float(cb.best_model_score) == 20.0
    assert cb.check_monitor_top_k(trainer, torch.tensor(19.0)) is False  # worse than the resumed best
    assert cb.check_monitor_top_k(trainer, torch.tensor(21.0)) is True

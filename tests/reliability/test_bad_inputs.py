"""Principles 1–4 of docs/reliability.md, table-driven: every bad input fails before work starts with exit status 1
and ONE stderr line naming the key and what is expected; no file that existed before the call changes.

The train/eval tables run in-process (the CLI's ``guarded`` task on the composed config: fast); a few cases go
through the real console entry points in one subprocess each, to prove the line is printed once and no traceback
is shown.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from helpers import compose_config, run_cli

BASE = ["experiment=ga_mnist", "data=fashion_mnist", "logger=csv", "data.batch_size=8", "data.eval_batch_size=8",
        "data.val_size=16", "trainer=cpu", "trainer.max_steps=2", "trainer.enable_progress_bar=false",
        "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory, idx_root):
    """Tiny Fashion-MNIST, a finished 2-step run (its last.ckpt), broken checkpoints, a split-less dataset."""
    from inpaintlab.train import train

    base = tmp_path_factory.mktemp("world")
    data = base / "fm"
    shutil.copytree(idx_root, data)
    no_test = base / "fm_no_test"
    shutil.copytree(idx_root, no_test)
    for p in no_test.glob("t10k-*"):
        p.unlink()
    run = base / "run"
    try:
        train(compose_config([*BASE, f"data.root={data}", "test=false"], run))
    finally:
        GlobalHydra.instance().clear()
    good = run / "checkpoints" / "last.ckpt"
    raw = good.read_bytes()
    (base / "truncated.ckpt").write_bytes(raw[: len(raw) // 3])
    (base / "random.ckpt").write_bytes(os.urandom(4096))
    (base / "text.ckpt").write_text("not a checkpoint\n")
    torch.save({"weights": torch.zeros(3)}, base / "foreign.ckpt")
    (base / "a_file").write_text("x")
    (base / "demo_done" / "runs" / "alpha_0.0").mkdir(parents=True)
    (base / "demo_done" / "runs" / "alpha_0.0" / "config.yaml").write_text("a: finished run\n")
    return {"base": base, "data": data, "no_test": no_test, "run": run, "good": good}


def fill(s: str, w: dict) -> str:
    return s.format(**{k: str(v) for k, v in w.items()})


# (overrides, words the one line must contain)
TRAIN_CASES = [
    (["data.batch_size=abc"], ["data.batch_size", "positive integer"]),
    (["data.batch_size=0"], ["data.batch_size"]),
    (["data.batch_size=1.5"], ["data.batch_size"]),
    (["data.eval_batch_size=-4"], ["data.eval_batch_size"]),
    (["data.num_workers=-1"], ["data.num_workers"]),
    (["data.test_size=0"], ["data.test_size"]),
    (["data.val_split=null", "data.val_size=1000"], ["data.val_size"]),
    (["model.optimizer_g.lr=-1e-4"], ["model.optimizer_g.lr", "positive"]),
    (["model.optimizer_g.lr=abc"], ["model.optimizer_g.lr"]),
    (["model.optimizer_g.lr=.nan"], ["model.optimizer_g.lr"]),
    (["model.losses.inp.weight=-1"], ["model.losses.inp.weight"]),
    (["trainer.max_steps=0"], ["trainer.max_steps"]),
    (["trainer.max_steps=-1", "trainer.max_epochs=-1"], ["never end"]),
    (["trainer.val_check_interval=-5"], ["trainer.val_check_interval"]),
    (["trainer.val_check_interval=1.5"], ["trainer.val_check_interval"]),
    (["trainer.log_every_n_steps=0"], ["trainer.log_every_n_steps"]),
    (["seed=-3"], ["seed"]),
    (["ema_decay=1.5"], ["ema_decay"]),
    (["test_ckpt=middle"], ["test_ckpt"]),
    (["optimized_metric=val/psnr_typo"], ["optimized_metric=val/psnr_typo", "val/psnr"]),
    (["optimized_metric=test/psnr"], ["optimized_metric"]),
    (["callbacks.model_checkpoint.monitor=val/typo"], ["callbacks.model_checkpoint.monitor"]),
    (["data.root={base}/nowhere"], ["{base}/nowhere"]),
    (["data.root={no_test}"], ["t10k"]),  # the test split is checked before training starts
    (["data.root={base}/a_file"], ["{base}/a_file", "a file"]),
    (["ckpt_path={base}"], ["ckpt_path", "is a folder"]),
    (["ckpt_path={base}/missing.ckpt"], ["ckpt_path", "does not exist"]),
    (["ckpt_path={base}/truncated.ckpt"], ["ckpt_path", "not a readable checkpoint"]),
    (["ckpt_path={base}/random.ckpt"], ["ckpt_path", "not a readable checkpoint"]),
    (["ckpt_path={base}/text.ckpt"], ["ckpt_path"]),
    (["ckpt_path={base}/foreign.ckpt"], ["ckpt_path", "state_dict"]),
    (["init_from={base}/truncated.ckpt"], ["init_from", "not a readable checkpoint"]),
    (["init_from={good}", "ckpt_path={good}"], ["init_from", "ckpt_path"]),
    (["ckpt_path={good}", "trainer.max_steps=2"], ["step 2", "trainer.max_steps=2"]),  # resume: nothing left
    (["ckpt_path={good}", "model/generator=ga_dilated", "trainer.max_steps=5"], ["FullyConnectedAutoencoder", "DilatedFCN"]),
    (["init_from={good}", "model/generator=ga_dilated"], ["init_from", "DilatedFCN"]),
    # issue 26: what used to fail only after "Epoch 0", or silently trained on smaller batches
    (["data.batch_size=1000"], ["data.batch_size=1000 is larger than the training set (96 images): no full batch",
                                "data.drop_last=false"]),
    (["mask.size=40"], ["the training mask generator (CenterSquareMask) cannot draw 28×28 masks",
                        "the smallest it honours is", "raise data.dataset.image_size"]),
    (["mask.size=28"], ["cannot draw 28×28 masks (its 28×28 masks are 100 % hole)"]),
    (["model.generator.image_size=32"], ["model.generator (FullyConnectedAutoencoder) works on 32×32 images",
                                         "the training images are 28×28"]),
]


def _expect_one_line(capsys, words: list[str], w: dict) -> None:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("inpaintlab: error: "), err
    for word in words:
        assert fill(word, w) in err[0], (word, err[0])


def _refused(run, overrides: list[str], config_name: str, words: list[str], w: dict, tmp_path, capsys) -> None:
    """``run(cfg)`` of the composed config exits with status 1 and one line holding ``words``; nothing of the
    world changed."""
    before = snapshot(w["base"])
    try:
        cfg = compose_config(overrides, tmp_path / "out", config_name=config_name)
        with pytest.raises(SystemExit) as e:
            run(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert e.value.code == 1
    _expect_one_line(capsys, words, w)
    assert snapshot(w["base"]) == before


@pytest.mark.parametrize("overrides, words", TRAIN_CASES, ids=[" ".join(c[0]) for c in TRAIN_CASES])
def test_train_bad_input(overrides, words, world, tmp_path, capsys, monkeypatch):
    from inpaintlab.train import train
    from inpaintlab.utils.runtime import guarded

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    _refused(guarded(train), [*BASE, f"data.root={world['data']}", *(fill(o, world) for o in overrides)], "train",
             words, world, tmp_path, capsys)
    assert not (tmp_path / "out" / "checkpoints").exists()  # failed before the first step


EVAL_CASES = [
    (["ckpt_path={base}/missing.ckpt"], ["does not exist"]),
    (["ckpt_path={base}/truncated.ckpt"], ["not a readable checkpoint"]),
    (["ckpt_path={base}/text.ckpt"], ["ckpt_path"]),
    (["ckpt_path={good}", "data.eval_batch_size=-1"], ["data.eval_batch_size"]),
    (["ckpt_path={good}", "data.test_size=abc"], ["data.test_size"]),
    (["ckpt_path={good}", "data.root={no_test}"], ["t10k"]),
    (["ckpt_path={good}", "use_run_config=false", "experiment=ga_mnist", "model/generator=ga_dilated",
      "data=fashion_mnist", "data.root={data}"], ["FullyConnectedAutoencoder", "DilatedFCN"]),
]


@pytest.mark.parametrize("overrides, words", EVAL_CASES, ids=[" ".join(c[0]) for c in EVAL_CASES])
def test_eval_bad_input(overrides, words, world, tmp_path, capsys, monkeypatch):
    from hydra.core.hydra_config import HydraConfig  # noqa: F401 - compose_config sets it

    from inpaintlab.eval import evaluate
    from inpaintlab.utils.runtime import guarded

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    _refused(guarded(evaluate), ["trainer=cpu", *(fill(o, world) for o in overrides)], "eval", words, world,
             tmp_path, capsys)


def test_eval_use_run_config_false_scores_a_valid_checkpoint(world, tmp_path):
    """README's ``inpaintlab-eval experiment=ga_mnist use_run_config=false ckpt_path=…`` works (the experiment's
    training-only callback settings are dropped instead of failing)."""
    from inpaintlab.eval import evaluate

    try:
        cfg = compose_config(["experiment=ga_mnist", "use_run_config=false", f"ckpt_path={world['good']}",
                              "data=fashion_mnist", f"data.root={world['data']}", "trainer=cpu",
                              "trainer.limit_test_batches=1", "data.eval_batch_size=8",
                              "trainer.enable_progress_bar=false"], tmp_path / "out", config_name="eval")
        metrics = evaluate(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert metrics["psnr"] > 0


def test_short_run_validates_and_keeps_a_best_checkpoint(world, tmp_path):
    """``trainer.max_steps`` below ``val_check_interval`` (1000 here): validation moves to the run's end."""
    from inpaintlab.train import train

    try:
        cfg = compose_config([*BASE, f"data.root={world['data']}", "test=false", "trainer.max_steps=3",
                              "trainer.val_check_interval=1000"], tmp_path)
        train(cfg)
        assert cfg.trainer.val_check_interval == 3
    finally:
        GlobalHydra.instance().clear()
    assert [p for p in (tmp_path / "checkpoints").glob("step*.ckpt")], "no best checkpoint"


# ------------------------------------------------------------------------------------------- argparse CLIs
def _masks_cases(w):
    return [
        (["--out", f"{w['base']}/a_file", "--mask", "box", "--count", "2", "--size", "16"], ["is a file"]),
        (["--out", f"{w['base']}/m", "--mask", "no_such_generator", "--count", "2"], ["no_such_generator"]),
        (["--out", f"{w['base']}/m", "--mask", "box", "--count", "0"], ["positive"]),
        (["--mask", "box"], ["--out"]),
    ]


def test_make_masks_bad_inputs(world, capsys):
    from inpaintlab.make_masks import main

    for argv, words in _masks_cases(world):
        before = snapshot(world["base"])
        assert main(argv) == 1, argv
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and all(x in err[0] for x in words), (argv, err)
        assert snapshot(world["base"]) == before


def test_make_masks_preview_for_one_mask(tmp_path):
    from inpaintlab.make_masks import main

    assert main(["--out", str(tmp_path), "--mask", "box", "--count", "2", "--size", "16", "--preview-only"]) == 0
    assert (tmp_path / "preview.png").is_file()


def test_demo_bad_inputs(world, capsys):
    from inpaintlab.demo import main

    for argv, word in ((["--steps", "0"], "--steps"), (["--jobs", "0"], "--jobs"),
                       (["--out", str(world["base"] / "a_file")], "is a file"),
                       (["--data-root", str(world["base"] / "nowhere")], "--data-root"),
                       (["--out", str(world["base"] / "demo"), "--reuse"], "--reuse"),
                       (["--alphas", "1", "1"], "--alphas"),
                       (["--out", str(world["base"] / "demo_done"), "--alphas", "0"], "already holds")):
        before = snapshot(world["base"])
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 1
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and word in err[0], (argv, err)
        assert snapshot(world["base"]) == before


def test_inpaint_model_contradicting_the_checkpoint(world, tmp_path, capsys):
    """Principle 3: ``--model crfill`` with a checkpoint that stores another model is refused with both names."""
    import numpy as np
    from PIL import Image

    from inpaintlab.inpaint import main

    Image.fromarray(np.full((28, 28), 128, np.uint8)).save(tmp_path / "i.png")
    m = np.zeros((28, 28), np.uint8)
    m[8:16, 8:16] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    io = ["--image", str(tmp_path / "i.png"), "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "o.png")]
    assert main(["--model", "crfill", "--weights", str(world["good"]), *io]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "crfill" in err[0] and "FullyConnectedAutoencoder" in err[0]
    assert not (tmp_path / "o.png").exists()
    assert main(["--weights", str(world["good"]), *io, "--quiet"]) == 0  # without --model: the stored model


# ------------------------------------------------------------------------------------------- real console CLIs
def test_console_one_line_once_no_traceback(world, tmp_path):
    """Through the real entry points: the line is printed once (not also by the log handler), exit 1, no
    traceback; an existing run folder is refused before Hydra writes into it."""
    before = snapshot(world["base"])
    args = [*BASE, f"data.root={world['data']}", "data.batch_size=abc", f"hydra.run.dir={tmp_path / 'new'}"]
    res = run_cli("inpaintlab.train", args, tmp_path)
    assert res.returncode == 1
    lines = [x for x in res.stderr.splitlines() if "error" in x.lower()]
    assert lines == ["inpaintlab: error: data.batch_size='abc': expected a positive integer"], res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert "data.batch_size" not in (tmp_path / "new" / "train.log").read_text()  # not twice via the log
    res = run_cli("inpaintlab.train", [*BASE, f"data.root={world['data']}", f"hydra.run.dir={world['run']}"], tmp_path)
    assert res.returncode == 1 and "already holds a run" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("inpaintlab.eval", [f"hydra.run.dir={tmp_path / 'ev'}"], tmp_path)
    assert res.returncode == 1 and "missing mandatory value ckpt_path" in res.stderr
    assert "Traceback" not in res.stderr
    assert snapshot(world["base"]) == before


@pytest.mark.parametrize("arg, words", [("experiment=ga_mnsit", ["experiment=ga_mnsit", "did you mean ga_mnist"]),
                                        ("model/generator=nope", ["model/generator=nope", "ga_fc"]),
                                        ("data=fashion-mnist", ["data=fashion-mnist", "fashion_mnist"])])
def test_unknown_config_choice_is_one_line(arg, words, capsys):
    """Before Hydra composes (its own message spans several lines): a typo in a config group's choice."""
    from inpaintlab.utils.runtime import check_group_choices

    with pytest.raises(SystemExit) as e:
        check_group_choices([arg, "trainer=cpu", "hydra/launcher=joblib", "local=default"])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err


@pytest.mark.parametrize("argv, words", [
    (["experiment=ga_mnist", "trainer.max_stepz=5"], ["trainer.max_stepz", "+trainer.max_stepz=5"]),
    (["experiment=ga_mnist", "data.batch_size=[1,2"], ["[1,2"]),
    (["experiment=ga_mnist", "data.batch_size==3"], ["data.batch_size==3"]),
    (["-m", "experiment=ga_mnist", "seed=1,2", "foo=3"], ["foo", "+foo=3"]),
    (["experiment=ga_mnist", "data.root=/data/fotos/Ñandú"],  # was Hydra's LexerNoViableAltException
     ["data.root=/data/fotos/Ñandú: a value with non-ASCII characters must be quoted",
      "write \"data.root='/data/fotos/Ñandú'\""]),
])
def test_hydra_composition_error_is_one_line(argv, words, capsys):
    """Hydra's override-syntax and unknown-key errors (several lines from Hydra itself) become one line."""
    from inpaintlab.utils.runtime import check_composes

    with pytest.raises(SystemExit) as e:
        check_composes(argv, "train")
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("inpaintlab: error:") and all(w in err[0] for w in words), err


def test_valid_overrides_and_sweeps_compose_silently(capsys):
    from inpaintlab.utils.runtime import check_composes

    check_composes(["-m", "experiment=ga_mnist", "seed=1,2", "model.losses.inp.alpha=0,1", "~data.val_size",
                    "hydra.job.chdir=false"], "train")
    check_composes(["experiment=ga_mnist", "ckpt_path=x.ckpt"], "eval")
    assert capsys.readouterr().err == ""


def test_a_sweep_never_writes_into_an_existing_sweep_folder(world, tmp_path):
    """The folders a sweep started in the next seconds would take already exist (another sweep's): it takes
    <time>_1 (Hydra hands that one folder to every job) and leaves the others untouched (the job itself fails fast on a missing data root)."""
    import datetime as dt

    logs = tmp_path / "logs"
    now = dt.datetime.now()
    taken = [logs / "ga_mnist" / "multiruns" / (now + dt.timedelta(seconds=s)).strftime("%Y-%m-%d_%H-%M-%S")
             for s in range(-1, 120)]
    for folder in taken:
        folder.mkdir(parents=True)
        (folder / "marker").write_text("another sweep")
    res = run_cli("inpaintlab.train", ["-m", *BASE, f"data.root={tmp_path / 'absent'}", f"paths.log_dir={logs}",
                                       "seed=1,2"], tmp_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    jobs = [p.parent.relative_to(logs).as_posix() for p in logs.glob("ga_mnist/multiruns/*/*/.hydra")]
    assert len(jobs) == 1 and jobs[0].endswith("_1/0"), jobs  # the first failing job ends the sweep
    assert all((f / "marker").read_text() == "another sweep" and len(list(f.iterdir())) == 1 for f in taken)


def test_redirected_console_is_plain_text(world, tmp_path):
    """Output sent to a file: no raw colour codes (wandb's footer is finished as plain text, its sync hint kept)
    and no "Total Flops 0" line in the model summary."""
    res = run_cli("inpaintlab.train", [*BASE, f"data.root={world['data']}", "logger=wandb", "trainer.max_steps=1",
                                       "trainer.enable_progress_bar=true", "test=false",
                                       f"hydra.run.dir={tmp_path / 'run'}"], tmp_path,
                  env={"WANDB_SILENT": "false"})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-2000:]
    assert "\x1b[" not in out and "Total Flops" not in out and "Total FLOPs" not in out
    assert "Total params" in out and "wandb sync " in out
    # issue 26: no noise (Lightning's litlogger tip, its summary-callback note, PyTorch's LeafSpec deprecation),
    # and progress as a plain line since stdout is not a terminal
    for noise in ("litlogger", "already configured with model summary", "LeafSpec"):
        assert noise not in out, noise
    assert re.search(r"^Epoch 0 · step 1/1 · train/loss [0-9.]+ · [0-9.]+ it/s · ETA 0:00:00$", res.stdout, re.M), res.stdout


@pytest.mark.parametrize("module, argv", [
    ("inpaintlab.demo", ["--steps", "abc"]), ("inpaintlab.inpaint", ["--size", "abc"]),
    ("inpaintlab.make_masks", ["--count", "x"]), ("inpaintlab.guide", ["--box", "1,2,3,4"]),
    ("inpaintlab.make_guided", ["--bogus"]), ("inpaintlab.app.server", ["--port", "abc"]),
])
def test_argparse_usage_error_is_one_line(module, argv, capsys):
    """A wrong or missing argument: one line naming it and pointing at --help, not the usage block."""
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and ": error: " in err[0] and "--help" in err[0], err


def test_batch_larger_than_the_set_trains_when_asked(world, tmp_path, caplog):
    """``data.drop_last=false`` asks for batches of the whole (smaller) set: a warning instead of the refusal."""
    from inpaintlab.train import train

    try:
        cfg = compose_config([*BASE, f"data.root={world['data']}", "test=false", "trainer.max_steps=1",
                              "data.batch_size=1000", "data.drop_last=false"], tmp_path)
        with caplog.at_level(logging.WARNING):
            train(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert "training on batches of 96 (data.drop_last=false)" in caplog.text
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_unwritable_log_dir_is_one_line_before_hydra_starts(world, tmp_path):
    """``INPAINTLAB_LOG_DIR=<a folder that cannot be written>`` (was: "An error occurred during Hydra's exception
    formatting: AssertionError()")."""
    before = snapshot(world["base"])
    logs = world["base"] / "a_file" / "logs"
    res = run_cli("inpaintlab.train", [*BASE, f"data.root={world['data']}"], tmp_path,
                  env={"INPAINTLAB_LOG_DIR": str(logs)})
    assert res.returncode == 1 and "Traceback" not in res.stderr and "Hydra" not in res.stderr
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert err == [f"inpaintlab: error: paths.log_dir (INPAINTLAB_LOG_DIR) {logs} cannot be written: "
                   f"{world['base'] / 'a_file'} is a file, not a folder"], err
    assert snapshot(world["base"]) == before


def test_library_noise_is_dropped_and_the_runs_own_lines_stay(caplog):
    from inpaintlab.utils.runtime import quiet_library_noise

    quiet_library_noise()
    with caplog.at_level(logging.INFO):
        logging.getLogger("hydra_plugins.hydra_joblib_launcher._core").info(
            "Joblib.Parallel(n_jobs=2,backend=loky,prefer=processes) is launching 2 jobs")
        logging.getLogger("hydra_plugins.hydra_joblib_launcher._core").info("Launching jobs, sweep output dir : x")
        logging.getLogger("lightning.pytorch.utilities.rank_zero").info("💡 Tip: … try installing [litlogger] …")
        logging.getLogger("lightning.pytorch.utilities.rank_zero").info("GPU available: False, used: False")
    assert "Joblib.Parallel" not in caplog.text and "litlogger" not in caplog.text
    assert "sweep output dir" in caplog.text and "GPU available" in caplog.text

"""The harness the CLI tests run entry points with (helpers.run_cli / run_script, forked from cli_zygote.py's
pre-imported interpreter) shows what a fresh ``python`` shows: argv, cwd, sys.path's head, the environment,
stdout and stderr apart, the exit status (a signal as its negative number), a traceback's exit 1, a timeout. And
what forked runs cannot show, in fresh interpreters: every installed console script loads, and a bad option is
reported before torch is imported."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest

from helpers import run_cli, run_script

SCRIPT = textwrap.dedent("""
    import json, os, sys
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "path0": sys.path[0], "extra": sys.path[1],
                      "env": os.environ.get("ZYGOTE_PROBE"), "main": __name__}))
    print("to stderr", file=sys.stderr)
    if sys.argv[1] == "raise":
        raise RuntimeError("boom")
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), 9)
    sys.exit(int(sys.argv[1]))
""")


@pytest.mark.parametrize("how", ["3", "0", "raise", "kill"])
def test_a_forked_script_shows_what_a_fresh_interpreter_shows(tmp_path, how):
    (tmp_path / "probe.py").write_text(SCRIPT)
    (tmp_path / "work").mkdir()
    env = {"ZYGOTE_PROBE": "seen", "PYTHONPATH": str(tmp_path / "extra")}
    forked = run_script(tmp_path / "probe.py", [how, "two words"], cwd=tmp_path / "work", env=env)
    fresh = subprocess.run([sys.executable, str(tmp_path / "probe.py"), how, "two words"], cwd=tmp_path / "work",
                           env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert forked.returncode == fresh.returncode == {"3": 3, "0": 0, "raise": 1, "kill": -signal.SIGKILL}[how]
    assert forked.stdout == fresh.stdout and str(tmp_path / "extra") in forked.stdout
    if how == "raise":  # the traceback's frames differ (runpy's, the server's); its last line does not
        assert forked.stderr.splitlines()[-1] == fresh.stderr.splitlines()[-1] == "RuntimeError: boom"
    else:
        assert forked.stderr == fresh.stderr == "to stderr\n"


def test_an_entry_point_runs_as_dunder_main_from_its_cwd(tmp_path):
    (tmp_path / "in.json").write_text('{"a": [1, 2]}')
    res = run_cli("json.tool", ["--compact", "in.json"], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == '{"a":[1,2]}\n' and res.stderr == ""


def test_a_timeout_kills_the_child_and_the_server_goes_on(tmp_path):
    (tmp_path / "sleep.py").write_text("import sys, time\nprint('started', flush=True)\ntime.sleep(float(sys.argv[1]))\n")
    with pytest.raises(subprocess.TimeoutExpired) as err:
        run_script(tmp_path / "sleep.py", ["60"], cwd=tmp_path, timeout=1)
    assert err.value.output == "started\n"
    again = run_script(tmp_path / "sleep.py", ["0"], cwd=tmp_path, timeout=30)
    assert again.returncode == 0 and again.stdout == "started\n"


def test_a_call_interrupted_mid_exchange_leaves_the_next_call_its_own_answer(tmp_path, monkeypatch):
    """An exception while waiting (pytest-timeout, ^C) drops the server: the next call's exit status and output are
    its own, not the interrupted call's late answer. (A server of its own, without the imports: it restarts.)"""
    import helpers

    monkeypatch.setattr(helpers, "_ZYGOTE", None)
    monkeypatch.setattr(helpers, "ZYGOTE_ARGS", ["--bare"])
    (tmp_path / "exit.py").write_text("import sys, time\ntime.sleep(float(sys.argv[1]))\nprint(sys.argv[2])\n"
                                      "sys.exit(int(sys.argv[2]))\n")
    real = select.select

    def interrupted(*args):
        monkeypatch.setattr(helpers.select, "select", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(helpers.select, "select", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_script(tmp_path / "exit.py", ["1", "7"], cwd=tmp_path)
        again = run_script(tmp_path / "exit.py", ["0", "3"], cwd=tmp_path)
        assert again.returncode == 3 and again.stdout == "3\n"
    finally:
        helpers._drop_zygote(None)  # this test's server; the worker's own comes back with monkeypatch's undo


# ------------------------------------------------------------------ what the forked runs do not cover: a fresh start
def test_every_console_script_loads_in_a_fresh_interpreter(tmp_path):
    """pyproject's [project.scripts] as installed: each names its function and loads in a fresh interpreter (the
    forked runs start from torch, Lightning and Hydra already imported)."""
    import tomllib

    from helpers import REPO

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    code = textwrap.dedent(f"""
        import importlib.metadata as m
        installed = {{e.name: e for e in m.entry_points(group="console_scripts")}}
        for name, value in {scripts!r}.items():
            assert installed[name].value == value, (name, installed[name].value, value)
            assert callable(installed[name].load()), name
        print(len({scripts!r}))
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout == f"{len(scripts)}\n", res.stderr[-2000:]


def test_an_installed_script_reports_a_bad_option_before_importing_torch(tmp_path):
    """The real wrapper in the environment's bin/, in a fresh interpreter: a bad value is one line and exit 1, before
    torch or Lightning is imported (inpaintlab.train imports them lazily)."""
    script = os.path.join(os.path.dirname(sys.executable), "inpaintlab-train")
    res = subprocess.run([sys.executable, "-X", "importtime", script, "experiment=ga_mnist", "trainer=cpu",
                          "data.batch_size=abc"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    timing = [ln for ln in res.stderr.splitlines() if ln.startswith("import time:")]
    lines = [ln for ln in res.stderr.splitlines() if ln not in timing]
    assert res.returncode == 1 and lines == ["inpaintlab: error: data.batch_size='abc': expected a positive integer"]
    imported = {ln.split("|")[-1].strip() for ln in timing}
    assert "inpaintlab.train" in imported and not {"torch", "lightning"} & imported

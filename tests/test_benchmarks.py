"""Every benchmarks/bench_*.py runs with --smoke: tiny sizes on the CPU, exit 0, a table printed, no file written.

The scripts run in this process (runpy, as ``python benchmarks/bench_x.py --smoke`` would), so no test pays a
torch import per script; they run on one torch thread (a smoke run measures nothing worth a second core) and the
thread count is restored afterwards.
"""

from __future__ import annotations

import re
import runpy
import sys

import pytest
import torch

from helpers import REPO

BENCH = REPO / "benchmarks"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))
# what a run could write into: the README tables and bench.md that the scripts update outside --smoke
WRITTEN = [*sorted((REPO / "experiments").glob("*/README.md")), REPO / "experiments" / "deepfill" / "bench.md"]


def test_every_benchmark_is_covered():
    names = {p.stem for p in SCRIPTS}
    assert {"bench_attention", "bench_btgmi", "bench_crfill", "bench_data", "bench_deepfill", "bench_pconv",
            "bench_train", "bench_yeh"} <= names
    for path in SCRIPTS:
        assert '"--smoke"' in path.read_text(), f"{path.name} takes no --smoke"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_smoke_runs(script, monkeypatch, capsys):
    before = {p: p.read_text() for p in WRITTEN if p.is_file()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(sys, "argv", [str(script), "--smoke"])
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import their helpers as `_common`
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert done.value.code in (0, None), f"{script.name} --smoke exited {done.value.code}:\n{out[-2000:]}"
    # a measured row: a markdown table row or a column row that holds a decimal number
    assert re.search(r"^\|?\s*\S+.*\d+\.\d+", out, flags=re.M), f"{script.name} printed no measurement:\n{out}"
    assert {p: p.read_text() for p in before} == before, f"{script.name} --smoke wrote into the docs"

"""experiments/glcic/measure_postprocess.py, whose table is in the GLCIC README, runs with --smoke (CI), and its rows
say what the README says: blending against the known pixels keeps the seam, fast marching + Poisson removes it."""

from __future__ import annotations

from helpers import REPO, run_script

SCRIPT = REPO / "experiments" / "glcic" / "measure_postprocess.py"


def test_measure_postprocess_smoke(tmp_path):
    out = run_script(SCRIPT, ["--smoke"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:5]]
            for line in out.stdout.splitlines()[2:] if line.startswith("|")}
    seam = {name: float(cells[0]) for name, cells in rows.items()}
    assert len(rows) == 6 and rows["photo itself"][1] == "0.0000"
    assert abs(seam["Poisson against the known pixels (no rim)"] - seam["raw composite"]) < 0.01
    assert seam["fast marching + Poisson, ring 1"] < seam["raw composite"] / 5

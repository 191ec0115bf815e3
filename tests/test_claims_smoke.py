"""The claim checks that write numbers into the experiment READMEs keep running: each runs its ``--smoke`` mode in
this process (``main([...])``, the same training and evaluation functions as the real run, tiny sizes, the tiny
generated IDX files of ``idx_root``) and its numbers are checked for shape, range and what holds exactly even
after two steps. None of them may write into the docs. (The claims themselves at scale: tests/test_claims.py,
slow.)"""

from __future__ import annotations

import importlib.util
import json
import math
import time

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import REPO
from inpaintlab.data.mnist import find_idx, read_idx
from inpaintlab.utils.smoke import require_finite

EXPERIMENTS = REPO / "experiments"
# everything a claim check writes into outside --smoke
DOCS = [*sorted(EXPERIMENTS.glob("*/README.md")), EXPERIMENTS / "btgmi" / "guided_example.png"]


def load_script(paper: str, name: str):
    spec = importlib.util.spec_from_file_location(f"{paper}_{name}_smoke", EXPERIMENTS / paper / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def docs_unchanged():
    """The READMEs and the BTGMI figure are byte-identical after the test; torch's thread count is restored."""
    before, threads = {p: p.read_bytes() for p in DOCS if p.is_file()}, torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    changed = [str(p.relative_to(REPO)) for p, data in before.items() if p.read_bytes() != data]
    assert not changed, f"--smoke wrote into {changed}"


def test_require_finite_names_the_failed_number():
    require_finite({"a": {"l1": 0.5, "change": None, "name": "x"}, "rows": [(1, 2.0)]}, "check")
    with pytest.raises(SystemExit) as done:
        require_finite({"a": {"l1": 0.5}, "rows": [("binary", float("nan"))]}, "claim-x")
    assert done.value.code == "claim-x: the measurement rows[0][1] is nan, not a finite number; nothing written into the docs"
    with pytest.raises(SystemExit, match=r"a/psnr is inf"):
        require_finite({"a": {"psnr": math.inf}}, "claim-x")


def test_pconv_claim_check_smoke(idx_root, docs_unchanged, capsys):
    """PConv's defining property holds exactly after 2 steps: the output does not depend on the hole's fill (Δ is
    0.0 for both other fills, and the L1 / PSNR are identical); the vanilla U-Net's does."""
    results = load_script("pconv", "claim_check").main(["--smoke", "--root", str(idx_root)])
    fills = ["0 (as trained)", "train mean", "uniform noise"]
    assert list(results) == ["partial", "vanilla"] and all(list(r) == fills for r in results.values())
    for conv in results.values():
        assert conv[fills[0]]["change"] is None
        for r in conv.values():
            assert 0.0 < r["l1_hole"] < 1.0 and 0.0 < r["psnr"] < 100.0
    partial, vanilla = results["partial"], results["vanilla"]
    for fill in fills[1:]:
        assert partial[fill] == {**partial[fills[0]], "change": 0.0}
        assert vanilla[fill]["change"] > 1e-3
    assert "| partial | uniform noise |" in capsys.readouterr().out


def test_pconv_claim_check_smoke_exits_on_a_failed_measurement(idx_root, docs_unchanged, monkeypatch):
    """A NaN in the measurements stops the script with one line naming it, before any table is printed."""
    script = load_script("pconv", "claim_check")
    evaluate = script.evaluate

    def broken(net, *args):
        res = evaluate(net, *args)
        res["train mean"]["psnr"] = float("nan")
        return res

    monkeypatch.setattr(script, "evaluate", broken)
    with pytest.raises(SystemExit, match=r"^claim-pconv: the measurement partial/train mean/psnr is nan"):
        script.main(["--smoke", "--root", str(idx_root)])


def test_yeh_claim_check_smoke(idx_root, docs_unchanged, monkeypatch, tmp_path):
    """Trains the prior through ``inpaintlab-train`` for 2 steps, searches 2 steps: five well-formed rows; the
    mean-fill baseline's in-hole L1 is recomputed here from the IDX bytes. The training run goes to a temporary
    folder, not the default outputs/claim_yeh."""
    monkeypatch.chdir(tmp_path)
    start = time.time()
    rows = load_script("yeh", "claim_check").main(["--smoke", "--root", str(idx_root)])
    assert [(name, out) for name, out, *_ in rows] == [
        ("mean fill (baseline)", "—"),
        ("weighted W (paper)", "(a) G(ẑ) pasted"), ("weighted W (paper)", "(b) blended"),
        ("binary mask", "(a) G(ẑ) pasted"), ("binary mask", "(b) blended")]
    for _, _, l1, seam, _ in rows:
        assert 0.0 < l1 < 1.0 and 0.0 <= seam < 1.0
    assert rows[0][4] == 0.0 and all(sec > 0.0 for *_, sec in rows[1:])
    # the baseline on [0, 1]: the 4 first test images padded to 32², their 16² centre filled with the known mean
    x = np.pad(read_idx(find_idx(idx_root, "t10k-images-idx3-ubyte"))[:4] / 255.0, ((0, 0), (2, 2), (2, 2)))
    hole = np.zeros((32, 32), bool)
    hole[8:24, 8:24] = True
    mean = x[:, ~hole].mean(1)
    assert rows[0][2] == pytest.approx(np.abs(x[:, hole] - mean[:, None]).mean(), abs=1e-5)
    default_out = REPO / "outputs" / "claim_yeh"
    assert not [p for p in default_out.rglob("*") if p.stat().st_mtime >= start]


def test_btgmi_guided_check_smoke(idx_root, docs_unchanged, tmp_path):
    """The COCO layout, 2 + 1 steps of joint training, the held-out evaluation and the figure drawn through
    ``inpaintlab-guide`` from the saved checkpoint: finite errors in [0, 1], the same numbers in results.json."""
    results = load_script("btgmi", "guided_check").main(["--smoke", "--fmnist", str(idx_root), "--out", str(tmp_path)])
    assert set(results) == {"paste_fg", "model_fg", "paste_bg", "model_bg", "images"}
    assert 1 <= results["images"] <= 6
    assert all(0.0 < results[k] < 1.0 for k in ("paste_fg", "model_fg", "paste_bg", "model_bg"))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {k: saved[k] for k in results} == results and "--smoke" in saved["provenance"]["command"]
    # 4 tiles of 64² × 3 per row with 4-px gutters; one row per held-out image with a guide object (≤ 3)
    width, height = Image.open(tmp_path / "guided_example.png").size
    assert width == 4 * 192 + 5 * 4 and height in {r * 192 + (r + 1) * 4 for r in (1, 2, 3)}
    blob = torch.load(tmp_path / "guided.ckpt", map_location="cpu", weights_only=False)
    assert blob["inpaintlab"]["model_config"]["generator"]["num_blocks"] == 3

"""`make gpu-check` cannot rot: its --smoke mode runs every part (training through inpaintlab-train with the GPU
flags, DDP to the test stage, the Table 5 timings) on the CPU at toy scale and writes the report's tables."""

from __future__ import annotations

import re

from helpers import REPO, run_script


def test_gpu_check_smoke_on_cpu(tmp_path):
    out = tmp_path / "gpu.md"
    proc = run_script(REPO / "benchmarks" / "gpu_check.py", ["--smoke", "--out", str(out)], cwd=tmp_path,
                      env={"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    number = r"\d+\.\d+"
    # one training run with the GPU flags: it/s and images/s measured, every logged loss finite
    assert re.search(rf"\| DeepFill v2 \| deepfill_v2_places2 \| 2 \| {number} \| {number} \| – \| yes \|", text), text
    # DDP through the test stage, its metrics finite
    assert re.search(r"deepfill_v2_places2 \(DDP\) .*\| yes \| .*test stage: \d+ metrics, all finite", text), text
    # Table 5 at the smoke size: CA full, restricted and CR-Fill timed
    assert re.search(rf"\| 64² \| {number} \| {number} \| {number} \|", text), text
    assert "precision bf16-mixed" in text and "model.channels_last=true" in text

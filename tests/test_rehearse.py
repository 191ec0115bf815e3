"""The rehearsal (`make rehearse`, inpaintlab-rehearse), the final model under test, and the papers' reports."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from helpers import EXPERIMENT_OVERRIDES, EXPERIMENTS, REPO, clamped, compose_config, run_cli
from inpaintlab import reports
from inpaintlab.data import synthetic
from inpaintlab.rehearse import Toy, broken_rules, native_resolution, toy_schedule


# ------------------------------------------------------------------------------------------------ the plan
def _makefile_runs() -> dict[str, list[str]]:
    """{paper: [run names]} of every reproduce-<paper> target of the Makefile, sweeps expanded, and the report
    step each target ends with."""
    text = (REPO / "Makefile").read_text()
    out: dict[str, list[str]] = {}
    for target, body in re.findall(r"^reproduce-([\w-]+):[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M):
        lines = [ln.strip() for ln in body.splitlines()]
        assert lines[-1] == f"$(REPORT) {target} $(ARGS)", f"reproduce-{target} must end with its report step"
        names = []
        for line in lines[:-1]:
            words = shlex.split(line)
            assert words[0] == "$(BIN)/inpaintlab-train", line
            experiment = next(w.split("=", 1)[1] for w in words if w.startswith("experiment="))
            sweeps = [w.split("=", 1) for w in words[1:] if "=" in w and not w.startswith(("experiment=", "$("))]
            names += [reports.Run(target, experiment, tuple(f"{k}={v}" for k, v in zip([s[0] for s in sweeps], vals))).name
                      for vals in _product([s[1].split(",") for s in sweeps])]
        out[target] = names
    return out


def _product(lists):
    if not lists:
        return [()]
    return [(v, *rest) for v in lists[0] for rest in _product(lists[1:])]


def test_papers_yaml_runs_exactly_what_the_makefile_trains():
    assert _makefile_runs() == {p: [r.name for r in reports.runs(p)] for p in reports.papers()}
    assert [r.name for r in reports.runs("ga")][:2] == ["ga_mnist[alpha=0]", "ga_mnist[alpha=1]"]
    assert re.search(r"^rehearse: \$\(STAMP\).*\n\t\$\(BIN\)/inpaintlab-rehearse \$\(if \$\(PAPER\),paper=\$\(PAPER\),\) "
                     r"\$\(ARGS\)$", (REPO / "Makefile").read_text(), re.M)


REPRODUCED = {e for _, e in reports.experiments()}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_tests_its_final_model_on_its_papers_suites(experiment, tmp_path):
    """test_ckpt=last and validation at the last step for every experiment; the test suites of every experiment
    a reproduce target runs are the ones its paper reports (papers.yaml)."""
    cfg = compose_config([f"experiment={experiment}"], tmp_path)
    assert cfg.test_ckpt == "last"
    assert cfg.callbacks.validate_last_step._target_ == "inpaintlab.callbacks.ValidateLastStep"
    if experiment in REPRODUCED:
        assert reports.eval_suites(cfg) == reports.paper_suites(experiment)


# ------------------------------------------------------------------------------------------------ toy schedule
@pytest.mark.parametrize(("experiment", "phases", "overrides"), [
    # Alg. 1: head 150,000 + 3 × 1,500 of 154,500 → round(0.971·8) = 8 and max(2, round(0.0097·8)) = 2 each
    ("btgmi_places2", {"head": 8, "block1": 2, "block2": 2, "block3": 2},
     ["btgmi.head_steps=8", "btgmi.block_steps=2", "trainer.max_steps=14", "trainer.val_check_interval=7"]),
    # T_C 90k, T_D 10k, joint 400k of 500k → 0.18·8 → 1 → 2; 0.02·8 → 0 → 2; 0.8·8 = 6.4 → 6
    ("glcic_places2", {"completion": 2, "discriminator": 2, "joint": 6},
     ["model.phases.0.steps=2", "model.phases.1.steps=2", "model.phases.2.steps=6", "trainer.max_steps=10",
      "trainer.val_check_interval=5"]),
    # fine-tuning from 1M of 1.5M: 0.667·8 = 5.3 → 5; the last phase (to max_steps) 0.333·8 = 2.7 → 3
    ("pconv_places2", {"train": 5, "finetune": 3}, ["finetune_at=5", "trainer.max_steps=8", "trainer.val_check_interval=4"]),
    # WGAN-GP: 5 critic batches + the generator's own per step: 8 steps = 48 batches, validated at 24 and 48
    ("deepfill_v1_places2", {"train": 8}, ["trainer.max_steps=8", "trainer.val_check_interval=24"]),
])
def test_toy_schedule_keeps_each_phase_share(experiment, phases, overrides, tmp_path):
    cfg = compose_config([f"experiment={experiment}"], tmp_path)
    got, steps = toy_schedule(cfg, Toy(budget=8, min_phase_steps=2))
    assert {p["name"]: p["toy_steps"] for p in got} == phases
    assert steps == overrides


# ------------------------------------------------------------------------------------------------ native data
def test_native_resolution_flags_the_256_release_for_pconv_places2(tmp_path, monkeypatch):
    """pconv_places2 trains at 512²: the 256² Places2 release would enlarge every image (one line says so); its
    high-resolution release (short side 512, the experiment's own data) passes."""
    masks = synthetic.make_irregular_masks(tmp_path / "masks", per_bin=1)
    monkeypatch.setenv("IRREGULAR_MASKS_ROOT", str(masks))
    monkeypatch.setenv("IRREGULAR_TEST_MASKS_ROOT", str(masks))
    standard = synthetic.make_places2(tmp_path / "places2", n_train=4, n_val=2, n_test=2, faults=False)
    cfg = compose_config(["experiment=pconv_places2", "data=places2", f"data.root={standard}", "data.val_size=2"],
                         tmp_path)
    found = native_resolution(cfg)
    assert found == {"data_native_size": [256, 256], "model_input_size": [512, 512], "upscaled": True,
                     "upscaled_splits": ["train", "val", "test"]}
    check = {"test_ckpt": "last", "max_steps": 4, "final_phase": "finetune", "refused": "not trained",
             "eval_suite_masks": {"a": "X"}, "paper_suite_masks": {"a": "X"}, "report": "r.md", **found}
    assert broken_rules(check) == [("native resolution", "train and val and test images of 256×256 are enlarged "
                                                         "to the model's 512×512 input")]
    GlobalHydra.instance().clear()
    highres = synthetic.make_places2(tmp_path / "places2_hr", layout="highres", n_train=4, n_val=2, n_test=2,
                                     size=synthetic.NATIVE["places2_highres"], faults=False)
    cfg = compose_config(["experiment=pconv_places2", f"data.root={highres}", "data.val_size=2"], tmp_path)
    found = native_resolution(cfg)
    assert found["upscaled"] is False and found["data_native_size"] == [512, 683]


def test_celeba_face_square_is_what_the_model_is_offered(tmp_path):
    """CelebA's 178×218 faces are cut to their 178² centre before resizing: 256² inputs enlarge them, 128² do not."""
    root = synthetic.make_celeba(tmp_path / "celeba", n_train=4, n_val=2, n_test=2, faults=False)
    cfg = compose_config(["experiment=btgmi_celeba", f"data.root={root}"], tmp_path)
    found = native_resolution(cfg)
    assert found["upscaled"] is True and found["model_input_size"] == [256, 256]
    # BTGMI's paper trains its CelebA at 256² (003 Sec. 4.1), GLCIC's global critic takes 256² (004): allowed, each
    # with its source; PConv's Places2 is not (the high-resolution release is native at 512²)
    assert "003 Sec. 4.1" in reports.upscale_allowed("btgmi_celeba")
    assert "004 (GLCIC)" in reports.upscale_allowed("glcic_celeba") and reports.upscale_allowed("pconv_places2") is None
    GlobalHydra.instance().clear()
    cfg = compose_config(["experiment=ga_celeba", f"data.root={root}", "data.val_size=2"], tmp_path)
    assert native_resolution(cfg) == {"data_native_size": [218, 178], "model_input_size": [128, 128],
                                      "upscaled": False, "upscaled_splits": []}


# ------------------------------------------------------------------------------------------------ final model
def test_btgmi_test_stage_scores_the_grown_model(tmp_path, tmp_path_factory):
    """Validation at every step makes the head's checkpoint a "best" candidate; the test stage (test_ckpt=last,
    the default) scores the last step with its 3 grown blocks, and the last validation is the final model's."""
    from inpaintlab.train import train

    cfg = clamped("btgmi_places2", tmp_path, tmp_path_factory, extra=["trainer.val_check_interval=1"])
    assert cfg.test_ckpt == "last"
    train(cfg)
    record = json.loads((tmp_path / "checkpoints" / "last.test.json").read_text())
    tested = torch.load(record["checkpoint"], map_location="cpu", weights_only=True)
    assert tested["global_step"] == 4 and int(tested["state_dict"]["generator.active_blocks"]) == 3
    assert Path(record["checkpoint"]).name == "last.ckpt"


def test_validation_runs_at_the_last_step_whatever_the_interval(tmp_path, tmp_path_factory):
    """max_steps=5 with validation every 2 batches: validation at 2, 4 and (ValidateLastStep) 5."""
    import csv

    from inpaintlab.train import train

    cfg = clamped("ga_mnist", tmp_path, tmp_path_factory, extra=["trainer.max_steps=5", "test=false"])
    train(cfg)
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv", newline="")))
    val_steps = [int(r["step"]) for r in rows if r.get("val/psnr")]
    train_steps = [int(r["step"]) for r in rows if r.get("train/loss")]
    assert val_steps == [1, 3, 4] and max(train_steps) == 4  # Lightning's csv step counts batches from 0


def test_a_resumed_run_tests_its_own_final_model(tmp_path, tmp_path_factory):
    from inpaintlab.train import train

    first = tmp_path / "first"
    train(clamped("ga_mnist", first, tmp_path_factory, extra=["test=false", "trainer.max_steps=2"]))
    GlobalHydra.instance().clear()
    second = tmp_path / "second"
    train(clamped("ga_mnist", second, tmp_path_factory,
                  extra=[f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}", "trainer.max_steps=4"]))
    record = json.loads((second / "checkpoints" / "last.test.json").read_text())
    assert record["checkpoint"] == str(second / "checkpoints" / "last.ckpt")
    assert torch.load(record["checkpoint"], map_location="cpu", weights_only=True)["global_step"] == 4


# ------------------------------------------------------------------------------------------------ CLI
def test_rehearsal_of_btgmi_with_test_ckpt_best_fails_with_one_line(tmp_path):
    """The BTGMI rehearsal (narrowed here to keep the test short) with test_ckpt=best: exit 1, one line naming
    the experiment and the rule; check.json and summary.json say why; the report is written."""
    out = tmp_path / "rehearsal"
    res = run_cli("inpaintlab.rehearse", [
        "experiment=btgmi_places2", f"out={out}", "jobs=1", "budget=2", "test_ckpt=best",
        "data.dataset.image_size=32", "model.generator.channels=[8,16,16]", "model.discriminator.ndf=8",
        "model.losses.ppl.crop_size=32"], cwd=tmp_path, timeout=600)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("rehearse: ")]
    assert "rehearse: btgmi_places2: test_ckpt: test_ckpt=best: the test stage must score the final model " \
           "(test_ckpt=last), the model the paper reports" in lines
    assert "Traceback" not in res.stderr
    check = json.loads((out / "btgmi_places2" / "check.json").read_text())
    assert check["ok"] is False and check["max_steps"] == 8 and check["final_phase"] == "block3"
    assert check["phases"] == {"head": 2, "block1": 2, "block2": 2, "block3": 2}
    assert check["eval_suites"] == check["paper_suites"] == ["default"]
    assert check["eval_suite_masks"] == check["paper_suite_masks"] == {"default": "RandomBoxMask"}
    assert check["data_native_size"] == [256, 256] and check["upscaled"] is False
    assert check["random_backbones"] and not list((out / "btgmi_places2" / "run" / "checkpoints").glob("*.ckpt"))
    summary = json.loads((out / "summary.json").read_text())
    assert [c["experiment"] for c in summary] == ["btgmi_places2"]
    report = (out / "reports" / "btgmi" / "report.md").read_text()
    assert report.startswith("**Toy numbers**") and "Source: 003 (BTGMI), Table 3, p. 15" in report


# ------------------------------------------------------------------------------------------------ CI: every paper
# One experiment per reproduce target through the whole rehearsal (schedule, validation, test, report, rules),
# with the networks and image sizes narrowed as in test_train (the rehearsal itself sets steps, data and suites);
# `make rehearse` runs them all at paper widths on native-resolution data.
CI_EXPERIMENTS = {"ga": "ga_mnist", "deepfill-v1": "deepfill_v1_places2", "deepfill-v2": "deepfill_v2_places2",
                  "crfill": "crfill_baseline_places2", "context-encoder": "context_encoder_imagenet_center_l2",
                  "glcic": "glcic_places2", "pconv": "pconv_celeba_hq", "yeh": "yeh_fashion_mnist",
                  "btgmi": "btgmi_places2", "btgmi-guided": "btgmi_guided_coco"}
_SET_BY_THE_REHEARSAL = ("btgmi.", "finetune_at", "model.phases", "data.val_size", "data.train_split",
                         "data.test_split", "data.dataset.split_files", "data.eval_masks", "model.val_search.steps",
                         "inference_options.steps")


def test_ci_covers_every_reproduce_target():
    assert set(CI_EXPERIMENTS) == set(reports.papers())
    assert all(reports.paper_of(e) == p for p, e in CI_EXPERIMENTS.items())


@pytest.mark.parametrize("paper", sorted(CI_EXPERIMENTS))
def test_rehearsal_passes_for_one_experiment_of_each_paper(paper, tmp_path_factory):
    from inpaintlab.rehearse import run

    experiment = CI_EXPERIMENTS[paper]
    narrow = [o for o in EXPERIMENT_OVERRIDES.get(experiment, []) if not o.startswith(_SET_BY_THE_REHEARSAL)]
    out = tmp_path_factory.getbasetemp() / "rehearsal"  # the generated data is shared by the runs
    code = run([f"experiment={experiment}", f"out={out}", "jobs=1", *narrow])
    check = json.loads((out / experiment / "check.json").read_text())
    assert code == 0 and check["ok"], check.get("failed") or check.get("error")
    assert check["tested_step"] == check["max_steps"] and check["tested_phase"] == check["final_phase"]
    assert all(steps >= 2 for steps in check["phases"].values())
    report = json.loads((out / "reports" / paper / "report.json").read_text())
    assert report["toy"] is True and report["runs"] and Path(check["report"]).read_text().startswith("**Toy numbers**")


def test_rehearsal_of_pconv_on_the_256_release_fails_with_one_line(tmp_path):
    """`data=places2` (the 256² release) under pconv_places2: the rehearsal measures every image, finds them
    enlarged to 512² and, since the dataset would refuse them, trains nothing: exit 1, one line."""
    out = tmp_path / "rehearsal"
    res = run_cli("inpaintlab.rehearse", ["experiment=pconv_places2", "data=places2", f"out={out}", "jobs=1"],
                  cwd=tmp_path, timeout=600)
    assert res.returncode == 1, res.stdout + res.stderr
    assert [ln for ln in res.stderr.splitlines() if ln.startswith("rehearse: ")] == [
        "rehearse: pconv_places2: native resolution: train and val and test images of 256×256 are enlarged to "
        "the model's 512×512 input"]
    check = json.loads((out / "pconv_places2" / "check.json").read_text())
    assert check["upscaled"] is True and check["refused"] and check["ok"] is False
    assert check["data_native_size"] == [256, 256] and check["model_input_size"] == [512, 512]


# ------------------------------------------------------------------------------------------------ reports
class _Run:
    """A finished run as the report reads it: test metrics per suite and facts."""

    def __init__(self, metrics, facts=None):
        self.metrics, self.facts = metrics, facts or {}

    def metric(self, suite, name):
        return self.metrics.get((suite, name))

    def fact(self, name):
        return self.facts.get(name)


def test_report_cells_published_ours_difference():
    from inpaintlab.reports.tables import _cell_text, cell

    runs = {"crfill_places2": _Run({("square", "l1"): 0.0263, ("square", "psnr"): 23.01}),
            "btgmi_places2": _Run({("default", "l1_sum"): 1600.0}), "btgmi_coco": _Run({("default", "l1_sum"): 1620.0}),
            "ga_mnist[alpha=0]": _Run({}, {"train_size": "60000", "input_size": "28x28"})}
    c = cell({"run": "crfill_places2", "suite": "square", "metric": "psnr"}, "23.36", runs)
    assert c["ours"] == 23.01 and c["difference"] == pytest.approx(-0.35) and _cell_text(c) == "23.36 / 23.01 / -0.35"
    c = cell({"run": "crfill_places2", "suite": "square", "metric": "l1", "scale": 100}, None, runs)
    assert _cell_text(c) == "n/a / 2.63"  # no published number: 4 significant digits
    c = cell({"run": ["btgmi_places2", "btgmi_coco"], "suite": "default", "metric": "l1_sum"}, "1609", runs)
    assert c["ours"] == 1610.0 and _cell_text(c) == "1609 / 1610 / +1"  # the mean of the two runs
    assert _cell_text(cell({"run": "ga_mnist", "fact": "train_size"}, "60000", runs)) == "60000 / 60000 / +0"
    assert _cell_text(cell({"run": "ga_mnist", "fact": "input_size"}, "28x28", runs)) == "28x28 / 28x28 / same"
    assert _cell_text(cell({}, "0.0290", runs)) == "0.0290 / —"  # another method's row
    missing = cell({"run": "crfill_imagenet", "suite": "square", "metric": "l1"}, "0.0302", runs)
    assert missing["status"] == "not run" and missing["why"] == "no finished run of crfill_imagenet"
    nosuite = cell({"run": "crfill_places2", "suite": "object", "metric": "l1"}, "0.0202", runs)
    assert nosuite["why"] == "l1 of suite object is not in the test report"


def test_reproduce_report_step_finds_the_newest_finished_runs(tmp_path, tmp_path_factory, capsys):
    """The last step of make reproduce-ga: runs found under outputs/<task_name>/{runs,multiruns}/ by their
    sweep values, the paper's tables filled from the finished one, the other jobs said to be missing."""
    from inpaintlab.reports.__main__ import main
    from inpaintlab.train import train

    log_dir = tmp_path / "outputs"
    run_dir = log_dir / "ga_mnist" / "multiruns" / "2026-01-01_00-00-00" / "1"
    train(clamped("ga_mnist", run_dir, tmp_path_factory, extra=["model.losses.inp.alpha=1"]))
    (log_dir / "ga_mnist" / "runs" / "2026-01-02_00-00-00").mkdir(parents=True)  # started, never finished
    path = main(["ga", f"paths.log_dir={log_dir}", "hydra/launcher=joblib"])
    assert path == log_dir / "ga" / "report.md" and "wrote" in capsys.readouterr().out
    report = json.loads((log_dir / "ga" / "report.json").read_text())
    assert report["toy"] is False and list(report["runs"]) == ["ga_mnist[alpha=1]"]
    rows = {r["name"]: r["cells"] for t in report["tables"] for r in t["rows"]}
    assert rows["MNIST, α = 1"][0]["status"] == "ok" and rows["MNIST, α = 0"][0]["status"] == "not run"
    assert rows["input size"][0]["ours"] == "28x28" and rows["input size"][0]["difference"] == "same"
    assert rows["mask size"][0]["ours"] == "14x14" and rows["database name"][0]["ours"] == "MNIST"
    text = path.read_text()
    assert not text.startswith("**Toy") and "Source: 000 (gradient attention), Table 1, p. 88" in text

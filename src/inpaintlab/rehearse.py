"""`inpaintlab-rehearse` (`make rehearse`): every experiment of every ``reproduce-*`` target, end to end, at toy scale.

Each experiment a reproduce target trains runs through the same code path (``inpaintlab.train.train``, its
composed config, its networks at their paper widths) with only the steps and the data made small:

* the schedule: every phase keeps its share of ``trainer.max_steps`` (``scaled_steps``, the rule of
  ``inpaintlab-compare``) in a budget of ``budget`` steps, at least ``min_phase_steps`` per phase, so every phase
  runs (GLCIC's three, PConv's fine-tuning, BTGMI's head and each grown block); validation in the middle and at
  the last step; the test stage and the paper's report;
* the data: a few images generated in each dataset's real on-disk layout at its native resolution
  (``inpaintlab.data.synthetic``), NVIDIA's test masks by hole-ratio bin, CR-Fill's object shapes, PASCAL VOC's
  segmentations;
* batches of ``batch_size``, latent searches of ``search_steps``; loss backbones without their ImageNet weights
  in the cache get random weights (said in check.json).

Then it checks the rules a paper-scale run depends on and writes ``<out>/<experiment>/check.json``,
``<out>/summary.json`` (the list of them), ``<out>/timing.json`` and each paper's report
(``<out>/reports/<paper>/report.md``): ``ok`` only when the test stage scored the last step of the final phase
(``test_ckpt=last``), validation ran at the last step, the test suites are the paper's and no image was enlarged
to reach the model's input size (unless the paper itself trains its dataset at that size: ``papers.yaml``'s
``upscale_allowed``, with the source). One line per broken rule; exit status 1 when any.

    inpaintlab-rehearse                         # every reproduce target
    inpaintlab-rehearse paper=btgmi             # one target (make rehearse PAPER=btgmi)
    inpaintlab-rehearse experiment=btgmi_places2 [experiment=...] [test_ckpt=best ...]   # Hydra overrides pass on
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from inpaintlab import reports
from inpaintlab.data import synthetic
from inpaintlab.errors import ConfigError
from inpaintlab.lightning.phases import PhaseSchedule, scaled_steps
from inpaintlab.utils.runtime import guarded, register_resolvers

log = logging.getLogger("inpaintlab.rehearse")
CONF_DIR = Path(__file__).resolve().parent / "conf"


@dataclass(frozen=True)
class Toy:
    """The rehearsal's scale — steps, batches and data only (networks stay at their paper widths) — and whether
    it keeps the checkpoints. At the default budget every phase runs its minimum (``min_phase_steps``): the whole
    rehearsal then takes about 24 CPU-minutes (README); ``budget=8`` shows the shares (GLCIC 2/2/6) at more."""

    budget: int = 2             # the total the phases' shares are taken of (``scaled_steps``)
    min_phase_steps: int = 2    # every phase trains at least this many steps
    batch_size: int = 2         # BatchNorm needs two samples per channel at a 1×1 bottleneck
    train_images: int = 6
    eval_images: int = 2        # validation and test images (each suite)
    search_steps: int = 2       # latent-search iterations (Yeh) in validation, test and inference
    keep_checkpoints: int = 0   # 1: keep each run's .ckpt files (deleted once checked otherwise)


# ------------------------------------------------------------------------------------------------- datasets
# A dataset is known by the environment variable its config's data.root reads (PLACES2_ROOT, …); Places2 by layout.
def dataset_key(cfg: DictConfig) -> str:
    root = str(OmegaConf.to_container(cfg.data, resolve=False).get("root", ""))
    found = re.search(r"oc\.env:([A-Z0-9_]+)", root)
    if not found:
        raise ConfigError(f"data.root={root!r} names no dataset environment variable; the rehearsal cannot tell "
                          "which dataset layout to generate")
    key = found.group(1).removesuffix("_ROOT").lower()
    if key == "places2" and OmegaConf.select(cfg, "data.dataset.layout") == "highres":
        key = "places2_highres"
    return key


def write_dataset(key: str, root: Path, toy: Toy) -> Path:
    """A tiny copy of dataset ``key`` in its real layout at native resolution (written once per rehearsal)."""
    done = root / ".complete"
    if done.is_file():
        return root
    if root.exists():
        shutil.rmtree(root)
    n, e = toy.train_images, toy.eval_images
    size = synthetic.NATIVE.get(key)
    writers = {
        "celeba": lambda: synthetic.make_celeba(root, n_train=n, n_val=e, n_test=e, size=size, faults=False),
        "celeba_hq": lambda: synthetic.make_celeba_hq(root, n_train=n, n_test=e),
        "places2": lambda: synthetic.make_places2(root, n_train=n, n_val=e, n_test=e, size=size, faults=False),
        "places2_highres": lambda: synthetic.make_places2(root, layout="highres", n_train=n, n_val=e, n_test=e,
                                                          size=size, faults=False),
        "imagenet": lambda: synthetic.make_imagenet(root, n_per_class=(n + 1) // 2, n_val=e, size=size, faults=False),
        "coco": lambda: synthetic.make_coco_objects(root, n_train=n, n_val=e, size=size, ext=".jpg", faults=False),
        "paris_streetview": lambda: synthetic.make_paris_streetview(root, n_train=n, n_test=e),
        "mnist": lambda: synthetic.make_idx_dataset(root, n_train=n, n_test=e),
        "fashion_mnist": lambda: synthetic.make_idx_dataset(root, n_train=n, n_test=e),
    }
    if key not in writers:
        raise ConfigError(f"the rehearsal has no generated layout for dataset {key!r}: add one to "
                          f"inpaintlab.rehearse.write_dataset (known: {', '.join(writers)})")
    writers[key]()
    done.write_text("")
    return root


def write_mask_sets(data_dir: Path) -> dict[str, str]:
    """NVIDIA's irregular masks (training set and the test set's six hole-ratio bins), CR-Fill's object shapes and
    PASCAL VOC's segmentations (Context Encoder's random regions); the environment variables the mask configs read."""
    sets = {
        "IRREGULAR_MASKS_ROOT": (data_dir / "irregular_masks", lambda p: synthetic.make_irregular_masks(p, per_bin=1)),
        "IRREGULAR_TEST_MASKS_ROOT": (data_dir / "irregular_masks_test", synthetic.make_irregular_masks),
        "OBJECT_SHAPES_ROOT": (data_dir / "object_shapes", synthetic.make_object_shapes),
        "VOC2012_ROOT": (data_dir / "VOC2012", lambda p: synthetic.make_voc(p, size=synthetic.NATIVE["voc2012"])),
    }
    for path, write in sets.values():
        if not (path / ".complete").is_file():
            shutil.rmtree(path, ignore_errors=True)
            write(path)
            (path / ".complete").write_text("")
    return {env: str(path) for env, (path, _) in sets.items()}


# ------------------------------------------------------------------------------------------------- schedule
_SOURCE = re.compile(r"^\$\{(?:oc\.select:)?([A-Za-z_][\w.]*)(?:,[^}]*)?\}$")


def _phases_path(cfg: DictConfig) -> str | None:
    node = OmegaConf.select(cfg, "model.phases")
    if node is None:
        return None
    return "model.phases" if isinstance(node, ListConfig) else "model.phases.phases"


def schedule(cfg: DictConfig) -> list[dict[str, Any]]:
    """The phases of the composed run: name, steps (resolved; the last phase's to ``max_steps``) and the config
    key each length is set at (the key a ``${...}`` interpolation reads, e.g. ``btgmi.head_steps``)."""
    max_steps = int(cfg.trainer.max_steps)
    path = _phases_path(cfg)
    if path is None:
        return [{"name": "train", "steps": max_steps, "key": None}]
    raw = OmegaConf.to_container(OmegaConf.select(cfg, path), resolve=False)
    resolved = OmegaConf.to_container(OmegaConf.select(cfg, path), resolve=True)
    out, start = [], 0
    for i, (r, p) in enumerate(zip(raw, resolved)):
        steps = p.get("steps")
        last = i == len(resolved) - 1
        if last:
            steps = max_steps - start
        source = _SOURCE.match(str(r.get("steps"))) if isinstance(r.get("steps"), str) else None
        key = source.group(1) if source and OmegaConf.select(cfg, source.group(1)) is not None else f"{path}.{i}.steps"
        out.append({"name": p["name"], "steps": int(steps), "key": None if last and p.get("steps") is None else key})
        start += int(steps)
    return out


def toy_schedule(cfg: DictConfig, toy: Toy) -> tuple[list[dict[str, Any]], list[str]]:
    """The phases at toy scale (each keeps its share of ``max_steps``) and the overrides that set them."""
    max_steps = int(cfg.trainer.max_steps)
    phases = schedule(cfg)
    overrides: dict[str, int] = {}
    for p in phases:
        p["toy_steps"] = scaled_steps(p["steps"] / max_steps, toy.budget, toy.min_phase_steps)
        if p["key"] is not None:
            if overrides.get(p["key"], p["toy_steps"]) != p["toy_steps"]:
                raise ConfigError(f"phases sharing {p['key']} get different toy lengths")
            overrides[p["key"]] = p["toy_steps"]
    total = sum(p["toy_steps"] for p in phases)
    batches_per_step = _batches_per_step(cfg)
    interval = OmegaConf.select(cfg, "trainer.val_check_interval")
    batches = total * batches_per_step
    every = batches if not isinstance(interval, int) else max(
        round(interval / (max_steps * batches_per_step) * batches), batches // 2, 1)  # mid-run and at the end
    return phases, [f"{k}={v}" for k, v in overrides.items()] + [f"trainer.max_steps={total}",
                                                                 f"trainer.val_check_interval={every}"]


def _batches_per_step(cfg: DictConfig) -> int:
    """Training batches per generator step: n_critic, plus the generator's own batch (WGAN-GP Alg. 1, "fresh")."""
    n = OmegaConf.select(cfg, "model.n_critic", default=1) or 1
    if OmegaConf.select(cfg, "model.discriminator") is None or n <= 1:
        return 1
    return int(n) + (OmegaConf.select(cfg, "model.generator_batch") == "fresh")


# ------------------------------------------------------------------------------------------------- overrides
def _random_backbones(cfg: DictConfig) -> tuple[list[str], list[str]]:
    """Loss backbones whose ImageNet weights are not in torchvision's cache get random weights: (overrides, said)."""
    from inpaintlab.utils.backbones import weights_file

    overrides, said = [], []
    for name, node in (OmegaConf.select(cfg, "model.losses") or {}).items():
        if node is None or OmegaConf.to_container(node, resolve=False).get("pretrained") is not True:
            continue
        net = "vgg16" if "VGG" in str(node.get("_target_", "")) else "alexnet"
        if not weights_file(net)[0].is_file():
            overrides.append(f"model.losses.{name}.pretrained=false")
            said.append(f"model.losses.{name}: {net} with random weights (ImageNet weights not in the cache)")
    return overrides, said


def toy_overrides(cfg: DictConfig, toy: Toy, data_root: Path) -> tuple[list[str], list[str]]:
    """Everything the rehearsal changes, as ``inpaintlab-train`` overrides, and what it says about them."""
    _, steps = toy_schedule(cfg, toy)
    out = [*steps, f"data.root={data_root}", f"data.batch_size={toy.batch_size}",
           f"data.eval_batch_size={toy.batch_size}", "data.num_workers=0", f"data.val_size={toy.eval_images}",
           f"data.test_size={toy.eval_images}", "trainer=cpu", "logger=csv", "trainer.enable_progress_bar=false",
           "trainer.log_every_n_steps=1", "trainer.limit_val_batches=null", "trainer.limit_test_batches=null"]
    for key in ("inference_options.steps", "model.val_search.steps"):
        if OmegaConf.select(cfg, key) is not None:
            out.append(f"{key}={min(int(OmegaConf.select(cfg, key)), toy.search_steps)}")
    backbones, said = _random_backbones(cfg)
    return out + backbones, said


# ------------------------------------------------------------------------------------------------- facts
def _unwrap(dataset: Any) -> tuple[Any, list[int] | None]:
    """The image dataset under the DataModule's wrappers (masks, index subsets) and the indices it uses."""
    from inpaintlab.data.datamodule import IndexSubset, MaskedImages

    indices = None
    while isinstance(dataset, (MaskedImages, IndexSubset)):
        if isinstance(dataset, IndexSubset):
            indices = [dataset.indices[i] for i in indices] if indices is not None else list(dataset.indices)
            dataset = dataset.dataset
        else:
            dataset = dataset.images
    return dataset, indices


def data_sizes(dataset: Any) -> tuple[list[tuple[int, int]], tuple[int, int], bool]:
    """(decoded (H, W) of every image the split uses, before any resize; the model's input (H, W); whether an
    image is smaller than the input — after the dataset's own pre-crop, CelebA's 178² face square — i.e. would be
    enlarged to reach it: the dataset's own rule, ``ImageTransform.too_small``)."""
    from PIL import Image

    def header(path: Any) -> tuple[int, int]:
        with Image.open(path) as img:
            return img.size[1], img.size[0]

    base, indices = _unwrap(dataset)
    if hasattr(base, "files") and hasattr(base, "transform"):  # ImageFiles: CelebA, Places2, ImageNet, folders
        sizes = [header(base.files[i]) for i in (indices if indices is not None else range(len(base.files)))]
        return sizes, tuple(base.transform.size), any(base.transform.too_small(w, h) for h, w in sizes)
    if hasattr(base, "objects") and hasattr(base, "size"):  # CocoGuided: every image of the split
        sizes, model = [header(item["path"]) for item in base.images], tuple(base.size)
        return sizes, model, any(h < model[0] or w < model[1] for h, w in sizes)
    if hasattr(base, "pad") and hasattr(base, "images"):  # MNIST-format tensors: padding is not enlarging
        h, w = (int(s) - 2 * base.pad for s in base.images.shape[-2:])
        padded = (h + 2 * base.pad, w + 2 * base.pad)
        model = (base.image_size,) * 2 if base.image_size else padded
        return [(h, w)], model, model[0] > padded[0] or model[1] > padded[1]
    raise ConfigError(f"the rehearsal cannot read the image sizes of {type(base).__name__}")


def native_resolution(cfg: DictConfig) -> dict[str, Any]:
    """``data_native_size`` (the smallest decoded image), ``model_input_size`` and ``upscaled``: whether any
    image of any split is smaller than the model's input, i.e. enlarged to reach it (measured with the dataset's
    ``allow_upscale`` on, so a split the run would refuse is measured too)."""
    from hydra.utils import instantiate

    data = cfg.data.copy()
    if "allow_upscale" in (data.get("dataset") or {}):
        with open_dict(data):
            data.dataset.allow_upscale = True
    dm = instantiate(data)
    dm.setup("fit")
    dm.setup("test")
    found = [(split, *data_sizes(ds)) for split, ds in (("train", dm.train_set), ("val", dm.val_set),
                                                        ("test", dm.test_set))]
    natives = [s for _, sizes, _, _ in found for s in sizes]
    upscaled = [split for split, _, _, small in found if small]
    return {"data_native_size": list(min(natives, key=lambda s: s[0] * s[1])), "model_input_size": list(found[0][2]),
            "upscaled": bool(upscaled), "upscaled_splits": upscaled}


def tested_model(run_dir: Path, phases: list[dict[str, Any]]) -> dict[str, Any]:
    """What the test stage scored, read back from its report and checkpoint: step, phase, BTGMI's grown blocks."""
    import torch

    reports_found = sorted((run_dir / "checkpoints").glob("*.test.json")) + sorted(run_dir.glob("test.json"))
    if not reports_found:
        return {"tested_checkpoint": None, "tested_step": None, "tested_phase": None}
    record = json.loads(max(reports_found, key=lambda p: p.stat().st_mtime).read_text())
    if not record.get("checkpoint"):
        return {"tested_checkpoint": None, "tested_step": None, "tested_phase": None}
    ckpt = torch.load(record["checkpoint"], map_location="cpu", weights_only=False, mmap=True)
    step = int(ckpt["global_step"])
    schedule_ = PhaseSchedule([{"name": p["name"], "steps": p["toy_steps"]} for p in phases[:-1]]
                              + [{"name": phases[-1]["name"], "steps": None}])
    out = {"tested_checkpoint": os.path.relpath(record["checkpoint"], run_dir), "tested_step": step,
           "tested_phase": schedule_.at(max(step - 1, 0))[1].name}  # the phase of the last step it trained
    blocks = ckpt["state_dict"].get("generator.active_blocks")
    if blocks is not None:
        out["active_blocks"] = int(blocks)
    return out


def validation_rows(run_dir: Path) -> dict[str, Any]:
    """Where validation logged in csv/metrics.csv (Lightning's ``step`` column counts batches): its rows' steps and
    whether the last one is the last training row's, i.e. the last validation scored the final model."""
    path = run_dir / "csv" / "metrics.csv"
    rows = []
    if path.is_file():
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    val = sorted({int(r["step"]) for r in rows if any(k.startswith("val/") and v for k, v in r.items())})
    train = [int(r["step"]) for r in rows if any(k.startswith("train/") and v for k, v in r.items())]
    return {"validation_rows": val, "validated_last_step": bool(val and train and val[-1] == max(train))}


# ------------------------------------------------------------------------------------------------- rules
def broken_rules(check: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule, what is wrong) for every rule ``check`` breaks."""
    out = []
    if check.get("error"):
        return [("runs", check["error"])]
    if check.get("refused"):  # the native-resolution line below says why; nothing else ran
        check = {**check, "tested_step": check["max_steps"], "tested_phase": check["final_phase"],
                 "validated_last_step": True}
    if check["test_ckpt"] != "last":
        out.append(("test_ckpt", f"test_ckpt={check['test_ckpt']}: the test stage must score the final model "
                                 "(test_ckpt=last), the model the paper reports"))
    if check["tested_step"] != check["max_steps"]:
        out.append(("final step tested", f"the test stage scored step {check['tested_step']} "
                                         f"({check['tested_checkpoint']}), not the last step {check['max_steps']}"))
    if check["tested_phase"] != check["final_phase"]:
        detail = f" ({check['active_blocks']} grown blocks)" if "active_blocks" in check else ""
        out.append(("final phase tested", f"the tested model is from phase {check['tested_phase']!r}{detail}, not "
                                          f"the final phase {check['final_phase']!r}"))
    if not check["validated_last_step"]:
        out.append(("validated at the last step", "the last validation of csv/metrics.csv is not at the last "
                                                  "training step: it did not score the final model"))
    if check["eval_suite_masks"] != check["paper_suite_masks"]:
        out.append(("paper's suites", f"the test suites are {check['eval_suite_masks']}, the paper reports "
                                      f"{check['paper_suite_masks']}"))
    if check["upscaled"] and not check.get("upscale_allowed"):
        out.append(("native resolution", f"{' and '.join(check['upscaled_splits'])} images of "
                                         f"{check['data_native_size'][0]}×{check['data_native_size'][1]} are enlarged "
                                         f"to the model's {check['model_input_size'][0]}×{check['model_input_size'][1]}"
                                         " input"))
    if not check.get("report"):
        out.append(("report", f"no report was written ({check.get('report_error', 'no run finished')})"))
    return out


# ------------------------------------------------------------------------------------------------- one run
def _compose(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    if run_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = cfg.paths.log_dir = str(run_dir)
    return cfg


@contextlib.contextmanager
def _run_log(path: Path):
    """The run's log lines and warnings go to ``path`` (the console keeps one line per experiment)."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    root = logging.getLogger()
    saved = (root.level, [(n, logging.getLogger(n).level) for n in ("lightning", "lightning.pytorch", "lightning.fabric")])
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    for name in names:
        logging.getLogger(name).setLevel(logging.INFO)
    quiet = [(h, h.level) for n in names for h in logging.getLogger(n).handlers]
    for h, _ in quiet:
        h.setLevel(logging.ERROR)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(handler.stream):
            warnings.simplefilter("default")
            yield
    finally:
        logging.captureWarnings(False)
        for h, level in quiet:
            h.setLevel(level)
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved[0])
        for name, level in saved[1]:
            logging.getLogger(name).setLevel(level)


def rehearse(run: reports.Run, out: Path, toy: Toy, extra: list[str] = ()) -> dict[str, Any]:
    """Train, validate and test one experiment at toy scale; its check (also written to check.json)."""
    from inpaintlab.train import train

    exp_dir = out / run.experiment
    shutil.rmtree(exp_dir, ignore_errors=True)  # a rehearsal replaces the previous one
    run_dir = exp_dir / "run"
    exp_dir.mkdir(parents=True)
    base = [f"experiment={run.experiment}", *run.overrides]
    check: dict[str, Any] = {"experiment": run.experiment, "run": run.name, "paper": run.paper,
                             "overrides": [*run.overrides, *extra],
                             "sweep": run.sweep, "run_dir": str(run_dir)}
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with _run_log(exp_dir / "rehearse.log"):
            probe = _compose([*base, *extra])
            key = dataset_key(probe)
            data_root = write_dataset(key, out / "_data" / key, toy)
            overrides, said = toy_overrides(probe, toy, data_root)
            cfg = _compose([*base, *overrides, *extra], run_dir)  # the caller's overrides win
            phases, _ = toy_schedule(probe, toy)
            ours, paper = reports.eval_suites(cfg), reports.paper_suites(run.experiment)
            check.update(dataset=key, toy_overrides=overrides, random_backbones=said,
                         phases={p["name"]: p["toy_steps"] for p in phases},
                         paper_phases={p["name"]: p["steps"] for p in phases}, test_ckpt=str(cfg.get("test_ckpt")),
                         max_steps=int(cfg.trainer.max_steps), final_phase=phases[-1]["name"],
                         eval_suites=list(ours), paper_suites=list(paper), eval_suite_masks=ours,
                         paper_suite_masks=paper, upscale_allowed=reports.upscale_allowed(run.experiment),
                         **native_resolution(cfg))
            if check["upscaled"] and not OmegaConf.select(cfg, "data.dataset.allow_upscale", default=True):
                check["refused"] = "the dataset refuses to upscale (data.dataset.allow_upscale=false): not trained"
            else:
                train(cfg)
                check.update(**tested_model(run_dir, phases), **validation_rows(run_dir))
            if not toy.keep_checkpoints:  # read back above; the test reports stay (GLCIC's are 600 MB each)
                for ckpt in (run_dir / "checkpoints").glob("*.ckpt"):
                    ckpt.unlink()
    except Exception as err:  # noqa: BLE001 - one experiment's failure is its check's verdict, not the rehearsal's end
        from inpaintlab.utils.runtime import user_error_message

        if type(err).__name__ == "SIGTERMException":  # stopped from outside: stop the rehearsal too
            raise

        message = user_error_message(err) or f"{type(err).__name__}: {err}"
        check["error"] = " ".join(str(message).split())[:400]
        log.debug("rehearsal of %s failed", run.experiment, exc_info=True)
    check["seconds"] = round(time.perf_counter() - start, 1)
    check["cpu_seconds"] = round(time.process_time() - cpu, 1)  # all threads: what an idle machine would take
    return check


def finish(check: dict[str, Any], out: Path) -> dict[str, Any]:
    """The verdict and the ``check.json`` of one experiment (after its paper's report was written)."""
    check["failed"] = [f"{rule}: {why}" for rule, why in broken_rules(check)]
    check["ok"] = not check["failed"]
    (out / check["experiment"]).mkdir(parents=True, exist_ok=True)
    (out / check["experiment"] / "check.json").write_text(json.dumps(check, indent=2))
    return check


# ------------------------------------------------------------------------------------------------- CLI
def parse(argv: list[str]) -> dict[str, Any]:
    """``paper=``, ``experiment=`` (comma lists, repeatable), ``out=``, ``jobs=`` and the ``Toy`` fields
    (``budget=``…); any other ``key=value`` is passed on to every run as an ``inpaintlab-train`` override."""
    args: dict[str, Any] = {"papers": [], "experiments": [], "out": Path("rehearsal"), "jobs": os.cpu_count() or 1,
                            "toy": {}, "extra": []}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError(f"inpaintlab-rehearse: expected key=value arguments, got {arg!r} (paper=, experiment=, "
                              "out=, jobs=, budget=, or inpaintlab-train overrides)")
        if key in ("paper", "experiment"):
            args[key + "s"] += [v for v in value.split(",") if v]
        elif key == "out":
            args["out"] = Path(value)
        elif key == "jobs" or key in Toy.__dataclass_fields__:
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"inpaintlab-rehearse: {key} must be a positive integer, got {value!r}")
            if key == "jobs":
                args["jobs"] = int(value)
            else:
                args["toy"][key] = int(value)
        else:
            args["extra"].append(arg)
    args["toy"] = Toy(**args["toy"])
    return args


def selected(papers_: list[str], experiments_: list[str]) -> list[reports.Run]:
    """One run per experiment of the chosen targets (its sweep's first point: a sweep changes values, not the
    code path)."""
    for p in papers_:
        reports.paper(p)
    for e in experiments_:
        reports.paper_of(e)
    chosen = [(p, e) for p, e in reports.experiments() if (not papers_ or p in papers_)
              and (not experiments_ or e in experiments_)]
    return [next(r for r in reports.runs(p) if r.experiment == e) for p, e in chosen]


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # one core per job: small convolutions scale badly across threads
    register_resolvers()


def _rehearse_all(todo: list[reports.Run], out: Path, toy: Toy, extra: list[str], jobs: int):
    """Yields each run's check as it finishes; ``jobs`` worker processes (spawned) when more than one."""
    if jobs <= 1 or len(todo) <= 1:
        for r in todo:
            yield rehearse(r, out, toy, extra)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init) as pool:
        for future in as_completed([pool.submit(rehearse, r, out, toy, extra) for r in todo]):
            yield future.result()


def run(argv: list[str]) -> int:
    """The rehearsal of the chosen experiments; 1 when any rule is broken (one line each on stderr), else 0."""
    args = parse(argv)
    args["out"].mkdir(parents=True, exist_ok=True)
    env = {"WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), **write_mask_sets(args["out"] / "_data")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the generated mask sets; restored after (callers in the same process)
    try:
        return _run(args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(args: dict[str, Any]) -> int:
    from inpaintlab.reports.tables import write_report

    register_resolvers()
    out, toy, extra = args["out"], args["toy"], args["extra"]
    todo = selected(args["papers"], args["experiments"])
    begin = time.perf_counter()
    for r in todo:  # the data first, so parallel jobs only read it
        try:
            key = dataset_key(_compose([f"experiment={r.experiment}", *r.overrides, *extra]))
        except Exception:  # noqa: BLE001 - the run itself reports the problem
            continue
        write_dataset(key, out / "_data" / key, toy)
    checks: dict[str, dict[str, Any]] = {}
    for check in _rehearse_all(todo, out, toy, extra, args["jobs"]):
        checks[check["experiment"]] = check
        print(f"rehearsed {check['experiment']} in {check['seconds']:.0f} s ({check['cpu_seconds']:.0f} CPU s)"
              + (f": {check['error']}" if "error" in check else ""), flush=True)
    checks = {r.experiment: checks[r.experiment] for r in todo}  # the targets' order
    for p in dict.fromkeys(c["paper"] for c in checks.values()):
        done = [c for c in checks.values() if c["paper"] == p and "error" not in c and "refused" not in c]
        try:
            path = str(write_report(p, {c["run"]: Path(c["run_dir"]) for c in done}, out / "reports" / p, toy=True))
        except Exception as err:  # noqa: BLE001 - a broken report is a failed rule, not a crash
            path, why = None, f"{type(err).__name__}: {err}"
            for c in done:
                c["report_error"] = why
        for c in checks.values():
            if c["paper"] == p:
                c["report"] = path
    summary = [finish(c, out) for c in checks.values()]
    total = round(time.perf_counter() - begin, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "timing.json").write_text(json.dumps({"seconds": total, "cpu_seconds": round(sum(
        c.get("cpu_seconds", 0) for c in summary), 1), "jobs": args["jobs"], "toy": asdict(toy),
        "cpus": os.cpu_count(), "load_average": os.getloadavg()}, indent=2))
    failed = [f"rehearse: {c['experiment']}: {line}" for c in summary for line in c["failed"]]
    for line in failed:
        print(line, file=sys.stderr)
    ok = sum(c["ok"] for c in summary)
    print(f"rehearsal: {ok}/{len(summary)} experiments ok in {total:.0f} s; {out / 'summary.json'}")
    return 1 if failed else 0


@guarded
def _main(argv: list[str]) -> int:
    return run(argv)


def main() -> None:
    raise SystemExit(_main(sys.argv[1:]))


if __name__ == "__main__":
    main()

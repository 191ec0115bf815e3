"""`inpaintlab-compare` (`make compare`): every method of the package under one protocol, one table, one figure.

A comparison is a config of the ``compare`` group (``conf/compare/<name>.yaml``): the evaluation images and size,
the frozen mask suites, the common budget and its scaling rule, the seeds, the baselines and the methods — each
one entry (the experiment it starts from, the overrides that scale it to the common budget/size, and the inference
variants to score). This module knows no method by name:

1. training: one generated experiment file per method (``<out>/conf/experiment/compare_<method>.yaml``: the
   method's experiment, the common overrides, its own), all trained by ONE ``inpaintlab-train -m`` multirun over
   methods × ``seeds``, so the joblib launcher (``jobs``) or the scale-out launchers
   (``launcher=[hydra/launcher=slurm]``) run them as parallel jobs; runs land in ``<out>/runs/<method>/seed<k>``;
2. evaluation: every variant's ``last.ckpt`` of every seed through ``Inpainter.from_checkpoint`` (its options as
   keyword arguments) on the same test images and the same masks, frozen to ``<out>/masks/<suite>`` (PNG +
   manifest); fixed-size nets are filled by the Inpainter's resize–fill–paste and marked native in the table; the
   baselines (mean fill, OpenCV's Telea) are plain functions of (image, mask), scored once;
3. ``results.json`` (every number per seed and as mean ± std, with the provenance: commit, config hash, version,
   machine), ``results.md``, ``grid.png``, ``bars.png`` (``inpaintlab.compare_report``); ``publish=<docs page>``
   copies them under the page's images/ and regenerates the page's block from the copied record.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from inpaintlab.conventions import CONFIG_DIR as CONF_DIR
from inpaintlab.errors import ConfigError
from inpaintlab.utils.runtime import guarded, register_resolvers

log = logging.getLogger("inpaintlab.compare")
METRICS = ("psnr", "ssim", "l1", "psnr_hole", "l1_hole", "lpips")
# std over the hole pixels of the fill and of the truth ([0, 1]): a constant fill has 0 (compare_report.learned)
CONTRAST = ("hole_std", "hole_std_true")
# torch-fidelity's Inception (FID/KID), as torchmetrics loads it from torch's hub cache
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


def _compare_steps(fraction: str, *, _root_: DictConfig) -> int:
    """``${compare_steps:f}``: the fraction f of the common budget, in whole steps (at least 1)."""
    from inpaintlab.lightning.phases import scaled_steps

    return scaled_steps(float(fraction), int(_root_.compare.budget.steps))


def _register() -> None:
    register_resolvers()
    if not OmegaConf.has_resolver("compare_steps"):
        OmegaConf.register_new_resolver("compare_steps", _compare_steps)


_register()


# ---------------------------------------------------------------------------------------------- training
def _composed(overrides: list[str]) -> DictConfig:
    """The train config composed with ``overrides`` (and its Hydra node, for the group choices)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside inpaintlab-compare's own Hydra app (same conf tree)
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def _added_groups(choices: dict[str, str]) -> set[str]:
    """The groups an experiment adds to the defaults tree (e.g. PConv's ``/model/phases``) rather than overrides:
    those that train.yaml with the same choices, without the experiment, does not hold."""
    import re

    from hydra.errors import HydraException

    added: set[str] = set()
    for _ in range(len(choices) + 1):
        try:
            _composed([f"{'+' if g in added else ''}{g}={c}" for g, c in choices.items()])
            return added
        except HydraException as err:
            found = re.search(r"Could not override '([^']+)'", str(err))
            if not found or found.group(1) in added:
                raise
            added.add(found.group(1))
    return added


def experiment_file(method: str, experiment: str, overrides: list[str]) -> str:
    """The YAML of the generated experiment ``compare_<method>``: ``experiment`` composed with ``overrides``
    (plain inpaintlab-train overrides: group choices, dotted values, ``+`` additions, ``~`` deletions, list
    indices), written out whole — its group choices as ``override /group: choice`` defaults, every value
    unresolved — so the multirun job trains exactly what ``inpaintlab-train experiment=... <overrides>`` would."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = _composed([f"experiment={experiment}", *overrides])
    except (HydraException, OmegaConfBaseException) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"compare.methods.{method} (experiment={experiment}): {first}") from None
    choices = {g: c for g, c in OmegaConf.to_container(cfg.hydra.runtime.choices).items()
               if c is not None and not g.startswith("hydra") and g != "experiment"
               and (CONF_DIR / g / f"{c}.yaml").is_file()}
    added = _added_groups(choices)
    defaults: list[Any] = [{f"/{g}" if g in added else f"override /{g}": c} for g, c in choices.items()]
    body = OmegaConf.to_container(cfg, resolve=False)
    body.pop("hydra", None)
    body["task_name"] = method
    header = (f"# @package _global_\n# generated by inpaintlab-compare: experiment={experiment} "
              + " ".join(overrides) + "\n")
    return header + yaml.safe_dump({"defaults": [*defaults, "_self_"], **body}, sort_keys=False, allow_unicode=True)


def seed_list(c: dict) -> list[int]:
    seeds = c.get("seeds", [0])
    seeds = [seeds] if isinstance(seeds, int) else list(seeds or [])
    if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds) or len(set(seeds)) < len(seeds):
        raise ConfigError(f"compare.seeds={c.get('seeds')!r}: expected a list of distinct integers, e.g. [0,1,2]")
    return seeds


def train_command(out: Path, methods: list[str], seeds: list[int], launcher: list[str], jobs: int) -> list[str]:
    """The one ``inpaintlab-train`` multirun over the generated experiments × seeds (one job each)."""
    cmd = [sys.executable, "-m", "inpaintlab.train", "-m", f"hydra.searchpath=[file://{(out / 'conf').resolve()}]",
           "experiment=" + ",".join(f"compare_{m}" for m in methods), "seed=" + ",".join(map(str, seeds)),
           f"hydra.sweep.dir={(out / 'runs').resolve()}", "hydra.sweep.subdir=${task_name}/seed${seed}"]
    if not any(a.startswith("hydra/launcher=") for a in launcher) and jobs > 1 and len(methods) * len(seeds) > 1:
        cmd += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]
    return cmd + list(launcher)


def train_methods(c: dict, names: list[str], out: Path, launcher: list[str], jobs: int,
                  extra: list[str] = ()) -> None:
    exp_dir = out / "conf" / "experiment"
    exp_dir.mkdir(parents=True, exist_ok=True)
    to_train = [m for m in names if not c["methods"][m].get("checkpoint")]
    for m in to_train:
        entry = c["methods"][m]
        (exp_dir / f"compare_{m}.yaml").write_text(
            experiment_file(m, entry["experiment"], [*c.get("common", []), *entry.get("overrides", []), *extra]))
    if not to_train:
        return
    cmd = train_command(out, to_train, seed_list(c), launcher, jobs)
    env = dict(os.environ)
    if "hydra/launcher=joblib" in cmd:
        env["OMP_NUM_THREADS"] = "1"  # one thread per job: small convolutions scale badly across threads
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, env=env)
    if result.returncode:
        raise ConfigError(f"inpaintlab-train failed (exit {result.returncode}) for the comparison runs in {out / 'runs'}")


def run_checkpoints(c: dict, method: str, out: Path) -> dict[str, Path]:
    """{seed label: last.ckpt} of a trained method; a given ``checkpoint`` (one path, or a list: one per seed)
    instead of training."""
    given = c["methods"][method].get("checkpoint")
    if given:
        paths = {f"given{i}": Path(p) for i, p in enumerate([given] if isinstance(given, str) else given)}
    else:
        paths = {f"seed{s}": out / "runs" / method / f"seed{s}" / "checkpoints" / "last.ckpt" for s in seed_list(c)}
    for ckpt in paths.values():
        if not ckpt.is_file():
            raise ConfigError(f"{method}: no checkpoint at {ckpt} (train first, without reuse=true, or set "
                              f"+compare.methods.{method}.checkpoint=<last.ckpt>)")
    return paths


def training_seconds(run_dir: Path) -> float | None:
    """Wall time of an inpaintlab-train run: from its config.yaml (written first) to its metrics.json (last)."""
    start, end = run_dir / "config.yaml", run_dir / "metrics.json"
    if start.is_file() and end.is_file():
        return round(end.stat().st_mtime - start.stat().st_mtime, 1)
    return None


# ---------------------------------------------------------------------------------------------- evaluation
def eval_images(c: dict) -> torch.Tensor:
    from hydra.utils import instantiate

    dataset = instantiate(c["images"])
    n = min(int(c["test_images"]), len(dataset))
    if hasattr(dataset, "get_batch"):
        return dataset.get_batch(list(range(n)))["image"]
    return torch.stack([dataset[i]["image"] for i in range(n)])


def freeze_suites(c: dict, out: Path, count: int) -> dict[str, torch.Tensor]:
    """Every suite as a B×1×H×W mask tensor; generator suites are frozen to <out>/masks/<suite> first (the
    same masks ``inpaintlab-make-masks`` writes), folder suites (FrozenMasks nodes) are read at the size."""
    from hydra.utils import instantiate

    from inpaintlab.data.mask_sets import FrozenMasks, write_mask_set

    size = int(c["size"])
    suites = {}
    for name, node in c["suites"].items():
        if node is None:
            continue
        if node.get("_target_", "").endswith("FrozenMasks"):
            masks = instantiate(node, height=size, width=size, on_size_mismatch="resize")
        else:
            folder = out / "masks" / name
            write_mask_set(instantiate(node), folder, count, size, size, seed=int(c["mask_seed"]), name=name,
                           config=node, overwrite=True)
            masks = FrozenMasks(folder)
        suites[name] = torch.stack([masks[i % len(masks)] for i in range(count)])
    if not suites:
        raise ConfigError("compare.suites names no mask suite")
    return suites


def lpips_network(wanted: bool) -> tuple[Any, str]:
    """(LPIPS network or None, what the table says about it)."""
    if not wanted:
        return None, "LPIPS: switched off (compare.lpips=false)"
    from inpaintlab.utils.backbones import weights_file

    path, _ = weights_file("alexnet")
    if not path.is_file():
        return None, f"LPIPS: not computed — AlexNet ImageNet weights absent ({path}; see inpaintlab.utils.backbones)"
    from inpaintlab.losses.patch_perceptual import build_lpips

    return build_lpips(pretrained=True), "LPIPS: AlexNet (lpips v0.1), lower is better"


def set_metric_factory(wanted: bool, images: int) -> tuple[Any, str]:
    """(factory of fresh {"fid", "kid"} torchmetrics objects, or None; what the table says about them). Optional:
    torch-fidelity's Inception (pip install torch-fidelity) with its weights in torch's hub cache."""
    if not wanted:
        return None, "FID/KID: switched off (compare.fid=false)."
    try:
        import torch_fidelity  # noqa: F401 - torchmetrics' Inception comes from it
    except ImportError:
        return None, "FID/KID: not computed — torch-fidelity is not installed (pip install torch-fidelity)."
    path = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS
    if not path.is_file():
        return None, f"FID/KID: not computed — torch-fidelity's Inception weights absent ({path})."
    return (lambda: set_metrics(2048, images)), f"FID/KID: Inception pool features, {images} images per suite."


def set_metrics(feature: Any, images: int) -> dict[str, Any]:
    """FID and KID (torchmetrics) on [0, 1] images; ``feature``: 2048 (Inception) or a feature module (tests)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    return {"fid": FrechetInceptionDistance(feature=feature, normalize=True),
            "kid": KernelInceptionDistance(feature=feature, normalize=True, subset_size=min(1000, images))}


def _hole_std(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per image: the standard deviation of ``x`` over its hole pixels and channels (0 for a constant fill)."""
    n = m.flatten(1).sum(1).clamp_min(1)
    mean = (x * m).flatten(1).sum(1) / n
    return (((x - mean.view(-1, 1, 1, 1)) * m).pow(2).flatten(1).sum(1) / n).sqrt()


def per_image_metrics(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, lpips_net: Any) -> dict:
    """Per-image metrics of composites in [-1, 1] on [0, 1] images (the callbacks' definitions), and the hole
    pixels' spread of the fill and of the truth (``CONTRAST``)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    from inpaintlab.callbacks.metrics import HoleL1, HolePSNR, to_unit

    p, t = to_unit(pred.float()), to_unit(target.float())
    m = mask.expand_as(p)
    mse = (p - t).pow(2).flatten(1).mean(1)
    out = {
        "psnr": 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10)),
        "ssim": structural_similarity_index_measure(p, t, data_range=1.0, reduction="none"),
        "l1": (p - t).abs().flatten(1).mean(1),
        "psnr_hole": HolePSNR.per_image(p, t, m),
        "l1_hole": HoleL1.per_image(p, t, m),
        "hole_std": _hole_std(p, m),
        "hole_std_true": _hole_std(t, m),
    }
    empty = mask.flatten(1).sum(1) == 0  # no hole: no hole metrics (skipped as the metric callbacks skip them)
    for k in ("psnr_hole", "l1_hole", *CONTRAST):
        out[k] = out[k].masked_fill(empty, float("nan"))
    if lpips_net is not None:
        def rgb(x: torch.Tensor) -> torch.Tensor:
            return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

        with torch.no_grad():
            out["lpips"] = lpips_net(rgb(pred.float()).clamp(-1, 1), rgb(target.float())).flatten()
    return out


def evaluate_variant(painter: Any, images: torch.Tensor, masks: torch.Tensor, batch: int, lpips_net: Any,
                     sets: dict[str, Any] | None = None):
    """(composites on the CPU, per-image metrics, set metrics, seconds per image) of one suite; ``sets``: fresh
    FID/KID objects (or None)."""
    from inpaintlab.callbacks.metrics import to_unit

    painter.fill_tensor(images[:1], masks[:1])  # warm-up (allocations, lazy buffers)
    outs, start = [], time.perf_counter()
    for i in range(0, len(images), batch):
        outs.append(painter.fill_tensor(images[i:i + batch], masks[i:i + batch]))
    seconds = (time.perf_counter() - start) / len(images)
    values: dict[str, list] = {}
    for i, comp in zip(range(0, len(images), batch), outs):
        real = images[i:i + batch]
        for k, v in per_image_metrics(comp, real, masks[i:i + batch], lpips_net).items():
            values.setdefault(k, []).append(v.cpu())
        for metric in (sets or {}).values():
            metric.to(comp.device)
            rgb = [to_unit(x.float()).expand(-1, 3, -1, -1) for x in (real, comp)]
            metric.update(rgb[0], real=True)
            metric.update(rgb[1], real=False)
    totals = {}
    for name, metric in (sets or {}).items():
        value = metric.compute()
        totals[name] = round(float(value[0] if isinstance(value, tuple) else value), 5)  # KID: (mean, std)
    return torch.cat([o.cpu() for o in outs]), {k: torch.cat(v) for k, v in values.items()}, totals, seconds


def summarise(values: dict[str, torch.Tensor], keep: torch.Tensor | None = None) -> dict[str, float | None]:
    """Means over images (images without a hole left out of the hole metrics; None when no image counts)."""
    out = {}
    for k, v in values.items():
        mean = float((v if keep is None else v[keep]).double().nanmean())
        out[k] = None if mean != mean else round(mean, 5)
    return out


class FunctionFill:
    """A baseline as a painter: ``fill(image, mask)`` → composite ([-1, 1], mask 1 = hole), known pixels re-imposed."""

    def __init__(self, fill: Any) -> None:
        self.fill = fill

    def fill_tensor(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hole = (mask > 0.5).to(image.dtype)
        return self.fill(image, mask) * hole + image * (1 - hole)


def bins_of(variant: str, suite: str, masks: torch.Tensor, values: dict[str, torch.Tensor]) -> list[dict]:
    """The suite's results split by hole-ratio bin."""
    from inpaintlab.data.mask_sets import hole_ratio_bin

    labels = [hole_ratio_bin(float(r)) for r in masks.flatten(1).mean(1)]
    out = []
    for label in sorted(set(labels), key=lambda s: float(s.split("-")[0])):
        keep = torch.tensor([lab == label for lab in labels])
        out.append({"method": variant, "suite": suite, "bin": label, "count": int(keep.sum()), **summarise(values, keep)})
    return out


# ---------------------------------------------------------------------------------------------- the run
def selected_methods(c: dict, wanted: Any) -> list[str]:
    names = list(c.get("methods") or {})
    if not names:
        raise ConfigError("compare.methods registers no method")
    if wanted is None:
        return names
    chosen = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
    unknown = [w for w in chosen if w not in names]
    if unknown:
        raise ConfigError(f"methods={chosen}: unknown {unknown}; registered: {names}")
    return chosen


def _command_line() -> tuple[str, list[str]]:
    """(the command as typed, its overrides) of the running Hydra app; ("inpaintlab-compare", []) outside one."""
    from hydra.core.hydra_config import HydraConfig

    try:
        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # run() called directly (tests, notebooks)
        overrides = []
    return " ".join(["inpaintlab-compare", *overrides]), overrides


@dataclass
class Scores:
    """What ``score`` measured: per-variant facts, per-seed rows and bins, the first seed's composites (for the
    grid), the LPIPS/FID statements, the evaluation images and suites (on the CPU)."""

    methods: dict[str, dict]
    rows: list[dict]
    bins: list[dict]
    composites: dict[str, dict[str, torch.Tensor]]  # the first seed's, first grid_images per suite
    texts: dict[str, str]
    images: torch.Tensor
    suites: dict[str, torch.Tensor]


def score(c: dict, names: list[str], out: Path, device: str) -> Scores:
    """Every baseline once and every variant of every seed on every suite."""
    from hydra.utils import instantiate

    from inpaintlab.inference import Inpainter

    images = eval_images(c).to(device)
    suites = {k: v.to(device) for k, v in freeze_suites(c, out, len(images)).items()}
    lpips_net, lpips_text = lpips_network(bool(c.get("lpips", True)))
    lpips_net = lpips_net.to(device) if lpips_net is not None else None
    sets, fid_text = set_metric_factory(bool(c.get("fid", False)), len(images))
    print(f"[compare] {lpips_text} {fid_text}", flush=True)
    batch, shown = int(c.get("eval_batch_size", 50)), int(c.get("grid_images", 2))
    methods, rows, bins, composites = {}, [], [], {}

    def score_painter(variant: str, seed: str, painter: Any) -> list[float]:
        seconds = []
        for suite, masks in suites.items():
            torch.manual_seed(0)  # per-image searches (Yeh) start from the same draw for every checkpoint
            comp, values, totals, sec = evaluate_variant(painter, images, masks, batch, lpips_net,
                                                         sets() if sets else None)
            composites.setdefault(variant, {}).setdefault(suite, comp[:shown].clone())  # the grid's only
            seconds.append(sec)
            rows.append({"method": variant, "suite": suite, "seed": seed, "images": len(images),
                         **summarise(values), **totals})
            bins.extend({**b, "seed": seed} for b in bins_of(variant, suite, masks.cpu(), values))
        return seconds

    for name, entry in (c.get("baselines") or {}).items():
        if entry is None:
            continue
        seconds = score_painter(name, "deterministic", FunctionFill(instantiate(entry["fill"])))
        methods[name] = {"method": name, "label": entry.get("label", name), "experiment": "—", "baseline": True,
                         "trained_at": "no training", "native": False, "scale": None, "options": {}, "params": None,
                         "train_seconds": None, "infer_ms_per_image": round(1000 * sum(seconds) / len(seconds), 3)}
        print(f"[compare] scored baseline {name} on {len(suites)} suites", flush=True)
    for m in names:
        entry = c["methods"][m]
        ckpts = run_checkpoints(c, m, out)
        for variant, options in (entry.get("variants") or {m: {}}).items():
            seconds, params, settings = [], None, {}
            for seed, ckpt in ckpts.items():
                painter = Inpainter.from_checkpoint(ckpt, device=device, **(options or {}))
                params, settings = sum(p.numel() for p in painter.generator.parameters()), painter.adapter.settings
                seconds += score_painter(variant, seed, painter)
            train = [t for t in (training_seconds(p.parent.parent) for p in ckpts.values()) if t is not None]
            methods[variant] = {
                "method": m, "label": entry.get("label", m), "experiment": entry["experiment"],
                "trained_at": f"native: {entry['native']}" if entry.get("native") else f"{c['size']}²",
                "native": bool(entry.get("native")), "scale": entry.get("scale"),
                "options": settings if options else {}, "params": params,
                "train_seconds": round(sum(train) / len(train), 1) if train else None,
                "infer_ms_per_image": round(1000 * sum(seconds) / len(seconds), 3),
                "checkpoints": {s: str(p) for s, p in ckpts.items()},
            }
            print(f"[compare] scored {variant} ({len(ckpts)} seed{'s' if len(ckpts) > 1 else ''}) on "
                  f"{len(suites)} suites", flush=True)
    return Scores(methods, rows, bins, composites, {"lpips": lpips_text, "fid_text": fid_text}, images.cpu(),
                  {k: v.cpu() for k, v in suites.items()})


def _pooled(per_seed: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Per-seed records grouped by ``keys`` and aggregated over seeds (compare_report.aggregate)."""
    from inpaintlab.compare_report import aggregate

    groups: dict[tuple, list[dict]] = {}
    for r in per_seed:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for members in groups.values():
        fixed = {k: members[0][k] for k in members[0] if k in (*keys, "images", "count")}
        numbers = [{k: v for k, v in r.items() if k not in fixed and k != "seed"} for r in members]
        out.append({**fixed, "seeds": len(members), **aggregate(numbers)})
    return out


def run(cfg: DictConfig) -> dict:
    """Train (unless ``reuse``), evaluate, write the four files (and ``publish`` them); returns the record."""
    from inpaintlab.compare_report import config_hash, draw_bars, draw_grid, markdown
    from inpaintlab.utils.provenance import provenance

    t0 = time.time()
    c = OmegaConf.to_container(cfg.compare, resolve=True)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    names = selected_methods(c, cfg.get("methods"))
    seeds = seed_list(c)
    command, overrides = _command_line()
    record = {**provenance(command=command), "config_hash": config_hash(cfg), "overrides": overrides}
    print(f"[compare] {c['title']}: {', '.join(names)}; seeds {seeds}\n[compare] budget {c['budget']}\n"
          f"[compare] rule: {c['rule']}\n[compare] commit {record['commit']} (dirty: {record['dirty']}), "
          f"config hash {record['config_hash']}", flush=True)
    if not cfg.get("reuse", False):
        train_methods(c, names, out, list(cfg.get("launcher") or []), int(cfg.get("jobs", 1)),
                      list(cfg.get("train_overrides") or []))
    device = str(cfg.get("device", "cpu"))
    scores = score(c, names, out, device)
    result = {
        "config": c["name"], "title": c["title"], "size": c["size"], "test_images": len(scores.images),
        "suites": list(scores.suites), "mask_seed": c["mask_seed"], "budget": c["budget"], "seeds": seeds,
        "rule": c["rule"], "rank_by": c.get("rank_by", "l1_hole"), "learned": c.get("learned"), **scores.texts,
        "device": device if device != "cpu" else f"cpu ({torch.get_num_threads()} threads)",
        "provenance": record, "methods": scores.methods, "rows": _pooled(scores.rows, ("method", "suite")),
        "bins": _pooled(scores.bins, ("method", "suite", "bin")),
    }
    result["wall_seconds"] = round(time.time() - t0, 1)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (out / "results.md").write_text(text)
    draw_grid(out / "grid.png", scores.images, scores.suites, scores.composites, int(c.get("grid_images", 2)))
    draw_bars(out / "bars.png", result)
    print("\n" + text)
    print(f"[compare] wrote {out / 'results.json'}, results.md, grid.png, bars.png in {time.time() - t0:.0f} s")
    if cfg.get("publish"):
        publish(out, Path(str(cfg.publish)), c["name"])
    return result


def publish(out: Path, doc: Path, name: str) -> None:
    """Copy the run's record and figures under ``doc``'s images/ (``compare_<name>_*``) and regenerate the page's
    block from the copied record (``inpaintlab.compare_report.render``)."""
    from inpaintlab.compare_report import render

    images = doc.parent / "images"
    images.mkdir(parents=True, exist_ok=True)
    for src in ("results.json", "grid.png", "bars.png"):
        shutil.copyfile(out / src, images / f"compare_{name}_{src}")
    doc.write_text(render(doc, images / f"compare_{name}_results.json"))
    print(f"[compare] published into {doc} (figures and record in {images})")


@hydra.main(version_base="1.3", config_path="conf", config_name="comparison")
@guarded
def _main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    """The console entry point: a typo in a group choice or an override is one line, before Hydra runs."""
    import sys

    from inpaintlab.utils.runtime import check_command_line

    check_command_line(sys.argv[1:], "comparison", "inpaintlab-compare", run_dir=False)
    return _main()


if __name__ == "__main__":
    main()

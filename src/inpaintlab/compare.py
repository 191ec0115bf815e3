"""`inpaintlab-compare` (`make compare`): every method of the package under one protocol, one table, one figure.

A comparison is a config of the ``compare`` group (``conf/compare/<name>.yaml``): the evaluation images and size,
the frozen mask suites, the common budget and its scaling rule, and the methods — each one entry (the experiment
it starts from, the overrides that scale it to the common budget/size, and the inference variants to score). This
module knows no method by name:

1. training: one generated experiment file per method (``<out>/conf/experiment/compare_<method>.yaml``: the
   method's experiment, the common overrides, its own), all trained by ONE ``inpaintlab-train -m`` multirun, so
   the joblib launcher (``jobs``) or the scale-out launchers (``launcher=[hydra/launcher=slurm]``) run the methods
   as parallel jobs; runs land in ``<out>/runs/<method>``;
2. evaluation: every variant's ``last.ckpt`` through ``Inpainter.from_checkpoint`` (its options as keyword
   arguments) on the same test images and the same masks, frozen to ``<out>/masks/<suite>`` (PNG + manifest);
   fixed-size nets are filled by the Inpainter's resize–fill–paste and marked native in the table;
3. ``results.json``, ``results.md`` (one row per method and suite: PSNR, SSIM, L1, hole L1/PSNR, LPIPS where
   AlexNet's weights are present, parameters, inference time per image, training time), ``grid.png``, ``bars.png``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from inpaintlab.errors import ConfigError
from inpaintlab.utils.runtime import guarded, register_resolvers

log = logging.getLogger("inpaintlab.compare")
CONF_DIR = Path(__file__).resolve().parent / "conf"
METRICS = ("psnr", "ssim", "l1", "psnr_hole", "l1_hole", "lpips")


def _register() -> None:
    register_resolvers()
    if not OmegaConf.has_resolver("compare_steps"):
        # ${compare_steps:f}: the fraction f of the common budget, in whole steps (at least 1)
        OmegaConf.register_new_resolver(
            "compare_steps", lambda f, *, _root_: max(1, round(float(f) * int(_root_.compare.budget.steps))))


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


def train_command(out: Path, methods: list[str], launcher: list[str], jobs: int) -> list[str]:
    """The one ``inpaintlab-train`` multirun over the generated experiments (one job per method)."""
    cmd = [sys.executable, "-m", "inpaintlab.train", "-m", f"hydra.searchpath=[file://{(out / 'conf').resolve()}]",
           "experiment=" + ",".join(f"compare_{m}" for m in methods),
           f"hydra.sweep.dir={(out / 'runs').resolve()}", "hydra.sweep.subdir=${task_name}"]
    if not any(a.startswith("hydra/launcher=") for a in launcher) and jobs > 1 and len(methods) > 1:
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
    cmd = train_command(out, to_train, launcher, jobs)
    env = dict(os.environ)
    if "hydra/launcher=joblib" in cmd:
        env["OMP_NUM_THREADS"] = "1"  # one thread per job: small convolutions scale badly across threads
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, env=env)
    if result.returncode:
        raise ConfigError(f"inpaintlab-train failed (exit {result.returncode}) for the comparison runs in {out / 'runs'}")


def run_checkpoint(c: dict, method: str, out: Path) -> Path:
    given = c["methods"][method].get("checkpoint")
    ckpt = Path(given) if given else out / "runs" / method / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        raise ConfigError(f"{method}: no checkpoint at {ckpt} (train first, without reuse=true, or set "
                          f"compare.methods.{method}.checkpoint)")
    return ckpt


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


def per_image_metrics(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, lpips_net: Any) -> dict:
    """Per-image metrics of composites in [-1, 1] on [0, 1] images (the callbacks' definitions)."""
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
    }
    empty = mask.flatten(1).sum(1) == 0  # no hole: no hole metrics (skipped as the metric callbacks skip them)
    for k in ("psnr_hole", "l1_hole"):
        out[k] = out[k].masked_fill(empty, float("nan"))
    if lpips_net is not None:
        def rgb(x: torch.Tensor) -> torch.Tensor:
            return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

        with torch.no_grad():
            out["lpips"] = lpips_net(rgb(pred.float()).clamp(-1, 1), rgb(target.float())).flatten()
    return out


def evaluate_variant(painter: Any, images: torch.Tensor, masks: torch.Tensor, batch: int, lpips_net: Any):
    """(composites, per-image metrics, seconds per image) of one suite."""
    painter.fill_tensor(images[:1], masks[:1])  # warm-up (allocations, lazy buffers)
    outs, start = [], time.perf_counter()
    for i in range(0, len(images), batch):
        outs.append(painter.fill_tensor(images[i:i + batch], masks[i:i + batch]).cpu())
    seconds = (time.perf_counter() - start) / len(images)
    comp = torch.cat(outs)
    values = {}
    for i in range(0, len(images), batch):
        for k, v in per_image_metrics(comp[i:i + batch], images[i:i + batch], masks[i:i + batch], lpips_net).items():
            values.setdefault(k, []).append(v.cpu())
    return comp, {k: torch.cat(v) for k, v in values.items()}, seconds


def summarise(values: dict[str, torch.Tensor], keep: torch.Tensor | None = None) -> dict[str, float | None]:
    """Means over images (images without a hole left out of the hole metrics; None when no image counts)."""
    out = {}
    for k, v in values.items():
        mean = float((v if keep is None else v[keep]).double().nanmean())
        out[k] = None if mean != mean else round(mean, 5)
    return out


# ---------------------------------------------------------------------------------------------- writing
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.0f}"
    return "" if v is None else str(v)


def _sec(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def markdown(result: dict) -> str:
    lines = [f"# Method comparison: {result['title']} (`compare={result['config']}`)", "",
             f"Evaluation: the first {result['test_images']} test images at {result['size']}², the same frozen masks "
             f"for every method (suites: {', '.join(result['suites'])}; seed {result['mask_seed']}); composites "
             f"scored on [0, 1]. {result['lpips']}. Device: {result['device']}.", "",
             f"Budget: {result['budget']['steps']} generator iterations at batch {result['budget']['batch_size']} per "
             f"method. Scaling rule: {result['rule']}", "",
             "| method | experiment | trained at | scale / changes | generator params | train time (s) | "
             "inference (ms/image) | options |", "|---|---|---|---|---|---|---|---|"]
    for name, m in result["methods"].items():
        lines.append(f"| {name} | {m['experiment']} | {m['trained_at']} | {m.get('scale') or ''} | {m['params']:,} | "
                     f"{_sec(m['train_seconds'])} | {m['infer_ms_per_image']:.2f} | {m['options'] or ''} |")
    names = [k for k in METRICS if any(k in r for r in result["rows"])]
    lines += ["", "| suite | method | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in result["rows"]:
        lines.append(f"| {r['suite']} | {r['method']} | " + " | ".join(_fmt(r.get(k)) for k in names) + " |")
    lines += ["", "PSNR/SSIM/L1 over the whole composite, psnr_hole/l1_hole over the hole pixels; per hole-ratio bin "
              "in results.json (`bins`). Training time: wall time of the method's inpaintlab-train run (start-up and "
              "the final validation included; methods trained side by side share the machine). Inference: the "
              "Inpainter's fill_tensor per image (batches of the evaluation size, after one warm-up call)."]
    return "\n".join(lines) + "\n"


def draw_grid(path: Path, images: torch.Tensor, suites: dict[str, torch.Tensor],
              composites: dict[str, dict[str, torch.Tensor]], n: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(composites)
    cols = ["original", "input (hole white)", *variants]
    rows = [(s, i) for s in suites for i in range(min(n, len(images)))]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(1.3 * len(cols), 1.3 * len(rows) + 0.4), squeeze=False)
    for r, (suite, i) in enumerate(rows):
        mask = suites[suite][i]
        tiles = [images[i], images[i] * (1 - mask) + mask, *[composites[v][suite][i] for v in variants]]
        for col, tile in enumerate(tiles):
            ax = axes[r, col]
            arr = ((tile.float() + 1) / 2).clamp(0, 1)
            ax.imshow(arr[0].numpy() if arr.shape[0] == 1 else arr.permute(1, 2, 0).numpy(), cmap="gray",
                      vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[col], fontsize=7, rotation=30)
            if col == 0:
                ax.set_ylabel(suite, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_bars(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in ("psnr", "ssim", "l1_hole", "lpips") if any(k in r for r in result["rows"])]
    suites, variants = list(result["suites"]), list(result["methods"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 4), squeeze=False)
    width = 0.8 / max(1, len(variants))
    cmap = plt.get_cmap("tab20")
    for ax, metric in zip(axes[0], names):
        for j, v in enumerate(variants):
            ys = [next((r.get(metric, float("nan")) for r in result["rows"] if r["method"] == v and r["suite"] == s),
                       float("nan")) for s in suites]
            ax.bar([k + (j - len(variants) / 2) * width + width / 2 for k in range(len(suites))], ys, width,
                   label=v, color=cmap(j % 20))
        ax.set_xticks(range(len(suites)), suites, rotation=30, fontsize=8)
        ax.set_title(metric + (" (↓)" if metric in ("l1", "l1_hole", "lpips") else " (↑)"))
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{result['title']}: {result['budget']['steps']} iterations per method")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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


def run(cfg: DictConfig) -> dict:
    """Train (unless ``reuse``), evaluate, write the four files; returns the results record."""
    from inpaintlab.inference import Inpainter

    t0 = time.time()
    c = OmegaConf.to_container(cfg.compare, resolve=True)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    names = selected_methods(c, cfg.get("methods"))
    print(f"[compare] {c['title']}: {', '.join(names)}\n[compare] budget {c['budget']}\n[compare] rule: {c['rule']}",
          flush=True)
    if not cfg.get("reuse", False):
        train_methods(c, names, out, list(cfg.get("launcher") or []), int(cfg.get("jobs", 1)),
                      list(cfg.get("train_overrides") or []))
    device = str(cfg.get("device", "cpu"))
    images = eval_images(c)
    suites = freeze_suites(c, out, len(images))
    lpips_net, lpips_text = lpips_network(bool(c.get("lpips", True)))
    if lpips_net is not None:
        lpips_net = lpips_net.to(device)
    print(f"[compare] {lpips_text}", flush=True)
    batch = int(c.get("eval_batch_size", 50))
    methods, rows, bins, composites = {}, [], [], {}
    from inpaintlab.data.mask_sets import hole_ratio_bin

    for m in names:
        entry = c["methods"][m]
        ckpt = run_checkpoint(c, m, out)
        for variant, options in (entry.get("variants") or {m: {}}).items():
            painter = Inpainter.from_checkpoint(ckpt, device=device, **(options or {}))
            gen = painter.generator
            trained_at = f"native: {entry['native']}" if entry.get("native") else f"{c['size']}²"
            seconds, composites[variant] = [], {}
            for suite, masks in suites.items():
                comp, values, sec = evaluate_variant(painter, images.to(device), masks.to(device), batch, lpips_net)
                composites[variant][suite] = comp
                seconds.append(sec)
                rows.append({"method": variant, "suite": suite, "images": len(images), **summarise(values)})
                ratios = masks.flatten(1).mean(1)
                labels = [hole_ratio_bin(float(r)) for r in ratios]
                for label in sorted(set(labels), key=lambda s: float(s.split("-")[0])):
                    keep = torch.tensor([lab == label for lab in labels])
                    bins.append({"method": variant, "suite": suite, "bin": label, "count": int(keep.sum()),
                                 **summarise(values, keep)})
            methods[variant] = {
                "method": m, "label": entry.get("label", m), "experiment": entry["experiment"],
                "trained_at": trained_at, "native": bool(entry.get("native")), "scale": entry.get("scale"),
                "options": painter.adapter.settings if options else {},
                "params": sum(p.numel() for p in gen.parameters()),
                "train_seconds": training_seconds(ckpt.parent.parent),
                "infer_ms_per_image": round(1000 * sum(seconds) / len(seconds), 3),
                "checkpoint": str(ckpt),
            }
            print(f"[compare] scored {variant} on {len(suites)} suites", flush=True)
    result = {
        "config": c["name"], "title": c["title"], "size": c["size"], "test_images": len(images),
        "suites": list(suites), "mask_seed": c["mask_seed"], "budget": c["budget"], "rule": c["rule"],
        "lpips": lpips_text, "device": device if device != "cpu" else f"cpu ({torch.get_num_threads()} threads)",
        "methods": methods, "rows": rows, "bins": bins,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (out / "results.md").write_text(text)
    draw_grid(out / "grid.png", images.cpu(), {k: v.cpu() for k, v in suites.items()}, composites,
              int(c.get("grid_images", 2)))
    draw_bars(out / "bars.png", result)
    print("\n" + text)
    print(f"[compare] wrote {out / 'results.json'}, results.md, grid.png, bars.png in {time.time() - t0:.0f} s")
    return result


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

"""`inpaintlab-eval ckpt_path=...`: score a checkpoint on the test split; write a markdown + JSON table."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from inpaintlab.errors import ConfigError
from inpaintlab.train import build
from inpaintlab.utils.runtime import guarded, register_resolvers, save_resolved_config

log = logging.getLogger("inpaintlab.eval")
register_resolvers()

METRIC_ORDER = ("psnr", "ssim", "l1", "psnr_hole", "l1_hole", "grad_l1_hole", "loss")


def find_run_config(ckpt_path: Path) -> Path | None:
    """The resolved config.yaml of the run that wrote ``ckpt_path`` (<run>/checkpoints/x.ckpt)."""
    for parent in (ckpt_path.parent, ckpt_path.parent.parent):
        if (parent / "config.yaml").is_file():
            return parent / "config.yaml"
    return None


def with_run_config(cfg: DictConfig, run_config: Path) -> DictConfig:
    """Take data/mask/model from the training run, then re-apply dotted command-line overrides to them."""
    run_cfg = OmegaConf.load(run_config)
    overrides = [o for o in HydraConfig.get().overrides.task if o.split("=", 1)[0].lstrip("+~").startswith(("data.", "mask.", "model."))]
    with open_dict(cfg):
        for key in ("data", "mask", "model"):
            if key in run_cfg:
                cfg[key] = run_cfg[key]
        for o in overrides:
            key, value = o.lstrip("+").split("=", 1)
            OmegaConf.update(cfg, key, OmegaConf.create({"v": value})["v"] if value else None, force_add=True)
    if "mask_generator" in cfg.data:  # the run's config is resolved: keep the data's mask in sync with `mask`
        cfg.data.mask_generator = cfg.mask
    return cfg


def metrics_table(rows: list[dict[str, float]], key: str = "checkpoint") -> str:
    """A markdown table: one row per record, the standard metrics in a fixed order, then any others."""
    names = [m for m in METRIC_ORDER if any(m in r for r in rows)]
    names += sorted({k for r in rows for k in r} - set(names) - {key})
    lines = ["| " + " | ".join([key, *names]) + " |", "|" + "---|" * (len(names) + 1)]
    for r in rows:
        cells = [str(r.get(key, ""))] + [f"{r[n]:.4f}" if isinstance(r.get(n), float) else str(r.get(n, "")) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def binned_rows(metrics: dict[str, float]) -> list[dict[str, float]]:
    """``bins/<label>/<name>`` entries regrouped as one row per hole-area bin, in bin order."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if key.startswith("bins/"):
            _, label, name = key.split("/", 2)
            rows.setdefault(label, {"hole area": label})[name] = int(value) if name == "count" else value
    return sorted(rows.values(), key=lambda r: float(r["hole area"].split("-")[0]))


def evaluate(cfg: DictConfig) -> dict[str, float]:
    ckpt = Path(cfg.ckpt_path)
    if not ckpt.is_file():
        raise ConfigError(f"ckpt_path={ckpt} does not exist; expected a .ckpt file written by inpaintlab-train")
    run_config = find_run_config(ckpt)
    if cfg.get("use_run_config", True):
        if run_config is None:
            raise ConfigError(
                f"no config.yaml of the training run next to {ckpt} (looked in {ckpt.parent} and its parent); "
                "pass the experiment instead: inpaintlab-eval experiment=<name> use_run_config=false ckpt_path=..."
            )
        cfg = with_run_config(cfg, run_config)
    save_resolved_config(cfg, cfg.paths.output_dir)
    objects = build(cfg)
    trainer = objects["trainer"]
    results = trainer.test(model=objects["model"], datamodule=objects["datamodule"], ckpt_path=str(ckpt), weights_only=False)
    metrics = {k.removeprefix("test/"): float(v) for k, v in results[0].items()}
    record = {"checkpoint": str(ckpt), **metrics}
    stem = ckpt.with_suffix("")
    Path(f"{stem}.test.json").write_text(json.dumps(record, indent=2))
    overall = {k: v for k, v in metrics.items() if not k.startswith("bins/")}
    text = metrics_table([{**overall, "checkpoint": ckpt.name}])
    bins = binned_rows(metrics)
    if bins:
        text += "\nBy hole area (fraction of hole pixels, bins (lo, hi]):\n\n" + metrics_table(bins, key="hole area")
    Path(f"{stem}.test.md").write_text(text)
    log.info("wrote %s.test.md and %s.test.json", stem, stem)
    print(text)
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
@guarded
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()

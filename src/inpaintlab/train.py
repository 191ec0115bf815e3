"""`inpaintlab-train`: compose the Hydra config, instantiate data/model/callbacks/loggers/trainer, fit, test."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

import lightning as L
from inpaintlab.errors import ConfigError
from inpaintlab.utils.runtime import guarded, instantiate_nodes, register_resolvers, save_resolved_config

log = logging.getLogger("inpaintlab.train")
register_resolvers()


def _wandb_id_from_checkpoint(ckpt_path: str) -> str | None:
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # noqa: BLE001 - Lightning reports a bad checkpoint itself, with context
        return None
    return ckpt.get("inpaintlab", {}).get("wandb_run_id")


def attach_run_info(model: Any, cfg: DictConfig) -> None:
    """Give the module what every checkpoint stores: the resolved model config (``Inpainter.from_checkpoint``
    rebuilds the architecture from it), the data's image size/channels, and the inference options."""
    if not hasattr(model, "model_config"):
        return
    model.model_config = OmegaConf.to_container(cfg.model, resolve=True)
    info = {"dataset": OmegaConf.select(cfg, "data.dataset._target_", default=None)}
    for key in ("image_size", "channels", "variant"):
        value = OmegaConf.select(cfg, f"data.dataset.{key}", default=None)
        if value is not None:
            info[key] = value
    model.data_info = info
    options = cfg.get("inference_options")
    model.inference_options = dict(OmegaConf.to_container(options, resolve=True)) if options else {}


def build(cfg: DictConfig) -> dict[str, Any]:
    """Instantiate everything a run needs from the composed config."""
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist; expected a .ckpt file written by inpaintlab-train")
    if ckpt_path and cfg.get("logger") and cfg.logger.get("wandb") and not cfg.logger.wandb.get("id"):
        run_id = _wandb_id_from_checkpoint(ckpt_path)
        if run_id:  # resume the same wandb run the checkpoint was logging to
            with open_dict(cfg):
                cfg.logger.wandb.id = run_id
                cfg.logger.wandb.resume = "allow"
    log.info("data: %s", cfg.data._target_)
    datamodule = instantiate(cfg.data)
    log.info("model: %s", cfg.model._target_)
    model = instantiate(cfg.model)
    attach_run_info(model, cfg)
    callbacks = instantiate_nodes(cfg.get("callbacks"), "callbacks")
    loggers = instantiate_nodes(cfg.get("logger"), "logger")
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return {"datamodule": datamodule, "model": model, "callbacks": callbacks, "loggers": loggers, "trainer": trainer}


def log_hyperparameters(cfg: DictConfig, objects: dict[str, Any]) -> None:
    """Send the resolved config and parameter counts to every logger."""
    model = objects["model"]
    params = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    params["model/params/total"] = sum(p.numel() for p in model.parameters())
    params["model/params/generator"] = sum(p.numel() for p in model.generator.parameters())
    for logger in objects["loggers"]:
        logger.log_hyperparams(params)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and test) as the config says; returns the final metrics."""
    run_dir = Path(cfg.paths.output_dir)
    save_resolved_config(cfg, run_dir)
    objects = build(cfg)
    trainer, model, datamodule = objects["trainer"], objects["model"], objects["datamodule"]
    log_hyperparameters(cfg, objects)
    if cfg.get("train", True):
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test", False):
        best = getattr(trainer.checkpoint_callback, "best_model_path", "") if trainer.checkpoint_callback else ""
        ckpt = best or None
        if ckpt is None and cfg.get("train", True):
            log.warning("no best checkpoint recorded; testing the current weights")
        trainer.test(model=model, datamodule=datamodule, ckpt_path=ckpt, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@guarded
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    if name and HydraConfig.get().mode.name == "MULTIRUN":
        if name not in metrics:
            raise ConfigError(f"optimized_metric={name} was not logged; logged metrics: {sorted(metrics)}")
        return metrics[name]
    return None


if __name__ == "__main__":
    main()

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


def init_weights(model: torch.nn.Module, path: str, resuming: bool = False) -> None:
    """Start from a checkpoint's weights only (generator, critic): fresh optimisers, step 0 — e.g. a separate
    fine-tuning run (PConv Sec. 4.2). ``ckpt_path`` instead resumes a run with its optimiser states and step."""
    if resuming:
        raise ConfigError("set init_from (weights only, a new run) or ckpt_path (resume a run), not both")
    if not Path(path).is_file():
        raise ConfigError(f"init_from={path} does not exist; expected a .ckpt file written by inpaintlab-train")
    state = torch.load(path, map_location="cpu", weights_only=False).get("state_dict")
    if state is None:
        raise ConfigError(f"init_from={path} holds no state_dict; expected a .ckpt file written by inpaintlab-train")
    own, nets = model.state_dict(), ("generator.", "discriminator.")
    bad = [k for k in own if k.startswith(nets) and (k not in state or state[k].shape != own[k].shape)]
    bad += [k for k in state if k.startswith(nets) and k not in own]
    if bad:
        raise ConfigError(f"init_from={path} does not match this model's networks ({len(bad)} keys differ, "
                          f"e.g. {bad[0]}): use the same model/generator config as the run that wrote it")
    model.load_state_dict(state, strict=False)  # the loss modules' frozen VGG may differ (pretrained or not)
    log.info("initialised weights from %s (optimisers and step start fresh)", path)


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
    if cfg.get("init_from"):
        init_weights(model, cfg.init_from, resuming=bool(ckpt_path))
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

"""`inpaintlab-eval ckpt_path=...`: score a checkpoint on the test split; write a markdown + JSON table."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from inpaintlab.conventions import find_run_config, parse_value
from inpaintlab.errors import ConfigError
from inpaintlab.report import write_report
from inpaintlab.train import build
from inpaintlab.utils.runtime import (
    check_command_line,
    claim_run_dir,
    guarded,
    register_resolvers,
    save_resolved_config,
)

log = logging.getLogger("inpaintlab.eval")
register_resolvers()

def _yaml_value(value: str):
    """A command-line override's value as Hydra reads it (``64`` → int, ``[1, 2]`` → list, ``null`` → None); text
    that is not YAML stays text (Hydra accepted the override already)."""
    try:
        return parse_value(value)
    except ValueError:
        return value


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
            OmegaConf.update(cfg, key, _yaml_value(value), force_add=True)
    if "mask_generator" in cfg.data:  # the run's config is resolved: keep the data's mask in sync with `mask`
        cfg.data.mask_generator = cfg.mask
    return cfg


def evaluate(cfg: DictConfig) -> dict[str, float]:
    from inpaintlab.pretrained import stored_model_config
    from inpaintlab.utils.preflight import read_checkpoint

    ckpt = Path(cfg.ckpt_path)
    claim_run_dir(cfg.paths.output_dir)
    stored = stored_model_config(read_checkpoint(ckpt, "ckpt_path"))  # one line when missing or truncated
    run_config = find_run_config(ckpt)
    if run_config is not None:
        stored = None
    if cfg.get("use_run_config", True) and stored is not None:
        # a checkpoint copied away from its run: the model from the checkpoint, data and masks from the given
        # config (experiment=<name> or data=…), dotted overrides included
        log.info("no config.yaml beside %s: the model config stored in it, data/masks from the command line", ckpt)
        with open_dict(cfg):
            cfg.model = OmegaConf.create(stored)
    elif cfg.get("use_run_config", True):
        if run_config is None:
            raise ConfigError(
                f"no config.yaml of the training run next to {ckpt} (looked in {ckpt.parent} and its parent); "
                "pass the experiment instead: inpaintlab-eval experiment=<name> use_run_config=false ckpt_path=..."
            )
        cfg = with_run_config(cfg, run_config)
    elif stored is not None:  # use_run_config=false: the experiment's model, which must fit the checkpoint
        log.info("use_run_config=false: data, masks and model from the command line's config")
    with open_dict(cfg):  # an experiment's settings of training-only callbacks (model_checkpoint.monitor...)
        for name in [n for n, node in (cfg.get("callbacks") or {}).items()
                     if node is not None and "_target_" not in node]:
            del cfg.callbacks[name]
    save_resolved_config(cfg, cfg.paths.output_dir)
    objects = build(cfg, fit=False, test=True)
    trainer, datamodule = objects["trainer"], objects["datamodule"]
    trainer.test(model=objects["model"], datamodule=datamodule, ckpt_path=str(ckpt), weights_only=False)
    metrics = {k.removeprefix("test/"): float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    suites = datamodule.suite_names("test") if hasattr(datamodule, "suite_names") else []
    text = write_report(ckpt, metrics, suites)
    print(text)
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
@guarded
def _main(cfg: DictConfig) -> None:
    evaluate(cfg)


def main() -> None:
    """The console entry point: a ``hydra.run.dir`` holding another run is refused before Hydra writes there."""
    import sys

    check_command_line(sys.argv[1:], "eval")
    return _main()


if __name__ == "__main__":
    main()

"""`inpaintlab-train`: compose the Hydra config, instantiate data/model/callbacks/loggers/trainer, fit, test."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from inpaintlab.errors import ConfigError
from inpaintlab.utils.runtime import (
    check_command_line,
    claim_run_dir,
    guarded,
    instantiate_nodes,
    quiet_library_noise,
    register_resolvers,
    save_resolved_config,
)

if TYPE_CHECKING:
    import torch

# torch and Lightning (~4 s of imports) load only once a run is built: a bad option, a held run folder or a
# missing dataset is reported in about a second.
log = logging.getLogger("inpaintlab.train")
register_resolvers()
quiet_library_noise()


def run_record(cfg: DictConfig) -> Any:
    """The callback that writes what every checkpoint stores besides the weights: the resolved model config
    (``Inpainter.from_checkpoint`` rebuilds the architecture from it), the data's image size/channels, the inference
    options, the wandb run id and the RNG states."""
    from inpaintlab.callbacks.run_record import RunRecord

    info = {"dataset": OmegaConf.select(cfg, "data.dataset._target_", default=None)}
    for key in ("image_size", "channels", "variant"):
        value = OmegaConf.select(cfg, f"data.dataset.{key}", default=None)
        if value is not None:
            info[key] = value
    return RunRecord(model_config=OmegaConf.to_container(cfg.model, resolve=True), data=info)


def data_parallel_processes(trainer: Any) -> int:
    """How many processes share each batch: devices × nodes under a data-parallel strategy (DDP, ddp_spawn,
    FSDP, DeepSpeed), else 1."""
    from lightning.pytorch.strategies import ParallelStrategy

    if not isinstance(trainer.strategy, ParallelStrategy):
        return 1
    return max(1, int(trainer.num_devices) * int(trainer.num_nodes))


def _trainer_name(cfg: DictConfig) -> str:
    try:
        return HydraConfig.get().runtime.choices.get("trainer", "?")
    except Exception:  # noqa: BLE001 - outside a Hydra run
        return str(cfg.trainer.get("strategy", "?"))
def init_weights(model: torch.nn.Module, path: str, resuming: bool = False, ckpt: dict | None = None,
                 model_config: Any = None) -> None:
    """Start from a checkpoint's weights only (generator, critic): fresh optimisers, step 0 — e.g. a separate
    fine-tuning run (PConv Sec. 4.2). ``ckpt_path`` instead resumes a run with its optimiser states and step."""
    from inpaintlab.utils.preflight import check_checkpoint_fits, read_checkpoint

    if resuming:
        raise ConfigError("set init_from (weights only, a new run) or ckpt_path (resume a run), not both")
    ckpt = ckpt if ckpt is not None else read_checkpoint(path, "init_from")
    check_checkpoint_fits(ckpt, model, "init_from", path, model_config)
    model.load_state_dict(ckpt["state_dict"], strict=False)  # the loss modules' frozen VGG may differ
    log.info("initialised weights from %s (optimisers and step start fresh)", path)


def build(cfg: DictConfig, fit: bool | None = None, test: bool | None = None) -> dict[str, Any]:
    """Instantiate everything a run needs from the composed config, validating before work (principle 1 of
    docs/reliability.md): options, checkpoints and whether they fit the model, every split the run touches
    (``fit``: train/val, ``test``: test; by default what ``train``/``test`` say), the logged metric names."""
    from inpaintlab.utils.preflight import (
        cap_val_check_interval,
        check_batch_fits,
        check_checkpoint_fits,
        check_first_samples,
        check_logged_metrics,
        check_options,
        check_resume_step,
        prepare_splits,
        read_checkpoint,
    )
    from inpaintlab.utils.quickstart import apply_quickstart

    fit = bool(cfg.get("train", True)) if fit is None else fit
    test = bool(cfg.get("test", False)) if test is None else test
    apply_quickstart(cfg)
    check_options(cfg)
    if fit:
        cap_val_check_interval(cfg)
    if cfg.get("seed") is not None:
        from lightning.fabric.utilities.seed import seed_everything

        seed_everything(int(cfg.seed), workers=True)
    ckpt_path = cfg.get("ckpt_path")
    if cfg.get("init_from") and ckpt_path:
        raise ConfigError("set init_from (weights only, a new run) or ckpt_path (resume a run), not both")
    ckpt = read_checkpoint(ckpt_path, "ckpt_path") if ckpt_path else None
    if ckpt is not None and fit:
        check_resume_step(ckpt, cfg, ckpt_path)
    init = read_checkpoint(cfg.init_from, "init_from") if cfg.get("init_from") else None
    if ckpt is not None and cfg.get("logger") and cfg.logger.get("wandb") and not cfg.logger.wandb.get("id"):
        run_id = (ckpt.get("inpaintlab") or {}).get("wandb_run_id")
        if run_id:  # resume the same wandb run the checkpoint was logging to
            with open_dict(cfg):
                cfg.logger.wandb.id = run_id
                cfg.logger.wandb.resume = "allow"
    log.info("data: %s", cfg.data._target_)
    datamodule = instantiate(cfg.data)
    log.info("model: %s", cfg.model._target_)
    model = instantiate(cfg.model)
    if hasattr(model, "inference_options"):  # the adapter's options for validation and test
        options = cfg.get("inference_options")
        model.inference_options = dict(OmegaConf.to_container(options, resolve=True)) if options else {}
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    if ckpt is not None:
        check_checkpoint_fits(ckpt, model, "ckpt_path", ckpt_path, model_config)
    if init is not None:
        init_weights(model, cfg.init_from, ckpt=init, model_config=model_config)
    del ckpt, init
    callbacks = [*instantiate_nodes(cfg.get("callbacks"), "callbacks"), run_record(cfg)]
    loggers = instantiate_nodes(cfg.get("logger"), "logger")
    from lightning.pytorch.callbacks import ModelSummary, ProgressBar

    if cfg.trainer.get("enable_progress_bar", True) and not any(isinstance(c, ProgressBar) for c in callbacks):
        from inpaintlab.callbacks.progress import progress_bar

        callbacks.append(progress_bar())  # "Epoch 0", not "Epoch 0/-2"; plain lines when stdout is a file
    extra = {}
    if cfg.trainer.get("enable_model_summary", True) and not any(isinstance(c, ModelSummary) for c in callbacks):
        from inpaintlab.callbacks.summary import InpaintingModelSummary

        callbacks.append(InpaintingModelSummary())  # no "Total FLOPs: 0"
        extra["enable_model_summary"] = False  # ours is the summary: Lightning need not say it skips its own
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)
    if hasattr(datamodule, "set_world_size"):
        datamodule.set_world_size(data_parallel_processes(trainer), f"trainer={_trainer_name(cfg)}")
    prepare_splits(datamodule, fit=fit, test=test)
    if fit:
        check_batch_fits(datamodule)
    check_first_samples(datamodule, model)
    if fit:
        check_logged_metrics(cfg, datamodule, callbacks, model)
    return {"datamodule": datamodule, "model": model, "callbacks": callbacks, "loggers": loggers, "trainer": trainer}


def log_hyperparameters(cfg: DictConfig, objects: dict[str, Any]) -> None:
    """Send the resolved config and parameter counts to every logger."""
    model = objects["model"]
    params = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    params["model/params/total"] = sum(p.numel() for p in model.parameters())
    params["model/params/generator"] = sum(p.numel() for p in model.generator.parameters())
    for logger in objects["loggers"]:
        logger.log_hyperparams(params)


def test_checkpoint(cfg: DictConfig, trainer: Any) -> str | None:
    """The checkpoint the test stage scores: ``test_ckpt=last`` (the final step, the default: papers report fixed
    iteration counts) or ``best`` (by the checkpoint callback's monitor). A resumed run's last checkpoint is its
    own (saved in its run folder at its final step); without training (``train=false``) the final model is
    ``ckpt_path``."""
    choice = str(cfg.get("test_ckpt", "last"))
    if choice not in ("best", "last"):
        raise ConfigError(f"test_ckpt must be 'best' or 'last', got {choice!r}")
    callback = trainer.checkpoint_callback
    path = ""
    if callback is not None and cfg.get("train", True):
        path = getattr(callback, "last_model_path", "") if choice == "last" else getattr(callback, "best_model_path", "")
    if not path and cfg.get("ckpt_path"):
        path = str(cfg.ckpt_path)
    if not path and cfg.get("train", True):
        log.warning("no %s checkpoint recorded; testing the current weights", choice)
    return path or None


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and test) as the config says; returns the final metrics."""
    from inpaintlab.utils.quickstart import apply_quickstart

    quiet_library_noise()  # again here: a sweep's worker may run this function without importing the module
    run_dir = Path(cfg.paths.output_dir)
    claim_run_dir(run_dir)
    apply_quickstart(cfg)  # before the config is saved: the run's config.yaml says what it trained on
    save_resolved_config(cfg, run_dir)
    objects = build(cfg)
    trainer, model, datamodule = objects["trainer"], objects["model"], objects["datamodule"]
    log_hyperparameters(cfg, objects)
    if cfg.get("train", True):
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        try:
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        except SIGTERMException:  # last.ckpt was saved at the current step (callbacks.checkpoint)
            print(f"inpaintlab: stopped by SIGTERM at step {trainer.global_step}; resume with "
                  f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", file=sys.stderr)
            raise SystemExit(143) from None
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test", False):
        ckpt = test_checkpoint(cfg, trainer)
        trainer.test(model=model, datamodule=datamodule, ckpt_path=ckpt, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        if trainer.is_global_zero:
            from inpaintlab.report import write_report

            suites = datamodule.suite_names("test") if hasattr(datamodule, "suite_names") else []
            tested = {k.removeprefix("test/"): float(v) for k, v in trainer.callback_metrics.items()
                      if k.startswith("test/")}
            write_report(Path(ckpt) if ckpt else None, tested, suites, run_dir)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    report_offline_wandb(objects["loggers"])
    return metrics


def report_offline_wandb(loggers: list[Any]) -> None:
    """Finish the wandb run here when stderr is redirected: its footer (the `wandb sync` hint) comes out as plain
    text instead of raw colour codes."""
    if sys.stderr.isatty():
        return
    import contextlib
    import io

    import click

    for logger in loggers:
        run = getattr(logger, "_experiment", None)
        if run is None or not hasattr(run, "finish"):
            continue
        with contextlib.redirect_stderr(io.StringIO()) as footer:
            run.finish()
        text = click.unstyle(footer.getvalue())
        lines = [ln for ln in text.splitlines() if ln.strip() not in ("", "wandb:")]
        if lines:
            print("\n".join(lines), file=sys.stderr)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@guarded
def _main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    if name and HydraConfig.get().mode.name == "MULTIRUN":
        if name not in metrics:
            raise ConfigError(f"optimized_metric={name} was not logged; logged metrics: {sorted(metrics)}")
        return metrics[name]
    return None


def main() -> None:
    """The console entry point: a ``hydra.run.dir`` holding another run is refused before Hydra writes there."""
    import sys

    check_command_line(sys.argv[1:], "train")
    return _main()


if __name__ == "__main__":
    main()

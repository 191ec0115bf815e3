"""Validate before work (docs/reliability.md, principle 1): everything a run needs is checked before the first
training step — numeric options, checkpoint files and whether they fit the experiment's model, every dataset
split the run touches (test included), ``val_check_interval`` against ``max_steps``, and whether the
checkpoint ``monitor`` / ``optimized_metric`` will be logged. Every failure is one ``ConfigError`` line."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from inpaintlab.errors import ConfigError

log = logging.getLogger("inpaintlab")

_MISSING = object()


def _select(cfg: DictConfig, key: str) -> Any:
    try:
        return OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False)
    except Exception:  # noqa: BLE001 - an unresolvable interpolation is reported by instantiate itself
        return _MISSING


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# key, kind, (lo, hi) inclusive bounds or None, allow null, what the user should give
INT, FLOAT, INT_OR_FRACTION = "int", "float", "int-or-fraction"
OPTIONS: list[tuple[str, str, tuple[float, float] | None, bool, str]] = [
    ("data.batch_size", INT, (1, math.inf), False, "a positive integer"),
    ("data.eval_batch_size", INT, (1, math.inf), True, "a positive integer (or null = data.batch_size)"),
    ("data.num_workers", INT, (0, math.inf), False, "an integer >= 0"),
    ("data.val_size", INT, (0, math.inf), False, "an integer >= 0"),
    ("data.test_size", INT, (1, math.inf), True, "a positive integer (or null = the whole test split)"),
    ("data.prefetch_factor", INT, (1, math.inf), True, "a positive integer or null"),
    ("data.eval_mask_seed", INT, (0, math.inf), False, "an integer >= 0"),
    ("trainer.max_steps", INT, (-1, math.inf), False, "-1 (no limit) or a positive integer"),
    ("trainer.max_epochs", INT, (-1, math.inf), True, "-1 (no limit), a positive integer or null"),
    ("trainer.val_check_interval", INT_OR_FRACTION, None, True,
     "a positive integer (training batches) or a fraction in (0, 1] of an epoch"),
    ("trainer.check_val_every_n_epoch", INT, (1, math.inf), True, "a positive integer or null"),
    ("trainer.log_every_n_steps", INT, (1, math.inf), False, "a positive integer"),
    ("trainer.accumulate_grad_batches", INT, (1, math.inf), False, "a positive integer"),
    ("trainer.limit_train_batches", INT_OR_FRACTION, None, True, "a positive integer or a fraction in (0, 1]"),
    ("trainer.limit_val_batches", INT_OR_FRACTION, (0, math.inf), True, "an integer >= 0 or a fraction in [0, 1]"),
    ("trainer.limit_test_batches", INT_OR_FRACTION, None, True, "a positive integer or a fraction in (0, 1]"),
    ("trainer.num_sanity_val_steps", INT, (-1, math.inf), False, "-1 or an integer >= 0"),
    ("model.optimizer_g.lr", FLOAT, (0, math.inf), False, "a positive finite number"),
    ("model.optimizer_d.lr", FLOAT, (0, math.inf), False, "a positive finite number"),
    ("model.n_critic", INT, (1, math.inf), False, "a positive integer"),
    ("model.max_skipped", INT, (0, math.inf), False, "an integer >= 0"),
    ("seed", INT, (0, 2**32 - 1), True, "an integer in [0, 2^32-1] or null"),
    ("ema_decay", FLOAT, (0, 1), True, "a number in [0, 1) or null"),
]


def _check_value(key: str, value: Any, kind: str, bounds: tuple[float, float] | None, nullable: bool,
                 expected: str) -> None:
    if value is None:
        if nullable:
            return
        raise ConfigError(f"{key}=null: expected {expected}")
    bad = ConfigError(f"{key}={value!r}: expected {expected}")
    if kind == INT:
        if not _is_int(value):
            raise bad
    elif kind == FLOAT:
        if not _is_num(value) or not math.isfinite(value):
            raise bad
        if key.endswith(".lr") and value <= 0:
            raise bad
        if key == "ema_decay" and not 0 <= value < 1:
            raise bad
        return
    elif kind == INT_OR_FRACTION:
        if _is_int(value):
            lo = bounds[0] if bounds else 1
            if value < lo:
                raise bad
            return
        if isinstance(value, float) and math.isfinite(value) and (0 < value <= 1 or (bounds and value == 0)):
            return
        raise bad
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise bad


def check_options(cfg: DictConfig) -> None:
    """Types and ranges of the numeric options a run reads (``data.batch_size=abc``, a negative lr...)."""
    for key, kind, bounds, nullable, expected in OPTIONS:
        value = _select(cfg, key)
        if value is _MISSING:
            continue
        _check_value(key, value, kind, bounds, nullable, expected)
    losses = _select(cfg, "model.losses")
    if isinstance(losses, DictConfig):
        for name in losses:
            weight = _select(cfg, f"model.losses.{name}.weight")
            if weight is not _MISSING and weight is not None and (not _is_num(weight) or not math.isfinite(weight)
                                                                  or weight < 0):
                raise ConfigError(f"model.losses.{name}.weight={weight!r}: expected a finite number >= 0")
    test_ckpt = _select(cfg, "test_ckpt")
    if test_ckpt is not _MISSING and test_ckpt not in ("best", "last"):
        raise ConfigError(f"test_ckpt={test_ckpt!r}: expected 'best' or 'last'")
    max_steps, max_epochs = _select(cfg, "trainer.max_steps"), _select(cfg, "trainer.max_epochs")
    if max_steps == 0:
        raise ConfigError("trainer.max_steps=0: expected -1 (no limit) or a positive number of steps")
    if max_steps in (-1, _MISSING, None) and max_epochs in (-1, None, _MISSING) and _select(cfg, "train") is not False \
            and _select(cfg, "trainer") is not _MISSING:
        raise ConfigError("trainer.max_steps=-1 and trainer.max_epochs=-1: the run would never end; set one of them")


def cap_val_check_interval(cfg: DictConfig) -> None:
    """A short run (``trainer.max_steps`` below ``val_check_interval``) would never validate — no best checkpoint,
    no images. Validate at its end instead, and say so."""
    interval, max_steps = _select(cfg, "trainer.val_check_interval"), _select(cfg, "trainer.max_steps")
    if not (_is_int(interval) and _is_int(max_steps)) or max_steps <= 0:
        return
    n_critic = _select(cfg, "model.n_critic")
    batches = max_steps * (n_critic if _is_int(n_critic) and n_critic > 1 else 1)  # interval counts batches
    if interval > batches:
        with open_dict(cfg):
            cfg.trainer.val_check_interval = batches
        log.warning("trainer.val_check_interval=%d is beyond trainer.max_steps=%d: validating every %d batches "
                    "instead (at the end of the run), so it still gets a best checkpoint and images",
                    interval, max_steps, batches)


# ----------------------------------------------------------------------------------------------- checkpoints
def read_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """Load a Lightning checkpoint on the CPU; one line when it is missing, truncated or not a checkpoint."""
    import torch

    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"{key}={path} {what}; expected a .ckpt file written by inpaintlab-train")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, random bytes, pickle errors: all "unreadable"
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise ConfigError(f"{key}={path} is not a readable checkpoint (truncated or not written by "
                          f"inpaintlab-train: {reason})") from None
    if not isinstance(obj, Mapping) or not isinstance(obj.get("state_dict"), Mapping):
        raise ConfigError(f"{key}={path} holds no Lightning state_dict; expected a .ckpt file written by "
                          "inpaintlab-train (released weights: use inpaintlab-inpaint --model NAME)")
    return dict(obj)


def _generator_name(config: Mapping[str, Any] | None) -> str | None:
    node = (config or {}).get("generator") if isinstance(config, Mapping) else None
    target = node.get("_target_") if isinstance(node, Mapping) else None
    return str(target).rpartition(".")[2] if target else None


def check_checkpoint_fits(ckpt: Mapping[str, Any], model: Any, key: str, path: str | Path,
                          model_config: Mapping[str, Any] | None = None) -> None:
    """The checkpoint's networks must be this experiment's: the stored generator class and every
    ``generator.*`` / ``discriminator.*`` key and shape (no missing-keys dump from ``load_state_dict``)."""
    state = ckpt.get("state_dict") or {}
    stored = (ckpt.get("inpaintlab") or {}).get("model_config") if isinstance(ckpt.get("inpaintlab"), Mapping) else None
    theirs, ours = _generator_name(stored), _generator_name(model_config)
    if theirs and ours and theirs != ours:
        raise ConfigError(f"{key}={path} holds a {theirs} generator but this experiment builds {ours}: "
                          "use the experiment that wrote it (its config.yaml) or another checkpoint")
    own, nets = model.state_dict(), ("generator.", "discriminator.")
    bad = [k for k in own if k.startswith(nets) and (k not in state or tuple(state[k].shape) != tuple(own[k].shape))]
    bad += [k for k in state if str(k).startswith(nets) and k not in own]
    if bad:
        what = f", written by a {theirs} model" if theirs else ""
        raise ConfigError(f"{key}={path} does not match this experiment's {ours or type(model).__name__} networks "
                          f"({len(bad)} keys differ, e.g. {bad[0]}{what}): use the experiment that wrote it or "
                          "another checkpoint")


def check_resume_step(ckpt: Mapping[str, Any], cfg: DictConfig, path: str | Path) -> None:
    """Resuming with ``max_steps`` at or below the checkpoint's step would train nothing and silently test."""
    step, max_steps = ckpt.get("global_step"), _select(cfg, "trainer.max_steps")
    if _is_int(step) and _is_int(max_steps) and 0 < max_steps <= step:
        raise ConfigError(f"ckpt_path={path} is at step {step} and trainer.max_steps={max_steps}: nothing left to "
                          f"train; raise trainer.max_steps above {step} (or score it: inpaintlab-eval ckpt_path={path})")


# ----------------------------------------------------------------------------------------------- data, metrics
def prepare_splits(datamodule: Any, fit: bool, test: bool) -> None:
    """Open every split the run touches now (test included), so a missing file fails before step 1."""
    if not hasattr(datamodule, "setup"):
        return
    if fit:
        datamodule.setup("fit")
    if test:
        datamodule.setup("test")


def _metric_leaves(callbacks: list[Any]) -> set[str]:
    from inpaintlab.callbacks.metrics import InpaintingMetrics, inpainting_metrics

    leaves = {"loss", "sec_per_image"}
    for cb in callbacks:
        if isinstance(cb, InpaintingMetrics):
            leaves |= set(inpainting_metrics(cb.ssim_kernel, cb.ssim_sigma).keys())
            leaves |= set(cb.extra_metrics)
    return leaves


def check_logged_metrics(cfg: DictConfig, datamodule: Any, callbacks: list[Any], model: Any = None) -> None:
    """``callbacks.model_checkpoint.monitor`` and ``optimized_metric`` must name a metric the run logs
    (``val/<metric>``, ``val/<suite>/<metric>`` with several validation suites, or ``train/loss…``)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    leaves = _metric_leaves(callbacks)
    suites = datamodule.suite_names("val") if hasattr(datamodule, "suite_names") else []
    examples = sorted(f"val/{s + '/' if len(suites) > 1 else ''}{m}" for s in (suites or ["default"])
                      for m in ("psnr", "ssim", "l1", "l1_hole", "psnr_hole", "loss"))[:6]
    names = {"optimized_metric": _select(cfg, "optimized_metric")}
    for cb in callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.monitor:
            names["callbacks.model_checkpoint.monitor"] = cb.monitor
    for key, name in names.items():
        if name in (None, _MISSING, ""):
            continue
        name = str(name)
        parts = name.split("/")
        ok = False
        if parts[0] == "train":
            ok = name == "train/loss" or name.startswith("train/loss/")
        elif parts[0] == "val" and len(parts) >= 2 and parts[-1] in leaves:
            middle = parts[1:-1]
            if len(suites) > 1:
                ok = bool(middle) and middle[0] in suites
            else:
                ok = len(middle) <= 1 and (not middle or middle[0] not in ("bins",))
        if not ok:
            raise ConfigError(f"{key}={name} is not a metric this run logs; it logs e.g. {', '.join(examples)} "
                              f"(metrics: {', '.join(sorted(leaves))})")


def check_batch_fits(datamodule: Any) -> None:
    """``data.batch_size`` is the paper's batch, part of the protocol: a training set smaller than one batch (per
    data-parallel process) would silently train on smaller ones. Refused, unless ``data.drop_last=false`` asks for
    the smaller batches (then a warning)."""
    train = getattr(datamodule, "train_set", None)
    batch = getattr(datamodule, "process_batch_size", None)
    if train is None or not _is_int(batch):
        return
    world = int(getattr(datamodule, "world_size", 1))
    n = -(-len(train) // world)  # images each process sees per epoch
    if n >= batch:
        return
    held = f", after holding out {len(datamodule.val_set)} for validation" if (
        datamodule.splits.get("val") is None and getattr(datamodule, "val_set", None) is not None) else ""
    per = f" per process ({world} processes)" if world > 1 else ""
    if getattr(datamodule, "drop_last", True):
        raise ConfigError(f"data.batch_size={datamodule.batch_size} is larger than the training set ({n} images{per}"
                          f"{held}): no full batch could be drawn; lower data.batch_size to at most {n * world}, add "
                          "images, or set data.drop_last=false to train on batches of the whole set")
    log.warning("data.batch_size=%d is larger than the training set (%d images%s%s): training on batches of %d "
                "(data.drop_last=false)", datamodule.batch_size, n, per, held, n)


def check_generator_size(model: Any, h: int, w: int) -> None:
    """The generator must run at the training images' size: a fixed-size net at its ``native_size``, a fully
    convolutional one at a multiple of its ``size_multiple`` and at least its ``min_size`` (what inference pads to)."""
    from inpaintlab.inference.adapters import adapter_for

    gen = getattr(model, "generator", None)
    if gen is None:
        return
    try:
        probe = adapter_for(gen, getattr(model, "discriminator", None))  # its size properties, default options
    except ConfigError:
        return
    name, native, multiple = type(gen).__name__, probe.native_size, max(1, probe.size_multiple)
    if native is not None and tuple(native) != (h, w):
        raise ConfigError(f"model.generator ({name}) works on {native[0]}×{native[1]} images, but the training "
                          f"images are {h}×{w}: set data.dataset.image_size={native[0]} or another generator")
    if native is None and (h % multiple or w % multiple or min(h, w) < probe.min_size):
        levels = getattr(gen, "levels", None)
        fit = ""
        if isinstance(levels, int):
            fit = max(k for k in range(1, levels + 1) if h % 2**k == 0 and w % 2**k == 0) if (h % 2 == 0 and w % 2 == 0) else 0
            fit = f" or model.generator.levels={fit}" if fit else ""
        raise ConfigError(f"model.generator ({name}) needs image sides divisible by {multiple} (and at least "
                          f"{probe.min_size}), but the training images are {h}×{w}: set data.dataset.image_size to a "
                          f"multiple of {multiple}{fit}")


def check_first_samples(datamodule: Any, model: Any = None) -> None:
    """Make the first sample of every split and mask suite now — the image read and the mask drawn at its size —
    and check the generator runs at that size, so what would only fail once "Epoch 0" has started (a mask
    generator that cannot draw at ``data.dataset.image_size``, e.g. DeepFill v2's 128² box at 64²; a PConv U-Net
    whose levels do not divide the size) fails before training, in one line."""
    from inpaintlab.data.mask_sets import check_size
    from inpaintlab.errors import InpaintlabError

    sets = [("training", getattr(datamodule, "train_set", None))]
    sets += [(f"validation suite '{k}'", v) for k, v in (getattr(datamodule, "val_sets", None) or {}).items()]
    sets += [(f"test suite '{k}'", v) for k, v in (getattr(datamodule, "test_sets", None) or {}).items()]
    for what, dataset in sets:
        if dataset is None or len(dataset) == 0:
            continue
        images = getattr(dataset, "images", None)
        generator = getattr(dataset, "mask_generator", None)
        if images is not None:
            item = images[0]
            h, w = item["image"].shape[-2:]
            if what == "training" and model is not None:
                check_generator_size(model, h, w)
            if generator is not None and getattr(dataset, "mask_set", None) is None and "mask" not in item:
                check_size(generator, h, w, f"the {what} mask generator ({type(generator).__name__})",
                           "data.dataset.image_size")
        try:
            dataset[0]
        except InpaintlabError as e:
            raise ConfigError(f"the first {what} sample cannot be made: {e}") from None

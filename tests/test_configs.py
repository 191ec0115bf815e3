"""Every option of every config group composes, and every `_target_` it names exists."""

from __future__ import annotations

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from helpers import CONF_DIR, compose_config

GROUPS = ["data", "mask", "trainer", "logger", "callbacks", "debug", "hparams_search", "experiment", "model",
          "model/generator", "model/discriminator", "model/adversarial", "model/losses", "model/cr", "model/phases",
          "+eval_masks", "hydra/launcher"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g.lstrip("+")).glob("*.yaml"))]
# groups whose options only make sense inside their module: composed with the config that uses them
CONTEXT = {"model/cr": ["model=crfill"], "model/phases": ["experiment=pconv_places2"]}


def _targets(node, path="") -> list[tuple[str, str]]:
    found = []
    if isinstance(node, DictConfig):
        for key in node.keys():
            value = node._get_node(key)
            if key == "_target_":
                found.append((path, str(node[key])))
            elif isinstance(value, (DictConfig, ListConfig)):
                found += _targets(value, f"{path}.{key}")
    elif isinstance(node, ListConfig):
        for i, v in enumerate(node):
            found += _targets(v, f"{path}[{i}]")
    return found


def test_groups_are_populated():
    assert len(OPTIONS) > 40


def _public_path(obj) -> str:
    """The one ``_target_`` style: the shortest import path that names ``obj`` — its package's export where the
    package exports it (``inpaintlab.losses.L1Loss``), else its module (``inpaintlab.models.btgmi.BTGMIGenerator``)."""
    import importlib

    parts = obj.__module__.split(".")
    for i in range(1, len(parts) + 1):
        if getattr(importlib.import_module(".".join(parts[:i])), obj.__qualname__, None) is obj:
            return f"{'.'.join(parts[:i])}.{obj.__qualname__}"
    return f"{obj.__module__}.{obj.__qualname__}"


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_targets_exist(group, option, tmp_path):
    cfg = compose_config([*CONTEXT.get(group, []), f"{group}={option}"], tmp_path)
    body = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    for path, target in _targets(body):
        try:
            obj = get_object(target)
        except Exception as e:  # noqa: BLE001 - report which node names a missing object
            pytest.fail(f"{group}={option}: {path}._target_={target} cannot be imported ({e})")
        if target.startswith("inpaintlab."):
            assert target == _public_path(obj), f"{group}={option}: {path}._target_ is not in the one style"


def test_debug_default_is_short_and_loggerless_except_csv(tmp_path):
    cfg = compose_config(["debug=default"], tmp_path)
    assert cfg.trainer.max_steps == 20 and list(cfg.logger) == ["csv"] and cfg.trainer.accelerator == "cpu"


def test_trainer_variants(tmp_path):
    ddp = compose_config(["trainer=ddp"], tmp_path)
    assert ddp.trainer.strategy == "ddp_find_unused_parameters_true" and ddp.trainer.sync_batchnorm is True
    GlobalHydra.instance().clear()
    sim = compose_config(["trainer=ddp_sim"], tmp_path)
    assert sim.trainer.strategy == "ddp_spawn" and sim.trainer.devices == 2 and sim.trainer.accelerator == "cpu"

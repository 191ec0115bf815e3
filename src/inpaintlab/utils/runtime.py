"""Glue shared by the entry points: resolvers, instantiation of lists of nodes, clean user-facing errors."""

from __future__ import annotations

import functools
import logging
import netrc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from inpaintlab.errors import InpaintlabError

log = logging.getLogger("inpaintlab")


def wandb_configured() -> bool:
    """True when the user has given wandb credentials (env var, or `wandb login`'s netrc entry)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE") == "online":
        return False if os.environ.get("WANDB_MODE") in ("offline", "disabled") else True
    try:
        rc = netrc.netrc(os.environ.get("NETRC", str(Path.home() / ".netrc")))
        return any(rc.authenticators(h) for h in ("api.wandb.ai",))
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def register_resolvers() -> None:
    """`${wandb_offline:}`: offline unless the user configured wandb."""
    if not OmegaConf.has_resolver("wandb_offline"):
        OmegaConf.register_new_resolver("wandb_offline", lambda: not wandb_configured())


def instantiate_nodes(cfg: DictConfig | None, what: str) -> list[Any]:
    """Instantiate every ``_target_`` node of a dict-of-nodes group (callbacks, loggers); null entries skipped."""
    from hydra.utils import instantiate

    out = []
    for name, node in (cfg or {}).items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise InpaintlabError(f"{what}.{name} must be a config node with a _target_, got {node!r}")
        out.append(instantiate(node))
    return out


def user_error_message(e: BaseException) -> str | None:
    """The message to show for an error caused by the user's data or config (None for a genuine bug)."""
    while isinstance(e, InstantiationException) and e.__cause__ is not None:
        e = e.__cause__
    if isinstance(e, InpaintlabError):
        return str(e)
    from omegaconf.errors import MissingMandatoryValue

    if isinstance(e, MissingMandatoryValue):
        key = getattr(e, "full_key", "") or ""
        return f"missing mandatory value {key!s}: give it on the command line, e.g. {key or 'key'}=<value>"
    if isinstance(e, InstantiationException):
        return f"could not build an object from the config: {e}"
    return None


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-facing errors into one clear message and exit status 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - re-raised unless it is the user's error
            msg = user_error_message(e)
            if msg is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            # printed once, on one line (not also through the console log handler)
            msg = " ".join(str(msg).split())
            print(f"inpaintlab: error: {msg}", file=sys.stderr)
            raise SystemExit(1) from None

    return wrapper


def save_resolved_config(cfg: DictConfig, run_dir: str | Path) -> Path:
    path = Path(run_dir) / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])  # tests compose with the hydra node
    path.write_text(OmegaConf.to_yaml(body, resolve=True))
    return path

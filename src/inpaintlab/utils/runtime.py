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

from inpaintlab.conventions import CONFIG_DIR
from inpaintlab.errors import ConfigError, InpaintlabError
from inpaintlab.utils.destinations import check_writable

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


def unique_dir(path: str) -> str:
    """``path``, created now; ``path_1``, ``path_2``… when it exists (two runs started in the same second never
    share a folder: ``mkdir`` is atomic, so exactly one process wins each name)."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 0
    while True:
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}_{n}")


def total_steps(*parts: Any) -> int:
    """Iterations of a schedule: the sum of numbers and of phase lists' ``steps`` (``${total_steps:${model.phases.phases}}``
    for ``trainer.max_steps``, so the phase lengths are written once)."""
    total = 0
    for part in parts:
        if isinstance(part, (int, float, str)):
            total += int(part)
            continue
        for phase in part:
            if phase.get("steps") is None:
                raise ConfigError(f"total_steps: phase {phase.get('name')!r} has no steps (an open-ended phase has no total)")
            total += int(phase["steps"])
    return total


def register_resolvers() -> None:
    """`${wandb_offline:}`: offline unless the user configured wandb; `${unique_dir:PATH}`: a new folder;
    `${total_steps:…}`: a schedule's iterations (``total_steps``)."""
    if not OmegaConf.has_resolver("wandb_offline"):
        OmegaConf.register_new_resolver("wandb_offline", lambda: not wandb_configured())
    if not OmegaConf.has_resolver("unique_dir"):
        OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True)
    if not OmegaConf.has_resolver("total_steps"):
        OmegaConf.register_new_resolver("total_steps", total_steps)


class _DropMessages(logging.Filter):
    def __init__(self, *fragments: str) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not any(f in text for f in self.fragments)


def quiet_library_noise() -> None:
    """Drop what the libraries print at every run that tells the user nothing: Lightning's litlogger tip, PyTorch's
    ``LeafSpec`` deprecation warnings (raised inside Lightning's own code), the joblib launcher's parameter dump.
    Idempotent; the run's own messages and every real warning stay."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated")
    for name, fragments in (("lightning.pytorch.utilities.rank_zero", ("litlogger",)),
                            ("lightning.fabric.utilities.rank_zero", ("litlogger",)),
                            ("hydra_plugins.hydra_joblib_launcher._core", ("Joblib.Parallel(",))):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(*fragments))


RUN_MARKERS = ("config.yaml", "metrics.json", "checkpoints", "csv")


def held_run(folder: str | Path) -> str | None:
    """What in ``folder`` shows that another run wrote there (None for a new or empty folder)."""
    folder = Path(folder)
    found = [m for m in RUN_MARKERS if (folder / m).exists()]
    return ", ".join(found) if found else None


def refuse_existing_run_dir(argv: list[str], prog: str = "inpaintlab") -> None:
    """Before Hydra writes anything (``.hydra/``, the log): a ``hydra.run.dir=`` naming a folder that holds
    another run is refused in one line, so nothing of that run is overwritten."""
    if "-m" in argv or "--multirun" in argv:
        return
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") == "hydra.run.dir" and value and "${" not in value:
            what = held_run(value)
            if what:
                print(f"{prog}: error: hydra.run.dir={value} already holds a run ({what}); give a new folder, or "
                      f"resume it in a new one with ckpt_path={value}/checkpoints/last.ckpt", file=sys.stderr)
                raise SystemExit(1)


def check_group_choices(argv: list[str], prog: str = "inpaintlab") -> None:
    """``experiment=typo`` (or any config group): one line listing the choices, instead of Hydra's several."""
    conf = CONFIG_DIR
    if any(a.startswith(("hydra.searchpath", "+hydra.searchpath", "--config-dir", "-cd", "--config-path", "-cp"))
           for a in argv):
        return  # configs from elsewhere: Hydra decides
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+~")
        if (not sep or not value or "." in key or key.startswith("hydra") or "${" in value or value == "null"
                or any(c in value for c in "()[]{}*")):
            continue
        group = conf / key
        if not group.is_dir():
            continue
        choices = sorted(str(p.relative_to(group).with_suffix("")) for p in group.rglob("*.yaml"))
        if not choices:  # an optional, machine-local group (conf/local)
            continue
        unknown = [v for v in value.split(",") if v.strip() and v.strip() not in choices]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], choices, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            print(f"{prog}: error: {key}={unknown[0]}: no such config in conf/{key}; {hint}choices: "
                  f"{', '.join(choices)}", file=sys.stderr)
            raise SystemExit(1)


def check_composes(argv: list[str], config_name: str, prog: str = "inpaintlab") -> None:
    """Compose the config once before Hydra runs (overrides only; nothing resolved or written), so a syntax error
    or an unknown key is one line instead of Hydra's several; a sweep is checked at its first combination."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or any(a.startswith("-") and a not in ("-m", "--multirun")
                                                        for a in argv) \
            or any(a.lstrip("+").startswith("hydra.searchpath") for a in argv):
        return  # --cfg, --info, -cd, extra search paths: Hydra's own modes, Hydra decides
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in argv if a not in ("-m", "--multirun")]
    parser = OverridesParser.create()
    for arg in overrides:  # Hydra's grammar takes non-ASCII characters only inside quotes
        key, sep, value = arg.partition("=")
        if sep and not value.isascii() and value[:1] not in ("'", '"'):
            try:
                parser.parse_overrides([arg])
            except Exception:  # noqa: BLE001 - any parse error of this override: say how to quote it
                quote = '"' if "'" in value else "'"
                fixed = f"{key}={quote}{value}{quote}"
                shell = f'"{fixed}"' if quote == "'" else f"'{fixed}'"
                print(f"{prog}: error: {arg}: a value with non-ASCII characters must be quoted for Hydra; write "
                      f"{shell} (the outer quotes are for the shell)", file=sys.stderr)
                raise SystemExit(1) from None
    try:
        parsed = parser.parse_overrides(overrides)
        first = []
        for o in parsed:
            if o.key_or_group.startswith("hydra") or o.key_or_group.startswith("+hydra"):
                continue
            if o.is_sweep_override():
                value = next(iter(o.sweep_string_iterator()), None)
                if value is None:
                    continue
                first.append(f"{o.get_key_element()}={value}")
            else:
                first.append(o.input_line)
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=first)
    except Exception as e:  # noqa: BLE001 - Hydra's parse and composition errors, shown in one line
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
        lines = [ln for ln in lines if not ln.startswith(("See https://", "full_key:", "object_type="))]
        print(f"{prog}: error: {'; '.join(ln.rstrip('.') for ln in lines) or type(e).__name__}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        GlobalHydra.instance().clear()
    check_run_folders(cfg, argv, prog)


def check_run_folders(cfg: DictConfig, argv: list[str], prog: str = "inpaintlab") -> None:
    """The folders Hydra will create the run in (``paths.log_dir``: ``INPAINTLAB_LOG_DIR`` or ``outputs``; an
    explicit ``hydra.run.dir`` / ``hydra.sweep.dir``) must be writable: one line naming the folder, before Hydra
    starts (it would fail while resolving the folder's name, with a message about its own exception formatting)."""
    folders = []
    log_dir = OmegaConf.select(cfg, "paths.log_dir", default=None, throw_on_resolution_failure=False)
    if isinstance(log_dir, str):
        folders.append((log_dir, "paths.log_dir (INPAINTLAB_LOG_DIR)" if os.environ.get("INPAINTLAB_LOG_DIR")
                        else "paths.log_dir"))
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") in ("hydra.run.dir", "hydra.sweep.dir") and value and "${" not in value:
            folders.append((value, key.lstrip("+")))
    for folder, what in folders:
        try:
            check_writable(folder, what)
        except InpaintlabError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            raise SystemExit(1) from None


def check_command_line(argv: list[str], config_name: str, prog: str = "inpaintlab", run_dir: bool = True) -> None:
    """What every Hydra console entry point checks before Hydra runs, each as one line: a config group choice
    that does not exist, overrides that do not compose, and (``run_dir``) a ``hydra.run.dir`` holding a run."""
    check_group_choices(argv, prog)
    check_composes(argv, config_name, prog)
    if run_dir:
        refuse_existing_run_dir(argv, prog)


def claim_run_dir(folder: str | Path) -> None:
    """Inside the task: refuse a run folder set elsewhere (a config file) that holds another run."""
    what = held_run(folder)
    if what:
        raise InpaintlabError(f"the run folder {folder} already holds a run ({what}); give a new hydra.run.dir")


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

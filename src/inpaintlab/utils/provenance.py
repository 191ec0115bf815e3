"""Where a table of numbers came from: the one record every script that writes numbers into the docs stores beside
them (``inpaintlab-compare``'s results.json, the benchmarks, the claim checks).

    from inpaintlab.utils.provenance import provenance, stamp
    record["provenance"] = provenance(config=cfg_dict, command="make compare")   # beside the numbers (JSON)
    lines.append(stamp(vars(args), "make claim-pconv"))                          # under a table in the docs

The commit (and whether the work tree had uncommitted changes), the package version, a hash of the composed config
that produced the numbers, the machine and its load at the start — enough to tell whether a committed table is
the current code's, and for the staleness tests to name the command that regenerates it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["config_hash", "describe", "git_state", "machine", "provenance", "stamp", "write_between"]

REPO = Path(__file__).resolve().parents[3]  # src/inpaintlab/utils/ → the checkout (when run from one)


def config_hash(config: Any) -> str:
    """sha256 (first 16 hex digits) of ``config`` as canonical JSON (sorted keys): the same config, the same hash,
    whatever the key order. OmegaConf nodes are taken unresolved, so an environment-dependent interpolation
    (a dataset root from ``${oc.env:...}``) hashes as written, not as this machine resolves it."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(config, (DictConfig, ListConfig)):
            config = OmegaConf.to_container(config, resolve=False)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def git_state(repo: Path = REPO) -> dict[str, Any]:
    """{"commit": full hash or None, "dirty": uncommitted changes to tracked files (None outside a checkout)}."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:  # an installed package, not a checkout
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def machine() -> dict[str, Any]:
    """CPU, core count, torch threads and version, the GPU when one is visible, and the 1-minute load average."""
    import torch

    info: dict[str, Any] = {
        "host_cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        info["load_1min"] = round(os.getloadavg()[0], 2)
    except OSError:  # not on every platform
        info["load_1min"] = None
    return info


def provenance(config: Any = None, command: str | None = None) -> dict[str, Any]:
    """The record to store beside a table of numbers (see the module docstring); ``config_hash`` only when a
    config is given."""
    import datetime as dt

    from inpaintlab import __version__

    record: dict[str, Any] = {**git_state(), "version": __version__}
    if config is not None:
        record["config_hash"] = config_hash(config)
    if command is not None:
        record["command"] = command
    record["machine"] = machine()
    record["date"] = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    return record


def describe(record: dict[str, Any]) -> str:
    """One line for a docs page: commit (dirty or not), version, machine and load."""
    m = record.get("machine", {})
    commit = (record.get("commit") or "no git checkout")[:10] + (" + uncommitted changes" if record.get("dirty") else "")
    where = m.get("gpu") or f"{m.get('cpus')} CPU cores ({m.get('torch_threads')} torch threads)"
    load = f", load {m['load_1min']}" if m.get("load_1min") is not None else ""
    return (f"commit {commit}, inpaintlab {record.get('version')}, torch {m.get('torch')}, {where}{load}, "
            f"{record.get('date', '')[:10]}")


def stamp(config: Any = None, command: str | None = None) -> str:
    """The line a script writes under its table in the docs: ``Produced by `command` — commit …, machine, load;
    config hash …`` (the provenance of this run, now)."""
    record = provenance(config, command)
    text = f"Produced by `{command}` — {describe(record)}" if command else f"Produced at {describe(record)}"
    return text + (f"; config hash `{record['config_hash']}`." if "config_hash" in record else ".")


def write_between(path: Path, start: str, end: str, body: str, append_under: str | None = None) -> bool:
    """Put ``body`` between the ``start`` / ``end`` marker lines of ``path`` (the script-generated block of a docs
    page; the rest of the page is kept byte for byte). Without the markers: appended at the end as a new block under
    the heading ``append_under`` when given, else nothing is written. ``body`` is taken literally (no regex escapes)
    and the page is replaced atomically, so an interrupted write leaves the old page whole. True when written."""
    path = Path(path)
    text = path.read_text() if path.is_file() else ""
    block = f"{start}\n{body.rstrip(chr(10))}\n{end}"
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if i >= 0 and j >= 0:
        text = text[:i] + block + text[j + len(end):]
    elif append_under is not None:
        text = text.rstrip() + (f"\n\n{append_under}\n\n" if append_under else "\n\n") + block + "\n"
    else:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True

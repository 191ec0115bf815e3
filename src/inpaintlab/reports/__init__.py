"""The papers as data (``papers.yaml``): what each ``reproduce-<paper>`` target trains, the evaluation suites each
paper reports, and the paper's own tables with their published numbers; ``tables`` turns runs into the report."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inpaintlab.errors import ConfigError

PAPERS_FILE = Path(__file__).resolve().parent / "papers.yaml"


@functools.lru_cache(maxsize=1)
def papers() -> dict[str, dict[str, Any]]:
    """``papers.yaml``: paper key (the ``reproduce-<key>`` target) → its runs, suites and tables."""
    return yaml.safe_load(PAPERS_FILE.read_text())


def paper(key: str) -> dict[str, Any]:
    if key not in papers():
        raise ConfigError(f"unknown paper {key!r}; the reproduce targets are: {', '.join(papers())}")
    return papers()[key]


@dataclass(frozen=True)
class Run:
    """One ``inpaintlab-train`` job of a reproduce target: an experiment and its sweep point (overrides)."""

    paper: str
    experiment: str
    overrides: tuple[str, ...] = ()
    sweep: dict[str, list[Any]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.experiment + "".join(f"[{k.rsplit('.', 1)[-1]}={v}]" for k, _, v in
                                         (o.partition("=") for o in self.overrides))


def _value(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def runs(paper_key: str) -> list[Run]:
    """Every job of ``make reproduce-<paper_key>``: one per experiment and sweep point, in the target's order."""
    out = []
    for entry in paper(paper_key)["runs"]:
        sweep = dict(entry.get("sweep") or {})
        keys = list(sweep)
        for values in itertools.product(*(sweep[k] for k in keys)):
            out.append(Run(paper_key, entry["experiment"], tuple(f"{k}={_value(v)}" for k, v in zip(keys, values)),
                           sweep))
    return out


def experiments(paper_key: str | None = None) -> list[tuple[str, str]]:
    """(paper, experiment) of every reproduce target (or one), in order, each experiment once."""
    keys = [paper_key] if paper_key else list(papers())
    return [(k, e["experiment"]) for k in keys for e in paper(k)["runs"]]


def paper_of(experiment: str) -> str:
    for key, name in experiments():
        if name == experiment:
            return key
    raise ConfigError(f"experiment {experiment!r} is not run by any reproduce target; they run: "
                      f"{', '.join(e for _, e in experiments())}")


def paper_suites(experiment: str) -> dict[str, str | None]:
    """The evaluation suites the paper of ``experiment`` reports: {suite name: mask generator class}."""
    return dict(paper(paper_of(experiment))["suites"][experiment])


def upscale_allowed(experiment: str) -> str | None:
    """Why the paper itself enlarges this experiment's images (its dataset below its stated size), or None."""
    return (paper(paper_of(experiment)).get("upscale_allowed") or {}).get(experiment)


def eval_suites(cfg: Any) -> dict[str, str | None]:
    """The test stage's suites of a composed (or resolved) run config: {name: mask generator class}, by the
    DataModule's rule (no ``data.eval_masks``: one suite "default" of the training masks)."""
    from omegaconf import DictConfig, OmegaConf

    masks = OmegaConf.select(cfg, "data.eval_masks")
    if not masks:
        target = OmegaConf.select(cfg, "data.mask_generator._target_", default=None)
        return {"default": target.rsplit(".", 1)[-1] if target else None}
    if isinstance(masks, str):
        return {"default": "folder"}
    out = {}
    for name in masks:
        node = OmegaConf.select(cfg, f"data.eval_masks.{name}")
        if node is not None:
            out[str(name)] = node["_target_"].rsplit(".", 1)[-1] if isinstance(node, DictConfig) else "folder"
    return out

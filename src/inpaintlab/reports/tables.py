"""A paper's report: its own tables (``papers.yaml``) with the published number, ours and the difference per cell.

``write_report(paper, runs, out_dir)`` reads each run's test report (``<ckpt>.test.json``, the tested checkpoint's
metrics per mask suite) and resolved ``config.yaml``, fills every cell that has a run, and writes
``report.md`` and ``report.json``; cells without a run are marked and say why. ``runs_in(paper, log_dir)`` finds
the newest finished run of every job of ``make reproduce-<paper>`` under ``outputs/``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from inpaintlab import reports
from inpaintlab.errors import ConfigError

TOY_LINE = ("**Toy numbers** — written by `inpaintlab-rehearse` from runs of a few steps on a few generated images; "
            "they check the report, not the method: never compare them with the published ones.")
LEGEND = ("Each cell: published / ours / ours − published. *not run*: the paper has the cell, this target did not "
          "produce it (the reason is listed under the table); —: a method outside inpaintlab; n/a: no published "
          "number.")


# ---------------------------------------------------------------------------------------------------- runs
class RunResult:
    """A finished run: its resolved config and the test metrics of the checkpoint its test stage scored."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self.config: DictConfig = OmegaConf.load(self.dir / "config.yaml")
        found = sorted((self.dir / "checkpoints").glob("*.test.json"), key=lambda p: p.stat().st_mtime)
        found += [p for p in [self.dir / "test.json"] if p.is_file()]
        if not found:
            raise ConfigError(f"{self.dir}: no test report (<checkpoint>.test.json): the run did not reach its test stage")
        self.record: dict[str, Any] = json.loads(found[-1].read_text())
        self.checkpoint = self.record.get("checkpoint")

    @property
    def suites(self) -> list[str]:
        return list(reports.eval_suites(self.config))

    def metric(self, suite: str | None, name: str) -> float | None:
        """A test metric of ``suite`` (the run's only suite when ``suite`` is None or it has one)."""
        per_suite = self.record.get("suites")
        if per_suite:
            values = per_suite.get(suite if suite is not None else self.suites[0], {})
        elif suite is None or suite in self.suites:
            values = self.record
        else:
            return None
        value = values.get(name)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @functools.cached_property
    def _data(self) -> Any:
        from hydra.utils import instantiate

        dm = instantiate(self.config.data)
        dm.setup("fit")
        dm.setup("test")
        return dm

    def fact(self, name: str) -> str | None:
        """A configuration or data fact of the run, in the form the papers print it."""
        cfg = self.config
        if name == "mask_size":
            size = OmegaConf.select(cfg, "mask.size")
            return f"{size}x{size}" if isinstance(size, int) else None
        if name == "mask_position":
            target = str(OmegaConf.select(cfg, "mask._target_", default=""))
            return "center" if target.endswith("CenterSquareMask") else target.rsplit(".", 1)[-1] or None
        if name == "input_size":
            h, w = self._data.test_set[0]["image"].shape[-2:]
            return f"{h}x{w}"
        if name == "train_size":
            return str(len(self._data.train_set))
        if name == "test_size":
            return str(len(self._data.test_set))
        if name == "database":
            target = str(OmegaConf.select(cfg, "data.dataset._target_", default=""))
            variant = OmegaConf.select(cfg, "data.dataset.variant", default=None)
            names = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
            return names.get(variant, variant) if variant else target.rsplit(".", 1)[-1]
        raise ConfigError(f"papers.yaml: unknown fact {name!r}")


def runs_in(paper: str, log_dir: str | Path = "outputs") -> dict[str, Path]:
    """The newest finished run (with a test report) of every job of ``make reproduce-<paper>`` under ``log_dir``
    (``outputs/<task_name>/runs/*`` and ``multiruns/*/*``), matched by experiment and sweep values."""
    log_dir = Path(log_dir)
    out: dict[str, Path] = {}
    for run in reports.runs(paper):
        base = log_dir / run.experiment
        candidates = [*base.glob("runs/*/config.yaml"), *base.glob("multiruns/*/*/config.yaml")]
        finished = []
        for cfg_path in candidates:
            run_dir = cfg_path.parent
            if not list((run_dir / "checkpoints").glob("*.test.json")):
                continue
            cfg = OmegaConf.load(cfg_path)
            if all(_same(OmegaConf.select(cfg, k), v) for k, _, v in (o.partition("=") for o in run.overrides)):
                finished.append(run_dir)
        if finished:
            out[run.name] = max(finished, key=lambda d: (d / "config.yaml").stat().st_mtime)
    return out


def _same(value: Any, text: str) -> bool:
    try:
        return math.isclose(float(value), float(text))
    except (TypeError, ValueError):
        return str(value).lower() == text.lower()


# ---------------------------------------------------------------------------------------------------- cells
def _decimals(text: str) -> int | None:
    found = re.fullmatch(r"-?\d*\.(\d+)", text.strip())
    return len(found.group(1)) if found else (0 if re.fullmatch(r"-?\d+", text.strip()) else None)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _fmt(value: float, like: str | None) -> str:
    places = _decimals(like) if like else None
    return f"{value:.{places}f}" if places is not None else f"{value:.4g}"


def _matching(results: Mapping[str, RunResult], name: str) -> RunResult | None:
    """``name`` is a run name (``ga_mnist[alpha=0]``) or an experiment (any of its sweep points)."""
    if name in results:
        return results[name]
    return next((r for k, r in results.items() if k.split("[", 1)[0] == name), None)


def cell(spec: Mapping[str, Any], published: str | None, results: Mapping[str, RunResult]) -> dict[str, Any]:
    """One table cell: ``spec`` is the column's settings overlaid by the row's (run, suite, metric, scale, fact)."""
    published = None if published is None else str(published)
    out: dict[str, Any] = {"published": published, "ours": None, "difference": None}
    if spec.get("not_run"):
        return {**out, "status": "not run", "why": spec["not_run"]}
    names = spec.get("run")
    if not names:
        return {**out, "status": "other method"}
    names = [names] if isinstance(names, str) else list(names)
    runs = [_matching(results, n) for n in names]
    if any(r is None for r in runs):
        missing = [n for n, r in zip(names, runs) if r is None]
        return {**out, "status": "not run", "why": f"no finished run of {', '.join(missing)}", "runs": names}
    if spec.get("fact"):
        values = [r.fact(spec["fact"]) for r in runs]
        ours = values[0] if len(set(values)) == 1 else " / ".join(str(v) for v in values)
        if ours is None:
            return {**out, "status": "not run", "why": f"{spec['fact']} not set in the run", "runs": names}
        diff = None
        if _number(ours) is not None and _number(published) is not None:
            diff = _number(ours) - _number(published)
        elif published is not None:
            diff = "same" if str(ours) == published else "differs"
        return {**out, "ours": ours, "difference": diff, "status": "ok", "runs": names}
    values = [r.metric(spec.get("suite"), spec["metric"]) for r in runs]
    if any(v is None for v in values):
        return {**out, "status": "not run", "why": f"{spec['metric']} of suite {spec.get('suite') or 'default'} "
                                                   "is not in the test report", "runs": names}
    ours = sum(values) / len(values) * float(spec.get("scale", 1.0))
    diff = ours - _number(published) if _number(published) is not None else None
    return {**out, "ours": ours, "difference": diff, "status": "ok", "runs": names}


def build(paper: str, results: Mapping[str, RunResult], toy: bool = False) -> dict[str, Any]:
    """The report as data: every table of the paper with its cells filled from ``results``."""
    info = reports.paper(paper)
    tables = []
    for t in info.get("tables") or []:
        rows = []
        for row in t["rows"]:
            published = row.get("published") or [None] * len(t["columns"])
            spec = {k: row[k] for k in ("run", "suite", "metric", "scale", "fact") if k in row}
            cells = [cell({**col, **spec, "not_run": col.get("not_run") or row.get("not_run")}, pub, results)
                     for col, pub in zip(t["columns"], published)]
            rows.append({"name": row["name"], "cells": cells})
        tables.append({"id": t["id"], "title": t["title"], "source": t["source"], "note": t.get("note"),
                       "columns": [{"group": c.get("group"), "name": c["name"]} for c in t["columns"]], "rows": rows})
    runs = {name: {"run_dir": str(r.dir), "tested_checkpoint": r.checkpoint} for name, r in results.items()}
    missing = [r.name for r in reports.runs(paper) if r.name not in results]
    return {"paper": paper, "title": info["title"], "paper_file": info["paper"], "toy": toy, "tables": tables,
            "runs": runs, "runs_missing": missing, "note": info.get("note")}


# ---------------------------------------------------------------------------------------------------- markdown
def _cell_text(c: dict[str, Any]) -> str:
    pub = c["published"] if c["published"] is not None else "n/a"
    if c["status"] == "other method":
        return f"{pub} / —"
    if c["status"] == "not run":
        return f"{pub} / *not run*"
    ours = c["ours"] if isinstance(c["ours"], str) else _fmt(c["ours"], c["published"])
    diff = c["difference"]
    if diff is None:
        return f"{pub} / {ours}"
    if isinstance(diff, str):
        return f"{pub} / {ours} / {diff}"
    return f"{pub} / {ours} / {'+' if diff >= 0 else ''}{_fmt(diff, c['published'])}"


def _source_line(source: Mapping[str, Any]) -> str:
    page = f"p. {source['page']}" if source.get("page") else "page: not given"
    note = f" ({source['page_note']})" if source.get("page_note") else ""
    return f"Source: {source['paper']}, {source['table']}, {page}{note}."


def markdown(report: Mapping[str, Any]) -> str:
    lines = [TOY_LINE, ""] if report["toy"] else []
    lines += [f"# {report['title']}", "", f"Paper: `../shared/papers/{report['paper_file']}` · target: "
              f"`make reproduce-{report['paper']}` · {LEGEND}", ""]
    for t in report["tables"]:
        groups = [c["group"] for c in t["columns"]]
        header = [f"{g} · {c['name']}" if g else c["name"] for g, c in zip(groups, t["columns"])]
        lines += [f"## {t['title']}", "", "| | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
        whys: dict[str, dict[str, None]] = {}  # reason → the rows it leaves empty
        for row in t["rows"]:
            lines.append(f"| {row['name']} | " + " | ".join(_cell_text(c) for c in row["cells"]) + " |")
            for c in row["cells"]:
                if c["status"] == "not run":
                    whys.setdefault(c["why"], {})[row["name"]] = None
        lines += ["", _source_line(t["source"])]
        if t.get("note"):
            lines += ["", t["note"]]
        if whys:
            lines += ["", "Not run:", *(f"- {why} ({'; '.join(rows)})" for why, rows in whys.items())]
        lines.append("")
    if report.get("note"):
        lines += [report["note"], ""]
    lines += ["## Runs", "", "| run | folder | tested checkpoint |", "|---|---|---|"]
    lines += [f"| {name} | `{r['run_dir']}` | `{r['tested_checkpoint']}` |" for name, r in report["runs"].items()]
    if report["runs_missing"]:
        lines += ["", "Jobs of the target without a finished run here: " + ", ".join(report["runs_missing"]) + "."]
    return "\n".join(lines) + "\n"


def write_report(paper: str, run_dirs: Mapping[str, Path], out_dir: Path, toy: bool = False) -> Path:
    """``<out_dir>/report.md`` and ``report.json`` of ``paper`` from the runs ``{run name: run folder}``."""
    results = {name: RunResult(d) for name, d in run_dirs.items()}
    report = build(paper, results, toy)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    (out_dir / "report.md").write_text(markdown(report))
    return out_dir / "report.md"

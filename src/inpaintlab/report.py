"""The test report of a checkpoint (``<ckpt>.test.md`` / ``.json``): one metrics table per mask suite and its
hole-area bins, written by ``inpaintlab-train``'s test stage and by ``inpaintlab-eval``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("inpaintlab.report")

METRIC_ORDER = ("psnr", "ssim", "l1", "psnr_hole", "l1_hole", "grad_l1_hole", "loss")


def metrics_table(rows: list[dict[str, float]], key: str = "checkpoint") -> str:
    """A markdown table: one row per record, the standard metrics in a fixed order, then any others."""
    names = [m for m in METRIC_ORDER if any(m in r for r in rows)]
    names += sorted({k for r in rows for k in r} - set(names) - {key})
    lines = ["| " + " | ".join([key, *names]) + " |", "|" + "---|" * (len(names) + 1)]
    for r in rows:
        cells = [str(r.get(key, ""))] + [f"{r[n]:.4f}" if isinstance(r.get(n), float) else str(r.get(n, "")) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def binned_rows(metrics: dict[str, float]) -> list[dict[str, float]]:
    """``bins/<label>/<name>`` entries regrouped as one row per hole-area bin, in bin order."""
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if key.startswith("bins/"):
            _, label, name = key.split("/", 2)
            rows.setdefault(label, {"hole area": label})[name] = int(value) if name == "count" else value
    return sorted(rows.values(), key=lambda r: float(r["hole area"].split("-")[0]))


def suite_metrics(metrics: dict[str, float], suites: list[str]) -> dict[str, dict[str, float]]:
    """``{suite: {name: value}}`` from flat ``<suite>/<name>`` keys (one suite: the keys as they are)."""
    if len(suites) <= 1:
        return {(suites[0] if suites else "default"): dict(metrics)}
    out: dict[str, dict[str, float]] = {s: {} for s in suites}
    for key, value in metrics.items():
        suite, _, name = key.partition("/")
        if suite in out and name:
            out[suite][name] = value
    return out


def report_text(name: str, per_suite: dict[str, dict[str, float]]) -> str:
    """Markdown: per suite, the overall table, then the table by hole-area bin."""
    parts = []
    for suite, metrics in per_suite.items():
        overall = {k: v for k, v in metrics.items() if not k.startswith("bins/")}
        text = f"## Mask suite: {suite}\n\n" if len(per_suite) > 1 else ""
        text += metrics_table([{**overall, "checkpoint": name}])
        bins = binned_rows(metrics)
        if bins:
            text += "\nBy hole area (fraction of hole pixels, bins (lo, hi]):\n\n" + metrics_table(bins, key="hole area")
        parts.append(text)
    return "\n".join(parts)


def write_report(ckpt: Path | None, metrics: dict[str, float], suites: list[str], out_dir: Path | None = None) -> str:
    """``<ckpt>.test.md`` and ``<ckpt>.test.json`` (or ``test.md/json`` in ``out_dir`` without a checkpoint):
    one table per mask suite plus its hole-area bins. ``metrics`` without the ``test/`` prefix."""
    per_suite = suite_metrics(metrics, suites)
    record: dict = {"checkpoint": str(ckpt) if ckpt else None, **metrics}
    if len(per_suite) > 1:
        record["suites"] = per_suite
    stem = ckpt.with_suffix("") if ckpt else Path(out_dir or ".") / "test"
    text = report_text(ckpt.name if ckpt else "current weights", per_suite)
    Path(f"{stem}.test.json" if ckpt else f"{stem}.json").write_text(json.dumps(record, indent=2))
    Path(f"{stem}.test.md" if ckpt else f"{stem}.md").write_text(text)
    log.info("wrote the test report %s.test.md / .json", stem)
    return text

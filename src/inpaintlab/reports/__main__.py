"""``python -m inpaintlab.reports <paper> [paths.log_dir=outputs] [out=outputs/<paper>]``: the last step of every
``make reproduce-<paper>``: the paper's tables filled from the newest finished run of each job of the target,
written to ``outputs/<paper>/report.md`` and ``report.json``. Other ``key=value`` arguments (the target's ``ARGS``)
are ignored, so the target passes its ARGS on and a ``paths.log_dir=`` among them is honoured."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from inpaintlab import reports
from inpaintlab.errors import ConfigError
from inpaintlab.utils.runtime import guarded


@guarded
def main(argv: list[str] | None = None) -> Path:
    from inpaintlab.reports.tables import runs_in, write_report

    argv = list(sys.argv[1:] if argv is None else argv)
    names = [a for a in argv if "=" not in a]
    if len(names) != 1:
        raise ConfigError(f"usage: python -m inpaintlab.reports <paper> [paths.log_dir=DIR] [out=DIR]; the papers: "
                          f"{', '.join(reports.papers())}")
    paper = names[0]
    reports.paper(paper)
    options = dict(a.split("=", 1) for a in argv if "=" in a)
    log_dir = Path(options.get("paths.log_dir") or os.environ.get("INPAINTLAB_LOG_DIR") or "outputs")
    runs = runs_in(paper, log_dir)
    if not runs:
        raise ConfigError(f"no finished run (with a test report) of make reproduce-{paper} under {log_dir}")
    path = write_report(paper, runs, Path(options.get("out") or log_dir / paper))
    print(f"wrote {path} ({len(runs)} of {len(reports.runs(paper))} runs)")
    return path


if __name__ == "__main__":
    main()

"""``inpaintlab-weights``: the released weights the package knows by name — list, download, where they are.

    inpaintlab-weights list                       # name, method, data, license, size, cached or not
    inpaintlab-weights download crfill/places2    # into torch's hub cache (TORCH_HOME), checked and unpacked
    inpaintlab-weights path crfill/places2        # the local weights file (status 1 while not downloaded)

``INPAINTLAB_WEIGHTS_MIRROR=<base URL or folder>`` takes every download from a mirror holding the same file
names. The registry itself is ``inpaintlab/inference/released_weights.json``.
"""

from __future__ import annotations

import argparse
import sys

from inpaintlab.errors import exit_code_of, one_line_parser
from inpaintlab.inference import registry

PROG = "inpaintlab-weights"


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**20:.1f} MiB"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = one_line_parser(prog=PROG, description="Released generator weights by name: list them, download them "
                         "into torch's hub cache (checked, unpacked), print where they are. "
                         f"{registry.MIRROR_ENV}=<base URL or folder> takes every download from a mirror.")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every released generator: name, method, data, license, size, cached file")
    dl = sub.add_parser("download", help="download (or copy from the mirror) into the cache; prints the file")
    dl.add_argument("names", nargs="+", metavar="NAME")
    dl.add_argument("--quiet", action="store_true", help="no progress bar")
    path = sub.add_parser("path", help="print the local weights file (status 1 while it is not downloaded)")
    path.add_argument("name", metavar="NAME")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if args.command == "list":
        rows = [("name", "method", "data", "license", "size", "cached")]
        for rel in registry.releases().values():
            local = registry.cached(rel)
            size = local.stat().st_size if local else rel.size
            rows.append((rel.name, rel.method, rel.data, rel.license, _size(size), str(local) if local else "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
        return 0
    if args.command == "download":
        for name in args.names:
            print(registry.fetch(name, quiet=args.quiet))
        return 0
    rel = registry.release(args.name)
    local = registry.cached(rel)
    if local is None:
        print(f"{PROG}: {rel.name} is not downloaded: {PROG} download {rel.name}, or put {rel.file} from "
              f"{rel.urls[0]} at {registry.download_path(rel)}", file=sys.stderr)
        return 1
    print(local)
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of(PROG, run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

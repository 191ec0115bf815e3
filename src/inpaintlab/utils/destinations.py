"""Where the tools write: checked before any work, so an unwritable destination is one line, not a traceback
after minutes of work (docs/reliability.md §8)."""

from __future__ import annotations

import os
from pathlib import Path

from inpaintlab.errors import InpaintlabError

__all__ = ["check_writable"]


def check_writable(path: str | Path, what: str) -> None:
    """Before any work: ``path`` (a folder to write into, created when missing) must be writable — its nearest
    existing ancestor a folder in which a file can be created (probed with a temporary file). ``InpaintlabError``
    in one line naming it otherwise."""
    import tempfile

    path = Path(path).expanduser()
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise InpaintlabError(f"{what} {path} cannot be written: {probe} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".inpaintlab-write-test-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        where = "" if probe == path else f" (in {probe})"
        raise InpaintlabError(f"{what} {path} cannot be written{where}: {e.strerror or e}; choose a folder you "
                              "can write to") from None

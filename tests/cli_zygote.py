"""The tests' fork server for entry points and scripts: one interpreter per pytest worker imports torch, Lightning
and Hydra once, then forks a child per ``helpers.run_cli`` (``run_script``) call that runs ``python -m <module>
<args>`` (``python <path> <args>``) as a fresh interpreter would: its own process, cwd, environment, sys.path, argv,
stdout/stderr files and exit status, without paying the ~5 s of imports again. One difference: the objects of the
server's imports are frozen (``gc.freeze``), so the child's collections skip them. Protocol: one JSON request a line
on stdin; it answers the child's pid, then its exit status (negative: killed by that signal, as ``subprocess``
reports it).

Nothing of the package is imported here: an entry point imported before ``runpy`` runs it would be a different
module object from the one it runs (and runpy warns on stderr)."""

from __future__ import annotations

import gc
import json
import os
import runpy
import sys

sys.path.pop(0)  # this file's folder: a child's sys.path starts from its own cwd, as under `python -m`


def preload() -> None:
    """The imports every entry point pays (``--bare`` skips them: a server for testing the exchange itself)."""
    import hydra  # noqa: F401
    import lightning.pytorch  # noqa: F401
    import numpy  # noqa: F401
    import omegaconf  # noqa: F401
    import PIL.Image  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401


BASE_PATH = list(sys.path)


def _child(request: dict) -> None:
    """Become ``python -m module args`` (or ``python path args``) in ``cwd`` with ``env``; never returns: the
    interpreter exits as a fresh one would (SystemExit's code, 1 and a traceback on an uncaught exception, atexit
    handlers and finalisation run)."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    first = os.path.dirname(os.path.realpath(request["path"])) if "path" in request else os.getcwd()
    sys.path[:] = [first, *extra, *BASE_PATH]
    if "torch" in sys.modules and os.environ.get("OMP_NUM_THREADS", "").isdigit():  # libgomp read it in the server
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    if "path" in request:
        sys.argv = [request["path"], *request["args"]]
        runpy.run_path(request["path"], run_name="__main__")
    else:
        sys.argv = [request["module"], *request["args"]]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def serve() -> None:
    # CPython's advice for a pre-fork server: the imported modules' objects go to a permanent generation, which the
    # children's collections never traverse (nor copy-on-write by touching); a call's exit takes ~0.5 s instead of ~1.1 s
    gc.freeze()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    if "--bare" not in sys.argv[1:]:
        preload()
    serve()

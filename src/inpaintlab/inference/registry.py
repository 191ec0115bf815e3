"""Released generator weights by name: ``fetch("crfill/places2")`` → the local weights file, downloaded once.

The registry is data, ``released_weights.json`` beside this module: each release's name, method (the
``inpaintlab.pretrained.load`` name that reads it), the official repositories' download links, the file name a
mirror and the cache hold, the weights file inside a zip release, license, paper, and the download's size and
SHA-256 where known (empty: the first download records what it got and says it could not verify it).

* Cache: ``<torch hub dir>/checkpoints/inpaintlab/`` (``$TORCH_HOME/hub/checkpoints/inpaintlab``, as
  ``torch.hub.get_dir()``); a zip release is unpacked to ``<zip stem>/<member>`` there and the zip dropped.
  A cached file is used without any request.
* Downloads go to a temporary ``.part`` file in the cache folder, renamed only after the size and hash checks
  pass: an interrupted, truncated or mismatching download never leaves a file that looks complete.
* ``INPAINTLAB_WEIGHTS_MIRROR`` = a base URL or a folder: every download comes from ``<mirror>/<file>`` instead
  (air-gapped clusters, institutional caches).
* Google Drive links need its confirm-token step: done by gdown (``pip install 'inpaintlab[weights]'``).
* Offline, without a mirror or a cached file: one line naming the URL and the exact path to put the file at.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from inpaintlab.errors import InpaintlabError

MIRROR_ENV = "INPAINTLAB_WEIGHTS_MIRROR"
DATA_FILE = "released_weights.json"
_CHUNK = 1 << 20
_DRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")


class WeightsError(InpaintlabError):
    """Released weights cannot be had (unknown name, offline, a download that fails its checks)."""


class _Unreachable(Exception):
    """One source failed (network, missing mirror file, dropped connection): the next one is tried."""


@dataclass(frozen=True)
class Release:
    name: str
    method: str
    data: str
    urls: tuple[str, ...]
    file: str
    member: str = ""
    sha256: str = ""
    size: int | None = None
    license: str = ""
    paper: str = ""
    source: str = ""
    note: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Release:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["urls"] = tuple(d.get("urls") or ())
        known["options"] = dict(d.get("options") or {})
        return cls(**known)


@lru_cache(maxsize=1)
def releases() -> dict[str, Release]:
    """Every registered release by name, in the data file's order."""
    text = resources.files("inpaintlab.inference").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return {r.name: r for r in (Release.from_dict(d) for d in json.loads(text)["releases"])}


def release(name: str) -> Release:
    rel = releases().get(name)
    if rel is None:
        raise WeightsError(f"unknown released weights {name!r}; known: {', '.join(releases())} "
                           "(inpaintlab-weights list)")
    return rel


def is_release(name: str | None) -> bool:
    return bool(name) and name in releases()


def check_source_args(parser: Any, args: Any) -> None:
    """The CLIs' ``--weights FILE`` or ``--pretrained NAME`` (exactly one; ``--model`` only with a file)."""
    if (args.weights is None) == (args.pretrained is None):
        parser.error("give --weights FILE or --pretrained NAME (one of them)")
    if args.pretrained and args.model:
        parser.error(f"--pretrained {args.pretrained} names its model: drop --model")


# ---------------------------------------------------------------------------------------------- paths
def cache_dir() -> Path:
    """``<torch hub dir>/checkpoints/inpaintlab`` (follows ``TORCH_HOME``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / "inpaintlab"


def download_path(rel: Release) -> Path:
    """Where the download itself goes: put a hand-downloaded file here (a zip release too)."""
    return cache_dir() / rel.file


def weights_path(rel: Release) -> Path:
    """The weights file the loader reads: the download, or the member unpacked from a zip release."""
    if rel.member:
        return cache_dir() / Path(rel.file).stem / Path(rel.member).name
    return download_path(rel)


def cached(rel: Release) -> Path | None:
    path = weights_path(rel)
    return path if path.is_file() else None


def sources(rel: Release) -> list[str]:
    """The URLs (or mirror paths) tried in order: ``<mirror>/<file>`` alone when the mirror variable is set."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return list(rel.urls)
    if urlparse(mirror).scheme in ("http", "https", "ftp"):
        return [f"{mirror.rstrip('/')}/{rel.file}"]
    folder = Path(mirror[len("file://"):] if mirror.startswith("file://") else mirror).expanduser()
    return [str(folder / rel.file)]


# ---------------------------------------------------------------------------------------------- fetch
def fetch(name: str, *, quiet: bool = False) -> Path:
    """The local weights file of release ``name``: the cached one (no request), else downloaded (or copied from
    the mirror), checked, unpacked where it is a zip, and cached. WeightsError in one line otherwise."""
    rel = release(name)
    target = weights_path(rel)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    placed = download_path(rel)
    if rel.member and placed.is_file():  # a zip release put in the cache by hand
        checked = _check(rel, placed, str(placed), quiet)
        _unpack(rel, placed, target, str(placed))
        _record(rel, target, str(placed), checked)
        placed.unlink()
        return target
    tmp = _temp(target.parent, rel.file)
    try:
        src = _download_any(rel, tmp, quiet)
        checked = _check(rel, tmp, src, quiet)
        if rel.member:
            _unpack(rel, tmp, target, src)
        else:
            os.replace(tmp, target)
        _record(rel, target, src, checked)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _temp(folder: Path, file: str) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{file}.", suffix=".part")
    os.close(fd)
    return Path(name)


def _download_any(rel: Release, dest: Path, quiet: bool) -> str:
    """Fetch the first source that answers into ``dest``; the source used."""
    failures: list[str] = []
    for src in sources(rel):
        try:
            _download(rel, src, dest, quiet)
            return src
        except _Unreachable as e:
            failures.append(f"{src}: {e}")
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    how = (f"put {rel.file} in the mirror ({MIRROR_ENV}={mirror})" if mirror else
           f"download {rel.urls[0] if rel.urls else rel.file} by hand")
    raise WeightsError(f"cannot get {rel.name} ({'; '.join(failures) or 'no source'}): {how} and put it at "
                       f"{download_path(rel)}" + ("" if mirror else f", or set {MIRROR_ENV} to a folder or URL "
                                                  f"holding {rel.file}"))


def _download(rel: Release, src: str, dest: Path, quiet: bool) -> None:
    scheme = urlparse(src).scheme
    if scheme not in ("http", "https", "ftp"):
        path = Path(src)
        if not path.is_file():
            raise _Unreachable("no such file")
        shutil.copyfile(path, dest)
        return
    if urlparse(src).hostname in _DRIVE_HOSTS:
        _download_drive(rel, src, dest, quiet)
        return
    _download_http(rel, src, dest, quiet)


def _download_http(rel: Release, url: str, dest: Path, quiet: bool) -> None:
    import http.client
    import urllib.error
    import urllib.request

    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "inpaintlab"})
    got = 0
    try:
        with urllib.request.urlopen(request, timeout=60) as resp, open(dest, "wb") as out:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=rel.name, file=sys.stderr,
                      leave=False, disable=quiet) as bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    except http.client.IncompleteRead as e:
        raise _Unreachable(f"the connection closed after {got + len(e.partial)} bytes") from None
    except urllib.error.HTTPError as e:
        raise _Unreachable(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise _Unreachable(f"{e.reason}") from None
    except (OSError, http.client.HTTPException) as e:
        raise _Unreachable(f"{type(e).__name__}: {e}") from None
    if total is not None and got != total:
        raise _Unreachable(f"the connection closed after {got} of {total} bytes")


def _download_drive(rel: Release, url: str, dest: Path, quiet: bool) -> None:
    try:
        import gdown
    except ImportError:
        raise WeightsError(f"{rel.name} is on Google Drive, whose confirm-token step needs gdown: pip install "
                           f"'inpaintlab[weights]', or download {url} by hand and put it at {download_path(rel)}"
                           ) from None
    try:
        out = gdown.download(url, str(dest), quiet=quiet, fuzzy=True)
    except Exception as e:  # noqa: BLE001 - gdown raises its own errors for quota, permissions, network
        raise _Unreachable(" ".join(f"{type(e).__name__}: {e}".split())[:300]) from None
    if out is None or not dest.is_file() or dest.stat().st_size == 0:
        raise _Unreachable("Google Drive gave no file")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check(rel: Release, path: Path, src: str, quiet: bool) -> tuple[str, int]:
    """Size and SHA-256 against the registry (WeightsError naming both on a mismatch); (SHA-256, size)."""
    size = path.stat().st_size
    if rel.size is not None and size != rel.size:
        raise WeightsError(f"{rel.name}: {src} gave {size} bytes, the registry expects {rel.size}: not kept "
                           "(a truncated or changed release; retry, or report it)")
    digest = sha256_of(path)
    if rel.sha256 and digest != rel.sha256.lower():
        raise WeightsError(f"{rel.name}: SHA-256 of {src} is {digest}, the registry expects {rel.sha256}: not "
                           "kept (a corrupt or changed release; retry, or report it)")
    if not rel.sha256 and not quiet:
        print(f"inpaintlab: warning: {rel.name}: no published SHA-256, so the download could not be verified; "
              f"it has SHA-256 {digest} ({size} bytes), recorded beside the weights", file=sys.stderr)
    return digest, size


def _unpack(rel: Release, archive: Path, target: Path, src: str) -> None:
    """Extract ``rel.member`` (by file name, at any depth) to ``target`` through a temporary file."""
    if not zipfile.is_zipfile(archive):
        raise WeightsError(f"{rel.name}: {src} is not a zip archive, but the release is one holding {rel.member}")
    want = Path(rel.member).name
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        hits = [n for n in names if n == rel.member] or [n for n in names if Path(n).name == want]
        if len(hits) != 1:
            what = "no" if not hits else f"{len(hits)} files named"
            raise WeightsError(f"{rel.name}: {src} holds {what} {want} (it has {', '.join(names[:6])}"
                               f"{' …' if len(names) > 6 else ''})")
        tmp = _temp(target.parent, target.name)
        try:
            with zf.open(hits[0]) as f, open(tmp, "wb") as out:
                shutil.copyfileobj(f, out, _CHUNK)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def record_path(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def _record(rel: Release, target: Path, src: str, checked: tuple[str, int]) -> None:
    """What was downloaded (source, SHA-256 and size of the download, whether the registry vouched for them),
    as ``<weights>.json`` beside the weights: the values to publish in the registry once trusted."""
    info = {"name": rel.name, "source": src, "file": rel.file, "sha256": checked[0], "size": checked[1],
            "verified": bool(rel.sha256)}
    record_path(target).write_text(json.dumps(info, indent=1) + "\n")

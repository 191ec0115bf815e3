"""Released weights by name without the internet: a loopback HTTP server (127.0.0.1) plays the mirror
(``INPAINTLAB_WEIGHTS_MIRROR``) and serves files made here — download once then cache hits without a request, a
wrong hash or size, a connection dropped half-way, a zip release, the offline message, Google Drive through gdown,
and ``inpaintlab-inpaint --pretrained`` / ``inpaintlab-app --pretrained`` / ``inpaintlab-weights`` end to end."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import socket
import sys
import threading
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import REPO
from inpaintlab import pretrained
from inpaintlab.inference import Inpainter, registry
from inpaintlab.models.coarse_to_fine import crfill

PAYLOAD = bytes(range(256)) * 1200  # 300 kB of not-weights: the download checks never unpickle


class Mirror:
    """Files by name over HTTP on 127.0.0.1; ``drop`` names files cut off half-way (Content-Length promises
    all of it); ``requests`` counts GETs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop: set[str] = set()
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                name = self.path.lstrip("/")
                mirror.requests.append(name)
                data = mirror.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if name in mirror.drop:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(monkeypatch, tmp_path):
    m = Mirror()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(registry.MIRROR_ENV, m.url)
    yield m
    m.close()


def _cache_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "torch"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _with(monkeypatch, name: str, **changes) -> registry.Release:
    """Release ``name`` with ``changes`` (e.g. a published hash) for this test."""
    table = dict(registry.releases())
    table[name] = dataclasses.replace(table[name], **changes)
    monkeypatch.setattr(registry, "releases", lambda: table)
    return table[name]


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- the registry
def test_registry_names_methods_sources_and_ships_with_the_package():
    rels = registry.releases()
    assert {"deepfill_v2/places2", "deepfill_v2/celebahq", "crfill/places2", "crfill/objrmv"} <= set(rels)
    files = [r.file for r in rels.values()]
    assert len(set(files)) == len(files)  # one cache/mirror name per release
    for rel in rels.values():
        assert rel.name.startswith(f"{rel.method}/") and rel.method in pretrained.names()
        assert rel.urls and all(re.match(r"https://(github\.com/zengxianyu/|drive\.google\.com/|[\w-]+\.sharepoint"
                                          r"\.com/)", u) for u in rel.urls), rel.urls
        assert rel.sha256 == "" or re.fullmatch(r"[0-9a-f]{64}", rel.sha256)
        assert rel.license and rel.paper and rel.source.startswith("https://github.com/")
        assert not rel.member or rel.file.endswith(".zip")
    assert rels["crfill/highres_2020"].options == {"coarse_scale": 0.5}
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"inference/released_weights.json"' in pyproject  # package-data: a wheel carries the registry


# ---------------------------------------------------------------------------------------------- downloads
def test_download_once_then_cache_hits_without_a_request(mirror, tmp_path, capsys):
    mirror.files["model_256_places.pth"] = PAYLOAD
    path = registry.fetch("crfill/places2_2020")
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "inpaintlab" / "model_256_places.pth"
    assert path.read_bytes() == PAYLOAD and mirror.requests == ["model_256_places.pth"]
    record = json.loads(registry.record_path(path).read_text())
    assert record == {"name": "crfill/places2_2020", "source": mirror.url + "model_256_places.pth",
                      "file": "model_256_places.pth", "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
                      "size": len(PAYLOAD), "verified": False}
    assert "could not be verified" in capsys.readouterr().err
    assert registry.fetch("crfill/places2_2020") == path and len(mirror.requests) == 1  # cached: no request
    assert _cache_files(tmp_path) == ["hub/checkpoints/inpaintlab/model_256_places.pth",
                                      "hub/checkpoints/inpaintlab/model_256_places.pth.json"]


def test_published_hash_and_size_are_checked(mirror, monkeypatch, tmp_path, capsys):
    mirror.files["model_256_places.pth"] = PAYLOAD
    good = hashlib.sha256(PAYLOAD).hexdigest()
    _with(monkeypatch, "crfill/places2_2020", sha256="0" * 64)
    with pytest.raises(registry.WeightsError) as e:
        registry.fetch("crfill/places2_2020")
    assert f"SHA-256 of {mirror.url}model_256_places.pth is {good}, the registry expects {'0' * 64}: not kept" in str(e.value)
    assert "\n" not in str(e.value) and _cache_files(tmp_path) == []  # nothing cached, no .part left
    _with(monkeypatch, "crfill/places2_2020", sha256="", size=len(PAYLOAD) + 1)
    with pytest.raises(registry.WeightsError, match=f"gave {len(PAYLOAD)} bytes, the registry expects"):
        registry.fetch("crfill/places2_2020")
    assert _cache_files(tmp_path) == []
    _with(monkeypatch, "crfill/places2_2020", sha256=good, size=len(PAYLOAD))  # published: verified, no warning
    path = registry.fetch("crfill/places2_2020")
    assert json.loads(registry.record_path(path).read_text())["verified"] is True
    assert "could not be verified" not in capsys.readouterr().err


def test_connection_dropped_half_way_leaves_no_file(mirror, tmp_path):
    mirror.files["model_256_places.pth"] = PAYLOAD
    mirror.drop.add("model_256_places.pth")
    with pytest.raises(registry.WeightsError, match=r"connection closed after \d+ (of \d+ )?bytes"):
        registry.fetch("crfill/places2_2020")
    assert _cache_files(tmp_path) == []


def test_zip_release_is_unpacked_and_the_zip_dropped(mirror, tmp_path):
    mirror.files["places_model.zip"] = _zip({"places/latest_net_G.pth": PAYLOAD, "places/opt.txt": b"x"})
    path = registry.fetch("crfill/places2")
    assert path.read_bytes() == PAYLOAD
    assert _cache_files(tmp_path) == ["hub/checkpoints/inpaintlab/places_model/latest_net_G.pth",
                                      "hub/checkpoints/inpaintlab/places_model/latest_net_G.pth.json"]
    mirror.files["objrmv_model.zip"] = _zip({"objrmv/opt.txt": b"x"})  # the member is missing: one line
    with pytest.raises(registry.WeightsError, match=r"holds no latest_net_G.pth \(it has objrmv/opt.txt\)"):
        registry.fetch("crfill/objrmv")
    assert not (tmp_path / "torch/hub/checkpoints/inpaintlab/objrmv_model").exists() or not any(
        (tmp_path / "torch/hub/checkpoints/inpaintlab/objrmv_model").iterdir())


def test_mirror_folder_and_a_zip_put_in_the_cache_by_hand(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "model_near512.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv(registry.MIRROR_ENV, str(folder))
    assert registry.fetch("crfill/highres_2020", quiet=True).read_bytes() == PAYLOAD
    rel = registry.release("crfill/objrmv")
    registry.download_path(rel).write_bytes(_zip({"latest_net_G.pth": PAYLOAD}))  # as the offline line says
    assert registry.fetch("crfill/objrmv", quiet=True).read_bytes() == PAYLOAD
    assert not registry.download_path(rel).exists()


def test_offline_is_one_line_naming_the_url_and_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(registry.MIRROR_ENV, raising=False)
    with socket.socket() as s:  # a port nobody listens on: "connection refused", as offline
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/model_256_objrmv.pth"
    rel = _with(monkeypatch, "crfill/objrmv_2020", urls=(url,))
    with pytest.raises(registry.WeightsError) as e:
        registry.fetch("crfill/objrmv_2020")
    msg = str(e.value)
    assert "\n" not in msg and f"download {url} by hand and put it at {registry.download_path(rel)}" in msg
    assert registry.MIRROR_ENV in msg and _cache_files(tmp_path) == []
    monkeypatch.setenv(registry.MIRROR_ENV, str(tmp_path / "empty"))
    with pytest.raises(registry.WeightsError, match=r"put model_256_objrmv.pth in the mirror .* and put it at"):
        registry.fetch("crfill/objrmv_2020")


def test_google_drive_goes_through_gdown(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(registry.MIRROR_ENV, raising=False)
    calls = []

    def download(url, output, quiet, fuzzy):
        calls.append((url, fuzzy))
        Path(output).write_bytes(PAYLOAD)
        return output

    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download=download))
    rel = registry.release("deepfill_v2/places2")
    assert registry.fetch(rel.name, quiet=True).read_bytes() == PAYLOAD and calls == [(rel.urls[0], True)]
    monkeypatch.setitem(sys.modules, "gdown", None)  # not installed: one line with the extra and the path
    with pytest.raises(registry.WeightsError, match=r"needs gdown: pip install 'inpaintlab\[weights\]'.*put it at"):
        registry.fetch("deepfill_v2/celebahq")


# ---------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def crfill_release():
    """A CR-Fill generator of the released size and its weights as the official zip holds them (baseg.*)."""
    torch.manual_seed(0)
    gen = crfill().eval()
    buf = io.BytesIO()
    torch.save(gen.official_state_dict("crfill"), buf)
    return gen, _zip({"places/latest_net_G.pth": buf.getvalue()})


def _photo(root: Path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    hole = np.zeros((40, 52), bool)
    hole[10:25, 12:30] = True
    Image.fromarray(img).save(root / "p.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(root / "m.png")
    return img, hole


def test_inpaint_pretrained_from_a_mirror_folder(crfill_release, monkeypatch, tmp_path):
    """The issue's bar: a mirror folder holding the right file name, and --pretrained alone fills the photo."""
    from inpaintlab.inpaint import main

    gen, archive = crfill_release
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "places_model.zip").write_bytes(archive)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(registry.MIRROR_ENV, str(tmp_path / "mirror"))
    img, hole = _photo(tmp_path)
    args = ["--image", str(tmp_path / "p.png"), "--mask", str(tmp_path / "m.png"), "--quiet", "--device", "cpu"]
    assert main(["--pretrained", "crfill/places2", *args, "--out", str(tmp_path / "o.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert np.array_equal(out, Inpainter(gen).fill(img, hole))  # the released weights, loaded by the loader
    painter = Inpainter.from_pretrained("crfill/places2")  # cached now; the API gives the same pixels
    assert painter.name == "crfill/places2" and np.array_equal(painter.fill(img, hole), out)
    with pytest.raises(SystemExit):
        main(["--pretrained", "crfill/places2", "--model", "crfill", *args, "--out", str(tmp_path / "x.png")])


def test_weights_cli_and_app_model_list_show_the_names(crfill_release, mirror, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from inpaintlab.app.server import create_app, load_models, parse_args
    from inpaintlab.weights import main

    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in registry.releases()) and "CC BY-NC 4.0" in listing
    assert main(["path", "crfill/places2"]) == 1
    err = capsys.readouterr().err
    assert "is not downloaded" in err and str(registry.download_path(registry.release("crfill/places2"))) in err
    mirror.files["places_model.zip"] = crfill_release[1]
    assert main(["download", "crfill/places2", "--quiet"]) == 0
    path = capsys.readouterr().out.strip()
    assert main(["path", "crfill/places2"]) == 0 and capsys.readouterr().out.strip() == path
    assert main(["download", "nope/x"]) == 1 and "unknown released weights 'nope/x'" in capsys.readouterr().err

    args = parse_args(["--pretrained", "crfill/places2", "--device", "cpu"])
    client = TestClient(create_app(load_models(args, "cpu", lambda *_: None)))
    labels = [m["label"] for m in client.get("/api/models").json()["models"]]
    assert labels == ["crfill/places2 — released weights, CC BY-NC 4.0 (research purposes only)"]
    assert len(mirror.requests) == 1  # the app found the cached file

"""The web app's HTTP API through FastAPI's TestClient: a ga_mnist checkpoint fills an upload with every known
pixel bit-exact, per-method options come from the adapter, fills queue one at a time, every error is one sentence
and the app keeps serving; the CLI's bad inputs are one stderr line."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from app_support import MAGENTA, decode, make_photo, png, trained_checkpoint
from PIL import Image
from torch import nn

from inpaintlab.app.server import Model, create_app, main
from inpaintlab.inference import Inpainter


def _client(models, **kw):
    from fastapi.testclient import TestClient

    return TestClient(create_app(models, **kw))


def _hole(h: int, w: int) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    hole[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = True  # the magenta block
    return hole


def _brush(hole: np.ndarray) -> bytes:
    """A brush layer as the page sends it: strokes of mixed colour and opacity on a transparent layer."""
    layer = np.zeros(hole.shape + (4,), np.uint8)
    layer[hole] = (255, 40, 90, 255)
    ys, xs = np.nonzero(hole)
    layer[ys[::3], xs[::3]] = (0, 0, 0, 3)  # faint black stroke pixels are holes too
    return png(layer)


def _fill(client, image: bytes, brush: bytes | None = None, mask: bytes | None = None, **form):
    files = {"image": ("photo.png", image, "image/png")}
    if brush is not None:
        files["brush"] = ("brush.png", brush, "image/png")
    if mask is not None:
        files["mask"] = ("mask.png", mask, "image/png")
    return client.post("/api/fill", files=files, data=form, params={"wait": "true"})


def _one_sentence(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    msg = response.json()["error"]
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 300, msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.fixture(scope="module")
def app_checkpoint(tmp_path_factory):
    return trained_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def app_model(app_checkpoint):
    """The ``Model`` the server keeps for the checkpoint."""
    return Model("0", Inpainter.from_checkpoint(app_checkpoint), app_checkpoint)


@pytest.fixture(scope="module")
def client(app_model):
    return _client([app_model], max_side=512)


def test_page_and_models_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="brush"' in page.text and "app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    info = client.get("/api/models").json()
    assert info["max_side"] == 512
    assert [m["id"] for m in info["models"]] == ["0"] and "model.ckpt" in info["models"][0]["label"]


def test_fill_keeps_known_pixels_bit_exact(client, app_model):
    photo = make_photo()
    hole = _hole(*photo.shape[:2])
    out = decode(_fill(client, png(photo), _brush(hole)).content)
    assert out.shape == photo.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~hole], photo[~hole])
    assert (out[hole] != MAGENTA).any(axis=1).all()  # every hole pixel written by the grey fill
    # the same pixels as the Python API (the one inference interface)
    np.testing.assert_array_equal(out, app_model.painter.fill(Image.fromarray(photo), hole.astype(np.uint8)))
    # an uploaded mask (the CLI's rule) gives the same hole and the same result
    same = decode(_fill(client, png(photo), mask=png(hole.astype(np.uint8) * 255)).content)
    np.testing.assert_array_equal(same, out)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_fill_keeps_the_photo_layout(client, mode):
    photo = Image.fromarray(make_photo(96, 64)).convert(mode)
    if mode == "RGBA":
        a = np.asarray(photo).copy()
        a[..., 3] = np.arange(96, dtype=np.uint8)[None, :] + 100
        photo = Image.fromarray(a, "RGBA")
    hole = _hole(64, 96)
    out = decode(_fill(client, png(np.asarray(photo), None) if mode != "P" else _pbytes(photo), _brush(hole)).content)
    known = np.asarray(photo.convert("RGB") if mode == "P" else photo)
    assert out.shape == known.shape
    np.testing.assert_array_equal(out[~hole], known[~hole])
    if mode == "RGBA":
        assert (out[hole][:, 3] == 255).all()  # filled pixels are opaque, as the CLI writes them


def _pbytes(img):
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_polling_and_result(client):
    photo = make_photo(64, 48)
    hole = _hole(48, 64)
    files = {"image": ("p.png", png(photo), "image/png"), "brush": ("b.png", _brush(hole), "image/png")}
    job = client.post("/api/fill", files=files).json()["job"]
    for _ in range(200):
        state = client.get(f"/api/jobs/{job}").json()
        if state["state"] in ("done", "error"):
            break
        time.sleep(0.05)
    assert state["state"] == "done" and state["error"] is None and state["seconds"] > 0
    result = client.get(f"/api/jobs/{job}/result")
    assert result.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(decode(result.content)[~hole], photo[~hole])
    _one_sentence(client.get("/api/jobs/nope"), 400, "no longer kept")


def test_errors_are_one_sentence_and_the_app_keeps_serving(client):
    photo = png(make_photo(64, 48))
    hole = _hole(48, 64)
    _one_sentence(_fill(client, photo, png(np.zeros((48, 64, 4), np.uint8))), 400, "covers nothing")
    _one_sentence(_fill(client, b"GIF89a but not really", _brush(hole)), 400, "not an image")
    _one_sentence(_fill(client, photo[:100], _brush(hole)), 400, "damaged or truncated")
    _one_sentence(_fill(client, png(make_photo(600, 20)), _brush(np.ones((20, 600), bool))), 400,
                  "600×20", "limit of 512")
    _one_sentence(_fill(client, photo, _brush(_hole(40, 64))), 400, "64×40", "64×48")
    _one_sentence(_fill(client, photo, _brush(hole), options='{"steps": 5}'), 400, "unknown inference option")
    _one_sentence(_fill(client, photo, _brush(hole), options="[1"), 400, "JSON object")
    _one_sentence(_fill(client, photo, _brush(hole), model="9"), 400, "unknown model")
    _one_sentence(client.post("/api/fill", data={"model": "0"}), 400, "image")
    _one_sentence(client.post("/api/image", files={"file": ("x.txt", b"hello", "text/plain")}), 400, "not an image")
    _one_sentence(client.post("/api/mask", files={"mask": ("m.png", png(np.zeros((5, 5), np.uint8)), "image/png")},
                              data={"width": 5, "height": 5}), 400, "covers nothing")
    # …and it still fills
    out = decode(_fill(client, photo, _brush(hole)).content)
    np.testing.assert_array_equal(out[~hole], make_photo(64, 48)[~hole])


def test_preview_and_mask_layer(client):
    photo = make_photo(64, 48)
    r = client.post("/api/image", files={"file": ("p.png", png(photo), "image/png")})
    assert r.status_code == 200 and (r.headers["x-image-width"], r.headers["x-image-height"]) == ("64", "48")
    np.testing.assert_array_equal(decode(r.content), photo)
    hole = _hole(48, 64)
    grey = hole.astype(np.uint8) * 7  # two levels, 0 and 7: a binary mask (the one mask rule, as the CLI)
    r = client.post("/api/mask", files={"mask": ("m.png", png(grey), "image/png")}, data={"width": 64, "height": 48})
    assert r.status_code == 200
    np.testing.assert_array_equal(decode(r.content)[..., 3] > 0, hole)
    r = client.post("/api/mask", files={"mask": ("m.png", png(grey), "image/png")}, data={"width": 60, "height": 48})
    _one_sentence(r, 400, "m.png is 64×48", "60×48")


# ---------------------------------------------------------------------------------------------- several models
class _Broken(nn.Module):
    """A generator that fails at run time (a model bug, a CUDA error…)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x, mask):
        raise RuntimeError("boom\nsecond line")


class _Slow(nn.Module):
    """Fills with the mean after a pause, recording how many fills run at once."""

    running = 0
    most = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x, mask):
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
        time.sleep(0.15)
        with cls.lock:
            cls.running -= 1
        return x.mean() * torch.ones_like(x)


def test_model_failure_is_a_sentence_and_other_models_still_fill(app_model, tmp_path):
    broken = Model("1", Inpainter(_Broken()), tmp_path / "broken.pth")
    client = _client([app_model, broken])
    assert [m["id"] for m in client.get("/api/models").json()["models"]] == ["0", "1"]
    photo, hole = make_photo(64, 48), _hole(48, 64)
    r = _fill(client, png(photo), _brush(hole), model="1")
    msg = _one_sentence(r, 422, "the model failed", "RuntimeError: boom second line")
    assert msg.startswith("the model failed on this picture")
    out = decode(_fill(client, png(photo), _brush(hole), model="0").content)
    np.testing.assert_array_equal(out[~hole], photo[~hole])


def test_concurrent_requests_queue(tmp_path):
    client = _client([Model("0", Inpainter(_Slow()), tmp_path / "slow.pth")])
    photo, hole = png(make_photo(32, 24)), _brush(_hole(24, 32))
    files = {"image": ("p.png", photo, "image/png"), "brush": ("b.png", hole, "image/png")}
    jobs = [client.post("/api/fill", files=files).json() for _ in range(3)]
    assert jobs[2]["ahead"] >= 1  # queued behind the first ones
    codes = []
    threads = [threading.Thread(target=lambda: codes.append(_fill(client, photo, hole).status_code)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200, 200, 200]
    assert _Slow.most == 1  # never two fills at once
    for j in jobs:
        assert client.get(f"/api/jobs/{j['job']}").json()["state"] == "done"


def test_options_come_from_the_adapter_and_progress_is_reported(tmp_path):
    """Yeh's latent search through the app: its options become typed controls, a changed option reaches the
    adapter, its steps are reported as progress, and a bad value is one sentence."""
    from inpaintlab.models.dcgan import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    gen = DCGANGenerator(image_size=16, channels=3, z_dim=8, width=8)
    disc = DCGANDiscriminator(image_size=16, channels=3, width=8)
    client = _client([Model("0", Inpainter(gen, disc, steps=2), tmp_path / "yeh.ckpt")])
    options = {o["name"]: o for o in client.get("/api/models").json()["models"][0]["options"]}
    assert options["steps"]["value"] == 2 and options["steps"]["kind"] == "int"
    assert options["blend"]["kind"] == "bool" and options["lr"]["kind"] == "float"
    assert options["steps"]["help"].startswith("latent-search Adam steps")
    photo, hole = make_photo(32, 32), _hole(32, 32)
    files = {"image": ("p.png", png(photo), "image/png"), "brush": ("b.png", _brush(hole), "image/png")}
    job = client.post("/api/fill", files=files, data={"options": json.dumps({"steps": 7, "blend": False})}).json()
    for _ in range(400):
        state = client.get(f"/api/jobs/{job['job']}").json()
        if state["state"] in ("done", "error"):
            break
        time.sleep(0.05)
    assert state["state"] == "done", state
    assert state["progress"] == [7, 7]  # the changed option reached the search
    out = decode(client.get(f"/api/jobs/{job['job']}/result").content)
    np.testing.assert_array_equal(out[~hole], photo[~hole])
    _one_sentence(_fill(client, png(photo), _brush(hole), options='{"steps": -1}'), 400, "steps must be >= 0")
    _one_sentence(_fill(client, png(photo), _brush(hole), options='{"steps": "many"}'), 400, "many")


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_bad_inputs_are_one_stderr_line(tmp_path, capsys, app_checkpoint):
    for argv, words in [
        (["--weights", str(tmp_path / "missing.ckpt")], ["no weights file at"]),
        (["--weights", str(app_checkpoint), "--max-side", "0"], ["--max-side must be a positive"]),
        (["--weights", str(app_checkpoint), "--port", "70000"], ["--port must be 1..65535"]),
    ]:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("inpaintlab-app: error: "), err
        assert all(w in err[0] for w in words), err
    with pytest.raises(SystemExit) as info:
        main(["--weights", "a.pth", "--model", "crfill", "--model", "deepfill_v2"])
    assert info.value.code == 2 and "--model given twice" in capsys.readouterr().err


def test_cli_pairs_model_with_its_weights():
    from inpaintlab.app.server import parse_args

    args = parse_args(["--model", "crfill", "--weights", "a.pth", "--weights", "b.ckpt",
                       "--weights", "c.pth", "--model", "deepfill_v2", "--model-arg", "cnum=32"])
    assert [(str(e["weights"]), e["model"], e["model_args"]) for e in args.entries] == [
        ("a.pth", "crfill", []), ("b.ckpt", None, []), ("c.pth", "deepfill_v2", ["cnum=32"])]
    assert args.host == "127.0.0.1" and args.port == 7860 and args.max_side == 4096 and not args.share


def test_model_labels_tell_same_named_files_apart():
    from inpaintlab.app.server import short_names

    assert short_names([Path("/r/a/checkpoints/last.ckpt"), Path("/r/b/checkpoints/last.ckpt"), Path("/r/x.pth")]) == [
        "a/checkpoints/last.ckpt", "b/checkpoints/last.ckpt", "/r/x.pth"]
    assert short_names([Path("/r/a.ckpt"), Path("/r/b.pth")]) == ["a.ckpt", "b.pth"]


def test_cli_port_in_use_is_one_line(capsys, app_checkpoint):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["--weights", str(app_checkpoint), "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0]

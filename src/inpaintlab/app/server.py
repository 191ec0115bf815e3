"""``inpaintlab-app``: serve a page to try any model — upload a photo, brush the hole, press Fill, compare, download.

    inpaintlab-app --weights outputs/<task>/runs/<time>/checkpoints/last.ckpt
    inpaintlab-app --weights a.ckpt --weights crfill.pth --model crfill --port 8000 --device cuda
    inpaintlab-app --pretrained crfill/places2 --pretrained deepfill_v2/places2     # released weights by name

Models load at start, one ``Inpainter`` per weights file (the same loading as ``inpaintlab-inpaint``:
``Inpainter.from_checkpoint(path, model=NAME)``), and stay in memory. Fills run one at a time on one worker
thread: concurrent requests queue (the page polls ``/api/jobs/<id>`` for its place in the queue, a progress bar
for methods that report steps — Yeh's latent search — and the time taken). Every user error (an unreadable
upload, a picture over ``--max-side``, a mask that covers nothing, a model that fails) is a JSON
``{"error": one sentence}`` the page shows; the server keeps serving.

HTTP API (what the page uses; ``curl`` works too)::

    GET  /api/models                      models, their per-method options (the adapter's ``options``), max side
    POST /api/image   file=photo          → PNG preview the browser can show (TIFF, 16-bit, CMYK…), its size
    POST /api/mask    mask=file width height → the mask's holes as an RGBA layer for the brush canvas
    POST /api/fill    image= brush= and/or mask= model= options={json}  → {"job": id}; ?wait=true → the PNG
    GET  /api/jobs/<id>                   state (queued/running/done/error), progress, seconds, error
    GET  /api/jobs/<id>/result            the filled picture, PNG, in the photo's layout (known pixels bit-exact)
"""

import argparse
import json
import logging
import socket
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from inpaintlab.app.masks import (
    DEFAULT_MAX_SIDE,
    brush_hole,
    combine,
    decode_upload,
    overlay_png,
    png_bytes,
    preview_png,
    uploaded_hole,
)
from inpaintlab.errors import ConfigError, InpaintlabError, exit_code_of, one_line_parser
from inpaintlab.inference import registry
from inpaintlab.inference.inpainter import Inpainter
from inpaintlab.inference.loading import parse_model_args, pick_device
from inpaintlab.inference.pictures import InpaintInputError, check_sizes, read_picture

PROG = "inpaintlab-app"
STATIC = resources.files("inpaintlab.app") / "static"
KEEP_JOBS = 8  # finished jobs (and their result PNGs) kept for the page to fetch
log = logging.getLogger("inpaintlab.app")


# ---------------------------------------------------------------------------------------------- models
@dataclass
class Model:
    """One loaded weights file: its ``Inpainter`` (kept in memory) and how the page names it."""

    id: str
    painter: Inpainter
    weights: Path
    shown: str = ""  # how the page names the weights file (default: its file name)

    @property
    def label(self) -> str:
        return f"{self.painter.name} — {self.shown or self.weights.name}"

    def options(self) -> list[dict[str, Any]]:
        """The adapter's options as page controls: name, current value (the checkpoint's stored inference
        options or the adapter's default), help, and the control's kind from the value's type."""
        out = []
        for name, (default, help_) in self.painter.adapter.options.items():
            value = self.painter.adapter.settings.get(name, default)
            kind = ("bool" if isinstance(value, bool) else "int" if isinstance(value, int)
                    else "float" if isinstance(value, float) else "text")
            out.append({"name": name, "value": value, "help": help_, "kind": kind})
        return out

    def with_options(self, options: dict[str, Any]) -> Inpainter:
        """An ``Inpainter`` on the same networks (no copy) with ``options`` over the current settings; the
        adapter validates them (unknown key or bad value → one-sentence ``ConfigError``)."""
        if not options:
            return self.painter
        p = self.painter
        try:
            return Inpainter(p.generator, p.discriminator, name=p.name, **{**p.adapter.settings, **options})
        except (TypeError, ValueError) as e:
            if isinstance(e, InpaintlabError):
                raise
            raise ConfigError(f"bad option value for {p.name}: {' '.join(str(e).split())}") from None


# ---------------------------------------------------------------------------------------------- jobs
@dataclass
class Job:
    id: str
    label: str
    state: str = "queued"  # queued → running → done | error
    progress: tuple[int, int] | None = None  # (step, total) for methods that report steps
    seconds: float | None = None
    error: str | None = None
    result: bytes | None = None
    future: Future | None = field(default=None, repr=False)


class Worker:
    """One thread runs every fill in order; a bounded table keeps the last jobs for the page to poll."""

    def __init__(self, keep: int = KEEP_JOBS) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inpaintlab-fill")
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.lock = threading.Lock()
        self.keep = keep

    def submit(self, label: str, work: Callable[[Job], bytes]) -> Job:
        job = Job(uuid.uuid4().hex, label)
        with self.lock:
            self.jobs[job.id] = job
            finished = [j for j in self.jobs.values() if j.state in ("done", "error")]
            for old in finished[: max(0, len(self.jobs) - self.keep)]:
                del self.jobs[old.id]
        job.future = self.executor.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], bytes]) -> None:
        import torch

        job.state, start = "running", time.perf_counter()
        try:
            job.result = work(job)
            job.state = "done"
        except InpaintlabError as e:
            job.error, job.state = " ".join(str(e).split()), "error"
        except torch.OutOfMemoryError:
            job.error, job.state = "the model ran out of memory on this picture: try a smaller one", "error"
        except Exception as e:  # noqa: BLE001 - a model that fails is one sentence on the page; the app keeps serving
            log.exception("fill %s failed", job.id)
            job.error = f"the model failed on this picture ({type(e).__name__}: {' '.join(str(e).split())})"
            job.state = "error"
        finally:
            job.seconds = time.perf_counter() - start

    def get(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise InpaintInputError("this fill is no longer kept by the server: press Fill again")
        return job

    def ahead_of(self, job: Job) -> int:
        """How many queued or running jobs were submitted before ``job``."""
        with self.lock:
            ahead = 0
            for j in self.jobs.values():
                if j is job:
                    return ahead
                ahead += j.state in ("queued", "running")
        return 0


# ---------------------------------------------------------------------------------------------- app
def _read(upload: Any, what: str, max_bytes: int) -> bytes:
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InpaintInputError(f"the {what} file is over {max_bytes // 2**20} MiB, this app's upload limit")
    return data


def _options(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        opts = json.loads(text)
    except json.JSONDecodeError:
        opts = None
    if not isinstance(opts, dict):
        raise ConfigError('options must be a JSON object such as {"steps": 100}')
    return opts


def create_app(models: list[Model], max_side: int = DEFAULT_MAX_SIDE):
    """The FastAPI application serving the page and its API for ``models`` (at least one)."""
    from fastapi import FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    if not models:
        raise ConfigError("the app needs at least one model (--weights FILE)")
    by_id = {m.id: m for m in models}
    worker = Worker()
    max_bytes = max_side * max_side * 8 + 16 * 2**20  # 16-bit RGBA uncompressed at the cap, plus headers
    app = FastAPI(title="inpaintlab", docs_url=None, redoc_url=None)
    app.state.worker, app.state.models, app.state.max_side = worker, models, max_side

    @app.exception_handler(InpaintlabError)
    async def user_error(request: Request, exc: InpaintlabError) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(exc).split())}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({str(e.get("loc", ("", "?"))[-1]) for e in exc.errors()})
        return JSONResponse({"error": f"the request lacks or garbles {', '.join(fields)}: send the form the page sends "
                                      "(image=file, brush= and/or mask=file)"}, status_code=400)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        return {"max_side": max_side,
                "models": [{"id": m.id, "label": m.label, "options": m.options()} for m in models]}

    @app.post("/api/image")
    def image_preview(file: UploadFile = File(...)) -> Response:  # noqa: B008 - FastAPI's declaration style
        img = decode_upload(_read(file, "photo", max_bytes), "photo", max_side)
        w, h = img.size
        return Response(preview_png(img), media_type="image/png",
                        headers={"X-Image-Width": str(w), "X-Image-Height": str(h)})

    @app.post("/api/mask")
    def mask_layer(mask: UploadFile = File(...), width: int = Form(...), height: int = Form(...)) -> Response:  # noqa: B008
        hole = uploaded_hole(decode_upload(_read(mask, "mask", max_bytes), "mask", max_side))
        check_sizes((width, height), hole.shape[::-1], "on the page", mask.filename or "file")
        if not hole.any():
            raise InpaintInputError("the uploaded mask covers nothing: a hole is a pixel at least half as bright as white (or the alpha, when one colour is painted through it)")
        return Response(overlay_png(hole), media_type="image/png")

    @app.post("/api/fill")
    def fill(
        image: UploadFile = File(...),  # noqa: B008
        brush: UploadFile | None = File(None),  # noqa: B008
        mask: UploadFile | None = File(None),  # noqa: B008
        model: str | None = Form(None),  # noqa: B008
        options: str | None = Form(None),  # noqa: B008
        wait: bool = False,
    ) -> Response:
        entry = by_id.get(model or models[0].id)
        if entry is None:
            raise ConfigError(f"unknown model {model!r}: the server has {', '.join(by_id)}")
        painter = entry.with_options(_options(options))
        img = decode_upload(_read(image, "photo", max_bytes), "photo", max_side)
        pic = read_picture(img)
        layers = [brush_hole(decode_upload(_read(brush, "brush layer", max_bytes), "brush layer", max_side))
                  if brush is not None else None,
                  uploaded_hole(decode_upload(_read(mask, "mask", max_bytes), "mask", max_side))
                  if mask is not None else None]
        hole = combine(pic.size, *layers, image.filename or "photo", (mask.filename if mask else None) or "file")
        icc = img.info.get("icc_profile") if pic.colour_kept else None
        img.close()

        def work(job: Job) -> bytes:
            if hasattr(painter.adapter, "progress"):  # per-image searches (Yeh) report their steps
                painter.adapter.progress = lambda step, total: setattr(job, "progress", (step, total))
            t = time.perf_counter()
            out = png_bytes(painter.fill_picture(pic, hole), icc)
            log.info("filled %d×%d (hole %.1f%%) with %s in %.2f s", *pic.size, 100 * hole.mean(),
                        entry.label, time.perf_counter() - t)
            return out

        job = worker.submit(entry.label, work)
        if not wait:
            return JSONResponse({"job": job.id, "ahead": worker.ahead_of(job)})
        job.future.result()
        return _result(job)

    def _result(job: Job) -> Response:
        if job.state == "error":
            return JSONResponse({"error": job.error}, status_code=422)
        if job.state != "done":
            raise InpaintInputError("this fill is not finished yet: poll /api/jobs/<id> until it is done")
        return Response(job.result, media_type="image/png", headers={"X-Seconds": f"{job.seconds:.3f}"})

    @app.get("/api/jobs/{job_id}")
    def job_state(job_id: str) -> dict[str, Any]:
        job = worker.get(job_id)
        return {"state": job.state, "ahead": worker.ahead_of(job) if job.state == "queued" else 0,
                "progress": list(job.progress) if job.progress else None, "seconds": job.seconds,
                "error": job.error, "model": job.label}

    @app.get("/api/jobs/{job_id}/result")
    def job_result(job_id: str) -> Response:
        return _result(worker.get(job_id))

    return app


# ---------------------------------------------------------------------------------------------- CLI
class _Weights(argparse.Action):
    """``--weights FILE`` / ``--pretrained NAME`` starts a model entry; ``--model`` / ``--model-arg`` after it
    belong to it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        entries = getattr(namespace, "entries", None) or []
        weights, pretrained = (None, values) if self.dest == "pretrained" else (Path(values), None)
        entries.append({"weights": weights, "pretrained": pretrained, "model": None, "model_args": []})
        namespace.entries = entries


class _PerWeights(argparse.Action):
    """``--model`` / ``--model-arg`` for the ``--weights`` given just before (before any: the first one)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        entries = getattr(namespace, "entries", None) or []
        pending = namespace.pending
        pending.append((len(entries) - 1 if entries else 0, self.dest, values))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = one_line_parser(
        prog=PROG,
        description="Serve a web page to try inpainting models: upload a photo, paint the hole with a brush (or "
        "upload a mask), press Fill, compare before/after and download the PNG. Known pixels are kept bit for bit.",
    )
    ap.set_defaults(entries=[], pending=[])
    ap.add_argument("--weights", action=_Weights, metavar="FILE",
                    help="a checkpoint of any experiment (.ckpt) or released weights (.pth/.pt/.npz, with --model); "
                    "repeat for several models (the page gets a model picker)")
    ap.add_argument("--pretrained", action=_Weights, metavar="NAME",
                    help="released weights by name, downloaded once into torch's hub cache (inpaintlab-weights "
                    "list), e.g. crfill/places2; repeatable, and combinable with --weights")
    ap.add_argument("--model", action=_PerWeights, metavar="NAME",
                    help="released weights' architecture (deepfill_v1, deepfill_v2, crfill, …) of the --weights just "
                    "before it; not needed for our checkpoints")
    ap.add_argument("--model-arg", action=_PerWeights, metavar="KEY=VALUE",
                    help="generator constructor argument for the --weights just before it (as inpaintlab-inpaint)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    ap.add_argument("--share", action="store_true",
                    help="bind 0.0.0.0 so other machines can reach the page (anyone on the network can then use it)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto (cuda if available)")
    ap.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, metavar="PIXELS",
                    help=f"largest width or height accepted in an upload (default {DEFAULT_MAX_SIDE})")
    ap.add_argument("--trust-checkpoint", action="store_true",
                    help="allow un-pickling Python objects in the weights (only for files you trust)")
    ap.add_argument("--no-run-config", action="store_true",
                    help="ignore a training run's config.yaml beside a .ckpt")
    args = ap.parse_args(argv)
    if not args.entries:
        ap.error("the app needs at least one model: --weights FILE or --pretrained NAME")
    for index, dest, value in args.pending:
        entry = args.entries[index]
        if dest == "model" and entry["pretrained"]:
            ap.error(f"--pretrained {entry['pretrained']} names its model: drop the --model after it")
        if dest == "model":
            if entry["model"] is not None:
                ap.error(f"--model given twice for --weights {entry['weights']} (put each --model after its --weights)")
            entry["model"] = value
        else:
            entry["model_args"].append(value)
    return args


def load_models(args: argparse.Namespace, device: str, say: Callable[[str], None]) -> list[Model]:
    """One ``Inpainter`` per distinct weights file (and model name), loaded as ``inpaintlab-inpaint`` loads."""
    models: list[Model] = []
    seen: set[tuple[Path, str | None]] = set()
    for entry in args.entries:
        key = (entry["weights"].resolve() if entry["weights"] else entry["pretrained"], entry["model"])
        if key in seen:
            continue
        seen.add(key)
        t = time.perf_counter()
        model_args = parse_model_args(entry["model_args"])
        if entry["pretrained"]:
            painter = Inpainter.from_pretrained(entry["pretrained"], None, device, trusted=args.trust_checkpoint,
                                                model_args=model_args)
            model = Model(str(len(models)), painter, registry.weights_path(registry.release(painter.name)),
                          f"released weights, {registry.release(painter.name).license}")
        else:
            painter = Inpainter.from_checkpoint(
                entry["weights"], device, model=entry["model"], trusted=args.trust_checkpoint,
                model_args=model_args, use_run_config=not args.no_run_config,
            )
            model = Model(str(len(models)), painter, entry["weights"])
        models.append(model)
        say(f"{PROG}: {painter.name} from {model.weights} on {device} ({time.perf_counter() - t:.1f} s)")
    files = [m for m in models if not m.shown]
    for model, shown in zip(files, short_names([m.weights for m in files])):
        model.shown = shown
    return models


def short_names(paths: list[Path]) -> list[str]:
    """The fewest trailing path parts that tell the files apart (``last.ckpt`` twice → ``run_a/checkpoints/…``)."""
    parts = [Path(p).resolve().parts for p in paths]
    for k in range(1, max((len(p) for p in parts), default=1) + 1):
        names = [str(Path(*p[-k:])) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def _check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be 1..65535, got {port}")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}): pick another --port or --host") from None


def run(args: argparse.Namespace) -> int:
    if args.max_side < 1:
        raise ConfigError(f"--max-side must be a positive number of pixels, got {args.max_side}")
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("the web app needs its extra: pip install 'inpaintlab[app]'") from None
    host = "0.0.0.0" if args.share else args.host
    _check_port(host, args.port)
    device = pick_device(args.device)
    say = print
    models = load_models(args, device, say)
    app = create_app(models, args.max_side)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"{PROG}: warning: listening on {host}: anyone who can reach this machine can use the page and its "
              "models (there is no login)", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)  # one line per fill on the console
    say(f"{PROG}: open http://{'127.0.0.1' if host == '0.0.0.0' else host}:{args.port}/  (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of(PROG, run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

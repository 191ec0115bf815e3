"""`make gpu-check`: the first run on a CUDA GPU — every paper trains, DDP reaches its test stage, Table 5 is timed.

One script, about 8 minutes on one H100, that writes ``docs/gpu.md`` (the device name, a table per part):

1. **Training**: each paper's main experiment (``EXPERIMENTS``) for 50 generator steps through
   ``inpaintlab-train`` itself with ``trainer=gpu trainer.precision=bf16-mixed model.channels_last=true`` (and
   ``COMPILED`` once more with ``model.compile=true``), at the paper's image size and batch, on data generated
   in the dataset's real on-disk layout (Places2, CelebA, ImageNet; NVIDIA-style irregular masks and object
   shapes for the mask folders). Per run: it/s (generator steps), images/s, peak GPU memory
   (``max_memory_allocated``) and whether every logged loss stayed finite, from a probe callback; the first
   ``WARMUP`` steps are not timed. The 50 steps pass through every phase (``PHASES``: GLCIC's three, PConv's
   fine-tuning, BTGMI's head and grown blocks). A run that runs out of GPU memory is repeated at half the
   batch, and the table says so. Loss backbones whose ImageNet weights are not in torchvision's cache (PConv's
   VGG-16, BTGMI's AlexNet in LPIPS) get random weights (same cost), also said.
2. **DDP**: ``DDP_EXPERIMENT`` with ``trainer=ddp trainer.devices=1`` through its test stage (finite test metrics).
3. **Inference** (CR-Fill Table 5): DeepFill v2 with contextual attention (full, and restricted to the hole's
   reach: ``forward(..., composited=True)``) and CR-Fill at 512², 1024², 2048², batch 1, a centred half-side
   square hole, median of 5 after 2 warm-up passes, beside the paper's RTX 2080 Super numbers.

``--smoke`` runs the same code on the CPU at toy scale (DeepFill v2 at 64², batch 2, 2 steps; DDP on the CPU;
inference at 64²; no compile) and writes nothing unless ``--out`` is given: CI runs it so the script cannot rot.

    python benchmarks/gpu_check.py                 # on a CUDA machine: docs/gpu.md
    python benchmarks/gpu_check.py --smoke         # anywhere: seconds to minutes on a CPU

Dataset writers: ``inpaintlab.data.synthetic``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = REPO / "docs" / "gpu.md"

EXPERIMENTS = {  # paper: its main experiment
    "Context Encoder": "context_encoder_imagenet_center",
    "GLCIC": "glcic_places2",
    "Yeh et al.": "yeh_celeba",
    "DeepFill v1": "deepfill_v1_places2",
    "DeepFill v2": "deepfill_v2_places2",
    "Partial Convolutions": "pconv_places2",
    "Gradient attention": "ga_celeba",
    "CR-Fill": "crfill_places2",
    "BTGMI": "btgmi_places2",
}
COMPILED = "deepfill_v2_places2"
DDP_EXPERIMENT = "deepfill_v2_places2"
STEPS, WARMUP, DDP_STEPS = 50, 5, 10
# so that 50 steps pass through every phase of the experiment
PHASES = {
    "glcic_places2": ["model.phases.0.steps=15", "model.phases.1.steps=10", "model.phases.2.steps=25"],
    "pconv_places2": ["finetune_at=35"],
    "btgmi_places2": ["btgmi.head_steps=20", "btgmi.block_steps=10"],
}
BACKBONES = {"vgg": "vgg16", "alex": "alexnet"}  # substring of a loss's config → torchvision backbone
SMOKE_EXPERIMENT = "deepfill_v2_places2"
SMOKE = ["data.dataset.image_size=64", "mask.generators.box.height=32", "mask.generators.box.width=32",
         "mask.generators.box.max_delta=8"]
SIZES, SMOKE_SIZES = [512, 1024, 2048], [64]
IRREGULAR_BINS = [(0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6)]  # PConv's test suites


# ---------------------------------------------------------------------------------------------- the probe
def probe(path: str, warmup: int = WARMUP) -> Any:
    """The callback the training runs carry (``+callbacks.gpu_probe._target_=gpu_check.probe``): times the steps
    after ``warmup``, reads the peak GPU memory, checks every logged ``train/loss`` value and the test metrics for
    finiteness, and writes them to ``path`` as JSON."""
    import torch

    import lightning as L

    class Probe(L.Callback):
        def __init__(self) -> None:
            self.t0 = self.step0 = None
            self.images = 0
            self.losses: set[str] = set()
            self.nonfinite: set[str] = set()
            self.record: dict[str, Any] = {}

        @staticmethod
        def _sync() -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        def on_train_start(self, trainer, pl_module) -> None:
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if self.t0 is None and trainer.global_step >= warmup:
                self._sync()
                self.t0, self.step0 = time.perf_counter(), trainer.global_step
            if self.t0 is not None:
                self.images += int(batch["image"].shape[0])

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            for key, value in trainer.callback_metrics.items():
                if key.startswith("train/loss"):
                    self.losses.add(key)
                    if not bool(torch.isfinite(torch.as_tensor(value)).all()):
                        self.nonfinite.add(key)

        def on_train_end(self, trainer, pl_module) -> None:
            self._sync()
            seconds = time.perf_counter() - self.t0 if self.t0 is not None else float("nan")
            steps = trainer.global_step - (self.step0 or 0)
            self.record.update(
                steps=trainer.global_step, timed_steps=steps, seconds=seconds, it_s=steps / seconds,
                images_s=self.images / seconds, losses=sorted(self.losses), nonfinite=sorted(self.nonfinite),
                peak_mb=torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
                device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")
            self._write()

        def on_test_end(self, trainer, pl_module) -> None:
            test = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
            self.record.update(test=test, test_finite=bool(test) and all(math.isfinite(v) for v in test.values()))
            self._write()

        def _write(self) -> None:
            if trainer_rank() == 0:
                Path(path).write_text(json.dumps(self.record))

    def trainer_rank() -> int:
        return int(os.environ.get("LOCAL_RANK", "0"))

    return Probe()


# ---------------------------------------------------------------------------------------------- data
def _writers() -> dict[str, Any]:
    """The package's dataset writers (``inpaintlab.data.synthetic``)."""
    from inpaintlab.data import synthetic

    return {"celeba": synthetic.make_celeba, "places2": synthetic.make_places2, "imagenet": synthetic.make_imagenet}


def _call(fn, root: Path, **kwargs) -> Path:
    """``fn(root, **kwargs)`` with only the keyword arguments ``fn`` takes (the two writer versions differ)."""
    params = inspect.signature(fn).parameters
    return fn(root, **{k: v for k, v in kwargs.items() if k in params})


def dataset_kind(cfg) -> str:
    """Which layout ``cfg.data`` reads: celeba, places2, places2_highres or imagenet."""
    target = str(cfg.data.dataset._target_).rsplit(".", 1)[-1]
    kind = {"CelebA": "celeba", "Places2": "places2", "ImageNet": "imagenet"}.get(target)
    if kind is None:
        raise SystemExit(f"gpu_check: no data writer for dataset {target} (add one to benchmarks/gpu_check.py)")
    if kind == "places2" and cfg.data.dataset.get("layout") == "highres":
        kind = "places2_highres"
    return kind


def write_dataset(kind: str, root: Path, n_train: int, n_eval: int) -> Path:
    """``n_train`` training and ``n_eval`` validation/test images in the real layout of ``kind``, at the size the
    dataset is distributed at (the writers' defaults)."""
    w = _writers()
    if kind == "celeba":
        return _call(w["celeba"], root, n_train=n_train, n_val=n_eval, n_test=n_eval, faults=False)
    if kind.startswith("places2"):
        layout = "highres" if kind == "places2_highres" else "standard"
        size = (683, 512) if layout == "highres" else None  # the 512-px release, at least the 512² PConv crops
        return _call(w["places2"], root, layout=layout, n_train=n_train, n_val=n_eval, n_test=n_eval, size=size,
                     faults=False)
    return _call(w["imagenet"], root, n_per_class=-(-n_train // 2), n_val=n_eval, faults=False)


def write_masks(root: Path, side: int = 512) -> dict[str, str]:
    """The mask folders the experiments read: irregular masks (free-form strokes, white holes: NVIDIA's
    layout), one hole per PConv test bin, and object shapes (boxes); as environment variables."""
    import numpy as np
    from PIL import Image

    from inpaintlab.data.mask_sets import write_mask_set
    from inpaintlab.make_masks import build_generator, load_mask_config

    irregular, tests, shapes = root / "irregular_masks", root / "irregular_masks_test", root / "object_shapes"
    write_mask_set(build_generator(load_mask_config("free_form")[1]), irregular, 16, side, seed=0)
    write_mask_set(build_generator(load_mask_config("box")[1]), shapes, 8, side, seed=1)
    tests.mkdir(parents=True, exist_ok=True)
    for i, (lo, hi) in enumerate(IRREGULAR_BINS):  # a centred box of the bin's middle hole ratio
        m = np.zeros((side, side), np.uint8)
        h = round(side * math.sqrt((lo + hi) / 2))
        m[(side - h) // 2 : (side - h) // 2 + h, (side - h) // 2 : (side - h) // 2 + h] = 255
        Image.fromarray(m).save(tests / f"{i:05d}.png")
    return {"IRREGULAR_MASKS_ROOT": str(irregular), "IRREGULAR_TEST_MASKS_ROOT": str(tests),
            "OBJECT_SHAPES_ROOT": str(shapes)}


# ---------------------------------------------------------------------------------------------- training runs
def compose(experiment: str, extra: list[str] = ()) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("inpaintlab.conf", version_base="1.3"):
        return hydra_compose("train", overrides=[f"experiment={experiment}", *extra])


def random_backbones(cfg) -> tuple[list[str], list[str]]:
    """Loss backbones without ImageNet weights in torchvision's cache get random weights: (overrides, notes)."""
    from inpaintlab.utils.backbones import weights_file

    overrides, notes = [], []
    for name, node in (cfg.model.get("losses") or {}).items():
        if node is None or node.get("pretrained") is not True:
            continue
        target = str(node.get("_target_", "")).lower()
        net = next((v for k, v in BACKBONES.items() if k in target), "alexnet" if "ppl" in name else "vgg16")
        if not weights_file(net)[0].is_file():
            overrides.append(f"model.losses.{name}.pretrained=false")
            notes.append(f"{net} random (no ImageNet weights cached)")
    return overrides, sorted(set(notes))


def run_training(experiment: str, data: Path, env: dict[str, str], work: Path, args, *, compiled: bool = False,
                 ddp: bool = False) -> dict[str, Any]:
    """One ``inpaintlab-train`` run in its own process; retried at half the batch when the GPU memory runs out."""
    extra = list(SMOKE) if args.smoke else list(PHASES.get(experiment, []))
    cfg = compose(experiment, extra)
    backbones, notes = random_backbones(cfg)
    kind = dataset_kind(cfg)
    paper_batch = int(cfg.data.batch_size)
    batch = 2 if args.smoke else paper_batch
    root = data / kind
    if not root.exists():
        n = max(2 * (paper_batch if not args.smoke else batch), 8)
        write_dataset(kind, root, n_train=n, n_eval=4)
    steps = (3 if args.smoke else DDP_STEPS) if ddp else args.steps
    if ddp:
        notes.append(f"trainer=ddp devices=1, {steps} steps, then the test stage")
    name = experiment + (" (compile)" if compiled else "") + (" (DDP)" if ddp else "")
    while True:
        out = work / name.replace(" ", "_").replace("(", "").replace(")", "")
        result_file = out.with_suffix(".json")
        if ddp:
            trainer = ["trainer=ddp", "trainer.devices=1", *(["trainer.accelerator=cpu"] if args.smoke else [])]
        else:
            trainer = ["trainer=cpu" if args.smoke else "trainer=gpu"]
        cmd = [
            sys.executable, "-m", "inpaintlab.train", f"experiment={experiment}", *trainer,
            f"trainer.precision={args.precision}", "++model.channels_last=true", f"++model.compile={str(compiled).lower()}",
            f"trainer.max_steps={steps}", f"data.root={root}", f"data.batch_size={batch}", "data.eval_batch_size=2",
            f"test={str(ddp).lower()}", "trainer.limit_val_batches=0", "trainer.limit_test_batches=2",
            "trainer.log_every_n_steps=1", "trainer.enable_progress_bar=false", "logger=csv",
            f"hydra.run.dir={out}", "+callbacks.gpu_probe._target_=gpu_check.probe",
            f"+callbacks.gpu_probe.path={result_file}", f"+callbacks.gpu_probe.warmup={min(WARMUP, steps - 1)}",
            *(["data.val_size=2"] if cfg.data.get("val_split") is None else []), *extra, *backbones,
        ]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.run_timeout_s)
            code, log = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as err:
            code, log = -1, f"timed out after {args.run_timeout_s} s\n{err.stderr or ''}"
        row: dict[str, Any] = {"name": name, "experiment": experiment, "batch": batch, "paper_batch": paper_batch,
                               "notes": list(notes), "wall_s": time.perf_counter() - t0, "ok": code == 0}
        if code == 0 and result_file.is_file():
            row.update(json.loads(result_file.read_text()))
        if code != 0:
            lines = [ln for ln in log.strip().splitlines() if ln.strip()]
            row["error"] = lines[-1][:300] if lines else f"exit {code}"
            print(f"--- {name} failed; the end of its output:\n" + "\n".join(lines[-30:]), file=sys.stderr)
            if "out of memory" in log.lower() and batch > 1:
                batch //= 2
                notes.append(f"batch {row['batch']} ran out of GPU memory")
                continue
        if batch != paper_batch and not args.smoke:
            row["notes"].append(f"batch {batch} instead of the paper's {paper_batch} (GPU memory)")
        return row


# ---------------------------------------------------------------------------------------------- inference
def run_inference(args) -> list[dict[str, Any]]:
    """CR-Fill Table 5: DeepFill v2 (CA full, CA restricted) and CR-Fill forward times, in this process."""
    sys.path.insert(0, str(BENCH))
    from _common import measure_forward
    from bench_crfill import build

    rows = []
    for size in args.sizes:
        for model in ("ca", "car", "cr"):
            m = measure_forward(build(model), size, args.device, repeats=args.repeats, warmup=args.warmup,
                                isolate=False)
            rows.append({"model": model, "size": size, "ok": m.ok, "s": m.median_s, "peak_mb": m.peak_mb,
                         "error": m.error})
            if args.device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()
    return rows


# ---------------------------------------------------------------------------------------------- report
def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def markdown(device: str, train: list[dict], inference: list[dict], args, command: str, took_s: float) -> str:
    from bench_crfill import PAPER

    lines = [
        f"# GPU check ({'smoke, CPU' if args.smoke else device})",
        "",
        f"`{command}` on **{device}**, {dt.date.today().isoformat()}, {took_s / 60:.1f} min in all "
        f"(`benchmarks/gpu_check.py`). Training: {args.steps} generator steps per run (the first "
        f"{min(WARMUP, args.steps - 1)} untimed), "
        f"precision {args.precision}, `model.channels_last=true`, data generated in each dataset's real layout.",
        "",
        "## Training",
        "",
        "| paper | run | batch | it/s | images/s | peak GPU MiB | losses finite | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    papers = {v: k for k, v in EXPERIMENTS.items()}
    for r in train:
        if not r["ok"]:
            lines.append(f"| {papers.get(r['experiment'], '')} | {r['name']} | {r['batch']} | failed: {r.get('error', '')} "
                         "| | | | |")
            continue
        finite = "yes" if r.get("losses") and not r.get("nonfinite") else ("no: " + ", ".join(r.get("nonfinite") or ["none logged"]))
        test = ""
        if "test" in r:
            test = f"test stage: {len(r['test'])} metrics, {'all finite' if r.get('test_finite') else 'NOT finite'}"
        notes = "; ".join([*r.get("notes", []), *([test] if test else [])])
        lines.append(f"| {papers.get(r['experiment'], '')} | {r['name']} | {r['batch']} | {_fmt(r.get('it_s'))} "
                     f"| {_fmt(r.get('images_s'), '.1f')} | {_fmt(r.get('peak_mb'), ',.0f')} | {finite} | {notes} |")
    if not train:
        lines = lines[:-4]
    if not inference:
        return "\n".join(lines) + "\n"
    paper = PAPER["cuda"]
    lines += [
        "",
        "## Inference (CR-Fill Table 5)",
        "",
        "Batch 1, eval, `torch.inference_mode`, centred half-side square hole, median of "
        f"{args.repeats} passes after {args.warmup} warm-up; the paper's numbers are an RTX 2080 Super (8 GB).",
        "",
        "| S | DeepFill v2, CA full s | CA restricted s | CR-Fill s | peak MiB CA full / restricted / CR | "
        "paper CA s | paper CR s |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["model"], r["size"]): r for r in inference}
    for s in args.sizes:
        cells = [by[(m, s)] for m in ("ca", "car", "cr")]
        times = [_fmt(c["s"], ".3f") if c["ok"] else f"fail ({(c['error'] or '')[:60]})" for c in cells]
        mem = " / ".join(_fmt(c["peak_mb"], ",.0f") for c in cells)
        p_ca, p_cr = paper["ca"].get(s, "–"), paper["cr"].get(s, "–")
        lines.append(f"| {s}² | {' | '.join(times)} | {mem} | {'fail' if p_ca is None else p_ca} | {p_cr} |")
    return "\n".join(lines) + "\n"


def _show(row: dict[str, Any]) -> None:
    """One line per run as it finishes (the test metrics counted, not listed)."""
    shown = {k: (len(v) if k == "test" else v) for k, v in row.items()}
    print(json.dumps(shown), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="the same steps on the CPU at toy scale, writes nothing")
    p.add_argument("--out", type=Path, default=None, help="markdown report (default docs/gpu.md; --smoke: none)")
    p.add_argument("--only", choices=["train", "ddp", "inference"], action="append",
                   help="run only these parts (repeatable)")
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--run-timeout-s", type=int, default=300, help="give up on one training run after this long")
    args = p.parse_args(argv)
    parts = set(args.only or ["train", "ddp", "inference"])
    import torch

    if not args.smoke and not torch.cuda.is_available():
        p.error("no CUDA GPU here: make gpu-check needs one; `python benchmarks/gpu_check.py --smoke` runs on a CPU")
    args.device = "cpu" if args.smoke else "cuda"
    args.precision = "bf16-mixed"
    if args.smoke:
        args.steps = 2
    args.sizes = SMOKE_SIZES if args.smoke else SIZES
    args.repeats, args.warmup = (1, 0) if args.smoke else (5, 2)
    out = args.out if args.out is not None else (None if args.smoke else OUT)
    device = "cpu" if args.smoke else torch.cuda.get_device_name()
    command = "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    train: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = Path(tmp)
        env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1",
               "PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        if parts & {"train", "ddp"}:
            env.update(write_masks(work / "masks", side=64 if args.smoke else 512))
        experiments = [SMOKE_EXPERIMENT] if args.smoke else list(EXPERIMENTS.values())
        if "train" in parts:
            for experiment in experiments:
                train.append(run_training(experiment, work / "data", env, work, args))
                _show(train[-1])
            if not args.smoke:
                train.append(run_training(COMPILED, work / "data", env, work, args, compiled=True))
                _show(train[-1])
        if "ddp" in parts:
            train.append(run_training(SMOKE_EXPERIMENT if args.smoke else DDP_EXPERIMENT, work / "data", env, work,
                                      args, ddp=True))
            _show(train[-1])
    inference = run_inference(args) if "inference" in parts else []
    for r in inference:
        print(json.dumps(r), flush=True)
    text = markdown(device, train, inference, args, command.strip(), time.perf_counter() - started)
    print(text)
    if out is not None:
        out.write_text(text)
        print(f"written to {out}")
    bad = [r["name"] for r in train if not r["ok"] or r.get("nonfinite") or ("test" in r and not r.get("test_finite"))]
    bad += [f"{r['model']}@{r['size']}" for r in inference if not r["ok"] and not (r["size"] == 2048 and not args.smoke)]
    if bad:
        print("failed: " + ", ".join(bad), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

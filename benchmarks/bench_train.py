"""`make bench-train`: one table of training throughput for every experiment family, eager vs compile, fp32 vs
bf16, on whatever device is present, plus the two data/overhead aims (docs/performance.md).

    python benchmarks/bench_train.py                       # the table + aims on this machine
    python benchmarks/bench_train.py --families deepfill_v2 --modes fp32 bf16 compile-bf16
    python benchmarks/bench_train.py --markdown docs/performance_table.md --json bench.json
    python benchmarks/bench_train.py --smoke     # DeepFill v2 at 32², batch 1, one step, fp32, no aims: CI

Every row runs in a fresh process (so peak memory is that row's): the family's real experiment config (its
generator, critics, losses, n_critic) on synthetic batches (a random box hole of half the image side) at the
paper's resolution and batch, or on CPU scaled down by the printed factor (side ÷2, batch ÷8). Columns:

- s/G-it: seconds per generator iteration (n_critic batches when the critic takes several steps per G step);
- img/s: training images through the generator per second (all batches, critic-only ones included);
- peak: CUDA max_memory_allocated, or the process's peak RSS on CPU (interpreter and torch included);
- shares of the step's wall time: data (fetching the batch; in-memory tensors here, `make bench-data` and the
  aims measure the real loader), G (generator forward + its backward + Adam step), D (critic losses' forward
  incl. the gradient penalty + backward + step), each loss term's forward, rest (Lightning, logging, toggling).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch

from inpaintlab.utils.provenance import stamp

# family: (experiment, paper image side, paper batch, extra overrides at side S). New families append here.
FAMILIES: dict[str, tuple[str, int, int, list[str]]] = {
    "ga_fc": ("ga_mnist", 28, 128, []),
    "ga_dilated_wgan_gp": ("ga_celeba_adv", 128, 16, ["data.dataset.image_size={S}", "model.discriminator.image_size={S}"]),
    "deepfill_v1": ("deepfill_v1_places2", 256, 16, ["data.dataset.image_size={S}", "mask.height={H}", "mask.width={H}"]),
    "deepfill_v2": ("deepfill_v2_places2", 256, 16, ["data.dataset.image_size={S}"]),
    "crfill": ("crfill_places2", 256, 16, ["data.dataset.image_size={S}"]),
}
MODES = {"fp32": ("32-true", False), "bf16": ("bf16-mixed", False), "compile": ("32-true", True),
         "compile-bf16": ("bf16-mixed", True)}
CPU_SIDE_DIV, CPU_BATCH_DIV = 2, 8
SMOKE_SIDE = 32  # --smoke: every family at this side (multiple of 8), batch 1


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_label() -> str:
    if device() == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def scaled(family: str, on_cpu: bool, smoke: bool = False) -> tuple[int, int, float]:
    """(side, batch, work factor) of the run; the factor is paper pixels·batch over the run's."""
    _, side, batch, _ = FAMILIES[family]
    if smoke:
        s, b = min(side, SMOKE_SIDE), 1
    elif not on_cpu:
        return side, batch, 1.0
    else:
        s = side if side <= 32 else side // CPU_SIDE_DIV
        b = max(1, batch // CPU_BATCH_DIV)
    return s, b, (side * side * batch) / (s * s * b)


# ---------------------------------------------------------------- one row (child process)
class Timers:
    def __init__(self, sync: bool) -> None:
        self.sync, self.total, self.on = sync, defaultdict(float), False

    @contextmanager
    def __call__(self, name: str):
        if not self.on:
            yield
            return
        if self.sync:
            torch.cuda.synchronize()
        t = time.perf_counter()
        try:
            yield
        finally:
            if self.sync:
                torch.cuda.synchronize()
            self.total[name] += time.perf_counter() - t


def _wrap(obj, name: str, timers: Timers, key, before=None) -> None:
    fn = getattr(obj, name)

    def wrapped(*args, **kwargs):
        if before is not None:
            before()
        with timers(key() if callable(key) else key):
            return fn(*args, **kwargs)

    setattr(obj, name, wrapped)


def instrument(module, timers: Timers) -> None:
    """Time the module's parts without touching its code: wrapped bound methods on this instance."""
    phase = {"now": "g"}
    _wrap(module, "generator_forward", timers, "G")
    _wrap(module, "discriminator_loss", timers, "D", before=lambda: phase.update(now="d"))
    _wrap(module, "generator_loss", timers, "G loss", before=lambda: phase.update(now="g"))
    _wrap(module, "manual_backward", timers, lambda: "D" if phase["now"] == "d" else "G")
    for name, term in module.losses.items():
        _wrap(term, "forward", timers, f"loss:{name}")
    if module.adversarial is not None:
        _wrap(module.adversarial, "generator_loss", timers, "loss:adv_g")


def run_one(family: str, mode: str, iters: int, warmup: int, smoke: bool = False) -> dict:
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    import lightning as L

    precision, compiled = MODES[mode]
    dev = device()
    side, batch, factor = scaled(family, dev == "cpu", smoke)
    experiment, _, _, extra = FAMILIES[family]
    overrides = [f"experiment={experiment}", f"model.compile={str(compiled).lower()}",
                 *[o.format(S=side, H=side // 2) for o in extra]]
    with initialize_config_module("inpaintlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    module = instantiate(cfg.model)
    channels = 1 if experiment == "ga_mnist" else 3
    n_critic = module.n_critic if module.has_gan else 1
    n_batches = (warmup + iters) * n_critic
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(n_batches):
        image = torch.rand(batch, channels, side, side, generator=g) * 2 - 1
        mask = torch.zeros(batch, 1, side, side)
        y, x = torch.randint(0, side - side // 2 + 1, (2,), generator=g).tolist()
        mask[:, :, y : y + side // 2, x : x + side // 2] = 1
        data.append({"image": image, "mask": mask})
    timers = Timers(sync=dev == "cuda")
    instrument(module, timers)

    class Clock(L.Callback):
        def __init__(self) -> None:
            self.t0 = self.t_end = None
            self.batches = 0

        def on_train_start(self, trainer, pl_module):
            opts = trainer.optimizers
            for opt, key in zip(opts, ("G", "D")):
                _wrap(opt, "step", timers, key)

        def on_train_batch_start(self, trainer, pl_module, *args):
            if self.t0 is None and trainer.global_step >= warmup:
                if dev == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                self.t0, timers.on = time.perf_counter(), True
            elif self.t_end is not None and timers.on:
                timers.total["data"] += time.perf_counter() - self.t_end
            if timers.on:
                self.batches += 1

        def on_train_batch_end(self, trainer, pl_module, *args):
            if dev == "cuda" and timers.on:
                torch.cuda.synchronize()
            self.t_end = time.perf_counter()

    clock = Clock()
    trainer = L.Trainer(accelerator=dev, devices=1, precision=precision, max_steps=warmup + iters, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, callbacks=[clock])
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(data, batch_size=None))
    wall = clock.t_end - clock.t0
    gen_iters = trainer.global_step - warmup
    shares = {k: v / wall for k, v in timers.total.items()}
    losses = {k.split(":", 1)[1]: v for k, v in shares.items() if k.startswith("loss:")}
    g_loss_rest = shares.get("G loss", 0.0) - sum(losses.values())  # e.g. CR-Fill's CR term, logging prep
    if g_loss_rest > 0.005:
        losses["rest of G loss (critic on fake, CR)"] = g_loss_rest
    accounted = shares.get("data", 0) + shares.get("G", 0) + shares.get("D", 0) + shares.get("G loss", 0)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"family": family, "mode": mode, "side": side, "batch": batch, "factor": factor, "n_critic": n_critic,
            "s_per_g_iter": wall / gen_iters, "images_per_s": clock.batches * batch / wall, "peak_mb": peak,
            "data": shares.get("data", 0), "G": shares.get("G", 0), "D": shares.get("D", 0), "losses": losses,
            "rest": max(0.0, 1 - accounted), "device": device_label()}


# ---------------------------------------------------------------- the two aims
def aim_data_vs_step(side: int, batch: int, batches: int) -> dict:
    """Aim 1: images/s the DataModule delivers at 256² (Places2 layout, default workers, DeepFill v2 masks)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_data import make_image_fixture
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    with tempfile.TemporaryDirectory() as root:
        make_image_fixture(Path(root), n=batch * (batches + 4))
        with initialize_config_module("inpaintlab.conf", version_base="1.3"):
            cfg = compose("train", overrides=["experiment=deepfill_v2_places2", f"data.root={root}",
                                              f"data.batch_size={batch}", "data.val_size=4"])
        dm = instantiate(cfg.data)
        dm.setup("fit")
        it = iter(dm.train_dataloader())
        for _ in range(2):  # workers started, first batches out
            next(it)
        t = time.perf_counter()
        for _ in range(batches):
            next(it)
        rate = batches * batch / (time.perf_counter() - t)
    return {"workers": int(cfg.data.num_workers), "images_per_s": rate}


def aim_overhead(side: int, batch: int, iters: int) -> dict:
    """Aim 2: a bare PyTorch DeepFill v2 step (same nets, losses, optimisers) vs the Lightning module's step."""
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    import lightning as L
    from inpaintlab.conventions import composite

    with initialize_config_module("inpaintlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=deepfill_v2_places2", f"data.dataset.image_size={side}"])
    torch.manual_seed(0)
    module = instantiate(cfg.model)
    image = torch.rand(batch, 3, side, side) * 2 - 1
    mask = torch.zeros(batch, 1, side, side)
    mask[..., side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = 1
    bare_module = module  # the bare loop keeps its own nets; Lightning trains a second instance
    gen, disc, adv = module.generator, module.discriminator, module.adversarial
    opt_g, opt_d = module.optimizer_g(params=gen.parameters()), module.optimizer_d(params=disc.parameters())

    def bare_step():
        out = bare_module.generator_forward(image, mask)
        fake = composite(out["output"], image, mask)
        d = adv.discriminator_loss(disc(image, mask), disc(fake.detach(), mask))
        opt_d.zero_grad(set_to_none=True)
        d.backward()
        opt_d.step()
        disc.requires_grad_(False)
        total = sum(t.weight * t(out[t.source], image, mask) for t in bare_module.losses.values())
        total = total + adv.weight * adv.generator_loss(disc(fake, mask))
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
        disc.requires_grad_(True)

    def bare_median() -> float:
        times = []
        for _ in range(iters):
            t = time.perf_counter()
            bare_step()
            times.append(time.perf_counter() - t)
        return sorted(times)[len(times) // 2]

    bare_step()
    bare_before = bare_median()

    class Clock(L.Callback):
        starts: list[float] = []

        def on_train_batch_start(self, trainer, pl_module, *args):
            self.starts.append(time.perf_counter())

    torch.manual_seed(0)
    module = instantiate(cfg.model)
    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        from inpaintlab.utils.runtime import instantiate_nodes

        cfg_cb = compose_callbacks(out)
        callbacks = instantiate_nodes(cfg_cb, "callbacks")
        from lightning.pytorch.loggers import CSVLogger

        trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=iters + 2, logger=CSVLogger(out),
                            log_every_n_steps=int(cfg.trainer.log_every_n_steps), enable_progress_bar=False,
                            enable_model_summary=False, limit_val_batches=0, callbacks=[*callbacks, clock],
                            default_root_dir=out)
        data = [{"image": image, "mask": mask}] * (iters + 2)
        trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(data, batch_size=None))
    steps = [b - a for a, b in zip(clock.starts[1:], clock.starts[2:])]
    steps.append(time.perf_counter() - clock.starts[-1])  # the last step ends with fit (upper bound)
    lightning_step = sorted(steps)[len(steps) // 2]
    # the bare loop again after Lightning's run: a loaded machine drifts, the two bare medians show by how much
    bare_after = bare_median()
    bare = (bare_before + bare_after) / 2
    return {"bare_s": bare, "bare_before_s": bare_before, "bare_after_s": bare_after, "lightning_s": lightning_step,
            "overhead": 1 - bare / lightning_step, "images_per_s": batch / lightning_step}


def compose_callbacks(out: str):
    """The run's callbacks (checkpointing, metrics, image grid, EMA) as inpaintlab-train builds them."""
    from hydra import compose, initialize_config_module
    from omegaconf import open_dict

    with initialize_config_module("inpaintlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=deepfill_v2_places2"])
    with open_dict(cfg):
        cfg.paths.output_dir = out
    return cfg.callbacks


# ---------------------------------------------------------------- driver
def table(rows: list[dict]) -> str:
    head = ("| family | mode | side×batch (factor) | s/G-it | img/s | peak MiB | data | G | D | loss terms (fwd) | rest |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | {r['mode']} | failed: {r['error']} |||||||||")
            continue
        losses = ", ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(r["losses"].items(), key=lambda kv: -kv[1]))
        lines.append(
            f"| {r['family']} | {r['mode']} | {r['side']}²×{r['batch']} (÷{r['factor']:g}) | {r['s_per_g_iter']:.3f} | "
            f"{r['images_per_s']:.1f} | {r['peak_mb']:.0f} | {100 * r['data']:.0f}% | {100 * r['G']:.0f}% | "
            f"{100 * r['D']:.0f}% | {losses} | {100 * r['rest']:.0f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--modes", nargs="+", choices=list(MODES),
                   help="default: fp32 bf16 compile compile-bf16 on CUDA; fp32 bf16 on CPU (compile: --modes)")
    p.add_argument("--iters", type=int, default=None, help="timed generator iterations (default 20 CUDA, 2 CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed generator iterations (default 5 CUDA, 1 CPU)")
    p.add_argument("--no-aims", action="store_true", help="skip the data-loader and module-overhead aims")
    p.add_argument("--only-aims", action="store_true", help="only the data-loader and module-overhead aims")
    p.add_argument("--markdown", type=Path, help="also write the table (and aims) to this file")
    p.add_argument("--json", type=Path, help="also write every row as JSON")
    p.add_argument("--render", type=Path, help="print the table of a --json file again (no measuring)")
    p.add_argument("--smoke", action="store_true",
                   help="DeepFill v2 at 32², batch 1, one step, fp32, no aims, writes nothing: seconds (CI)")
    p.add_argument("--one", nargs=2, metavar=("FAMILY", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--aim", choices=["data", "overhead"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke and not args.one:
        args.families, args.modes, args.iters, args.warmup = ["deepfill_v2"], ["fp32"], 1, 0
        args.no_aims, args.only_aims, args.markdown, args.json = True, False, None, None
    on_cpu = device() == "cpu"
    iters = args.iters or (2 if on_cpu else 20)
    warmup = args.warmup if args.warmup is not None else (1 if on_cpu else 5)
    if args.render:
        rows = json.loads(args.render.read_text())
        for r in rows:
            r["losses"] = {("rest of G loss (critic on fake, CR)" if k.startswith("G-loss rest") else k): v
                           for k, v in r.get("losses", {}).items()}
        print(table(rows))
        return 0
    if args.one:
        print("ROW " + json.dumps(run_one(*args.one, iters=iters, warmup=warmup, smoke=args.smoke)))
        return 0
    if args.aim == "data":
        print("ROW " + json.dumps(aim_data_vs_step(256, 4, batches=100)))
        return 0
    if args.aim == "overhead":
        print("ROW " + json.dumps(aim_overhead(256, 4, iters=max(iters, 3))))
        return 0

    modes = args.modes or (["fp32", "bf16"] if on_cpu else list(MODES))
    print(f"device: {device_label()}; torch {torch.__version__}")
    if on_cpu:
        print(f"CPU: scaled down from the paper's size and batch (side ÷{CPU_SIDE_DIV}, batch ÷{CPU_BATCH_DIV}); "
              "the factor column is paper work ÷ measured work per batch")

    def child(extra: list[str]) -> dict:
        cmd = [sys.executable, __file__, *extra, "--iters", str(iters), "--warmup", str(warmup),
               *(["--smoke"] if args.smoke else [])]
        r = subprocess.run(cmd, capture_output=True, text=True)
        rows = [json.loads(line[4:]) for line in r.stdout.splitlines() if line.startswith("ROW ")]
        if r.returncode or not rows:
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": last[:120]}
        return rows[0]

    rows = []
    for family in [] if args.only_aims else args.families:
        for mode in modes:
            row = child(["--one", family, mode])
            row.setdefault("family", family)
            row.setdefault("mode", mode)
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    text = f"Device: {device_label()}; torch {torch.__version__}.\n\n{table(rows)}\n" if rows else ""
    if args.only_aims:
        rows, text = [], f"Device: {device_label()}; torch {torch.__version__}.\n"
    failed = any("error" in r for r in rows)
    if not args.no_aims:
        data = child(["--aim", "data"])
        over = child(["--aim", "overhead"])
        if "error" in data or "error" in over:
            failed = True
            text += f"\nAims failed: {data.get('error', '')} {over.get('error', '')}\n"
        else:
            ratio = data["images_per_s"] / over["images_per_s"]
            text += (
                f"\nAim 1 (data never stalls): DataModule, Places2 layout 256², batch 4, {data['workers']} workers: "
                f"{data['images_per_s']:.1f} img/s; DeepFill v2 training step 256² batch 4: "
                f"{over['images_per_s']:.2f} img/s -> ratio {ratio:.1f}× (aim ≥ 3×: {'met' if ratio >= 3 else 'NOT met'})\n"
                f"\nAim 2 (module overhead): DeepFill v2 256² batch 4, bare PyTorch step {over['bare_s']:.3f} s vs "
                f"Lightning module step {over['lightning_s']:.3f} s (bare before/after: {over['bare_before_s']:.3f} / "
                f"{over['bare_after_s']:.3f} s) -> overhead {100 * over['overhead']:.1f} % "
                f"(aim < 5 %: {'met' if over['overhead'] < 0.05 else 'NOT met'})\n")
    text += "\n" + stamp(vars(args), shlex.join(["python", "benchmarks/bench_train.py", *sys.argv[1:]])) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

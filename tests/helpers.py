"""Helpers every test folder imports by name (``from helpers import ...``): the repository paths, the real Hydra
config composed and clamped for a few CPU steps (lightning-hydra-template style), tiny trained checkpoints, and the
entry points run as subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from inpaintlab.conventions import CONFIG_DIR
from inpaintlab.utils.runtime import register_resolvers
from layouts import data_root_for, object_shapes, voc_shapes

REPO = Path(__file__).resolve().parents[1]  # the repository root, wherever the test file sits
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
CONF_DIR = CONFIG_DIR
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))

CPU_CLAMP = [
    "trainer=cpu",
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "data.num_workers=0",
]


# Per-experiment clamps for the generic 4-step CPU run (a few CPU seconds each; the test checks wiring, the
# papers' values are checked by test_paper_defaults.py); the real configs stay as the papers say. The tiny
# Places2 / ImageNet layouts hold 8 / 6 training images (hence val_size=2), and the DeepFill-family generators
# (cnum 48 → 16, critic 64 → 16) run at 64² instead of 256²; DeepFill v2's 128² box shrinks with them.
_PLACES64 = ["data.dataset.image_size=64", "data.val_size=2"]
_BOX32 = ["mask.generators.box.height=32", "mask.generators.box.width=32", "mask.generators.box.max_delta=8"]
_CRFILL_BASE = [*_PLACES64, "model.generator.cnum=16", "model.discriminator.cnum=16"]
_CRFILL_CLAMP = [*_CRFILL_BASE, "model.cr_loss.aux_net.cnum=16"]  # and the auxiliary network of the CR loss
_DEEPFILL_V1_CLAMP = ["data.dataset.image_size=128", "data.val_size=2", "mask.height=64", "mask.width=64",
                      "mask.max_delta=16", "model.generator.cnum=8", "model.discriminator.cnum=8"]
_DEEPFILL_V2_CLAMP = [*_CRFILL_BASE, *_BOX32]  # the same generator and critic, with attention
# Context Encoder at 32² (16² centre patch, a 2-px overlap instead of 7) with widths ÷4 and a 64-unit bottleneck;
# GLCIC at 64² with a 16–24 px hole, 32² local crop.
_CE_CLAMP = ["data.val_size=2", "data.dataset.image_size=32", "model.generator.image_size=32", "model.generator.nef=16",
             "model.generator.ngf=16", "model.generator.bottleneck_units=64"]
_CE_CENTER = [*_CE_CLAMP, "mask.size=16", "mask.margin=2", "model.losses.rec.overlap=2",
              "model.discriminator.patch_size=16", "model.discriminator.ndf=16"]
_GLCIC_CLAMP = ["data.val_size=2", "data.dataset.image_size=64", "data.dataset.resize=[64,96]", "mask.size=[16,24]",
                "model.generator.cnum=8", "model.discriminator.global_size=64", "model.discriminator.local_size=32",
                "model.discriminator.cnum=8", "model.discriminator.fc_units=32", "model.phases.0.steps=2",
                "model.phases.1.steps=1", "model.phases.2.steps=1"]
# PConv: a 4-level U-Net of widths 8–32 at 64², VGG-16 with random weights (no ImageNet weights in CI), and the
# fine-tuning phase from step 2 so the 4-step run passes through both phases.
_PCONV_CLAMP = ["data.dataset.image_size=64", "data.val_size=2", "model.generator.levels=4",
                "model.generator.base_channels=8", "model.generator.max_channels=32",
                "model.losses.perceptual.pretrained=false", "finetune_at=2",
                # the hole-ratio suites on the tiny mask folder: one suite spanning every ratio, the others off
                "data.eval_masks.irregular_01_10.ratio_range=[0.0,1.0]",
                *[f"data.eval_masks.irregular_{lo}_{hi}=null" for lo, hi in ((10, 20), (20, 30), (30, 40), (40, 50), (50, 60))]]
# BTGMI: 32² images, narrow nets, one step per phase (head, block1–3), a random-weight AlexNet inside PPL (no
# ImageNet weights in CI); PPL at native size as the paper (the 8–16 px holes' sides go up to AlexNet's 31).
_BTGMI_CLAMP = ["data.dataset.image_size=32", "data.val_size=2", "btgmi.head_steps=1", "btgmi.block_steps=1",
                "model.generator.channels=[8,16,16]", "model.discriminator.ndf=8",
                "model.losses.ppl.pretrained=false"]
# Gradient attention on CelebA: 32² faces, a 16² centre hole and the dilated FCN at ⅛ width (the 128² paper size
# and its 128² critic made ga_celeba_adv's 4 × (5 critic + 1) batches the slowest of the generic runs).
_GA_CELEBA_CLAMP = ["data.dataset.image_size=32", "mask.size=16", "model.generator.width=0.125"]
_GA_CRITIC_CLAMP = ["model.discriminator.image_size=32", "model.discriminator.widths=[8,16,32,32]"]
EXPERIMENT_OVERRIDES: dict[str, list[str]] = {
    "ga_celeba": _GA_CELEBA_CLAMP,
    "ga_celeba_adv": [*_GA_CELEBA_CLAMP, *_GA_CRITIC_CLAMP],
    "context_encoder_imagenet_center": _CE_CENTER,
    "context_encoder_imagenet_center_l2": [*_CE_CLAMP, "mask.size=16", "mask.margin=2", "model.losses.rec.overlap=2"],
    # the tiny folder layout has no paris_train_original/ and paris_eval_gt/: every image trains and tests
    "context_encoder_paris_center": [*_CE_CENTER, "data.train_split=train", "data.test_split=train"],
    "context_encoder_random_region": [*_CE_CLAMP, "model.discriminator.patch_size=32", "model.discriminator.ndf=16"],
    # the three phases shrink to 2 + 1 + 1 steps (the 4-step CPU run crosses every phase boundary)
    "glcic_places2": _GLCIC_CLAMP,
    "glcic_celeba": _GLCIC_CLAMP,
    "glcic_imagenet": _GLCIC_CLAMP,
    "pconv_places2": _PCONV_CLAMP,
    "pconv_imagenet": _PCONV_CLAMP,
    "pconv_celeba_hq": [*_PCONV_CLAMP, "data.dataset.split_files=null", "data.test_split=null"],
    "crfill_places2": _CRFILL_CLAMP,
    "crfill_baseline_places2": _CRFILL_BASE,
    "crfill_imagenet": _CRFILL_CLAMP,
    "crfill_places2_official": _CRFILL_CLAMP,
    "crfill_deepfillv2_ca_cr_places2": [*_CRFILL_CLAMP, *_BOX32],
    # DeepFill v1: 128² (its mirror padding needs the 1/4-scale map wider than the dilation 16), 64² box, and
    # the critics' dense layers follow (global_size = image size, local_size = mask.height); widths ÷4 and ÷8
    # because every one of the 5·4 batches runs the generator and both critics (with the double-backward GP).
    "deepfill_v1_places2": _DEEPFILL_V1_CLAMP,
    "deepfill_v1_celeba": _DEEPFILL_V1_CLAMP,
    "deepfill_v2_places2": _DEEPFILL_V2_CLAMP,
    "deepfill_v2_celeba": _DEEPFILL_V2_CLAMP,
    # Yeh: val/test inpaint by latent search; a few search steps instead of 100 / 1,500
    "yeh_celeba": ["data.val_size=2", "model.val_search.steps=2", "inference_options.steps=2"],
    "yeh_fashion_mnist": ["model.val_search.steps=2", "inference_options.steps=2"],
    **{e: [o for o in _BTGMI_CLAMP if e not in ("btgmi_l2", "btgmi_vgg") or ".ppl." not in o]
          + (["model.losses.vgg.pretrained=false"] if e == "btgmi_vgg" else [])
       for e in EXPERIMENTS if e.startswith("btgmi_")},
    # Sec. 4.4's guided composites: the tiny COCO layout's objects are a few hundred pixels (both PPL terms follow
    # model.losses.ppl's clamps)
    "btgmi_guided_coco": [*_BTGMI_CLAMP, "data.dataset.min_area=50"],
}

# Per-experiment clamps of the 2-step checkpoints the inference tests fill photos with (tests/inference/); a new
# method adds its experiment here. The configs stay the papers'.
_CR8 = ["model.generator.cnum=8", "model.discriminator.cnum=8", "model.cr_loss.aux_net.cnum=8"]
INFERENCE_CLAMPS: dict[str, list[str]] = {
    "ga_mnist": ["data.val_size=8"],
    "ga_celeba": ["data.dataset.image_size=32", "mask.size=16", "model.generator.width=0.125"],
    "deepfill_v1_places2": ["data.dataset.image_size=128", "data.val_size=2", "mask.height=64", "mask.width=64",
                            "mask.max_delta=16", "model.generator.cnum=8", "model.discriminator.cnum=8",
                            "model.n_critic=1"],
    "deepfill_v2_places2": [*_PLACES64, *_BOX32, "model.generator.cnum=8", "model.discriminator.cnum=8"],
    "crfill_places2": [*_PLACES64, *_CR8],
    "crfill_deepfillv2_ca_cr_places2": [*_PLACES64, *_BOX32, *_CR8],
    # PConv: a 4-level U-Net (size multiple 16: the 517×389 photo is mirror-padded), free-form training holes
    # instead of NVIDIA's mask files, random VGG weights, no evaluation suites (the test stage is skipped anyway);
    # PyTorch's init: after 2 steps from He's wider weights (the default) the linear output saturates, and a hole
    # pixel can land on the sentinel colour exactly
    "pconv_places2": [*_PLACES64, "mask=free_form", "data.eval_masks=null", "model.generator.levels=4",
                      "model.generator.base_channels=8", "model.generator.max_channels=32",
                      "model.losses.perceptual.pretrained=false", "model.generator.init=pytorch"],
    # Yeh et al.: the checkpoint's inference_options (a 3-step search here) drive inpaintlab-inpaint and Inpainter
    "yeh_celeba": ["data.val_size=2", "model.generator.width=8", "model.discriminator.width=8",
                   "model.val_search.steps=2", "inference_options.steps=3"],
    # BTGMI: one head step, then one step of the first grown block: the checkpoint holds a grown generator
    "btgmi_places2": ["data.dataset.image_size=32", "data.val_size=2", "btgmi.head_steps=1", "btgmi.block_steps=1",
                      "model.generator.channels=[8,16,16]", "model.discriminator.ndf=8",
                      "model.losses.ppl.pretrained=false", "model.losses.ppl.crop_size=32"],
}


def compose_config(overrides: list[str], out_dir: Path, config_name: str = "train") -> DictConfig:
    """The config the entry point ``config_name`` would run, its resolvers registered as the entry points do (a test
    module that never imports ``inpaintlab.train`` still resolves ``${total_steps:...}``)."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
        cfg.paths.log_dir = str(out_dir)
    return cfg


def clamped(experiment: str, tmp_path: Path, factory, extra=()) -> DictConfig:
    """``experiment`` composed for the generic 4-step CPU run on its tiny layout (``EXPERIMENT_OVERRIDES``)."""
    probe = compose_config([f"experiment={experiment}"], tmp_path)
    root = data_root_for(probe, factory)
    GlobalHydra.instance().clear()
    overrides = [f"experiment={experiment}", f"data.root={root}", "logger=csv", "data.batch_size=4",
                 "data.eval_batch_size=4", *CPU_CLAMP, *extra]
    if probe.data.get("val_split") is None:
        overrides.append("data.val_size=8")
    overrides += EXPERIMENT_OVERRIDES.get(experiment, [])
    return compose_config(overrides, tmp_path)


_TRAINED: dict[tuple[str, ...], tuple[Path, dict]] = {}


def shared_temp(factory) -> Path:
    """pytest's base temporary folder as every pytest-xdist worker of this run sees it (under xdist each worker's
    base is one level below it): where work that several workers need is done once."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def trained_checkpoint(experiment: str, factory, extra=()) -> tuple[Path, dict]:
    """(checkpoint copied alone into an empty folder, metrics) of ``experiment`` trained 2 CPU steps on its tiny
    layout with ``INFERENCE_CLAMPS`` and ``extra`` (which may ask for more steps or the test stage); trained once
    per test run for each (experiment, extra): the first pytest-xdist worker that needs it trains it under a file
    lock, the others wait for it and read it."""
    key = (experiment, *extra)
    if key in _TRAINED and _TRAINED[key][0].is_file():
        return _TRAINED[key]
    from filelock import FileLock

    slot = shared_temp(factory) / "trained" / hashlib.sha1("\0".join(key).encode()).hexdigest()[:16]
    alone, record = slot / "model.ckpt", slot.with_suffix(".json")
    slot.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(slot.with_suffix(".lock"))):
        if not (alone.is_file() and record.is_file()):
            run = factory.mktemp(f"run_{experiment}")
            metrics = _train_two_steps(experiment, run, factory, extra)
            slot.mkdir(exist_ok=True)
            shutil.copy(run / "checkpoints" / "last.ckpt", alone)
            record.write_text(json.dumps({k: float(v) for k, v in metrics.items()}))
    _TRAINED[key] = alone, json.loads(record.read_text())
    return _TRAINED[key]


def _train_two_steps(experiment: str, run: Path, factory, extra=()) -> dict:
    from inpaintlab.train import train

    mp = pytest.MonkeyPatch()
    mp.setenv("OBJECT_SHAPES_ROOT", str(object_shapes(factory)))  # CR-Fill's mask mixtures
    mp.setenv("VOC2012_ROOT", str(voc_shapes(factory)))  # Context Encoder's random regions
    try:
        probe = compose_config([f"experiment={experiment}"], run)
        root = data_root_for(probe, factory)
        GlobalHydra.instance().clear()
        overrides = [f"experiment={experiment}", f"data.root={root}", "logger=csv", "data.batch_size=2",
                     "data.eval_batch_size=2", *CPU_CLAMP, "trainer.max_steps=2", "test=false",
                     "callbacks.image_grid=null", *INFERENCE_CLAMPS.get(experiment, []), *extra]
        return train(compose_config(overrides, run))
    finally:
        GlobalHydra.instance().clear()
        mp.undo()


def gradient_photo(width: int = 517, height: int = 389, seed: int = 0) -> np.ndarray:
    """A noisy RGB gradient (uint8, height×width×3): the photo the inference and app tests fill."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx + yy) % 256], -1)
    return np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


def photo_files(root: Path, holes: list[tuple[slice, slice]], sentinel=None) -> tuple[Path, np.ndarray, np.ndarray]:
    """``gradient_photo`` and its hole mask (the union of ``holes``, (rows, cols) slices) as root/photo.png and
    root/mask.png; ``sentinel``: a colour written into the photo's hole pixels (the fill must replace them all).
    Returns (root, photo, hole)."""
    from PIL import Image

    img = gradient_photo()
    hole = np.zeros(img.shape[:2], bool)
    for rows, cols in holes:
        hole[rows, cols] = True
    if sentinel is not None:
        img[hole] = sentinel
    Image.fromarray(img).save(root / "photo.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(root / "mask.png")
    return root, img, hole


_ZYGOTE: subprocess.Popen | None = None
ZYGOTE_ARGS: list[str] = []  # ["--bare"]: a server without the imports (tests of the exchange itself)


def _zygote() -> subprocess.Popen:
    """This worker's fork server (cli_zygote.py), started on first use; it ends when this process closes its stdin."""
    global _ZYGOTE
    if _ZYGOTE is None or _ZYGOTE.poll() is not None:
        # unbuffered, so that select() below sees every line the server wrote
        _ZYGOTE = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_zygote.py")), *ZYGOTE_ARGS],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    return _ZYGOTE


def run_cli(module: str, args: list[str], cwd: Path, timeout: int = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m module args`` in ``cwd``: its own process (forked from the worker's pre-imported interpreter,
    cli_zygote.py), its exit status and its stdout/stderr as text, like ``subprocess.run(..., capture_output=True,
    text=True, timeout=timeout)``. ``env`` is added to this process's environment and the tests' defaults."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0", **(env or {})}
    return _forked({"module": module}, args, cwd, timeout, env)


def run_script(path: Path, args: list[str], cwd: Path, timeout: int = 300,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python path args`` in ``cwd``, as ``run_cli`` runs an entry point; ``env`` is added to this process's."""
    return _forked({"path": str(path)}, args, cwd, timeout, {**os.environ, **(env or {})})


def _forked(target: dict, args: list, cwd: Path, timeout: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    cmd = [sys.executable, *(["-m", target["module"]] if "module" in target else [target["path"]]), *args]
    if not hasattr(os, "fork"):  # Windows: no fork server, a fresh interpreter per call
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        server, pid = _zygote(), None
        try:
            server.stdin.write(json.dumps({**target, "args": args, "cwd": str(cwd), "env": env,
                                           "stdout": str(out), "stderr": str(err)}).encode() + b"\n")
            pid = int(server.stdout.readline() or -1)
            if pid < 0:
                raise RuntimeError(f"the CLI fork server (cli_zygote.py) exited with {server.wait()}")
            if not select.select([server.stdout], [], [], timeout)[0]:
                os.kill(pid, signal.SIGKILL)
                server.stdout.readline()
                raise subprocess.TimeoutExpired(cmd, timeout, out.read_text(), err.read_text())
            code = int(server.stdout.readline())
        except subprocess.TimeoutExpired:
            raise
        except BaseException:  # interrupted mid-exchange (pytest-timeout, ^C): the next call starts a new server
            _drop_zygote(pid)
            raise
        return subprocess.CompletedProcess(cmd, code, out.read_text(), err.read_text())


def _drop_zygote(child: int | None) -> None:
    """Kill the call's child and the server; the next call starts a new server (never reads this one's answers)."""
    global _ZYGOTE
    if child and child > 0:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if _ZYGOTE is not None:
        _ZYGOTE.kill()
        _ZYGOTE.wait()
    _ZYGOTE = None


def reference_fixture(name: str) -> Path:
    """Path of a ../shared/reference tensor file; fails (never skips) when it is missing."""
    path = SHARED_REFERENCE / name
    if not path.is_file():
        pytest.fail(f"reference fixture {path} is missing: the parity tests need ../shared/reference beside the repo")
    return path


def make_idx_dataset(root: Path, n_train: int = 96, n_test: int = 48, gz: bool = True, seed: int = 0) -> Path:
    """Write the four MNIST IDX files with smooth random 28×28 shapes (so gradients are meaningful)."""
    from inpaintlab.data.synthetic import make_idx_dataset as make

    return make(root, n_train=n_train, n_test=n_test, gz=gz, seed=seed)

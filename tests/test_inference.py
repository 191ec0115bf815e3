"""One inference path for every experiment family: a checkpoint trained a few CPU steps, copied into an empty
folder, fills a 517×389 RGB photo through ``inpaintlab-inpaint`` and through ``inpaintlab.Inpainter`` with the
same pixels; known pixels bit-exact; every hole pixel written. A new method adds its experiment name below
(with its tiny-model clamps)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from helpers import CPU_CLAMP, compose_config
from layouts import data_root_for

# experiment → extra overrides that shrink its model for a 2-step CPU run (the configs stay the papers')
_PLACES64 = ["data.dataset.image_size=64", "data.val_size=2"]
_BOX32 = ["mask.generators.box.height=32", "mask.generators.box.width=32", "mask.generators.box.max_delta=8"]
_CR8 = ["model.generator.cnum=8", "model.discriminator.cnum=8", "model.cr_loss.aux_net.cnum=8"]
FAMILIES: dict[str, list[str]] = {
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
# coarse-to-fine experiments whose checkpoints also load by released-weights name (pretrained.load)
RELEASED_NAME = {"deepfill_v1_places2": "deepfill_v1", "deepfill_v2_places2": "deepfill_v2",
                 "crfill_places2": "crfill", "crfill_deepfillv2_ca_cr_places2": "crfill"}
SENTINEL = (255, 0, 255)  # hole pixels of the photo: a colour no fill of these nets lands on exactly


def _object_shapes(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(3):
        shape = ((yy - 30) / 12) ** 2 + ((xx - 30) / (6 + 3 * i)) ** 2 <= 1
        Image.fromarray(shape.astype(np.uint8) * 255).save(root / f"{i}.png")
    return root


_TRAINED: dict[str, tuple[str, Path]] = {}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def trained(request, tmp_path_factory):
    """(experiment, checkpoint copied alone into an empty folder) — one 2-step training per family."""
    return _trained(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def yeh_trained(tmp_path_factory):
    return _trained("yeh_celeba", tmp_path_factory)


def _trained(experiment: str, tmp_path_factory) -> tuple[str, Path]:
    if experiment in _TRAINED and _TRAINED[experiment][1].is_file():
        return _TRAINED[experiment]
    from inpaintlab.train import train

    mp = pytest.MonkeyPatch()
    mp.setenv("OBJECT_SHAPES_ROOT", str(_object_shapes(tmp_path_factory.mktemp("object_shapes"))))
    run = tmp_path_factory.mktemp(f"run_{experiment}")
    try:
        probe = compose_config([f"experiment={experiment}"], run)
        root = data_root_for(probe, tmp_path_factory)
        GlobalHydra.instance().clear()
        overrides = [f"experiment={experiment}", f"data.root={root}", "logger=csv", "data.batch_size=2",
                     "data.eval_batch_size=2", *CPU_CLAMP, "trainer.max_steps=2", "test=false",
                     "callbacks.image_grid=null", *FAMILIES[experiment]]
        train(compose_config(overrides, run))
    finally:
        GlobalHydra.instance().clear()
        mp.undo()
    alone = tmp_path_factory.mktemp(f"copied_{experiment}") / "model.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", alone)
    _TRAINED[experiment] = experiment, alone
    return experiment, alone


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    root = tmp_path_factory.mktemp("photo")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:389, 0:517]
    img = np.stack([xx * 255 // 516, yy * 255 // 388, (xx + yy) % 256], -1).astype(np.int64)
    img = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    hole = np.zeros((389, 517), bool)
    hole[100:180, 150:260] = True
    hole[:30, 480:] = True  # touches the top and right borders
    hole[300:389, 20:40] = True  # touches the bottom border
    img[hole] = SENTINEL
    Image.fromarray(img).save(root / "photo.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(root / "mask.png")
    return root, img, hole


def test_checkpoint_fills_a_photo_through_cli_and_api(trained, photo, tmp_path):
    from inpaintlab import Inpainter
    from inpaintlab.inpaint import main

    experiment, ckpt = trained
    root, img, hole = photo
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["model.ckpt"]  # no run directory beside it
    out_path = tmp_path / "out.png"
    args = ["--weights", ckpt, "--image", root / "photo.png", "--mask", root / "mask.png", "--out", out_path,
            "--device", "cpu", "--quiet"]
    assert main([str(a) for a in args]) == 0  # no --model: the checkpoint carries its model config
    with Image.open(out_path) as im:
        cli = np.asarray(im)
    api = Inpainter.from_checkpoint(ckpt).fill(Image.open(root / "photo.png"), Image.open(root / "mask.png"))
    assert cli.shape == api.shape == (389, 517, 3) and cli.dtype == np.uint8
    assert np.array_equal(cli, api)
    assert np.array_equal(cli[~hole], img[~hole])  # known pixels bit for bit
    assert (cli[hole] != np.array(SENTINEL)).any(axis=1).all()  # every hole pixel written
    if experiment in RELEASED_NAME:  # pretrained.load(name, ckpt) builds the stored architecture
        from inpaintlab import pretrained
        from inpaintlab.inpaint import inpaint

        assert np.array_equal(inpaint(pretrained.load(RELEASED_NAME[experiment], ckpt), img, hole), cli)
        assert np.array_equal(Inpainter.from_pretrained(RELEASED_NAME[experiment], ckpt).fill(img, hole), cli)


def test_stored_config_rebuilds_the_trained_architecture(trained):
    """What the factory defaults got wrong: CR-Fill-on-DeepFill-v2 pads TF-SAME, DeepFill v2 without attention
    stays without it, DeepFill v1 keeps its reflect padding."""
    from inpaintlab import Inpainter

    experiment, ckpt = trained
    stored = torch.load(ckpt, map_location="cpu", weights_only=True)["inpaintlab"]
    gen_cfg = stored["model_config"]["generator"]
    gen = Inpainter.from_checkpoint(ckpt).generator
    if experiment == "crfill_deepfillv2_ca_cr_places2":
        assert gen.padding == "same_tf" and not gen.has_attention
    if experiment == "deepfill_v1_places2":
        assert gen.padding == "reflect" and gen.has_attention
    if experiment == "btgmi_places2":  # grown in training; rebuilt without knowing how
        assert int(gen.active_blocks) == 1 and float(gen.fade) == 1.0 and gen.size_multiple == 8
    if experiment == "ga_celeba":
        assert stored["data"]["image_size"] == 32 and gen.net[0].out_channels == 4  # width 0.125 of 32
    assert gen_cfg["_target_"].startswith("inpaintlab.models.")


def test_yeh_cli_steps_restarts_and_progress_bar(yeh_trained, photo, tmp_path, capsys, monkeypatch):
    """Yeh et al.: --steps / --restarts reach the latent search, whose progress is written on stderr (a plain line
    when stderr is not a terminal; a clock advancing 3 s per reading makes every step 'slow')."""
    trained = yeh_trained
    import inpaintlab.inpaint as inpaint_mod
    from inpaintlab.inpaint import main

    ticks = iter(range(0, 10**6, 3))
    monkeypatch.setattr(inpaint_mod.time, "perf_counter", lambda: float(next(ticks)))

    root, img, hole = photo
    args = ["--weights", trained[1], "--image", root / "photo.png", "--mask", root / "mask.png",
            "--out", tmp_path / "o.png", "--device", "cpu", "--steps", "2", "--restarts", "2"]
    assert main([str(a) for a in args]) == 0
    captured = capsys.readouterr()
    assert "'steps': 2" in captured.out and "'restarts': 2" in captured.out
    assert "inpaintlab-inpaint: latent search: 2/2 steps" in captured.err
    with Image.open(tmp_path / "o.png") as im:
        assert np.array_equal(np.asarray(im)[~hole], img[~hole])

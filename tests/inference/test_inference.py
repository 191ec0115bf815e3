"""One inference path for every experiment family: a checkpoint trained a few CPU steps, copied into an empty
folder, fills a 517×389 RGB photo through ``inpaintlab-inpaint`` and through ``inpaintlab.Inpainter`` with the
same pixels; known pixels bit-exact; every hole pixel written. A new method adds its experiment name, with its
tiny-model clamps, to ``helpers.INFERENCE_CLAMPS``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import INFERENCE_CLAMPS, photo_files, trained_checkpoint

# coarse-to-fine experiments whose checkpoints also load by released-weights name (pretrained.load)
RELEASED_NAME = {"deepfill_v1_places2": "deepfill_v1", "deepfill_v2_places2": "deepfill_v2",
                 "crfill_places2": "crfill", "crfill_deepfillv2_ca_cr_places2": "crfill"}
SENTINEL = (255, 0, 255)  # hole pixels of the photo: a colour no fill of these nets lands on exactly


@pytest.fixture(scope="module", params=sorted(INFERENCE_CLAMPS))
def trained(request, tmp_path_factory):
    """(experiment, checkpoint copied alone into an empty folder) — one 2-step training per family."""
    return request.param, trained_checkpoint(request.param, tmp_path_factory)[0]


@pytest.fixture(scope="module")
def yeh_trained(tmp_path_factory):
    return "yeh_celeba", trained_checkpoint("yeh_celeba", tmp_path_factory)[0]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return photo_files(tmp_path_factory.mktemp("photo"), [
        (slice(100, 180), slice(150, 260)),
        (slice(0, 30), slice(480, None)),  # touches the top and right borders
        (slice(300, 389), slice(20, 40)),  # touches the bottom border
    ], sentinel=SENTINEL)


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

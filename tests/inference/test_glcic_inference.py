"""GLCIC and Context Encoder checkpoints (a few CPU steps) through the one inference path: a 517×389 photo with
two holes, one touching the border, with and without GLCIC's post-processing (``--postprocess``); evaluation
reports both; a centre-only Context Encoder refuses holes outside its centre region with one clear line, a
random-region one (trained on PASCAL VOC shapes) fills them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import photo_files, trained_checkpoint

CLAMPS = {
    "glcic_places2": ["data.dataset.image_size=64", "data.dataset.resize=[64,96]", "data.val_size=2",
                      "mask.size=[16,24]", "model.generator.cnum=8", "model.discriminator.global_size=64",
                      "model.discriminator.local_size=32", "model.discriminator.cnum=8",
                      "model.discriminator.fc_units=32", "model.phases.0.steps=1", "model.phases.1.steps=1",
                      "model.phases.2.steps=1", "trainer.max_steps=3", "test=true"],
    "context_encoder_imagenet_center": ["data.dataset.image_size=32", "data.val_size=2", "mask.size=16",
                                        "mask.margin=2", "model.losses.rec.overlap=2",
                                        "model.generator.bottleneck_units=64",
                                        "model.generator.image_size=32", "model.generator.nef=8",
                                        "model.generator.ngf=8", "model.discriminator.patch_size=16",
                                        "model.discriminator.ndf=8", "trainer.max_steps=2", "test=false"],
    # PASCAL VOC shapes (a generated VOC layout), the whole 32² image predicted, the critic on F's output
    "context_encoder_random_region": ["data.dataset.image_size=32", "data.val_size=2",
                                      "model.generator.bottleneck_units=64", "model.generator.image_size=32",
                                      "model.generator.nef=8", "model.generator.ngf=8",
                                      "model.discriminator.patch_size=32", "model.discriminator.ndf=8",
                                      "trainer.max_steps=2", "test=false"],
}


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory):
    experiment = request.param
    ckpt, metrics = trained_checkpoint(experiment, tmp_path_factory, CLAMPS[experiment])
    return experiment, ckpt, metrics


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return photo_files(tmp_path_factory.mktemp("photo"), [
        (slice(150, 240), slice(200, 300)),
        (slice(0, 60), slice(430, 517)),  # touches the top and right borders
    ])


@pytest.mark.parametrize("trained", ["glcic_places2"], indirect=True)
def test_glcic_checkpoint_fills_a_photo_with_and_without_postprocess(trained, photo, tmp_path):
    from inpaintlab import Inpainter
    from inpaintlab.inpaint import main

    _, ckpt, metrics = trained
    # one evaluation reports the metrics with post-processing (what inference gives) and without (raw/)
    assert {"test/psnr", "test/raw/psnr", "test/l1_hole", "test/raw/l1_hole"} <= set(metrics)
    # Sec. 3.1: the holes were filled with this training set's mean pixel, measured and saved with the weights
    import torch

    fill = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]["generator.fill_value"]
    assert fill.shape == (3,) and bool(torch.isfinite(fill).all()) and float(fill.abs().max()) < 1
    root, img, hole = photo
    outs = {}
    for flag in ("true", "none"):
        out_path = tmp_path / f"out_{flag}.png"
        args = ["--weights", ckpt, "--image", root / "photo.png", "--mask", root / "mask.png", "--out", out_path,
                "--device", "cpu", "--quiet", "--postprocess", flag]
        assert main([str(a) for a in args]) == 0
        with Image.open(out_path) as im:
            outs[flag] = np.asarray(im)
        assert outs[flag].shape == (389, 517, 3) and np.array_equal(outs[flag][~hole], img[~hole])
    assert not np.array_equal(outs["true"][hole], outs["none"][hole])
    api = Inpainter.from_checkpoint(ckpt, postprocess=True).fill(img, hole)
    assert np.array_equal(api, outs["true"])
    assert np.array_equal(Inpainter.from_checkpoint(ckpt).fill(img, hole), outs["true"])  # the paper's default


@pytest.mark.parametrize("trained", ["context_encoder_imagenet_center"], indirect=True)
def test_centre_context_encoder_refuses_holes_outside_its_centre(trained, photo, tmp_path, capsys):
    from inpaintlab import Inpainter
    from inpaintlab.inpaint import main

    _, ckpt, _ = trained
    root, img, hole = photo
    centre = np.zeros_like(hole)
    centre[150:240, 200:300] = True  # inside the centre half of the picture
    out = Inpainter.from_checkpoint(ckpt).fill(img, centre)
    assert np.array_equal(out[~centre], img[~centre])
    args = ["--weights", ckpt, "--image", root / "photo.png", "--mask", root / "mask.png", "--out",
            tmp_path / "o.png", "--device", "cpu", "--quiet"]
    assert main([str(a) for a in args]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside" in err[0] and "centre" in err[0]
    mean = Inpainter.from_checkpoint(ckpt, outside="mean").fill(img, hole)
    assert np.array_equal(mean[~hole], img[~hole])


@pytest.mark.parametrize("trained", ["context_encoder_random_region"], indirect=True)
def test_random_region_context_encoder_fills_any_hole_of_a_photo(trained, photo, tmp_path):
    from inpaintlab.inpaint import main

    _, ckpt, _ = trained
    root, img, hole = photo  # two holes, one touching the border: outside any centre region
    out_path = tmp_path / "filled.png"
    args = ["--weights", ckpt, "--image", root / "photo.png", "--mask", root / "mask.png", "--out", out_path,
            "--device", "cpu", "--quiet"]
    assert main([str(a) for a in args]) == 0
    with Image.open(out_path) as im:
        out = np.asarray(im)
    assert out.shape == (389, 517, 3) and np.array_equal(out[~hole], img[~hole])
    assert not np.array_equal(out[hole], img[hole])

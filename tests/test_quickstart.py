"""``quickstart=my_photos``: the README's one command per method trains on a generated folder of photos (toy sizes,
one step), masks that are a download get the free-form stand-in and the log says so, and a folder that cannot
work is one line."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from helpers import CPU_CLAMP, compose_config

# method → (the README command's experiment, toy sizes for a one-step CPU run: smaller images, masks and widths)
_GLCIC = ["data.dataset.image_size=64", "data.dataset.resize=[64,96]", "mask.size=[16,24]", "model.generator.cnum=8",
          "model.discriminator.global_size=64", "model.discriminator.local_size=32", "model.discriminator.cnum=8",
          "model.discriminator.fc_units=32"]
METHODS = {
    "gradient attention": ("ga_celeba", ["data.dataset.image_size=32", "mask.size=16"]),
    "DeepFill v1": ("deepfill_v1_places2", ["data.dataset.image_size=128", "mask.height=64", "mask.width=64",
                                            "mask.max_delta=16", "model.generator.cnum=8", "model.discriminator.cnum=8"]),
    "DeepFill v2": ("deepfill_v2_places2", ["data.dataset.image_size=64", "mask.generators.box.height=32",
                                            "mask.generators.box.width=32", "mask.generators.box.max_delta=8",
                                            "model.generator.cnum=8"]),
    "CR-Fill": ("crfill_places2", ["data.dataset.image_size=64", "model.generator.cnum=8"]),
    "Partial Convolutions": ("pconv_places2", ["data.dataset.image_size=64", "model.generator.levels=4",
                                               "model.generator.base_channels=8", "model.generator.max_channels=32"]),
    "Context Encoder": ("context_encoder_imagenet_center", ["model.generator.image_size=32", "model.generator.nef=16",
                                                            "model.generator.ngf=16", "mask.size=16",
                                                            "model.discriminator.patch_size=16",
                                                            "model.discriminator.ndf=16"]),
    "GLCIC": ("glcic_places2", _GLCIC),
    "Yeh et al.": ("yeh_celeba", ["model.val_search.steps=2", "inference_options.steps=2"]),
    "BTGMI": ("btgmi_places2", ["data.dataset.image_size=32", "model.generator.channels=[8,16,16]",
                                "model.discriminator.ndf=8", "model.losses.ppl.crop_size=32"]),
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Ten 'photos' of mixed sizes, modes and formats in nested folders, as a phone export might be."""
    root = tmp_path_factory.mktemp("my_photos")
    rng = np.random.default_rng(0)
    for i in range(10):
        h, w = int(rng.integers(90, 200)), int(rng.integers(90, 200))
        yy, xx = np.mgrid[0:h, 0:w]
        a = np.stack([(xx * 3 + i * 20) % 256, (yy * 2) % 256, ((xx + yy) * i) % 256], -1).astype(np.uint8)
        img = Image.fromarray(a)
        folder = root / ("holiday" if i % 2 else "")
        folder.mkdir(exist_ok=True)
        if i == 3:
            img.convert("L").save(folder / f"p{i}.png")
        elif i == 5:
            img.convert("RGBA").save(folder / f"p{i}.png")
        else:
            img.save(folder / f"p{i}.jpg", quality=90)
    return root


def _train(overrides, out, caplog):
    from inpaintlab.train import train

    try:
        cfg = compose_config([*overrides, *CPU_CLAMP, "trainer.max_steps=1", "logger=csv", "data.batch_size=2",
                              "data.eval_batch_size=2"], out)
        with caplog.at_level(logging.INFO):
            return train(cfg), cfg
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("method", list(METHODS))
def test_readme_command_trains_on_a_folder_of_photos(method, photos, tmp_path, caplog):
    experiment, toy = METHODS[method]
    metrics, cfg = _train([f"experiment={experiment}", "quickstart=my_photos", f"data.root={photos}",
                           "quickstart.random_backbones=true", *toy], tmp_path, caplog)
    tested = [v for k, v in metrics.items() if k.startswith("test/") and k.endswith("/psnr")]  # one per suite
    assert tested and all(np.isfinite(tested)) and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert "9 photos train, 1 held out" in caplog.text
    saved = (tmp_path / "config.yaml").read_text()
    assert "inpaintlab.data.photos.PhotoFolder" in saved
    if experiment in ("pconv_places2", "crfill_places2"):  # NVIDIA's masks / CR-Fill's object shapes: downloads
        assert "free-form strokes" in caplog.text and "IrregularFileMask" not in saved
        assert "ObjectShapeMask" not in saved
    else:  # the paper's generated masks are kept
        assert "stand in" not in caplog.text


def test_stand_ins_only_for_masks_that_are_missing(photos, tmp_path, caplog):
    """With NVIDIA's mask files present (IRREGULAR_MASKS_ROOT), the recipe trains on them: the paper's family."""
    from inpaintlab.utils.quickstart import apply_quickstart

    masks = tmp_path / "irregular"
    masks.mkdir()
    m = np.zeros((64, 64), np.uint8)
    m[10:30, 10:40] = 255
    Image.fromarray(m).save(masks / "00000.png")
    try:
        cfg = compose_config(["experiment=pconv_places2", "quickstart=my_photos", f"data.root={photos}",
                              f"mask.source={masks}"], tmp_path)
        apply_quickstart(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert cfg.mask._target_.endswith("IrregularFileMask") and str(cfg.mask.source) == str(masks)
    assert list(cfg.data.eval_masks.keys())[-1] == "free_form"  # the test masks (not there) did get the stand-in


def test_a_folder_with_one_photo_is_one_line(tmp_path, capsys, monkeypatch):
    from inpaintlab.train import train
    from inpaintlab.utils.runtime import guarded

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    (tmp_path / "one").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "one" / "a.png")
    try:
        cfg = compose_config(["experiment=ga_celeba", "quickstart=my_photos", f"data.root={tmp_path / 'one'}",
                              *CPU_CLAMP], tmp_path / "out")
        with pytest.raises(SystemExit) as e:
            guarded(train)(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert e.value.code == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "holds 1 image(s)" in err[0] and "at least 2" in err[0], err

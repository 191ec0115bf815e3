"""inpaintlab-inpaint: known pixels bit-exact at any size and mode, padding, folder mode, errors, checkpoints,
CR-Fill's high-resolution mode, and the CR-Fill reference fixture through the Python API."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from helpers import reference_fixture, run_cli
from inpaintlab import pretrained
from inpaintlab.inpaint import (
    coarse_to_fine,
    generate,
    inpaint,
    least_size,
    main,
    pad_multiple,
    read_mask,
    read_picture,
)
from inpaintlab.models.coarse_to_fine import crfill, deepfill_v1, deepfill_v2

TINY = ["--model-arg", "cnum=8"]


def _spread(gen: torch.nn.Module) -> torch.nn.Module:
    """Rescale each conv, in order, to unit output spread on a test input (as the reference fixtures do): with
    PyTorch's default init the deep nets' outputs barely depend on their inputs."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    m = torch.zeros(1, 1, 32, 32)
    m[..., 8:20, 10:24] = 1
    with torch.no_grad():
        for conv in [mod for mod in gen.modules() if isinstance(mod, torch.nn.Conv2d)]:
            seen = {}
            hook = conv.register_forward_hook(lambda mod, i, o, seen=seen: seen.__setitem__("out", o))
            gen(x * (1 - m), m)
            hook.remove()
            conv.weight.div_(seen["out"].std() + 1e-8)
    return gen


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Small random DeepFill v2 / CR-Fill generators and their weights saved in the official namings."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    v2, cr = _spread(deepfill_v2(cnum=8).eval()), _spread(crfill(cnum=8).eval())
    torch.save(v2.official_state_dict("deepfill_v2"), root / "deepfill_v2.pth")
    torch.save(cr.official_state_dict("crfill"), root / "crfill.pth")
    return {"deepfill_v2": (v2, root / "deepfill_v2.pth"), "crfill": (cr, root / "crfill.pth")}


def _image(h: int, w: int, channels: int, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    a = rng.integers(0, top + 1, (h, w, channels), dtype=np.int64).astype(dtype)
    return a[..., 0] if channels == 1 else a


def _mask(h: int, w: int) -> np.ndarray:
    """A box in the middle and a box touching the right and top borders (the padded side is bottom/right)."""
    m = np.zeros((h, w), np.uint8)
    m[h // 4 : h // 2 + 5, w // 3 : w // 2 + 9] = 255
    m[: h // 6, w - 12 :] = 255
    return m


def _cli(*args) -> int:
    return main([str(a) for a in args])


def _run(model, weights, image, mask, out, *extra) -> int:
    """The CLI in-process (it returns the exit status instead of exiting)."""
    io = ("--image", image, "--mask", mask, "--out", out)
    return _cli("--model", model, "--weights", weights, *io, *extra)


def _read(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_cli_odd_rgba_keeps_known_pixels_and_alpha(tmp_path, weights, capsys):
    gen, path = weights["deepfill_v2"]
    img, m = _image(77, 101, 4), _mask(77, 101)
    img[:, :20, 3] = 0  # fully transparent strip (its stored colour is junk)
    img[:, 20:40, 3] = 128
    Image.fromarray(img).save(tmp_path / "in.png")
    Image.fromarray(m).save(tmp_path / "mask.png")
    io = ["--image", tmp_path / "in.png", "--mask", tmp_path / "mask.png", "--out", tmp_path / "out.png"]
    assert _cli("--model", "deepfill_v2", "--weights", path, *io, "--device", "cpu", *TINY) == 0
    out, hole = _read(tmp_path / "out.png"), m > 0
    assert out.shape == (77, 101, 4) and out.dtype == np.uint8
    assert np.array_equal(out[~hole], img[~hole])  # every known pixel, alpha included, bit for bit
    assert (out[hole, 3] == 255).all()  # filled pixels are opaque
    assert (out[hole, :3] != img[hole, :3]).any(axis=1).mean() > 0.95  # and their colour is new
    # the file equals the Python API's result
    assert np.array_equal(
        out, inpaint(gen, Image.open(tmp_path / "in.png"), Image.open(tmp_path / "mask.png"))
    )
    assert "in.png → " in capsys.readouterr().out


def test_generate_pads_by_mirroring_image_and_mask_together(weights):
    gen, _ = weights["deepfill_v2"]
    assert pad_multiple(gen) == 8 and pad_multiple(weights["crfill"][0]) == 4 and pad_multiple(gen, 0.5) == 8
    assert pad_multiple(weights["crfill"][0], 0.5) == 8 and pad_multiple(weights["crfill"][0], 0.25) == 16
    x = torch.from_numpy(_image(77, 101, 3, seed=1)).permute(2, 0, 1)[None].float() / 127.5 - 1
    m = torch.from_numpy(_mask(77, 101) > 0)[None, None].float()
    out = generate(gen, x, m)
    # independent reference: numpy's symmetric-without-edge padding of both, to 80×104, then crop
    xm = (x * (1 - m)).numpy()
    xp = torch.from_numpy(np.pad(xm, ((0, 0), (0, 0), (0, 3), (0, 3)), mode="reflect"))
    mp = torch.from_numpy(np.pad(m.numpy(), ((0, 0), (0, 0), (0, 3), (0, 3)), mode="reflect"))
    assert (
        mp[0, 0, :10, 101:].eq(1).all() and mp[0, 0, 77:, :].eq(0).all()
    )  # the mirrored border hole stays a hole
    with torch.no_grad():
        ref = gen(xp, mp)["output"][..., :77, :101]
    assert out.shape == (1, 3, 77, 101) and torch.equal(out, ref)
    # sizes already a multiple: no padding, exactly the generator's forward
    with torch.no_grad():
        assert torch.equal(
            generate(gen, x[..., :72, :96], m[..., :72, :96]),
            gen(x[..., :72, :96] * (1 - m[..., :72, :96]), m[..., :72, :96])["output"],
        )


def test_mirror_padded_network_runs_on_small_images():
    """DeepFill v1 with its paper's mirror-padded convs cannot run below 68 px (1/4-scale maps must exceed
    the dilation 16): small inputs are padded up to 72 (136 for a half-size coarse pass) and cropped back."""
    torch.manual_seed(0)
    gen = deepfill_v1(cnum=8, padding="reflect").eval()
    assert least_size(gen) == 68 and least_size(gen, 0.5) == 136 and least_size(deepfill_v2(cnum=8)) == 1
    img, m = _image(40, 50, 3, seed=11), _mask(40, 50)
    for scale in (1.0, 0.5):
        out = inpaint(gen, img, m, coarse_scale=scale)
        assert out.shape == img.shape and np.array_equal(out[m == 0], img[m == 0])
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    with pytest.raises(RuntimeError, match="[Pp]adding"):  # what the extra padding avoids
        gen(x[..., :40, :48], torch.zeros(1, 1, 40, 48))


def test_grey_and_16_bit_inputs(tmp_path, weights):
    _, path = weights["crfill"]
    grey, m = _image(61, 45, 1, seed=2), _mask(61, 45)
    hole = m > 0
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(m).save(tmp_path / "m.png")
    common = ["--model", "crfill", "--weights", path, "--mask", tmp_path / "m.png", *TINY, "--quiet"]
    assert _cli(*common, "--image", tmp_path / "grey.png", "--out", tmp_path / "grey_out.png") == 0
    assert _cli(*common, "--image", tmp_path / "grey.png", "--out", tmp_path / "rgb_out.png", "--rgb") == 0
    out_l, out_rgb = _read(tmp_path / "grey_out.png"), _read(tmp_path / "rgb_out.png")
    assert out_l.shape == (61, 45) and out_rgb.shape == (61, 45, 3)
    assert np.array_equal(out_l[~hole], grey[~hole])  # grey stays grey, known pixels exact
    assert np.array_equal(out_rgb[~hole], np.repeat(grey[~hole][:, None], 3, 1))  # == the RGB conversion
    # the grey hole is the ITU-R 601 luma of the same generated colour (±1 for rounding the colour first)
    luma = out_rgb[hole].astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(out_l[hole] - luma).max() <= 1.0
    # 16-bit grey: stays 16-bit, known pixels exact in 16 bits
    g16 = _image(61, 45, 1, seed=3, dtype=np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    assert _cli(*common, "--image", tmp_path / "g16.png", "--out", tmp_path / "g16_out.png") == 0
    with Image.open(tmp_path / "g16_out.png") as im:
        assert im.mode == "I;16"
        out16 = np.asarray(im)
    assert np.array_equal(out16[~hole], g16[~hole]) and not np.array_equal(out16[hole], g16[hole])
    # palette input with transparency becomes RGBA, 1-bit input becomes 8-bit grey
    pal = Image.fromarray(_image(61, 45, 3, seed=4)).quantize(16)
    pal.info["transparency"] = 0
    pic = read_picture(pal)
    assert pic.pixels.shape == (61, 45, 4) and pic.pixels.dtype == np.uint8
    bw = Image.fromarray(grey > 127)
    assert np.array_equal(read_picture(bw).pixels[..., 0], np.where(grey > 127, 255, 0))


def test_folder_mode_pairs_by_stem_and_reports_unpaired(tmp_path, weights):
    _, path = weights["crfill"]
    imgs, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    imgs.mkdir(), masks.mkdir()
    sizes = {"a": (40, 52), "b": (33, 29), "c": (64, 64)}
    for i, (stem, (h, w)) in enumerate(sizes.items()):
        Image.fromarray(_image(h, w, 3, seed=10 + i)).save(imgs / f"{stem}.png")
        Image.fromarray(_mask(h, w)).save(masks / f"{stem}.png")
    args = ["--model", "crfill", "--weights", path, "--image", imgs, "--mask", masks, "--out", out, *TINY]
    assert _cli(*args, "--quiet") == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    for stem, (h, w) in sizes.items():
        got, src, hole = _read(out / f"{stem}.png"), _read(imgs / f"{stem}.png"), _mask(h, w) > 0
        assert got.shape == (h, w, 3) and np.array_equal(got[~hole], src[~hole])
    # a rerun skips the outputs already written (kept as they are) unless --overwrite
    before = (out / "a.png").read_bytes()
    (out / "b.png").unlink()
    assert _cli(*args, "--quiet") == 0 and (out / "a.png").read_bytes() == before and (out / "b.png").is_file()
    assert _cli(*args, "--quiet", "--overwrite") == 0


def test_unpaired_files_are_listed(tmp_path, weights, capsys):
    _, path = weights["crfill"]
    imgs, masks = tmp_path / "images", tmp_path / "masks"
    imgs.mkdir(), masks.mkdir()
    for stem in ("a", "lonely"):
        Image.fromarray(_image(16, 16, 3)).save(imgs / f"{stem}.png")
    for stem in ("a", "orphan"):
        Image.fromarray(_mask(16, 16)).save(masks / f"{stem}.png")
    assert _run("crfill", path, imgs, masks, tmp_path / "out", *TINY) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "images without a mask" in err and "lonely.png" in err
    assert "masks without an image" in err and "orphan.png" in err
    assert not (tmp_path / "out").exists()


def test_mask_size_mismatch_and_missing_files(tmp_path, weights, capsys, monkeypatch):
    _, path = weights["crfill"]
    img, mask, out = tmp_path / "img.png", tmp_path / "mask.png", tmp_path / "out.png"
    Image.fromarray(_image(77, 101, 3)).save(img)
    Image.fromarray(_mask(77, 100)).save(mask)
    assert _run("crfill", path, img, mask, out, *TINY) == 1
    err = capsys.readouterr().err
    assert "mask.png is 100×77 but image" in err and "img.png is 101×77" in err and err.count("\n") == 1
    assert not out.exists()
    assert _run("crfill", path, tmp_path / "nope.png", mask, out, *TINY) == 1
    assert "error: --image " in (err := capsys.readouterr().err) and "nope.png does not exist" in err
    Image.fromarray(_mask(77, 101)).save(mask)
    assert _run("crfill", tmp_path / "none.pth", img, mask, out) == 1
    assert "no weights file at" in capsys.readouterr().err
    (tmp_path / "notes.pth").write_text("not weights")
    assert _run("crfill", tmp_path / "notes.pth", img, mask, out) == 1
    assert "notes.pth is not a weights file" in capsys.readouterr().err
    # the input is never the output, even with --overwrite
    assert _run("crfill", path, img, mask, img, *TINY, "--overwrite") == 1
    assert "never overwritten" in capsys.readouterr().err
    # weights for another model: one line naming the file and the model
    assert _run("deepfill_v2", path, img, mask, out) == 1
    assert "as deepfill_v2: shape mismatch" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _run("crfill", path, img, mask, out, *TINY, "--device", "cuda") == 1
    assert "no CUDA device is available" in capsys.readouterr().err
    assert not out.exists()


def test_error_mid_folder_goes_on_and_rerun_skips_written(tmp_path, weights):
    """Principle 4: a truncated file (its header reads, its pixels do not) is reported, the other pairs are
    written (no temp files left), exit status 1; after fixing it a rerun fills only that pair. Run as the console
    script would, so the errors carry no traceback."""
    _, path = weights["crfill"]
    imgs, masks, out = tmp_path / "images", tmp_path / "masks", tmp_path / "out"
    imgs.mkdir(), masks.mkdir()
    for stem in ("a", "b", "c"):
        Image.fromarray(_image(48, 48, 3, seed=5)).save(imgs / f"{stem}.png")
        Image.fromarray(_mask(48, 48)).save(masks / f"{stem}.png")
    data = (imgs / "b.png").read_bytes()
    (imgs / "b.png").write_bytes(data[: len(data) // 2])
    args = ["--model", "crfill", "--weights", path, "--image", imgs, "--mask", masks, "--out", out, *TINY]
    res = run_cli("inpaintlab.inpaint", [str(a) for a in args], cwd=tmp_path, timeout=120)
    assert res.returncode == 1
    errors = [x for x in res.stderr.splitlines() if "error" in x]
    assert errors[0].startswith("inpaintlab-inpaint: error: cannot decode image") and "b.png" in errors[0]
    assert "1 of 3 pairs failed" in errors[-1] and "Traceback" not in res.stderr
    assert sorted(os.listdir(out)) == ["a.png", "c.png"]  # the others written; no temporary files
    written = {n: (out / n).stat().st_mtime_ns for n in ("a.png", "c.png")}
    (imgs / "b.png").write_bytes(data)
    assert _cli(*args, "--quiet") == 0
    assert sorted(os.listdir(out)) == ["a.png", "b.png", "c.png"]
    assert {n: (out / n).stat().st_mtime_ns for n in ("a.png", "c.png")} == written  # skipped, not redone


def test_lightning_checkpoint_with_run_config(tmp_path, weights):
    gen, _ = weights["crfill"]
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    # what our runs write: the resolved config beside checkpoints/, the generator under "generator."
    (run / "config.yaml").write_text(
        "model:\n  generator:\n    _target_: inpaintlab.models.coarse_to_fine.crfill\n    cnum: 8\n"
        "    return_features: true\n"
    )
    ckpt = {
        "epoch": 0,
        "global_step": 1,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": {
            **{f"generator.{k}": v for k, v in gen.state_dict().items()},
            "discriminator.net.0.weight": torch.zeros(2),
        },
        "callbacks": {"ModelCheckpoint": {"dirpath": str(run / "checkpoints")}},
        "inpaintlab": {"d_steps": 0},
    }
    torch.save(ckpt, run / "checkpoints" / "last.ckpt")
    img, m = _image(37, 53, 3, seed=6), _mask(37, 53)
    Image.fromarray(img).save(tmp_path / "img.png")
    Image.fromarray(m).save(tmp_path / "m.png")
    ckpts, img_path, m_path = run / "checkpoints", tmp_path / "img.png", tmp_path / "m.png"
    # cnum comes from the run's config, no --model-arg needed; safe loading suffices
    assert _run("crfill", ckpts / "last.ckpt", img_path, m_path, tmp_path / "o1.png", "--quiet") == 0
    assert np.array_equal(_read(tmp_path / "o1.png"), inpaint(gen, img, m))
    assert _run("deepfill_v2", ckpts / "last.ckpt", img_path, m_path, tmp_path / "o2.png") == 1
    # a checkpoint holding pickled objects needs --trust-checkpoint
    ckpt["hyper_parameters"] = argparse.Namespace(cnum=8)
    torch.save(ckpt, ckpts / "hp.ckpt")
    assert _run("crfill", ckpts / "hp.ckpt", img_path, m_path, tmp_path / "o3.png") == 1
    assert not (tmp_path / "o3.png").exists()
    assert _run("crfill", ckpts / "hp.ckpt", img_path, m_path, tmp_path / "o3.png", "--trust-checkpoint") == 0
    assert np.array_equal(_read(tmp_path / "o3.png"), _read(tmp_path / "o1.png"))


def test_checkpoint_of_a_real_training_step(tmp_path):
    """One generator step of the foundation's InpaintingModule, saved by Lightning: loads with the safe
    default (no --trust-checkpoint), and the module itself works as the API's model."""
    import functools

    from torch.utils.data import DataLoader

    import lightning as L
    from inpaintlab.lightning import InpaintingModule
    from inpaintlab.losses import L1Loss

    torch.manual_seed(0)
    data = [
        {"image": torch.rand(3, 32, 32) * 2 - 1, "mask": (torch.rand(1, 32, 32) > 0.7).float()}
        for _ in range(2)
    ]
    module = InpaintingModule(
        generator=_spread(crfill(cnum=8)),
        losses={"l1": L1Loss()},
        optimizer_g=functools.partial(torch.optim.Adam, lr=1e-3),
    )
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, DataLoader(data, batch_size=2))
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    img, m = _image(29, 41, 3, seed=9), _mask(29, 41)
    Image.fromarray(img).save(tmp_path / "i.png")
    Image.fromarray(m).save(tmp_path / "m.png")
    io = (tmp_path / "i.png", tmp_path / "m.png", tmp_path / "o.png")
    assert _run("crfill", tmp_path / "last.ckpt", *io, *TINY, "--quiet") == 0
    expected = inpaint(module, img, m)
    assert np.array_equal(_read(tmp_path / "o.png"), expected)
    assert np.array_equal(expected, inpaint(module.generator, img, m)) and module.generator.training


def test_untrusted_and_wrong_model_messages(tmp_path, weights, capsys):
    gen, _ = weights["crfill"]
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(
        "model:\n  generator:\n    _target_: inpaintlab.models.coarse_to_fine.crfill\n    cnum: 8\n"
    )
    torch.save(
        {
            "state_dict": {f"generator.{k}": v for k, v in gen.state_dict().items()},
            "hyper_parameters": argparse.Namespace(a=1),
        },
        run / "checkpoints" / "x.ckpt",
    )
    Image.fromarray(_image(16, 16, 3)).save(tmp_path / "i.png")
    Image.fromarray(_mask(16, 16)).save(tmp_path / "m.png")
    io = ["--image", tmp_path / "i.png", "--mask", tmp_path / "m.png", "--out", tmp_path / "o.png"]
    assert _cli("--model", "crfill", "--weights", run / "checkpoints" / "x.ckpt", *io) == 1
    assert "pass --trust-checkpoint" in capsys.readouterr().err
    assert _cli("--model", "deepfill_v2", "--weights", run / "checkpoints" / "x.ckpt", *io) == 1
    err = capsys.readouterr().err
    assert "--model deepfill_v2 contradicts" in err and "trained as crfill" in err  # both names


def test_highres_is_the_papers_half_size_coarse_pass(tmp_path, weights):
    gen, path = weights["crfill"]
    x = torch.from_numpy(_image(48, 64, 3, seed=7)).permute(2, 0, 1)[None].float() / 127.5 - 1
    m = torch.from_numpy(_mask(48, 64) > 0)[None, None].float()
    xm = x * (1 - m)
    with torch.no_grad():
        assert torch.equal(coarse_to_fine(gen, xm, m, 1.0)["output"], gen(xm, m)["output"])
        half = coarse_to_fine(gen, xm, m, 0.5)
        # by hand: 2×2 means of the masked image, a half-size pixel is a hole if any of its 4 pixels is
        ms = F.max_pool2d(m, 2)
        coarse = torch.tanh(
            gen.coarse(torch.cat([F.avg_pool2d(xm, 2) * (1 - ms), torch.ones_like(ms), ms], 1))
        )
        coarse = F.interpolate(coarse, size=(48, 64), mode="bilinear", align_corners=False)
        refined = torch.tanh(gen.refine(coarse * m + xm, m)[0])
    assert torch.allclose(half["coarse"], coarse, atol=1e-6) and torch.allclose(
        half["output"], refined, atol=1e-6
    )
    assert (half["output"] - gen(xm, m)["output"]).abs().max() > 1e-3
    # the CLI: --highres differs from the normal mode in the hole only, on an odd size
    img, mk = _image(45, 67, 3, seed=8), _mask(45, 67)
    Image.fromarray(img).save(tmp_path / "i.png")
    Image.fromarray(mk).save(tmp_path / "m.png")
    io = ["--model", "crfill", "--weights", path, "--image", tmp_path / "i.png", "--mask", tmp_path / "m.png"]
    io += [*TINY, "--quiet"]
    assert _cli(*io, "--out", tmp_path / "normal.png") == 0
    assert _cli(*io, "--out", tmp_path / "high.png", "--highres") == 0
    normal, high, hole = _read(tmp_path / "normal.png"), _read(tmp_path / "high.png"), mk > 0
    assert np.array_equal(high[~hole], img[~hole]) and np.array_equal(normal[~hole], img[~hole])
    assert (high[hole] != normal[hole]).any(axis=1).mean() > 0.5
    assert _cli(*io, "--out", tmp_path / "bad.png", "--highres", "--coarse-scale", "0.25") == 1


def test_read_mask_rules():
    """The one mask rule (every format: tests/data/masks/test_mask_reading.py) as the CLI and the API apply it."""
    rgba = np.zeros((1, 5, 4), np.uint8)
    rgba[0] = [[255, 255, 255, 0], [0, 0, 0, 255], [255, 255, 255, 255], [0, 9, 0, 1], [0, 0, 0, 0]]
    assert read_mask(Image.fromarray(rgba)).tolist() == [[False, False, True, False, False]]  # over black
    assert read_mask(np.array([[0, 1, 65535]], np.uint16)).tolist() == [[False, False, True]]  # half way
    assert read_mask(np.array([[0, 1, 1]], np.uint8)).tolist() == [[False, True, True]]  # a 0/1 mask
    assert read_mask(np.array([[0, 1, 1]], np.uint8), invert=True).tolist() == [[True, False, False]]
    pal = Image.new("P", (3, 1))
    pal.putpalette([255, 255, 255, 0, 0, 0])  # index 0 is white, index 1 black
    pal.putpixel((2, 0), 1)
    assert read_mask(pal).tolist() == [[True, True, False]]  # what the mask looks like, not the index
    with pytest.raises(Exception, match="dtype float32: expected uint8"):
        read_picture(np.zeros((4, 4, 3), np.float32))


@pytest.mark.parametrize(
    "model, fixture, stage2",
    [("crfill", "crfill_generator.pt", "eval_stage2"), ("deepfill_v2", "deepfill_v2_generator.pt", "stage2")],
)
def test_reference_fixture_through_the_api(model, fixture, stage2, tmp_path):
    """The reference generators (released namings) at 256²: our composite equals the composite of the
    reference's stage-2 output, rounded to uint8, within ±1 (the fixture images lie on the uint8 grid)."""
    ref = torch.load(reference_fixture(fixture))
    torch.save(ref["state_dict"], tmp_path / "weights.pth")  # the DeepFill fixture holds more than weights
    gen = pretrained.load(model, tmp_path / "weights.pth")
    image = np.rint((ref["image"][0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
    hole = ref["mask"][0, 0].numpy() > 0
    out = inpaint(gen, image, (hole * 255).astype(np.uint8))
    stage2 = np.clip(np.rint((ref[stage2][0].permute(1, 2, 0).numpy() + 1) * 127.5), 0, 255)
    expected = np.where(hole[..., None], stage2.astype(np.uint8), image)
    diff = np.abs(out.astype(int) - expected.astype(int))
    assert out.shape == (256, 256, 3) and np.array_equal(out[~hole], image[~hole])
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_exif_orientation_applied_to_photo_and_mask(tmp_path, weights, capsys):
    """Principle 7: a photo stored sideways with EXIF orientation 6 (rotate 90° clockwise to view) and a mask drawn
    on the upright view: the mask lands where it was drawn, the output is written upright (no tag), its known
    pixels equal the upright photo's; an anti-aliased mask gets one warning saying how it was binarised."""
    _, path = weights["crfill"]
    upright = _image(40, 24, 3, seed=3)  # as the user sees it: 24 wide, 40 tall
    stored = np.rot90(upright, k=1)  # what the camera wrote: rotate 90° clockwise to view (orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "photo.jpg", exif=exif, quality=100)
    seen = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "photo.jpg")))
    assert seen.shape == (40, 24, 3)
    m = np.zeros((40, 24), np.uint8)
    m[5:15, 4:12] = 255
    m[15, 4:12] = 128  # an anti-aliased edge
    Image.fromarray(m).save(tmp_path / "m.png")
    out = tmp_path / "o.png"
    assert _run("crfill", path, tmp_path / "photo.jpg", tmp_path / "m.png", out, *TINY, "--quiet") == 0
    got = _read(out)
    assert got.shape == (40, 24, 3) and 0x0112 not in Image.open(out).getexif()
    hole = m >= 128  # the one mask rule: half way to white
    assert np.array_equal(got[~hole], seen[~hole])
    err = capsys.readouterr().err
    assert err.count("between black and white") == 1 and "has 8 pixels" in err and "half way to white are holes" in err
    # the Python API takes a PIL photo as displayed too, and leaves the caller's image as it was
    from inpaintlab import Inpainter

    photo = Image.open(tmp_path / "photo.jpg")
    api = Inpainter.from_pretrained("crfill", path, model_args={"cnum": 8}).fill(photo, m)
    assert api.shape == (40, 24, 3) and np.array_equal(api[~hole], seen[~hole])
    assert photo.size == (40, 24) and photo.getexif().get(0x0112) == 6

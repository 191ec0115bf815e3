"""``inpaintlab-make-masks`` and the conf/mask group: every node builds a working generator; the CLI writes
frozen sets with manifests and preview grids, and fails with one clear line on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlab.data.masks import MaskGenerator, hole_ratio
from inpaintlab.make_masks import MASK_CONF_DIR, available_masks, build_generator, load_mask_config, main


@pytest.fixture()
def mask_files(tmp_path, monkeypatch):
    """Tiny irregular-mask and object-shape folders, found through the environment variables the configs read."""
    irr, obj = tmp_path / "irregular", tmp_path / "objects"
    irr.mkdir()
    obj.mkdir()
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(3):
        Image.fromarray((((yy - 32) ** 2 + (xx - 20 - 8 * i) ** 2) < (8 + 4 * i) ** 2).astype(np.uint8) * 255).save(
            irr / f"{i}.png"
        )
        Image.fromarray((((yy - 30) / 12) ** 2 + ((xx - 30) / (6 + 3 * i)) ** 2 <= 1).astype(np.uint8)).save(
            obj / f"{i}.png"
        )
    monkeypatch.setenv("IRREGULAR_MASKS_ROOT", str(irr))
    monkeypatch.setenv("OBJECT_SHAPES_ROOT", str(obj))
    from inpaintlab.data.synthetic import make_voc

    monkeypatch.setenv("VOC2012_ROOT", str(make_voc(tmp_path / "VOC2012")))  # context_encoder_voc's shapes
    return irr, obj


def test_every_mask_config_builds_a_seeded_generator(mask_files):
    names = available_masks()
    for expected in ("box", "btgmi_box", "crfill_square", "deepfill_v1_box", "free_form", "deepfill_v2",
                     "free_form_thin", "free_form_medium", "free_form_thick", "irregular_files", "object_shapes",
                     "mixture_crfill", "mixture_crfill_code", "crfill_strokes", "center_square"):
        assert expected in names
    for name in names:
        _, cfg = load_mask_config(name)
        first = (MASK_CONF_DIR / f"{name}.yaml").read_text().splitlines()[0]
        assert first.startswith("# "), f"{name}.yaml starts with a one-line description"
        gen = build_generator(cfg)
        assert isinstance(gen, MaskGenerator)
        m = gen(3, 256, 256, torch.Generator().manual_seed(0))
        assert m.shape == (3, 1, 256, 256) and set(m.unique().tolist()) <= {0.0, 1.0}, name
        assert float(hole_ratio(m).min()) > 0, f"{name} drew an empty mask"
        assert torch.equal(m, gen(3, 256, 256, torch.Generator().manual_seed(0)))


def test_config_values_are_the_papers():
    _, v1 = load_mask_config("deepfill_v1_box")
    assert (v1["height"], v1["width"], v1["max_delta"], v1["per_batch"]) == (128, 128, 32, True)
    _, ff = load_mask_config("free_form")
    assert ff["num_strokes"] == [1, 3] and ff["width"] == [12, 40] and ff["radius_ratio"] == 0.125
    _, bt = load_mask_config("btgmi_box")
    assert bt["count"] == [1, 2] and bt["size_ratio"] == [0.25, 0.5]
    _, cr = load_mask_config("mixture_crfill")
    assert set(cr["generators"]) == {"square", "irregular", "object"}
    assert cr["choose"] == "batch" and cr["per_batch"] is False  # a type per mini-batch, a mask per sample


def test_cli_writes_sets_manifests_and_previews(tmp_path, capsys):
    out = tmp_path / "masks"
    rc = main(["--out", str(out), "--mask", "free_form", "--mask", "box", "--count", "6", "--size", "64",
               "--seed", "3", "--preview", "--preview-count", "4"])
    assert rc == 0
    for name in ("free_form", "box"):
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["count"] == 6 and manifest["seed"] == 3 and manifest["parameters"]["_target_"].endswith(
            "FreeFormMask" if name == "free_form" else "RandomBoxMask"
        )
        assert len(list((out / name).glob("0*.png"))) == 6
        assert Image.open(out / name / "preview.png").size[0] > 4 * 64
    assert Image.open(out / "preview.png").mode == "RGB"
    assert "mean hole" in capsys.readouterr().out


def test_cli_overrides_yaml_paths_preview_only_and_list(tmp_path, capsys):
    rc = main(["--out", str(tmp_path / "o"), "--mask", "box", "--set", "size_ratio=[0.5,0.5]", "--count", "3",
               "--size", "32"])
    assert rc == 0
    ratios = [m["hole_ratio"] for m in json.loads((tmp_path / "o" / "box" / "manifest.json").read_text())["masks"]]
    assert ratios == [0.25, 0.25, 0.25]
    custom = tmp_path / "mine.yaml"
    custom.write_text("_target_: inpaintlab.data.masks.CenterSquareMask\nsize: 8\n")
    assert main(["--out", str(tmp_path / "p"), "--mask", str(custom), "--preview-only", "--size", "16"]) == 0
    assert (tmp_path / "p" / "mine" / "preview.png").exists() and not (tmp_path / "p" / "mine" / "manifest.json").exists()
    assert main(["--list"]) == 0
    assert "free_form_thick" in capsys.readouterr().out


def test_cli_errors_are_one_clear_line(tmp_path, capsys, monkeypatch):
    assert main(["--out", str(tmp_path), "--mask", "no_such_mask"]) == 1
    err = capsys.readouterr().err
    assert "unknown mask generator 'no_such_mask'" in err and "free_form" in err and "Traceback" not in err
    assert main(["--mask", "box"]) == 1
    assert "give --out" in capsys.readouterr().err
    monkeypatch.setenv("IRREGULAR_MASKS_ROOT", str(tmp_path / "absent"))
    assert main(["--out", str(tmp_path / "x"), "--mask", "irregular_files"]) == 1
    assert "IRREGULAR_MASKS_ROOT" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "y"), "--mask", "box", "--set", "count=[3,1]"]) == 1
    assert "min <= max" in capsys.readouterr().err
    main(["--out", str(tmp_path / "z"), "--mask", "box", "--count", "2", "--size", "16"])
    assert main(["--out", str(tmp_path / "z"), "--mask", "box", "--count", "2", "--size", "16"]) == 1
    assert "--overwrite" in capsys.readouterr().err

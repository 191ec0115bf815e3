"""Hostile and unusual pictures, masks and destinations in the tools that read images (docs/reliability.md §8),
table-driven: each case gives the exit status and ONE stderr line (an error or a warning) holding the words;
a refused call writes nothing and changes no file that existed before it; an accepted one writes its output.

Cases: decompression bombs (inpaint, guide, make-guided, the datasets: the web app's sentence), unwritable
destinations (inpaint, guide, make-masks), an 8000×6000 picture that does not fit (refused before it is decoded),
inverted / 0-1 / alpha-only masks, 16-bit colour, mask sizes a generator cannot honour.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlab.models.coarse_to_fine import deepfill_v2

BOMB_WORDS = ["is too large to decode safely: it declares 3,600 megapixels, more than the 179 that inpaintlab decodes"]


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A 100-byte PNG that declares ``width``×``height`` grey pixels (its data would decompress to gigabytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def pics(tmp_path_factory):
    """A tiny DeepFill v2, small pictures and masks of every kind, a bomb, an 8000×6000 photo and its mask."""
    import cv2

    base = tmp_path_factory.mktemp("pics")
    torch.manual_seed(0)
    torch.save(deepfill_v2(cnum=8).official_state_dict("deepfill_v2"), base / "w.pth")
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(photo).save(base / "photo.png")
    box = np.zeros((40, 56), np.uint8)
    box[10:25, 12:30] = 255
    Image.fromarray(box).save(base / "mask.png")
    Image.fromarray(255 - box).save(base / "inverted.png")  # black = hole: white (read as hole) is 88 %
    Image.fromarray((box > 0).astype(np.uint8)).save(base / "zero_one.png")  # values 0 and 1 (NumPy export)
    alpha = np.zeros((40, 56, 4), np.uint8)
    alpha[..., 3] = box  # black colour everywhere, the hole painted in the alpha (GIMP's transparent layer)
    Image.fromarray(alpha, "RGBA").save(base / "alpha.png")
    deep = rng.integers(0, 65536, (40, 56, 3)).astype(np.uint16)
    cv2.imwrite(str(base / "deep.png"), deep[..., ::-1])
    (base / "bomb.png").write_bytes(bomb_png())
    Image.new("RGB", (8000, 6000), (90, 120, 150)).save(base / "big.png", compress_level=1)
    big_mask = Image.new("L", (8000, 6000))
    big_mask.paste(255, (3000, 2000, 3600, 2500))
    big_mask.save(base / "big_mask.png", compress_level=1)
    (base / "a_file").write_text("x")
    return {"base": base, "photo": photo, "box": box > 0, "deep": deep}


def fill(s: str, w: dict) -> str:
    return s.format(**{k: str(v) for k, v in w.items() if isinstance(v, (str, Path))})


MODEL = ["--model", "deepfill_v2", "--weights", "{base}/w.pth", "--model-arg", "cnum=8", "--quiet"]
# name, image, mask, extra arguments, exit status, words of the one stderr line (none: stderr stays empty)
INPAINT_CASES = [
    ("decompression bomb photo", "bomb.png", "mask.png", [], 1, ["image {base}/bomb.png", *BOMB_WORDS]),
    ("decompression bomb mask", "photo.png", "bomb.png", [], 1, ["mask {base}/bomb.png", *BOMB_WORDS]),
    ("unwritable --out", "photo.png", "mask.png", ["--out", "{base}/a_file/sub/o.png"], 1,
     ["--out {base}/a_file/sub", "cannot be written", "is a file"]),
    ("8000×6000 whole, --tile off", "big.png", "big_mask.png", ["--tile", "off", "--max-memory", "8G"], 1,
     ["a 8000×6000 fill needs about", "but 8.0 GB is available: pass --tile 2048 or --max-side"]),
    ("8000×6000 in tiles too large", "big.png", "big_mask.png", ["--tile", "4096", "--max-memory", "6G"], 1,
     ["a 8000×6000 fill in 4096² tiles needs about", "but 6.0 GB is available: pass --tile 2048"]),
    ("8000×6000 in 2 GB", "big.png", "big_mask.png", ["--max-memory", "2G"], 1,
     ["but 2.0 GB is available: the picture alone takes", "use a smaller picture"]),
    ("small tiles", "photo.png", "mask.png", ["--tile", "32"], 0, None),
    ("--tile below 32", "photo.png", "mask.png", ["--tile", "5"], 1, ["--tile must be auto, off or"]),
    ("--max-memory not a size", "photo.png", "mask.png", ["--max-memory", "lots"], 1, ["memory size", "'lots'"]),
    ("16-bit colour to JPEG", "deep.png", "mask.png", ["--out", "{base}/o.jpg"], 1, ["JPEG cannot store the 16 bits"]),
    ("inverted mask", "photo.png", "inverted.png", [], 0, ["makes 88% of the picture a hole", "pass --invert-mask"]),
    ("--invert-mask", "photo.png", "inverted.png", ["--invert-mask"], 0, None),
    ("0/1 mask", "photo.png", "zero_one.png", [], 0, None),
    ("alpha-only mask", "photo.png", "alpha.png", [], 0, None),
    ("16-bit colour photo", "deep.png", "mask.png", [], 0, None),
]


@pytest.mark.parametrize("name, image, mask, extra, status, words", INPAINT_CASES, ids=[c[0] for c in INPAINT_CASES])
def test_inpaint_pictures(name, image, mask, extra, status, words, pics, tmp_path, capsys, monkeypatch):
    from inpaintlab import inpaint

    out = tmp_path / "o.png"
    argv = [fill(a, pics) for a in [*MODEL, "--image", f"{{base}}/{image}", "--mask", f"{{base}}/{mask}",
                                    "--out", str(out), *extra]]
    if image == "big.png":  # refused before the 8000×6000 picture is decoded
        monkeypatch.setattr(inpaint, "load_picture", lambda *a, **k: pytest.fail("the picture was decoded"))
    before = snapshot(pics["base"])
    assert inpaint.main(argv) == status, capsys.readouterr().err
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    if words is None:
        assert err == []
    else:
        assert len(err) == 1, err
        assert all(fill(w, pics) in err[0] for w in words), (words, err[0])
        assert err[0].startswith("inpaintlab-inpaint: " + ("error: " if status else "warning: "))
    assert snapshot(pics["base"]) == before  # nothing already written changed
    assert out.exists() == (status == 0)
    if status == 0:
        with Image.open(out) as im:
            got = np.asarray(im) if image != "deep.png" else None
        hole = pics["box"]
        if image == "deep.png":  # 16 bits per channel kept: the known pixels are the input's, bit for bit
            import cv2

            got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
            assert got.dtype == np.uint16 and np.array_equal(got[~hole], pics["deep"][~hole])
        else:  # every mask above marks the same box (inverted: with --invert-mask, or as warned)
            known = ~hole if "inverted" not in name or "--invert-mask" in extra else hole
            assert np.array_equal(got[known], pics["photo"][known])
            assert (got[~known] != pics["photo"][~known]).any()


def test_guide_refuses_bombs_and_unwritable_destinations(pics, capsys):
    from inpaintlab.guide import main

    common = ["--weights", "w.ckpt", "--box", "0,0,8,8", "--at", "0,0"]
    for argv, words in (
        (["--image", f"{pics['base']}/bomb.png", "--guide", f"{pics['base']}/photo.png", "--out", f"{pics['base']}/g.png"],
         [f"image {pics['base']}/bomb.png", *BOMB_WORDS]),
        (["--image", f"{pics['base']}/photo.png", "--guide", f"{pics['base']}/bomb.png", "--out", f"{pics['base']}/g.png"],
         [f"guide {pics['base']}/bomb.png", *BOMB_WORDS]),
        (["--image", f"{pics['base']}/photo.png", "--guide", f"{pics['base']}/photo.png",
          "--out", f"{pics['base']}/a_file/g.png"], ["--out", "cannot be written"]),
    ):
        before = snapshot(pics["base"])
        assert main([*common, *argv]) == 1
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and all(w in err[0] for w in words), err
        assert snapshot(pics["base"]) == before


def test_datasets_skip_a_bomb_with_the_same_sentence(pics, tmp_path):
    from inpaintlab.data.images import ImageFolder

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(pics["photo"]).save(folder / "a.png")
    (folder / "b.png").write_bytes(bomb_png())
    ds = ImageFolder(folder, image_size=32)
    with pytest.warns(UserWarning) as told:
        items = [ds[0], ds[1]]
    assert all(it["path"].endswith("a.png") for it in items)
    assert any(f"skipping image {folder}/b.png {BOMB_WORDS[0]}" in str(w.message) for w in told), [str(w.message) for w in told]


def test_make_guided_warns_about_a_bomb_in_one_line(pics, tmp_path, capsys):
    from inpaintlab.data.synthetic import make_coco_objects
    from inpaintlab.make_guided import main

    root = make_coco_objects(tmp_path / "coco")
    first = sorted((root / "val2017").glob("*.png"))[0]
    first.write_bytes(bomb_png())
    assert main(["--root", str(root), "--split", "val2017", "--preview", str(tmp_path / "g.png"), "--n", "2",
                 "--size", "32", "--min-area", "50"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("inpaintlab-make-guided: warning: ") and BOMB_WORDS[0] in err[0], err


MAKE_MASKS_CASES = [
    (["--mask", "free_form", "--size", "5"], ["--mask free_form cannot draw 5×5 masks", "100 % hole",
                                             "the smallest it honours is", "raise --size"]),
    (["--mask", "deepfill_v2", "--size", "64"], ["DeepFillBoxMask", "does not fit 64×64", "the smallest it honours is 128"]),
    (["--mask", "box", "--size", "16", "--out-under-a-file"], ["--out", "cannot be written", "is a file"]),
]


@pytest.mark.parametrize("argv, words", MAKE_MASKS_CASES, ids=[" ".join(c[0]) for c in MAKE_MASKS_CASES])
def test_make_masks_refuses_before_writing(argv, words, pics, tmp_path, capsys):
    from inpaintlab.make_masks import main

    out = f"{pics['base']}/a_file/masks" if "--out-under-a-file" in argv else str(tmp_path / "masks")
    argv = [a for a in argv if a != "--out-under-a-file"]
    before = snapshot(pics["base"])
    assert main(["--out", out, "--count", "3", *argv]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert not (tmp_path / "masks").exists() and snapshot(pics["base"]) == before

"""The one rule for what a hole is in a mask picture (``data.masks.reading``), table-driven over formats: values,
0/1 masks, 16 bits, floats, colour, alpha, palette, anti-aliasing — and the same hole from every reader: the CLI
and the Python API (``inference.pictures.read_mask``), the web app (an uploaded PNG), the datasets' mask files
(``data.masks.files.read_mask``) and frozen mask sets (``FrozenMasks``)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from inpaintlab.data.masks.reading import read_mask_levels

F, T = False, True


def _rgba(pixels) -> Image.Image:
    return Image.fromarray(np.array([pixels], np.uint8), "RGBA")


def _palette(transparent: bool) -> Image.Image:
    img = Image.new("P", (3, 1))
    img.putpalette([255, 255, 255, 0, 0, 0, 200, 0, 0])  # index 0 white, 1 black, 2 red
    img.putpixel((1, 0), 1)
    img.putpixel((2, 0), 2)
    if transparent:
        img.info["transparency"] = 0  # the white index is transparent: only red shows
    return img


# name, mask (PIL image or array), expected hole row, channel read, grey pixels
CASES = [
    ("L 0/255", Image.fromarray(np.array([[0, 255, 0, 255]], np.uint8)), [F, T, F, T], "grey", 0),
    ("L 0/1 (NumPy export)", Image.fromarray(np.array([[0, 1, 1, 0]], np.uint8)), [F, T, T, F], "grey", 0),
    ("L two levels 0/7 (one grey stroke)", Image.fromarray(np.array([[0, 7, 7]], np.uint8)), [F, T, T], "grey", 0),
    ("L anti-aliased", Image.fromarray(np.array([[0, 100, 127, 128, 200, 255]], np.uint8)),
     [F, F, F, T, T, T], "grey", 4),
    ("L blank", Image.fromarray(np.zeros((1, 3), np.uint8)), [F, F, F], "grey", 0),
    ("1 (bilevel)", Image.fromarray(np.array([[0, 255, 255]], np.uint8)).convert("1"), [F, T, T], "grey", 0),
    ("I;16", Image.fromarray(np.array([[0, 1, 32767, 32768, 65535]], np.uint16)), [F, F, F, T, T], "grey", 3),
    ("I;16 0/1", Image.fromarray(np.array([[1, 0, 1]], np.uint16)), [T, F, T], "grey", 0),
    ("I (32-bit) 8-bit values", Image.fromarray(np.array([[0, 127, 128, 255]], np.int32), "I"), [F, F, T, T], "grey", 2),
    ("F in [0, 1]", Image.fromarray(np.array([[0.0, 0.4, 0.6, 1.0]], np.float32), "F"), [F, F, T, T], "grey", 2),
    ("RGB: brightest channel", Image.fromarray(np.array([[[255, 0, 0], [0, 0, 100], [0, 0, 200], [0, 0, 0]]],
                                                        np.uint8)), [T, F, T, F], "colour", 2),
    ("RGBA: black painted through alpha", _rgba([[0, 0, 0, 0], [0, 0, 0, 255], [0, 0, 0, 128], [0, 0, 0, 127]]),
     [F, T, T, F], "alpha", 2),
    ("RGBA: junk colour under transparent pixels", _rgba([[255, 255, 255, 0], [0, 0, 0, 255], [9, 9, 9, 0]]),
     [F, T, F], "alpha", 0),
    ("RGBA: colour and alpha vary", _rgba([[255, 255, 255, 0], [0, 0, 0, 255], [255, 255, 255, 255],
                                            [255, 255, 255, 128], [255, 255, 255, 100], [0, 9, 0, 1]]),
     [F, F, T, T, F, F], "colour × alpha", 3),
    ("RGBA: uniformly opaque", _rgba([[255, 255, 255, 255], [0, 0, 0, 255]]), [T, F], "colour", 0),
    ("LA: alpha only", Image.fromarray(np.array([[[0, 0], [0, 255], [0, 200]]], np.uint8), "LA"), [F, T, T],
     "alpha", 1),
    ("P: as it looks", _palette(False), [T, F, T], "colour", 1),
    ("P with a transparent index", _palette(True), [F, F, T], "colour × alpha", 1),
    ("bool array", np.array([[True, False, True]]), [T, F, T], "grey", 0),
    ("float array", np.array([[0.0, 0.49, 0.51, 1.0]], np.float64), [F, F, T, T], "grey", 2),
    ("uint16 array 0..65535", np.array([[0, 40000, 65535]], np.uint16), [F, T, T], "grey", 1),
    ("H×W×2 array: grey + alpha", np.array([[[255, 0], [255, 255], [255, 0]]], np.uint8), [F, T, F], "alpha", 0),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, mask, hole, via, grey", CASES, ids=IDS)
def test_the_one_rule(name, mask, hole, via, grey):
    reading = read_mask_levels(mask)
    assert reading.hole.tolist() == [hole], name
    assert reading.via == via and reading.grey == grey, (reading.via, reading.grey)
    assert (reading.coverage >= 0.5).tolist() == [hole]  # what datasets resize is the same rule
    flipped = reading.inverted()
    assert flipped.grey == grey and (flipped.coverage + reading.coverage == pytest.approx(1.0))


FILE_CASES = [c for c in CASES if isinstance(c[1], Image.Image)]


def _save(img: Image.Image, path) -> None:
    img.save(path, format="TIFF" if img.mode in ("I", "F") else "PNG")


@pytest.mark.parametrize("name, mask, hole, via, grey", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_every_reader_gives_the_same_hole(name, mask, hole, via, grey, tmp_path):
    """The CLI, the Python API, the web app, the datasets' mask files and frozen mask sets read one file alike."""
    from inpaintlab.app.masks import decode_upload, uploaded_hole
    from inpaintlab.data.mask_sets import FrozenMasks
    from inpaintlab.data.masks.files import read_mask as dataset_read_mask
    from inpaintlab.inference.pictures import load_image, read_mask

    folder = tmp_path / "set"
    folder.mkdir()
    path = folder / ("m.tif" if mask.mode in ("I", "F") else "m.png")
    _save(mask, path)
    expected = np.array([hole])
    assert np.array_equal(read_mask(load_image(path, "mask")), expected)  # inpaintlab-inpaint, Inpainter.fill
    assert np.array_equal(uploaded_hole(decode_upload(path.read_bytes(), "mask")), expected)  # the web app
    assert np.array_equal(dataset_read_mask(path), expected)  # IrregularFileMask, ObjectShapeMask
    assert np.array_equal(dataset_read_mask(path, white_is_hole=False), ~expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # grey files warn once
        frozen = FrozenMasks(folder)[0]
    assert np.array_equal(frozen[0].numpy() > 0.5, expected)


def test_grey_masks_warn_once_in_datasets_and_not_for_binary_ones(tmp_path):
    from inpaintlab.data.masks.files import read_mask

    binary, soft = tmp_path / "binary.png", tmp_path / "soft.png"
    Image.fromarray(np.array([[0, 1, 1]], np.uint8)).save(binary)  # 0/1: clean, no warning
    Image.fromarray(np.array([[0, 100, 200]], np.uint8)).save(soft)
    told: list[str] = []
    assert read_mask(binary, warn=told.append).tolist() == [[F, T, T]] and not told
    assert read_mask(soft, warn=told.append).tolist() == [[F, F, T]]
    assert len(told) == 1 and "between black and white" in told[0] and "half way" in told[0]


def test_resized_dataset_masks_threshold_the_coverage_half_way(tmp_path):
    from inpaintlab.data.masks.files import read_mask

    a = np.zeros((8, 8), np.uint16)
    a[:, :4] = 65535  # 16-bit: the left half is hole
    Image.fromarray(a).save(tmp_path / "m16.png")
    small = read_mask(tmp_path / "m16.png", size=(4, 4))
    assert small.tolist() == [[T, T, F, F]] * 4


def test_uploaded_file_bytes_match_the_cli(tmp_path):
    """An RGBA mask with the hole only in its alpha (GIMP's painted transparent layer): the app and the CLI agree."""
    from inpaintlab.app.masks import decode_upload, uploaded_hole
    from inpaintlab.inference.pictures import read_mask

    rgba = np.zeros((6, 9, 4), np.uint8)
    rgba[2:4, 3:7, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    got = uploaded_hole(decode_upload(buf.getvalue(), "mask"))
    assert np.array_equal(got, rgba[..., 3] > 0) and np.array_equal(got, read_mask(Image.fromarray(rgba, "RGBA")))

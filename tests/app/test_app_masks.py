"""The web app's upload handling: brush layer → hole (any colour, any opacity), uploaded masks by the CLI's rule,
the size cap checked on the header, and the overlay the page loads into its brush layer reading back exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from app_support import decode, png
from PIL import Image

from inpaintlab.app.masks import (
    brush_hole,
    combine,
    decode_upload,
    overlay_png,
    preview_png,
    uploaded_hole,
)
from inpaintlab.inference.pictures import InpaintInputError, read_mask


def _layer() -> tuple[np.ndarray, np.ndarray]:
    """An RGBA brush layer with strokes of several colours and opacities, and its expected hole."""
    layer = np.zeros((40, 50, 4), np.uint8)
    layer[..., :3] = 255  # colour under fully transparent pixels is not a stroke (canvas export keeps 0 or junk)
    hole = np.zeros((40, 50), bool)
    strokes = [((slice(2, 8), slice(3, 20)), (255, 40, 90, 255)),  # the page's colour, opaque
               ((slice(10, 14), slice(0, 50)), (0, 0, 0, 1)),  # black at the faintest opacity
               ((slice(20, 30), slice(30, 35)), (0, 0, 0, 128)),  # black half-transparent (canvas anti-aliasing)
               ((slice(35, 40), slice(45, 50)), (255, 255, 255, 200))]  # white: colour never matters
    for (ys, xs), rgba in strokes:
        layer[ys, xs] = rgba
        hole[ys, xs] = True
    return layer, hole


def test_brush_layer_any_colour_and_opacity_is_hole():
    layer, hole = _layer()
    got = brush_hole(Image.fromarray(layer, "RGBA"))
    np.testing.assert_array_equal(got, hole)
    # through a PNG upload, as the page sends it
    np.testing.assert_array_equal(brush_hole(decode_upload(png(layer), "brush layer")), hole)
    # the uploaded-mask rule would have missed the black strokes: the brush layer is read by alpha alone
    assert not np.array_equal(read_mask(Image.fromarray(layer, "RGBA")), hole)


def test_brush_layer_without_alpha_uses_the_mask_rule():
    grey = np.zeros((6, 7), np.uint8)
    grey[1:3, 2:5] = 1
    np.testing.assert_array_equal(brush_hole(Image.fromarray(grey)), grey > 0)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "1", "LA"])
def test_uploaded_mask_follows_the_cli_rule(mode):
    rng = np.random.default_rng(3)
    a = (rng.random((20, 30)) < 0.3).astype(np.uint8) * 255
    a[0, :5] = 1  # a faint grey level is not a hole, for the CLI either (the one rule: half way to white)
    a[1, :5] = 128
    img = Image.fromarray(a).convert(mode)
    got = uploaded_hole(decode_upload(png(np.asarray(img), None) if mode != "1" else _bytes(img), "mask"))
    np.testing.assert_array_equal(got, read_mask(img))
    expected = a >= 128 if mode != "1" else np.asarray(img.convert("L")) >= 128
    np.testing.assert_array_equal(got, expected)


def test_transparent_mask_pixels_are_not_holes():
    rgba = np.zeros((5, 5, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere…
    rgba[1:3, 1:3, 3] = 255  # …but opaque only here
    np.testing.assert_array_equal(uploaded_hole(Image.fromarray(rgba, "RGBA")), rgba[..., 3] > 0)


def test_overlay_reads_back_exactly():
    rng = np.random.default_rng(0)
    hole = rng.random((33, 47)) < 0.4
    layer = decode_upload(overlay_png(hole), "brush layer")
    assert layer.size == (47, 33)
    np.testing.assert_array_equal(brush_hole(layer), hole)


def test_combine_unions_and_checks():
    a = np.zeros((4, 6), bool)
    b = np.zeros((4, 6), bool)
    a[0, 0], b[3, 5] = True, True
    got = combine((6, 4), a, b)
    assert got.sum() == 2 and got[0, 0] and got[3, 5]
    np.testing.assert_array_equal(combine((6, 4), None, b), b)
    with pytest.raises(InpaintInputError, match="covers nothing"):
        combine((6, 4), np.zeros((4, 6), bool), None)
    with pytest.raises(InpaintInputError, match=r"hole.png is 6×4 but image photo.jpg is 7×4"):
        combine((7, 4), None, b, "photo.jpg", "hole.png")


def _bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_decode_upload_errors_are_one_sentence():
    for data, match in [(b"", "is empty"), (b"not an image at all", "not an image"),
                        (_bytes(Image.new("RGB", (64, 64), "red"))[:60], "damaged or truncated")]:
        with pytest.raises(InpaintInputError, match=match) as info:
            decode_upload(data, "photo")
        assert "\n" not in str(info.value)


def test_size_cap_is_checked_on_the_header():
    big = _bytes(Image.new("L", (130, 20)))
    assert decode_upload(big, "photo", max_side=130).size == (130, 20)
    with pytest.raises(InpaintInputError, match=r"130×20 pixels, larger than this app's limit of 129"):
        decode_upload(big, "photo", max_side=129)
    # declared sizes past PIL's bomb warning (10000²) and past its bomb error (40000²): refused before decoding
    with pytest.raises(InpaintInputError, match=r"10000×10000 pixels, larger than this app's limit of 4096"):
        decode_upload(_bytes(Image.new("1", (10000, 10000))), "photo")
    bomb = _bytes(Image.new("1", (40000, 40000)))
    assert len(bomb) < 1_000_000
    with pytest.raises(InpaintInputError, match="^the photo is too large to decode safely: it declares 1,600 "
                                                "megapixels, more than the 179 that inpaintlab decodes"):
        decode_upload(bomb, "photo")  # the sentence of every tool (tests/reliability: inpaint, guide, datasets)


def test_exif_orientation_applied_as_the_cli_does():
    img = Image.new("RGB", (30, 10), "blue")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    up = decode_upload(_bytes(img, "JPEG", exif=exif), "photo", max_side=30)
    assert up.size == (10, 30)


def test_preview_shows_what_the_browser_cannot():
    grey16 = Image.fromarray(np.arange(12 * 9, dtype=np.uint16).reshape(9, 12) * 600)
    assert grey16.mode.startswith("I;16")
    prev = decode(preview_png(grey16))
    assert prev.shape == (9, 12, 3) and prev.dtype == np.uint8
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 77
    np.testing.assert_array_equal(decode(preview_png(Image.fromarray(rgba, "RGBA"))), rgba)  # alpha kept as stored

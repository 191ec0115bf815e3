"""The one image pipeline: decoding of every PIL mode to RGB, resize, crops, flips, [-1, 1] scaling, JPEG draft."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlab.data.transforms import ImageTransform, load_image, to_rgb, to_tensor
from inpaintlab.errors import ConfigError


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def column_image(width: int, height: int) -> Image.Image:
    """Red channel = column index, green = row index: crops and flips are readable from the pixels."""
    a = np.zeros((height, width, 3), np.uint8)
    a[..., 0] = np.arange(width)[None, :]
    a[..., 1] = np.arange(height)[:, None]
    return Image.fromarray(a, "RGB")


def test_to_rgb_handles_every_mode():
    assert to_rgb(Image.new("L", (4, 4), 100)).getpixel((0, 0)) == (100, 100, 100)
    assert to_rgb(Image.new("1", (4, 4), 1)).getpixel((0, 0)) == (255, 255, 255)
    # transparent pixels become white, opaque ones keep their colour
    rgba = Image.new("RGBA", (2, 1), (10, 20, 30, 0))
    rgba.putpixel((1, 0), (10, 20, 30, 255))
    out = to_rgb(rgba)
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 0)) == (10, 20, 30)
    assert to_rgb(Image.new("LA", (2, 2), (50, 255))).getpixel((0, 0)) == (50, 50, 50)
    # 16-bit grey is scaled, not clipped: 65535 → 255, 32896 (=128·257) → 128
    g16 = Image.fromarray(np.array([[65535, 32896]], dtype=np.uint16))
    assert g16.mode.startswith("I;16")
    assert [to_rgb(g16).getpixel((x, 0)) for x in range(2)] == [(255, 255, 255), (128, 128, 128)]
    pal = Image.new("RGB", (4, 4), (200, 10, 10)).quantize(4)
    assert pal.mode == "P" and to_rgb(pal).getpixel((0, 0)) == (200, 10, 10)
    pal.info["transparency"] = 0
    assert to_rgb(pal).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("CMYK", (2, 2), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.fromarray(np.full((2, 2), 0.5, np.float32))).getpixel((0, 0)) == (128, 128, 128)


def test_to_tensor_scales_to_minus_one_one():
    t = to_tensor(Image.fromarray(np.array([[[0, 255, 51]]], np.uint8)))
    assert t.shape == (3, 1, 1) and t.dtype == torch.float32
    assert torch.allclose(t.flatten(), torch.tensor([-1.0, 1.0, 51 / 127.5 - 1]))


def test_center_crop_without_resize_takes_the_middle():
    out = ImageTransform((4, 6), resize="native", crop="center")(column_image(10, 8))
    cols = ((out[0, 0] + 1) * 127.5).round().long().tolist()
    rows = ((out[1, :, 0] + 1) * 127.5).round().long().tolist()
    assert cols == [2, 3, 4, 5, 6, 7] and rows == [2, 3, 4, 5]


def test_cover_resizes_short_side_to_the_crop_and_pre_crop_cuts_first():
    t = ImageTransform(128, pre_crop=178)  # CelebA: 178² centre of 178×218, then 128²
    img = column_image(178, 218)
    out = t(img)
    assert out.shape == (3, 128, 128)
    rows = ((out[1, :, 0] + 1) * 127.5)
    assert 19 <= float(rows[0]) <= 23 and 194 <= float(rows[-1]) <= 198  # rows 20..197 of the face
    wide = ImageTransform(64)(column_image(200, 100))  # short side 100 → 64, width 128, centre 64 columns
    cols = (wide[0, 0] + 1) * 127.5
    assert wide.shape == (3, 64, 64) and 45 <= float(cols[0]) <= 55 and 145 <= float(cols[-1]) <= 153


def test_int_resize_and_native_upscale_small_images():
    out = ImageTransform(32, resize=64)(column_image(100, 80))  # short side 80 → 64, then a 32² centre crop
    assert out.shape == (3, 32, 32)
    tiny = ImageTransform(32, resize="native")(column_image(10, 20))  # too small: upscaled to cover
    assert tiny.shape == (3, 32, 32)


def test_random_crop_and_flip_are_seeded_and_vary():
    t = ImageTransform(8, resize="native", crop="random", flip=True)
    img = column_image(40, 30)
    a, b = t(img, g(1)), t(img, g(1))
    assert torch.equal(a, b)
    firsts = set()
    flips = 0
    for s in range(200):
        out = t(img, g(s))
        c = ((out[0, 0] + 1) * 127.5).round().long()
        firsts.add(int(min(c[0], c[-1])))
        flips += int(c[0] > c[-1])
    assert len(firsts) > 20, "random crops land at many positions"
    assert 70 <= flips <= 130, "horizontal flips have probability ½"
    eval_t = ImageTransform(8, resize="native")
    assert torch.equal(eval_t(img, g(1)), eval_t(img, g(2)))


def test_load_image_converts_and_jpeg_draft_decodes_smaller(tmp_path):
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), np.uint8)).resize((1024, 768), Image.BILINEAR)
    big.save(tmp_path / "big.jpg", quality=95)
    Image.new("L", (10, 10), 77).save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png").mode == "RGB"
    full = ImageTransform(256)
    fast = ImageTransform(256, jpeg_draft=True)
    assert full.load(tmp_path / "big.jpg").size == (1024, 768)
    drafted = fast.load(tmp_path / "big.jpg")
    assert drafted.size == (512, 384), "libjpeg decodes at 1/2 scale: still covers the 341×256 target"
    a, b = full(full.load(tmp_path / "big.jpg")), fast(drafted)
    assert a.shape == b.shape == (3, 256, 256)
    assert float((a - b).abs().mean()) < 0.02
    pre = ImageTransform(64, pre_crop=512, jpeg_draft=True)
    assert pre(pre.load(tmp_path / "big.jpg")).shape == (3, 64, 64)


def test_bad_settings_are_rejected_clearly():
    with pytest.raises(ConfigError, match="resize must be"):
        ImageTransform(64, resize="huge")
    with pytest.raises(ConfigError, match="crop must be"):
        ImageTransform(64, crop="middle")
    with pytest.raises(ConfigError, match="image_size"):
        ImageTransform(0)
    with pytest.raises(ConfigError, match="image_size"):
        ImageTransform((1, 2, 3))

"""GLCIC Sec. 3.3's training images: short side resized to a random 256–384 px, then a random 256² crop."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from inpaintlab.data.transforms import ImageTransform
from inpaintlab.errors import ConfigError


def test_random_short_side_in_range_and_lower_bound_for_evaluation(monkeypatch):
    sizes = []
    original = Image.Image.resize

    def spy(self, size, *args, **kwargs):
        sizes.append(size)
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", spy)
    img = Image.new("RGB", (500, 300), (10, 20, 30))
    train = ImageTransform(64, resize=[64, 96], crop="random")
    g = torch.Generator().manual_seed(0)
    for _ in range(40):
        assert train(img, g).shape == (3, 64, 64)
    shorts = {min(s) for s in sizes}
    assert shorts <= set(range(64, 97)) and len(shorts) > 10 and min(shorts) < 70 and max(shorts) > 90
    sizes.clear()
    ImageTransform(64, resize=[64, 96], crop="center")(img)
    assert [min(s) for s in sizes] == [64]  # evaluation: the lower bound, no randomness
    with pytest.raises(ConfigError, match="lo <= hi"):
        ImageTransform(64, resize=[96, 64])

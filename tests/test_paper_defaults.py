"""Issue 19's paper defaults: gradient attention's CelebA crop, and the WGAN-GP generator batch."""

from __future__ import annotations

import numpy as np
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from PIL import Image

from data.image_layouts import make_celeba
from helpers import compose_config


def test_ga_celeba_is_the_centre_128_crop_without_augmentation(tmp_path):
    """000 Sec. 4: "128 × 128 centrally cropped images" — the centre 128² of the 178×218 face, pixel for pixel."""
    root = make_celeba(tmp_path / "celeba")
    for experiment in ("ga_celeba", "ga_celeba_adv"):
        cfg = compose_config([f"experiment={experiment}"], tmp_path / "run")
        GlobalHydra.instance().clear()
        ds = instantiate(cfg.data.dataset)(root=root, split="train")
        sample = ds[0]
        image = sample["image"] if isinstance(sample, dict) else sample
        with Image.open(root / "img_align_celeba" / "000001.jpg") as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
        top, left = (218 - 128) // 2, (178 - 128) // 2
        expected = torch.from_numpy(rgb[top : top + 128, left : left + 128]).permute(2, 0, 1) / 127.5 - 1
        assert image.shape == (3, 128, 128) and cfg.data.dataset.flip is False
        assert torch.allclose(image, expected, atol=1e-6)
        assert torch.equal(ds[0]["image"] if isinstance(sample, dict) else ds[0], image)  # no random flip

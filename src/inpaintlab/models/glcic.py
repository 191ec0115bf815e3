"""GLCIC (Iizuka et al. 2017): dilated completion network and the global + local context discriminators.

004 §2.1 / Iizuka Table 1–3: the completion network sees the image with the hole filled with the dataset's mean
pixel plus the mask channel, halves the resolution twice, widens its receptive field with dilated convolutions
(2, 4, 8, 16) and decodes with two up-convolutions; BatchNorm + ReLU after every layer but the last (sigmoid).
The global discriminator scores the whole 256² image, the local one a 128² crop centred on the hole; their 1024-d
outputs are concatenated and a fully-connected layer gives one real/fake logit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintlab.conventions import centred_crop, hole_boxes
from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import Adapter, register_adapter
from inpaintlab.models.context_encoder import _fill

log = logging.getLogger(__name__)

__all__ = ["GLCICAdapter", "GLCICCompletionNetwork", "GLCICDiscriminator", "hole_centred_crop"]


def _cbr(cin: int, cout: int, k: int, s: int = 1, d: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, s, padding=d * (k - 1) // 2, dilation=d), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _dbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class GLCICCompletionNetwork(nn.Module):
    """Iizuka Table 1 (17 layers; widths for ``cnum`` = 64): conv5×5 64; conv3 s2 128; conv3 128; conv3 s2 256;
    2× conv3 256; dilated conv3 256 at 2, 4, 8, 16; 2× conv3 256; deconv4 s½ 128; conv3 128; deconv4 s½ 64;
    conv3 32; conv3 3 + sigmoid. BatchNorm + ReLU after every layer but the output.

    ``forward(x_masked, mask)``: the hole filled with ``fill_value`` and the mask as a 4th channel; the sigmoid
    output is mapped to [-1, 1] (2σ − 1). Fully convolutional: any size that is a multiple of 4.

    ``fill_value`` is "the mean of the pixels of the training set" (Iizuka Sec. 3.1; 004 §2), in [-1, 1]:
    ``"dataset"`` (default) leaves it to be measured on the run's training split before fitting
    (``callbacks.fill_value.TrainingSetMeanFill``); a list of C values configures it. Either way it is a buffer
    saved in the state dict, so a checkpoint fills holes as it was trained.
    """

    size_multiple = 4

    def __init__(self, cnum: int = 64, image_channels: int = 3, fill_value: Sequence[float] | str = "dataset") -> None:
        super().__init__()
        self.image_channels = int(image_channels)
        self.fill_from_data = isinstance(fill_value, str)
        if self.fill_from_data and fill_value != "dataset":
            raise ConfigError(f"GLCICCompletionNetwork: fill_value must be 'dataset' or {image_channels} numbers, "
                              f"got {fill_value!r}")
        if not self.fill_from_data and len(fill_value) != image_channels:
            raise ConfigError(f"GLCICCompletionNetwork: fill_value needs {image_channels} values, got {list(fill_value)}")
        fill = [float("nan")] * self.image_channels if self.fill_from_data else [float(v) for v in fill_value]
        self.register_buffer("fill_value", torch.tensor(fill))
        self._fill_checked = False
        c1, c2, c4 = cnum, 2 * cnum, 4 * cnum
        layers = [
            *_cbr(image_channels + 1, c1, 5),
            *_cbr(c1, c2, 3, 2), *_cbr(c2, c2, 3),
            *_cbr(c2, c4, 3, 2), *_cbr(c4, c4, 3), *_cbr(c4, c4, 3),
            *_cbr(c4, c4, 3, d=2), *_cbr(c4, c4, 3, d=4), *_cbr(c4, c4, 3, d=8), *_cbr(c4, c4, 3, d=16),
            *_cbr(c4, c4, 3), *_cbr(c4, c4, 3),
            *_dbr(c4, c2), *_cbr(c2, c2, 3),
            *_dbr(c2, c1), *_cbr(c1, cnum // 2, 3),
            nn.Conv2d(cnum // 2, image_channels, 3, padding=1),
        ]
        self.net = nn.Sequential(*layers)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, *args) -> None:
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, *args)
        # checkpoints written before the fill value was saved carry it in their config only: keep the configured one
        if prefix + "fill_value" in missing_keys:
            missing_keys.remove(prefix + "fill_value")

    def forward(self, x_masked: Tensor, mask: Tensor) -> dict[str, Tensor]:
        h, w = x_masked.shape[-2:]
        if h % 4 or w % 4:
            raise ConfigError(f"GLCICCompletionNetwork needs sides that are multiples of 4, got {h}×{w}")
        if not self._fill_checked:  # once: a host sync per step would cost more than it tells
            self._fill_checked = not bool(torch.isnan(self.fill_value).any())
        if not self._fill_checked:
            raise ConfigError(
                "GLCICCompletionNetwork: fill_value 'dataset' was never measured — train with the experiment's "
                "callbacks.fill_value (the training set's mean pixel), load a checkpoint that stores it, or set "
                "model.generator.fill_value=[r,g,b] in [-1, 1]"
            )
        x = torch.cat([_fill(x_masked, mask, self.fill_value), mask], 1)
        return {"output": torch.sigmoid(self.net(x)) * 2.0 - 1.0}


def hole_centred_crop(image: Tensor, mask: Tensor, size: int) -> Tensor:
    """B×C×size×size crops centred on each mask's hole bounding box, shifted to stay inside the image (Iizuka Sec. 3.2:
    the local discriminator sees a 128² area centred on the completed region); an image without a hole is cropped
    at its centre. Hole pixels are those above 0.5."""
    crop = centred_crop(image, size, hole_boxes(mask, threshold=0.5))[0]
    # NHWC, the layout this crop always had: the local critic's convolutions round alike from run to run
    return crop.contiguous(memory_format=torch.channels_last)


def _tower(cin: int, widths: Sequence[int], size: int, fc_units: int) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    c, s = cin, size
    for wd in widths:
        layers += [nn.Conv2d(c, wd, 5, 2, 2), nn.BatchNorm2d(wd), nn.ReLU(inplace=True)]
        c, s = wd, (s + 1) // 2
    layers += [nn.Flatten(), nn.Linear(c * s * s, fc_units), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers), c * s * s


class GLCICDiscriminator(nn.Module):
    """Iizuka Tables 2–3 as one critic: ``forward(image, mask)`` → B×1 logits.

    Global: six 5×5 stride-2 convs 64, 128, 256, 512, 512, 512 on the ``global_size``² image → FC 1024. Local: five
    (64, 128, 256, 512, 512) on the ``local_size``² crop centred on the hole (``hole_centred_crop``) → FC 1024.
    Concatenated (2048) → FC → 1 logit (the sigmoid lives in the NS-GAN loss). BatchNorm + ReLU after every conv.
    The mask only chooses the crop; it is not an input channel.
    """

    def __init__(self, global_size: int = 256, local_size: int = 128, cnum: int = 64, fc_units: int = 1024,
                 image_channels: int = 3) -> None:
        super().__init__()
        self.global_size, self.local_size = int(global_size), int(local_size)
        g_widths = [cnum, 2 * cnum, 4 * cnum, 8 * cnum, 8 * cnum, 8 * cnum]
        self.global_d, _ = _tower(image_channels, g_widths, self.global_size, fc_units)
        self.local_d, _ = _tower(image_channels, g_widths[:5], self.local_size, fc_units)
        self.fc = nn.Linear(2 * fc_units, 1)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        if image.shape[-2:] != (self.global_size, self.global_size):
            raise ConfigError(
                f"GLCICDiscriminator scores {self.global_size}² images (model.discriminator.global_size), got "
                f"{tuple(image.shape[-2:])}"
            )
        local = hole_centred_crop(image, mask, self.local_size)
        return self.fc(torch.cat([self.global_d(image), self.local_d(local)], 1))


_ON = {"true", "yes", "on", "1", "paper", "poisson", "telea+poisson"}
_OFF = {"false", "no", "off", "0", "none", "null", ""}


def _switch(value) -> bool:
    """An on/off inference option from Python (bool) or the command line (``--postprocess none``)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in _ON or text in _OFF:
        return text in _ON
    raise ConfigError(f"GLCIC option postprocess must be true or false (or none), got {value!r}")


@register_adapter(GLCICCompletionNetwork)
class GLCICAdapter(Adapter):
    """Inference for GLCIC: any size (padded to a multiple of 4), then the paper's post-processing (Iizuka Sec. 3.4:
    fast marching, then Poisson blending; ``inpaintlab.imaging.glcic_postprocess``) unless ``postprocess=False``."""

    options = {
        "postprocess": (True, "fast marching (Telea) then Poisson blending of the completion, as the paper does "
                              "(true/false; 'none' = false)"),
        "blend_ring": (1, "pixels of the hole's rim kept from the fast-marching fill, >= 1 (3 ≈ the official code)"),
    }

    def __init__(self, generator: nn.Module, discriminator: nn.Module | None = None, **options) -> None:
        super().__init__(generator, discriminator, **options)
        self.settings["postprocess"] = _switch(self.settings["postprocess"])
        ring = self.settings["blend_ring"]
        if isinstance(ring, bool) or not isinstance(ring, int) or ring < 1:
            raise ConfigError(f"GLCIC option blend_ring must be a whole number of pixels >= 1, got {ring!r}")

    def postprocess(self, image: Tensor, mask: Tensor, composite: Tensor) -> Tensor:
        if not self.settings["postprocess"]:
            return composite
        from inpaintlab.imaging.postprocess import glcic_postprocess

        return glcic_postprocess(composite, mask, ring=self.settings["blend_ring"])

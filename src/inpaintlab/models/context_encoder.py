"""Context Encoder (Pathak et al. 2016): the DCGAN-like inpainting encoder–decoder with a 4000-unit bottleneck.

004 §1.4 / Pathak Sec. 5.1: for inpainting, the encoder and decoder are "similar to" DCGAN's discriminator and
generator and "the bottleneck is of 4000 units" (``bottleneck="fc4000"``, default; the released code builds it as a
4×4 valid convolution to 4000 units). 004 §1.1 / Sec. 3.1's *channel-wise fully-connected* layer (each feature
map fully connected to itself, then a stride-1 convolution to mix channels), which the paper describes for its
AlexNet-based feature-learning encoder, is the option ``bottleneck="channelwise"``.

Two settings: ``region="center"`` (128² input, the generator predicts the 64² centre patch, which is pasted
into the centre of the input so ``"output"`` is full size) and ``region="random"`` (the full 128² image).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import Adapter, register_adapter

log = logging.getLogger(__name__)

__all__ = ["ChannelWiseFC", "ContextEncoderAdapter", "ContextEncoderDiscriminator", "ContextEncoderGenerator",
           "MEAN_PIXEL"]

# The released code's mean pixel 2·(117, 104, 123)/255 − 1 (ImageNet), the hole's fill before the network.
MEAN_PIXEL = (2 * 117 / 255 - 1, 2 * 104 / 255 - 1, 2 * 123 / 255 - 1)


def _fill(x_masked: Tensor, mask: Tensor, fill_value: Tensor) -> Tensor:
    """The hole filled with the dataset's mean pixel (Pathak Sec. 3.3; GLCIC Sec. 3): x·(1−M) + mean·M."""
    return x_masked * (1.0 - mask) + fill_value.view(1, -1, 1, 1).to(x_masked) * mask


class ChannelWiseFC(nn.Module):
    """Pathak Sec. 3.1: m feature maps of n×n, each fully connected to itself: m·n⁴ weights, no cross-channel terms.

    ``y[b, c, :] = W[c] @ x[b, c, :]`` with ``W`` of shape m×n²×n² (``bias=True`` adds m·n² biases) — a dense
    layer on the flattened m·n² vector whose weight is block-diagonal with the m blocks ``W[c]``.
    """

    def __init__(self, channels: int, size: int, bias: bool = False) -> None:
        super().__init__()
        self.channels, self.size = int(channels), int(size)
        n2 = self.size * self.size
        self.weight = nn.Parameter(torch.empty(self.channels, n2, n2))
        self.bias = nn.Parameter(torch.zeros(self.channels, n2)) if bias else None
        nn.init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        if c != self.channels or h != self.size or w != self.size:
            raise ConfigError(
                f"ChannelWiseFC expects B×{self.channels}×{self.size}×{self.size} features, got {tuple(x.shape)} "
                "(the generator's image_size fixes the bottleneck size)"
            )
        y = torch.einsum("cij,bcj->bci", self.weight, x.flatten(2))
        if self.bias is not None:
            y = y + self.bias
        return y.view(b, c, h, w)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.size}, bias={self.bias is not None}"


def _down(cin: int, cout: int, bn: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return [*layers, nn.LeakyReLU(0.2, inplace=True)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ContextEncoderGenerator(nn.Module):
    """Pathak Sec. 5.1 / reference-notes: encoder of 4×4 stride-2 convs (LeakyReLU 0.2, BatchNorm after the first),
    bottleneck, decoder of 4×4 stride-2 up-convolutions (BatchNorm + ReLU) and a tanh output. No biases.

    Encoder widths 3→64→64→128→256→512 take 128² to 4×4 (five convs; one fewer per halving of ``image_size``).
    ``bottleneck="fc4000"`` (Sec. 5.1's inpainting network, default): a 4×4 valid conv 512→``bottleneck_units``
    (4000; BatchNorm + LeakyReLU) — a fully-connected layer on the 512×4×4 code — and a 4×4 up-convolution back to
    512×4×4 (BatchNorm + ReLU), as the released code. ``"channelwise"`` (Sec. 3.1, the feature-learning network's):
    ``ChannelWiseFC`` over the 512 maps of 4×4, then a stride-1 1×1 convolution 512→512 (BatchNorm + ReLU).
    Decoder 512→256→128→64(→64)→3: ``region="center"`` outputs the ``image_size/2`` centre patch (64² for 128²),
    ``"random"`` the whole image.

    ``forward(x_masked, mask)`` fills the hole with ``fill_value`` (the dataset's mean pixel in [-1, 1]) and returns
    ``{"output": full-size image, "patch": the centre prediction}`` (centre mode; the patch replaces the centre of
    the filled input so compositing, metrics and inference see a full-size output).
    """

    def __init__(
        self,
        image_size: int = 128,
        region: str = "center",
        bottleneck: str = "fc4000",
        bottleneck_units: int = 4000,
        nef: int = 64,
        ngf: int = 64,
        image_channels: int = 3,
        fill_value: Sequence[float] = MEAN_PIXEL,
    ) -> None:
        super().__init__()
        if region not in ("center", "random"):
            raise ConfigError(f"ContextEncoderGenerator: region must be 'center' or 'random', got {region!r}")
        if bottleneck not in ("channelwise", "fc4000"):
            raise ConfigError(f"ContextEncoderGenerator: bottleneck must be 'channelwise' or 'fc4000', got {bottleneck!r}")
        n_down = int(image_size).bit_length() - 1 - 2  # halvings from image_size to 4×4
        if int(image_size) < 16 or 2 ** (n_down + 2) != int(image_size):
            raise ConfigError(f"ContextEncoderGenerator: image_size must be a power of two >= 16, got {image_size}")
        if len(fill_value) != image_channels:
            raise ConfigError(f"ContextEncoderGenerator: fill_value needs {image_channels} values, got {list(fill_value)}")
        self.image_size, self.region, self.bottleneck_kind = int(image_size), region, bottleneck
        self.image_channels = int(image_channels)
        self.native_size = self.image_size  # a fixed-size net: inference resizes to it and pastes back
        self.patch_size = self.image_size // 2 if region == "center" else self.image_size
        self.register_buffer("fill_value", torch.tensor([float(v) for v in fill_value]), persistent=False)

        widths = [nef, nef, nef * 2, nef * 4, nef * 8][-n_down:] if n_down <= 5 else None
        if widths is None:
            raise ConfigError(f"ContextEncoderGenerator: image_size {image_size} > 128 is not in the paper")
        enc: list[nn.Module] = []
        c = image_channels
        for i, w in enumerate(widths):
            enc += _down(c, w, bn=i > 0)
            c = w
        self.encoder = nn.Sequential(*enc)
        if bottleneck == "channelwise":
            self.bottleneck = nn.Sequential(
                ChannelWiseFC(c, 4), nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)
            )
        else:
            self.bottleneck = nn.Sequential(
                nn.Conv2d(c, bottleneck_units, 4, bias=False), nn.BatchNorm2d(bottleneck_units), nn.LeakyReLU(0.2, True),
                nn.ConvTranspose2d(bottleneck_units, c, 4, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            )
        # 4×4 → patch_size: log2(patch_size/4) up-convolutions, the last one to the image channels with tanh
        n_up = self.patch_size.bit_length() - 1 - 2
        dec_widths = [ngf * 4, ngf * 2, ngf, ngf][: n_up - 1]
        if len(dec_widths) < n_up - 1:
            dec_widths += [ngf] * (n_up - 1 - len(dec_widths))
        dec: list[nn.Module] = []
        for w in dec_widths:
            dec += _up(c, w)
            c = w
        dec += [nn.ConvTranspose2d(c, image_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)
        self.apply(_dcgan_init)

    @property
    def center_box(self) -> tuple[int, int]:
        """(start, end) of the predicted centre region along each axis."""
        start = (self.image_size - self.patch_size) // 2
        return start, start + self.patch_size

    def forward(self, x_masked: Tensor, mask: Tensor) -> dict[str, Tensor]:
        if x_masked.shape[-2:] != (self.image_size, self.image_size):
            raise ConfigError(
                f"ContextEncoderGenerator works on {self.image_size}² images, got {tuple(x_masked.shape[-2:])}"
            )
        x = _fill(x_masked, mask, self.fill_value)
        patch = self.decoder(self.bottleneck(self.encoder(x)))
        if self.region == "random":
            return {"output": patch}
        a, b = self.center_box
        output = x.clone()
        output[..., a:b, a:b] = patch
        return {"output": output, "patch": patch}


def _dcgan_init(m: nn.Module) -> None:
    """Released code / DCGAN: conv weights N(0, 0.02), BatchNorm γ ~ N(1, 0.02), β = 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ContextEncoderDiscriminator(nn.Module):
    """Pathak Sec. 3.2 / reference-notes: 4×4 stride-2 convs 3→64→128→256→512 (BatchNorm + LeakyReLU 0.2 after the
    first), a 4×4 valid conv → 1 logit. It never sees the mask (Sec. 3.2: a conditional D exploits the boundary).

    ``crop="center"`` scores the centre ``patch_size``² of what it is given (the 64² patch of a 128² image, as the
    released code's D sees the predicted patch; the module passes the generator's full-size output, whose centre
    is that patch, with ``fake_input: output``); ``crop=None`` scores the whole image (random-region setting).
    """

    def __init__(self, patch_size: int = 64, crop: str | None = "center", ndf: int = 64, image_channels: int = 3) -> None:
        super().__init__()
        if crop not in (None, "center"):
            raise ConfigError(f"ContextEncoderDiscriminator: crop must be 'center' or null, got {crop!r}")
        n = int(patch_size).bit_length() - 1 - 2
        if int(patch_size) < 8 or 2 ** (n + 2) != int(patch_size):
            raise ConfigError(f"ContextEncoderDiscriminator: patch_size must be a power of two >= 8, got {patch_size}")
        self.patch_size, self.crop = int(patch_size), crop
        widths = [ndf * 2**i for i in range(n)]
        layers: list[nn.Module] = []
        c = image_channels
        for i, w in enumerate(widths):
            layers += _down(c, w, bn=i > 0)
            c = w
        layers.append(nn.Conv2d(c, 1, 4, bias=False))
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.crop == "center":
            h, w = image.shape[-2:]
            t, l = (h - self.patch_size) // 2, (w - self.patch_size) // 2
            image = image[..., t : t + self.patch_size, l : l + self.patch_size]
        if image.shape[-2:] != (self.patch_size, self.patch_size):
            raise ConfigError(
                f"ContextEncoderDiscriminator scores {self.patch_size}² inputs, got {tuple(image.shape[-2:])}"
            )
        return self.net(image).flatten(1)


@register_adapter(ContextEncoderGenerator)
class ContextEncoderAdapter(Adapter):
    """Inference for the Context Encoder (128² native size: the Inpainter resizes, fills, pastes back).

    A centre-region model predicts only the centre ``patch_size``² square. Given holes outside it, it raises one
    clear error (``outside="error"``, default) — or, with ``outside="mean"``, fills what it can and leaves the
    other hole pixels at the mean pixel, logging a warning that says how many.
    """

    options = {"outside": ("error", "centre models with holes outside the centre region: 'error' or 'mean' fill")}

    @property
    def fill_is_forward(self) -> bool:
        """``fill`` only adds the centre-region check to the plain forward: evaluation may reuse the module's output."""
        return True

    def fill(self, image: Tensor, mask: Tensor) -> Tensor:
        gen = self.generator
        if getattr(gen, "region", "random") == "center":
            a, b = gen.center_box
            outside = mask.clone()
            outside[..., a:b, a:b] = 0
            n_out = int((outside > 0.5).sum())
            if n_out:
                msg = (
                    f"this Context Encoder was trained on the centre region: it fills only the central "
                    f"{b - a}×{b - a} of its {gen.image_size}×{gen.image_size} input, and the mask has {n_out} hole "
                    "pixels outside it"
                )
                if self.settings["outside"] == "error":
                    raise ConfigError(msg + " (use a random-region model, or --option outside=mean)")
                if self.settings["outside"] != "mean":
                    raise ConfigError(f"option outside must be 'error' or 'mean', got {self.settings['outside']!r}")
                log.warning("%s: those pixels keep the mean pixel", msg)
        return super().fill(image, mask)

"""BTGMI (003, "Image Inpainting using Block-wise Procedural Training with Annealed Adversarial Counterpart").

:class:`BTGMIGenerator` is the generator head of Sec. 3.1 (three stride-2 convolutions, dilated residual blocks,
three stride-2 transposed convolutions; BatchNorm + ReLU after every layer but the last) with the refinement
blocks of Sec. 3.3 built in from the start: ``max_extra_blocks`` residual blocks exist (and are in the state
dict and the optimiser) from construction; ``active_blocks`` (a buffer) says how many of them run, and
``fade`` (a buffer) scales the newest one's residual branch — (1−α)·h + α·(h + F(h)) = h + α·F(h), so at α = 0
the grown network is bit-identical to the one before (Sec. 3.3: "identical to the already trained network").
Inactive blocks do not run and get no gradient. A grown checkpoint therefore loads without knowing how it was
trained.

:class:`MultiScalePatchDiscriminator` is the MSPAL critic of Sec. 3.2 (Eq. 3–4): three identical pix2pixHD
PatchGANs on the image at three scales, each conditioned on the generator's input s (the corrupted input
(image·(1−mask), mask); Sec. 4.4's guided model: the composite with its box and foreground planes);
``label_maps(mask)`` is the per-patch "overlaps a hole" map Q, computed exactly by passing the mask through
max-pooling with every layer's kernel / stride / padding (the receptive-field chain).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.errors import ConfigError

CONV_TYPES = ("vanilla", "dilated", "interpolated", "dilated_interpolated")
BLOCK_INITS = ("default", "zero")
DEFAULT_BLOCK_INIT = "zero"  # measured: experiments/btgmi/README.md, "Grown blocks' initialisation"


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


class DilatedResidualBlock(nn.Module):
    """Sec. 3.1: a residual block [42] of two 3×3 convolutions dilated by ``dilation`` (2 in the paper).

    F(h) = BN(conv(ReLU(BN(conv(h))))); ``forward(h, alpha)`` returns h + α·F(h) (α = 1 for a trained block; the
    fade-in weight of Sec. 3.3 for the newest one). The second BatchNorm has no ReLU, as pix2pixHD's
    ResnetBlock (the paper "simplifies the Pix2Pix HD model").
    """

    def __init__(self, channels: int, dilation: int = 2) -> None:
        super().__init__()
        d = int(dilation)
        self.branch = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=d, dilation=d), *_bn_relu(channels),
            nn.Conv2d(channels, channels, 3, padding=d, dilation=d), nn.BatchNorm2d(channels),
        )

    def forward(self, h: Tensor, alpha: Tensor | float = 1.0) -> Tensor:
        return h + self.branch(h) if isinstance(alpha, float) and alpha == 1.0 else h + alpha * self.branch(h)


class BTGMIGenerator(nn.Module):
    """Sec. 3.1 generator head + Sec. 3.3 growable refinement blocks; input [image·(1−mask), mask], output in [-1, 1].

    ``conv_type`` (Fig. 6 ablation): ``dilated`` (the paper's: stride-2 convs / transposed convs, residual
    blocks dilated by 2), ``vanilla`` (dilation 1), ``interpolated`` (stride-1 convs followed by 2×2 max-pooling
    down and by bilinear ×2 up-sampling, [44]) and ``dilated_interpolated``. ``channels``: widths after each
    down-sampling layer (the residual blocks work at the last); 3×3 kernels as pix2pixHD's down/up-sampling.
    ``num_blocks``: the head's blocks (9); ``max_extra_blocks``: refinement blocks that can be grown (3).
    ``outputs``: images the last layer produces (Sec. 4.4: "the model is modified to output two images", named
    ``OUTPUT_NAMES``: "output" = inpainting, "harmonized"); ``mask_channels``: mask planes after the image in the
    input (Sec. 4.4 adds the foreground/background segmentation of the pasted box as a second plane).
    ``block_init`` (the paper is silent; experiments/btgmi/README.md measures both): how the grown blocks start —
    ``default`` (PyTorch's initialisation: F(h) is a random residual of the size of h) or ``zero`` (the last
    BatchNorm's γ = 0 in every grown block, so F(h) = 0 until training moves γ).
    """

    size_multiple = 8  # three stride-2 levels
    OUTPUT_NAMES = ("output", "harmonized")

    def __init__(
        self,
        image_channels: int = 3,
        channels: Sequence[int] = (64, 128, 256),
        num_blocks: int = 9,
        max_extra_blocks: int = 3,
        conv_type: str = "dilated",
        dilation: int = 2,
        outputs: int = 1,
        mask_channels: int = 1,
        block_init: str = DEFAULT_BLOCK_INIT,
    ) -> None:
        super().__init__()
        if block_init not in BLOCK_INITS:
            raise ConfigError(f"BTGMIGenerator block_init must be one of {BLOCK_INITS}, got {block_init!r}")
        if not 1 <= int(outputs) <= len(self.OUTPUT_NAMES):
            raise ConfigError(f"BTGMIGenerator outputs must be 1 or 2 (inpainting, harmonization), got {outputs}")
        if int(mask_channels) < 1:
            raise ConfigError(f"BTGMIGenerator mask_channels must be >= 1, got {mask_channels}")
        self.outputs, self.mask_channels = int(outputs), int(mask_channels)
        if conv_type not in CONV_TYPES:
            raise ConfigError(f"BTGMIGenerator conv_type must be one of {CONV_TYPES}, got {conv_type!r}")
        channels = [int(c) for c in channels]
        if len(channels) != 3:
            raise ConfigError(f"BTGMIGenerator channels: three widths (one per down-sampling layer), got {channels}")
        if num_blocks < 0 or max_extra_blocks < 0:
            raise ConfigError(f"BTGMIGenerator: num_blocks and max_extra_blocks must be >= 0 ({num_blocks}, {max_extra_blocks})")
        self.image_channels = int(image_channels)
        self.conv_type = conv_type
        interpolated = conv_type in ("interpolated", "dilated_interpolated")
        d = int(dilation) if conv_type in ("dilated", "dilated_interpolated") else 1

        down: list[nn.Module] = []
        c_in = self.image_channels + self.mask_channels
        for c in channels:
            if interpolated:  # [44]: dimension-preserving conv, then max-pooling
                down += [nn.Conv2d(c_in, c, 3, padding=1), nn.MaxPool2d(2)]
            else:
                down += [nn.Conv2d(c_in, c, 3, stride=2, padding=1)]
            down += _bn_relu(c)
            c_in = c
        self.down = nn.Sequential(*down)
        self.blocks = nn.ModuleList(DilatedResidualBlock(channels[-1], d) for _ in range(num_blocks))
        self.extra_blocks = nn.ModuleList(DilatedResidualBlock(channels[-1], d) for _ in range(max_extra_blocks))
        self.block_init = block_init
        if block_init == "zero":  # a zero residual (γ = β = 0 in the branch's last BatchNorm): F(h) = 0 at growth
            for block in self.extra_blocks:
                nn.init.zeros_(block.branch[-1].weight)
        up: list[nn.Module] = []
        outs = [*channels[::-1][1:], self.image_channels * self.outputs]
        for i, c in enumerate(outs):
            last = i == len(outs) - 1
            if interpolated:  # [44]: dimension-preserving conv, then bilinear up-sampling
                up += [nn.Conv2d(c_in, c, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
            else:
                up += [nn.ConvTranspose2d(c_in, c, 3, stride=2, padding=1, output_padding=1)]
            up += [nn.Tanh()] if last else _bn_relu(c)
            c_in = c
        self.up = nn.Sequential(*up)
        # how many extra blocks run, and the newest one's fade-in weight α (Sec. 3.3); saved in checkpoints
        self.register_buffer("active_blocks", torch.zeros((), dtype=torch.long))
        self.register_buffer("fade", torch.ones(()))

    @property
    def max_extra_blocks(self) -> int:
        return len(self.extra_blocks)

    def set_growth(self, blocks: int, fade: float | None = None) -> None:
        """Run ``blocks`` extra blocks; the newest with residual weight ``fade`` (unchanged when None)."""
        if not 0 <= int(blocks) <= self.max_extra_blocks:
            raise ConfigError(f"BTGMIGenerator: {blocks} extra blocks requested, built with max_extra_blocks={self.max_extra_blocks}")
        self.active_blocks.fill_(int(blocks))
        if fade is not None:
            self.fade.fill_(float(fade))

    def forward(self, x: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """``x`` = image·(1−mask) (holes set to zero, Sec. 4.1), concatenated with the mask (``mask_channels``
        planes). Returns {"output": …} (and "harmonized" with ``outputs=2``)."""
        if mask.shape[1] != self.mask_channels:
            raise ConfigError(f"BTGMIGenerator was built for {self.mask_channels} mask plane(s), got {mask.shape[1]}")
        h = self.down(torch.cat([x, mask.to(x.dtype)], 1))
        for block in self.blocks:
            h = block(h)
        n = int(self.active_blocks)
        for i in range(n):  # Sec. 3.3 / Fig. 3: new blocks after the trained ones, before the up-sampling
            h = self.extra_blocks[i](h, self.fade.to(h.dtype) if i == n - 1 else 1.0)
        y = self.up(h)
        if self.outputs == 1:
            return {"output": y}
        return dict(zip(self.OUTPUT_NAMES, y.split(self.image_channels, 1)))


class GuidedBTGMIGenerator(BTGMIGenerator):
    """Sec. 4.4: the BTGMI generator trained jointly for inpainting and harmonization — input the composite (the
    guide's box I_b pasted into I, not zeroed) with two mask planes [box I_b, object foreground], output
    {"output": inpainting, "harmonized": harmonization}. Arguments as :class:`BTGMIGenerator`."""

    def __init__(self, **kwargs) -> None:
        for key in ("outputs", "mask_channels"):
            if kwargs.pop(key, 2) != 2:
                raise ConfigError(f"GuidedBTGMIGenerator has {key}=2 (Sec. 4.4); use BTGMIGenerator for others")
        super().__init__(outputs=2, mask_channels=2, **kwargs)


class PatchGAN(nn.Module):
    """pix2pixHD's NLayerDiscriminator (n_layers = 3): 4×4 convs with padding 2, widths ndf·(1, 2, 4, 8) with strides
    (2, 2, 2, 1), then one stride-1 conv to a logit per patch; LeakyReLU 0.2; no norm on the first layer.

    ``norm``: "instance" (pix2pixHD's default), "batch" or "none". Normalisation couples positions, so only
    with "none" is a patch's logit a function of its receptive field alone (what ``label_map`` computes).
    """

    KERNEL, PADDING = 4, 2

    def __init__(self, in_channels: int, ndf: int = 64, norm: str = "instance") -> None:
        super().__init__()
        norms = {"instance": nn.InstanceNorm2d, "batch": nn.BatchNorm2d, "none": None}
        if norm not in norms:
            raise ConfigError(f"PatchGAN norm must be one of {sorted(norms)}, got {norm!r}")
        widths = [ndf, ndf * 2, ndf * 4, ndf * 8]
        self.strides = (2, 2, 2, 1, 1)
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, (c, s) in enumerate(zip(widths, self.strides)):
            layers.append(nn.Conv2d(c_in, c, self.KERNEL, stride=s, padding=self.PADDING))
            if i > 0 and norms[norm] is not None:
                layers.append(norms[norm](c))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c
        layers.append(nn.Conv2d(c_in, 1, self.KERNEL, stride=self.strides[-1], padding=self.PADDING))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def label_map(self, hole: Tensor) -> Tensor:
        """Q (Eq. 4): 1 where a patch's receptive field contains a hole pixel — max-pooling with each conv's
        kernel / stride / padding (padding counts as known)."""
        q = hole
        for s in self.strides:
            q = F.max_pool2d(q, self.KERNEL, stride=s, padding=self.PADDING)
        return q


class MultiScalePatchDiscriminator(nn.Module):
    """MSPAL critic (Sec. 3.2, Eq. 3–4): ``num_scales`` identical PatchGANs D_k on the image and on its 2×, 4×
    down-sampled versions (pix2pixHD: AvgPool2d(3, 2, padding=1, count_include_pad=False)), each conditioned on
    s_k: D_k([x_k, s_k]) with s the generator's input (Eq. 1's D(s, x)). ``forward(x, mask, condition=None)``
    returns {"d1": logits, "d2": …}.

    ``condition_channels=None``: s = [x·(1−mask), mask], built from ``x`` and ``mask`` — the corrupted input, the
    same for the real image and the composite. ``condition_channels=C``: s is the C-plane ``condition`` the
    training module passes (Sec. 4.4's guided model: [composite, box, foreground], 5 planes for RGB).
    """

    def __init__(self, image_channels: int = 3, ndf: int = 64, num_scales: int = 3, norm: str = "instance",
                 condition_channels: int | None = None) -> None:
        super().__init__()
        if num_scales < 1:
            raise ConfigError(f"MultiScalePatchDiscriminator num_scales must be >= 1, got {num_scales}")
        if condition_channels is not None and int(condition_channels) < 1:
            raise ConfigError(f"MultiScalePatchDiscriminator condition_channels must be >= 1 or null, got "
                              f"{condition_channels}")
        self.image_channels = int(image_channels)
        self.condition_channels = None if condition_channels is None else int(condition_channels)
        in_channels = self.image_channels + (self.condition_channels or self.image_channels + 1)
        self.critics = nn.ModuleList(PatchGAN(in_channels, ndf, norm) for _ in range(num_scales))

    @staticmethod
    def _down(x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: Tensor, mask: Tensor, condition: Tensor | None = None) -> dict[str, Tensor]:
        if condition is None:
            if self.condition_channels is not None:
                raise ConfigError(f"MultiScalePatchDiscriminator was built with condition_channels="
                                  f"{self.condition_channels} but called without a condition")
            mask = mask.to(x.dtype)
            condition = torch.cat([x * (1.0 - mask), mask], 1)
        elif self.condition_channels is None:
            raise ConfigError(f"MultiScalePatchDiscriminator got a {condition.shape[1]}-plane condition but was built "
                              f"without one: set model.discriminator.condition_channels={condition.shape[1]}")
        elif condition.shape[1] != self.condition_channels:
            raise ConfigError(f"MultiScalePatchDiscriminator was built for {self.condition_channels} condition "
                              f"planes, got {condition.shape[1]}")
        h = torch.cat([x, condition.to(x.dtype)], 1)
        out = {}
        for k, critic in enumerate(self.critics):
            if k:
                h = self._down(h)
            out[f"d{k + 1}"] = critic(h)
        return out

    def label_maps(self, mask: Tensor) -> dict[str, Tensor]:
        """Q_k per scale, the same shapes as ``forward``'s logits: a scale-k pixel carries hole content when
        its 3×3 pooling window does (max-pooling with the down-sampler's geometry), then the critic's chain."""
        hole = (mask > 0).to(torch.float32)
        out = {}
        for k, critic in enumerate(self.critics):
            if k:
                hole = F.max_pool2d(hole, 3, stride=2, padding=1)
            out[f"d{k + 1}"] = critic.label_map(hole)
        return out

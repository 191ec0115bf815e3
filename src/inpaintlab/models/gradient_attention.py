"""The three networks of "Context encoder loss with gradient attention", Table 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintlab.conventions import check_mask


def _check_input(masked_image: Tensor, mask: Tensor, channels: int, name: str) -> None:
    if masked_image.dim() != 4 or masked_image.shape[1] != channels:
        raise ValueError(f"{name} expects a B×{channels}×H×W masked image, got shape {tuple(masked_image.shape)}")
    check_mask(mask, masked_image, who=name)


class FullyConnectedAutoencoder(nn.Module):
    """Table 1, "MNIST inpainting": fc-256, 128, 64, 32, 64, 128, 256 on the flattened masked image.

    The paper lists only the widths; hidden units use ReLU and the output tanh, matching images in [-1, 1].
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        hidden: Sequence[int] = (256, 128, 64, 32, 64, 128, 256),
    ) -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.channels = int(channels)
        n = self.channels * self.image_size**2
        widths = [n, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        layers += [nn.Linear(widths[-1], n), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @property
    def native_size(self) -> int:
        """Inference on other sizes: resize to this, fill, paste back into the hole (``inference.sizing``)."""
        return self.image_size

    @property
    def image_channels(self) -> int:
        return self.channels

    def forward(self, masked_image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        _check_input(masked_image, mask, self.channels, type(self).__name__)
        if masked_image.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"FullyConnectedAutoencoder was built for {self.image_size}×{self.image_size} images, "
                f"got {tuple(masked_image.shape[-2:])}; set image_size to match the data"
            )
        out = self.net(masked_image.flatten(1)).view_as(masked_image)
        return {"output": out}


# (out_channels, stride, dilation) of Table 1's fully-convolutional model; "up" marks deconv3 (stride 2).
DILATED_FCN_LAYERS: tuple[tuple[int, int, int, bool], ...] = (
    (32, 1, 1, False),
    (64, 2, 1, False),
    (64, 1, 1, False),
    (128, 2, 1, False),
    (128, 1, 1, False),
    (128, 1, 1, False),
    (128, 1, 2, False),
    (128, 1, 4, False),
    (128, 1, 8, False),
    (128, 1, 16, False),
    (128, 1, 1, False),
    (128, 1, 1, False),
    (64, 2, 1, True),
    (64, 1, 1, False),
    (32, 2, 1, True),
    (32, 1, 1, False),
)


class DilatedFCN(nn.Module):
    """Table 1, "CelebA inpainting": the dilated fully-convolutional network (GLCIC-style, Iizuka et al. 2017).

    Table 1's conv/deconv list, followed by a 3×3 output conv to the image channels with tanh (the table
    stops at the last hidden layer). Input: masked image plus the mask channel, as in GLCIC.
    ``width`` scales every layer (1.0 = the paper) so tests can run a slim copy.
    """

    def __init__(self, channels: int = 3, norm: str = "batch", width: float = 1.0, mask_channel: bool = True) -> None:
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"DilatedFCN norm must be 'batch' or 'none', got {norm!r}")
        self.channels = int(channels)
        self.mask_channel = bool(mask_channel)
        c_in = self.channels + int(self.mask_channel)
        layers: list[nn.Module] = []
        for c, stride, dilation, up in DILATED_FCN_LAYERS:
            c = max(1, int(round(c * width)))
            if up:
                conv = nn.ConvTranspose2d(c_in, c, 3, stride=stride, padding=1, output_padding=1)
            else:
                conv = nn.Conv2d(c_in, c, 3, stride=stride, padding=dilation, dilation=dilation)
            layers += [conv, nn.BatchNorm2d(c) if norm == "batch" else nn.Identity(), nn.ReLU(inplace=True)]
            c_in = c
        layers += [nn.Conv2d(c_in, self.channels, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    # fully convolutional: inference pads any picture to a multiple of the two stride-2 convs
    size_multiple = 4

    @property
    def image_channels(self) -> int:
        return self.channels

    def forward(self, masked_image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        _check_input(masked_image, mask, self.channels, type(self).__name__)
        h, w = masked_image.shape[-2:]
        if h % 4 or w % 4:
            raise ValueError(f"DilatedFCN downsamples by 4: image height and width must be multiples of 4, got {h}×{w}")
        x = torch.cat([masked_image, mask], 1) if self.mask_channel else masked_image
        return {"output": self.net(x)}


class GradientAttentionCritic(nn.Module):
    """Table 1, "CelebA adversarial inpainting" discriminator: conv3-64, 128, 256, 256 (stride 2), then fc-1.

    A WGAN-GP critic (no normalisation, LeakyReLU 0.2, no sigmoid); it sees the image only.
    """

    def __init__(self, channels: int = 3, image_size: int = 128, widths: Sequence[int] = (64, 128, 256, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for c in widths:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c
        self.features = nn.Sequential(*layers)
        side = image_size
        for _ in widths:
            side = (side + 1) // 2
        self.image_size = int(image_size)
        self.fc = nn.Linear(c_in * side * side, 1)

    def forward(self, image: Tensor, mask: Tensor | None = None) -> Tensor:
        if image.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"GradientAttentionCritic was built for {self.image_size}×{self.image_size} images, "
                f"got {tuple(image.shape[-2:])}"
            )
        return self.fc(self.features(image).flatten(1))

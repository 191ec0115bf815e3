"""CR-Fill's training-only auxiliary encoder-decoder (Zeng et al., CR-Fill Sec. 4, Eq. 5–6, Fig. 5).

The auxiliary encoder (gated convolutions down to 1/4 resolution and back up, with skip connections so it
can learn to copy its input) encodes the composited generator output; each of its 16×16 stride-8 feature
patches is replaced by the similarity-weighted sum of known patches (Eq. 5, :func:`paste_patches`); the
auxiliary decoder H turns the result into the auxiliary image A(U) (Eq. 6). It lives outside the generator,
so inference costs nothing. Layer widths and the key mapping follow the official ``TwostagendGenerator``
(``bconv*``/``conv13..conv17`` of zengxianyu/crfill); see :data:`CRFILL_KEY_MAP`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.nn.gated_conv import ConvBlock, GatedConv2d, UpConv


def paste_patches(
    weights: Tensor, features: Tensor, patch_size: int = 16, stride: int = 8, average: bool = False
) -> Tensor:
    """Eq. 5 as a transposed convolution: patch i of the result = Σ_j weights[:, i, j] · patch j of ``features``.

    ``weights`` B×L×L (rows: destination patch i, columns: source patch j), ``features`` B×C×H×W, whose
    patch_size×patch_size stride-``stride`` patches must number L. Overlapping patches are summed, as the
    official code does, or averaged with ``average=True``. Batched with bmm, no per-sample loop.
    """
    if weights.dim() != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"weights must be B×L×L, got shape {tuple(weights.shape)}")
    if features.dim() != 4 or features.shape[0] != weights.shape[0]:
        raise ValueError(
            f"features must be B×C×H×W with the weights' batch {weights.shape[0]}, got shape {tuple(features.shape)}"
        )
    size = features.shape[-2:]
    cols = F.unfold(features, patch_size, stride=stride)  # B×(C·p²)×L
    if cols.shape[2] != weights.shape[2] or any((s - patch_size) % stride for s in size):
        raise ValueError(
            f"features {tuple(size)} give {cols.shape[2]} patches of {patch_size}×{patch_size} at stride {stride} "
            f"(tiling exactly: {not any((s - patch_size) % stride for s in size)}), weights expect {weights.shape[2]}"
        )
    out = F.fold(torch.bmm(cols, weights.transpose(1, 2)), size, patch_size, stride=stride)
    if average:
        ones = features.new_ones(1, 1, *size)
        out = out / F.fold(F.unfold(ones, patch_size, stride=stride), size, patch_size, stride=stride)
    return out


class CRFillAuxNet(nn.Module):
    """CR-Fill Sec. 4, Fig. 5: auxiliary encoder (with skips) → patch replacement (Eq. 5) → decoder H (Eq. 6).

    ``cnum`` is the official width (48), counted as conv outputs: gated layers output half of it, so the
    encoder features at image resolution have cnum/2 channels. ``patch_size``/``stride`` are the replacement
    patches at image resolution (the 4×4 stride-2 similarity patches on 1/4-resolution features, scaled by 4).
    ``average_overlaps=False`` sums overlapping patches (official; the paper does not say). ``padding``:
    "zeros" as the official PyTorch code.
    """

    def __init__(
        self,
        cnum: int = 48,
        patch_size: int = 16,
        stride: int = 8,
        average_overlaps: bool = False,
        padding: str = "zeros",
    ) -> None:
        super().__init__()
        if cnum < 4 or cnum % 4:
            raise ValueError(
                f"cnum must be a positive multiple of 4 (gated layers halve it twice), got {cnum}"
            )
        self.patch_size, self.stride, self.average_overlaps = (
            int(patch_size),
            int(stride),
            bool(average_overlaps),
        )
        c = int(cnum)

        def gated(cin: int, cout: int, k: int = 3, stride: int = 1) -> GatedConv2d:
            return GatedConv2d(cin, cout // 2, k, stride, 1, padding)

        # encoder: 1 → 1/2 → 1/4 → 1/2 → 1, skips from 1 and 1/2 concatenated on the way up
        self.enc1 = gated(3, c, 5)
        self.enc2_down = gated(c // 2, 2 * c, stride=2)
        self.enc3 = gated(c, 2 * c)
        self.enc4_down = gated(c, 4 * c, stride=2)
        self.enc5_up = UpConv(2 * c, c, "gated", 3, padding)
        self.enc6 = gated(2 * c, 2 * c)
        self.enc7_up = UpConv(c, c // 2, "gated", 3, padding)
        self.enc8 = gated(c, c)
        # decoder H; the last layer is a plain conv (the official gen_conv skips gating for 3 outputs)
        self.dec1 = gated(c // 2, c)
        self.dec2 = ConvBlock(c // 2, 3, 3, 1, 1, padding, activation=None)

    def encode(self, image: Tensor) -> Tensor:
        """Auxiliary encoder features f(U), B×cnum/2×H×W, of a composited image in [-1, 1]."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"CRFillAuxNet expects a B×3×H×W image, got shape {tuple(image.shape)}")
        if image.shape[-2] % 4 or image.shape[-1] % 4:
            raise ValueError(f"CRFillAuxNet needs H and W divisible by 4, got {tuple(image.shape[-2:])}")
        skip1 = self.enc1(image)
        skip2 = self.enc3(self.enc2_down(skip1))
        x = self.enc6(torch.cat([self.enc5_up(self.enc4_down(skip2)), skip2], 1))
        return self.enc8(torch.cat([self.enc7_up(x), skip1], 1))

    def decode(self, features: Tensor) -> Tensor:
        """Auxiliary decoder H (Eq. 6): features → image in [-1, 1] (tanh)."""
        return torch.tanh(self.dec2(self.dec1(features)))

    def forward(self, image: Tensor, weights: Tensor) -> Tensor:
        """A(U) = H(F̄(U)): ``image`` the composited output G(U)∘M + U, ``weights`` B×L×L from the similarity."""
        features = paste_patches(
            weights, self.encode(image), self.patch_size, self.stride, self.average_overlaps
        )
        return self.decode(features)


# official TwostagendGenerator layer → our parameter path (".weight"/".bias" appended)
CRFILL_KEY_MAP = {
    "bconv1": "enc1.conv",
    "bconv2_downsample": "enc2_down.conv",
    "bconv3": "enc3.conv",
    "bconv4_downsample": "enc4_down.conv",
    "conv13_upsample_conv": "enc5_up.conv.conv",
    "conv14": "enc6.conv",
    "conv15_upsample_conv": "enc7_up.conv.conv",
    "conv16": "enc8.conv",
    "conv16_2": "dec1.conv",
    "conv17": "dec2.conv",
}
# in the official module but unused by its forward pass (its similarity encoder is commented out)
CRFILL_UNUSED_PREFIXES = ("sconv1.", "sconv2.")


def convert_crfill_aux_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Map a CR-Fill ``TwostagendGenerator`` state dict (``bconv1.weight``, …) to :class:`CRFillAuxNet` keys.

    ``baseg.*`` (the generator, see the coarse-to-fine converter) and the unused ``sconv*`` are skipped; a
    ``module.`` prefix (DataParallel) is stripped. Unknown keys raise, so a wrong checkpoint fails loudly.
    """
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        if key.startswith("baseg.") or key.startswith(CRFILL_UNUSED_PREFIXES):
            continue
        name, _, param = key.rpartition(".")
        if name not in CRFILL_KEY_MAP or param not in ("weight", "bias"):
            raise KeyError(
                f"unexpected key {key!r} in a CR-Fill generator state dict "
                f"(expected baseg.*, sconv*, or one of {sorted(CRFILL_KEY_MAP)} with .weight/.bias)"
            )
        out[f"{CRFILL_KEY_MAP[name]}.{param}"] = value
    missing = sorted(
        f"{k}.{p}"
        for k in CRFILL_KEY_MAP
        for p in ("weight", "bias")
        if f"{CRFILL_KEY_MAP[k]}.{p}" not in out
    )
    if missing:
        raise KeyError(f"CR-Fill state dict lacks auxiliary-network weights: {missing}")
    return out

"""Any picture size and channel count for any network: the one documented way per kind of net.

* Fully convolutional nets (``size_multiple``, ``min_size``): the masked image and the mask are padded at the
  bottom/right to the multiple (and at least ``min_size``) and the output is cropped back. Padding *mirrors*
  the masked image and the mask together: a padded pixel that mirrors a known pixel is known and holds that
  real value, one that mirrors a hole stays a hole (zero padding marked known would show the network grey
  bands; padding marked as hole would make it invent content beside every border). Images smaller than the
  padding use edge replication instead.
* Fixed-size nets (``native_size``, e.g. the gradient-attention MNIST autoencoder at 28×28): the masked image
  is resized to the native size (bilinear, antialiased) with the mask (area; a small pixel is a hole if any
  pixel under it is), filled there, and the fill is resized back (bilinear) — it is pasted into the hole only,
  so known pixels stay exactly the input's. The aspect ratio is not kept: the net sees the whole picture.
* Channels: a 1-channel net sees the ITU-R 601 luma of an RGB picture and its grey fill is given to every
  colour channel; a 3-channel net sees grey pictures replicated to RGB.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import Adapter, fill_composite

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, PIL's convert("L")


def mirror_pad(x: Tensor, ph: int, pw: int) -> Tensor:
    """Pad ``ph`` rows at the bottom and ``pw`` columns at the right by reflection (replication when the
    picture is too small to reflect)."""
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def to_channels(image: Tensor, channels: int) -> Tensor:
    """B×C×H×W in [-1, 1] → B×``channels``×H×W: RGB → luma for grey nets, grey → RGB for colour nets."""
    c = image.shape[1]
    if c == channels:
        return image
    if channels == 1 and c == 3:
        weights = image.new_tensor(LUMA).view(1, 3, 1, 1)
        return (image * weights).sum(1, keepdim=True)
    if channels == 3 and c == 1:
        return image.expand(-1, 3, -1, -1)
    raise ConfigError(f"the network works on {channels}-channel images; cannot convert a {c}-channel picture")


def from_channels(output: Tensor, channels: int) -> Tensor:
    """The network's output back to the picture's ``channels`` (a grey fill goes to every colour channel)."""
    c = output.shape[1]
    if c == channels:
        return output
    if c == 1:
        return output.expand(-1, channels, -1, -1)
    return to_channels(output, channels)


def fill_padded(adapter: Adapter, image: Tensor, mask: Tensor) -> Tensor:
    h, w = image.shape[-2:]
    m, least = max(1, adapter.size_multiple), max(1, adapter.min_size)
    ph, pw = (max(n, least) + (-max(n, least) % m) - n for n in (h, w))
    masked = image * (1.0 - mask)
    out = adapter.fill(mirror_pad(masked, ph, pw), mirror_pad(mask, ph, pw))
    return out[..., :h, :w]


def fill_native(adapter: Adapter, image: Tensor, mask: Tensor, size: tuple[int, int]) -> Tensor:
    h, w = image.shape[-2:]
    if (h, w) == tuple(size):
        return adapter.fill(image * (1.0 - mask), mask)
    small_mask = (F.interpolate(mask, size=size, mode="area") > 0).to(image.dtype)
    small = F.interpolate(image * (1.0 - mask), size=size, mode="bilinear", align_corners=False, antialias=True)
    out = adapter.fill(small * (1.0 - small_mask), small_mask)
    return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)


def fill_any_size(adapter: Adapter, image: Tensor, mask: Tensor) -> Tensor:
    """The adapter's raw fill (before compositing) of a B×C×H×W picture of any size and channel count."""
    x = to_channels(image, adapter.channels)
    native = adapter.native_size
    out = fill_native(adapter, x, mask, native) if native is not None else fill_padded(adapter, x, mask)
    return from_channels(out, image.shape[1])


def composite_any_size(adapter: Adapter, image: Tensor, mask: Tensor) -> Tensor:
    """fill → composite → postprocess → composite at the picture's own size: every known pixel as given."""
    return fill_composite(adapter, image, mask, fill=fill_any_size)


def check_batch(image: Tensor, mask: Tensor) -> None:
    from inpaintlab.inference.pictures import InpaintInputError

    if (
        image.dim() != 4
        or mask.dim() != 4
        or mask.shape[1] != 1
        or mask.shape[0] != image.shape[0]
        or (mask.shape[-2:] != image.shape[-2:])
    ):
        raise InpaintInputError(
            f"expected a B×C×H×W image and a B×1×H×W mask of the same size, got {tuple(image.shape)} and "
            f"{tuple(mask.shape)}"
        )


__all__ = ["check_batch", "composite_any_size", "fill_any_size", "from_channels", "mirror_pad", "to_channels"]

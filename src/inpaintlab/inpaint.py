"""``inpaintlab-inpaint``: fill the holes of images with released or trained DeepFill / CR-Fill weights.

Examples::

    inpaintlab-inpaint --model crfill --weights crfill.pth --image photo.jpg --mask hole.png --out out.png
    inpaintlab-inpaint --model deepfill_v2 --weights places2.pth --image imgs/ --mask masks/ --out results/
    inpaintlab-inpaint --model crfill --weights crfill.pth --image big.jpg --mask m.png --out o.png --highres
    inpaintlab-inpaint --model deepfill_v2 --weights outputs/<task>/runs/<time>/checkpoints/last.ckpt ...

Python: ``inpaint(pretrained.load("crfill", path), image, mask) -> np.ndarray``.

Decisions (the README section "Inference" says the same):

* Weights: ``--weights`` is anything ``inpaintlab.pretrained.load`` reads — an official release (DeepFill's
  PyTorch conversion, CR-Fill's ``baseg.*``, TF variable names in ``.npz``) or one of our Lightning
  checkpoints. Files are read *safely* (``torch.load(weights_only=True)``: tensors, numbers, strings,
  containers only), because un-pickling anything else can run arbitrary code. Our own checkpoints pass the
  safe load (they hold no pickled objects); ``--trust-checkpoint`` allows full un-pickling for other files you
  trust. For a checkpoint inside a run directory the run's ``config.yaml`` supplies the generator's
  constructor arguments (``cnum``, attention settings, …; ``--no-run-config`` skips it), and ``--model-arg
  key=value`` sets any of them by hand.
* Any size: the masked image and the mask are padded at the bottom/right to the generator's multiple
  (``size_multiple``: 8 with contextual attention — two stride-2 convs, then matching at rate 2 — 4 for
  CR-Fill; 8 in ``--highres`` mode so the half-size coarse pass is exact) and the result is cropped back.
  Padding *mirrors* the masked image and the mask together: a padded pixel that mirrors a known pixel is known
  and holds that real value, one that mirrors a hole stays a hole. Zero padding marked known would show the
  network grey bands as context, and marking the padding as hole would make it invent content beside every
  border. Images smaller than the padding use edge replication instead. Networks with mirror-padded convs
  (DeepFill v1 with its paper's ``padding=reflect``) need 1/4-scale maps wider than their dilation 16, so
  smaller images are padded up to 72 px (136 in ``--highres``) the same way.
* Pixels: the network sees the project's one RGB conversion (``data.transforms.to_rgb``: alpha composited over
  white, palette expanded, 16-bit grey scaled, CMYK/YCbCr converted), in [-1, 1]. The output keeps the input's
  layout: grey stays grey (ITU-R 601 luma of the generated colour, as PIL's ``convert("L")``), 16-bit grey
  stays 16-bit, RGBA/LA keep their alpha (known pixels keep theirs, hole pixels become opaque: they are filled
  with generated content), palette images become RGB(A). ``--rgb`` writes 8-bit RGB instead (known pixels =
  the RGB conversion). Either way the composite is formed in integer space, ``out = where(hole,
  round(generated), input)``, so every known pixel equals the input bit for bit (write a lossless format: PNG;
  JPEG output warns).
* Masks: same width and height as the image (never resized: a mismatch is an error naming both sizes); a pixel
  is a hole if any colour channel is non-zero, unless it is fully transparent; any mode (1-bit, grey, 16-bit,
  palette, RGB(A)). Stored pixels are used as they are (EXIF orientation is not applied).
* Files: single mode (``--image`` and ``--mask`` files) or folder mode (both folders, paired by file stem,
  results written as ``<out>/<stem>.png``; unpaired files are an error listing them). Everything is checked
  before the model loads; results are written to a temporary file and renamed, existing outputs are kept
  unless ``--overwrite``, and an input is never overwritten. A bad file stops with one ``error:`` line and
  status 1; results written before it stay.
* ``--highres`` (= ``--coarse-scale 0.5``): CR-Fill Sec. 5.1 "High-resolution inpainting" — the coarse network
  runs at half the input size and its output is interpolated back (bilinear) before the refinement network.
  The half-size input is area-averaged and a half-size pixel is a hole if any pixel it covers is. Works with
  every coarse-to-fine model (DeepFill's attention then matches at full size); the paper uses it for CR-Fill.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inpaintlab.errors import ConfigError, InpaintlabError, exit_code_of

MODELS = ("deepfill_v1", "deepfill_v2", "crfill")
COARSE_MULTIPLE = 4  # the coarse network's two stride-2 convs
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, PIL's convert("L")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_LOSSY = (".jpg", ".jpeg", ".jfif", ".webp")
# constructor arguments of a run's generator that only add training-time outputs
_TRAINING_ONLY_ARGS = ("return_flow", "return_features")


class InpaintInputError(InpaintlabError):
    """An input of ``inpaintlab-inpaint`` (image, mask, weights, output path) is missing or unusable."""


# ---------------------------------------------------------------------------------------------- pixels
@dataclass
class Picture:
    """An image as the output will store it (``pixels``) and as the network sees it (``rgb``)."""

    pixels: np.ndarray  # H×W×C, C ∈ {1, 2, 3, 4} (alpha last for 2 and 4), uint8 or uint16
    rgb: np.ndarray  # H×W×3 uint8: data.transforms.to_rgb of the input
    squeeze: bool = False  # the caller gave H×W: return H×W
    colour_kept: bool = True  # pixels are in the input's own colour model (an ICC profile still applies)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports sizes."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)


def _to_rgb(img: Any) -> np.ndarray:
    from inpaintlab.data.transforms import to_rgb

    return np.array(to_rgb(img), dtype=np.uint8)  # a writable copy (torch.from_numpy wants one)


def _pil_pixels(img: Any) -> tuple[np.ndarray, bool]:
    """(H×W×C uint8/uint16 pixels in the layout the output keeps, colour model unchanged?) of a PIL image."""
    mode = img.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        a = np.asarray(img)
        return (a[..., None] if a.ndim == 2 else a), True
    if mode == "1":
        return np.asarray(img.convert("L"))[..., None], True
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)[..., None], True
    if mode == "I":
        a = np.asarray(img)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise InpaintInputError(
                f"32-bit integer image with values {lo}..{hi}: expected 0..255 or 0..65535 "
                "(8- or 16-bit grey)"
            )
        # the same rule as data.transforms.to_rgb: values above 255 mean 16-bit
        return a.astype(np.uint16 if hi > 255 else np.uint8)[..., None], True
    if mode == "F":  # float grey: written as its 8-bit conversion
        return _to_rgb(img)[..., :1].copy(), False
    if mode == "La":
        return np.asarray(img.convert("LA")), True
    if mode in ("P", "PA", "RGBa"):
        has_alpha = mode != "P" or "transparency" in img.info
        return np.asarray(img.convert("RGBA" if has_alpha else "RGB")), True
    return np.asarray(img.convert("RGB")), False  # CMYK, YCbCr, LAB, HSV, RGBX


def _array_rgb(a: np.ndarray) -> np.ndarray:
    """to_rgb of an H×W×C uint8/uint16 array (16-bit scaled as to_rgb scales I;16)."""
    from PIL import Image

    if a.dtype == np.uint16:
        a = np.clip(np.rint(a / 65535.0 * 255.0), 0, 255).astype(np.uint8)
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a[..., 0] if a.shape[2] == 1 else a)))


def read_picture(image: Any, keep_layout: bool = True) -> Picture:
    """A ``Picture`` from a PIL image or an H×W / H×W×C (C ≤ 4) uint8 or uint16 array.

    ``keep_layout=False``: the output is the 8-bit RGB conversion (``--rgb``)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        rgb = _to_rgb(image)
        if not keep_layout:
            return Picture(rgb.copy(), rgb)
        pixels, kept = _pil_pixels(image)
        return Picture(np.ascontiguousarray(pixels), rgb, squeeze=pixels.shape[2] == 1, colour_kept=kept)
    if isinstance(image, np.ndarray):
        a = image
        if a.dtype not in (np.uint8, np.uint16):
            raise InpaintInputError(
                f"image array has dtype {a.dtype}: expected uint8 (0..255) or uint16 (0..65535)"
            )
        if not (a.ndim == 2 or (a.ndim == 3 and 1 <= a.shape[2] <= 4)) or 0 in a.shape[:2]:
            raise InpaintInputError(
                f"image array has shape {a.shape}: expected H×W (grey) or H×W×C with C = 1 (grey), "
                "2 (grey + alpha), 3 (RGB) or 4 (RGBA)"
            )
        squeeze = a.ndim == 2
        a = np.ascontiguousarray(a[..., None] if squeeze else a)
        rgb = _array_rgb(a)
        if not keep_layout:
            return Picture(rgb.copy(), rgb)
        return Picture(a, rgb, squeeze=squeeze)
    raise InpaintInputError(f"image must be a PIL image or a numpy array, got {type(image).__name__}")


def read_mask(mask: Any) -> np.ndarray:
    """H×W bool hole map (True = hole) of a PIL image or array: a pixel is a hole if any colour channel is
    non-zero, unless it is fully transparent (alpha 0)."""
    from PIL import Image

    if isinstance(mask, Image.Image):
        mode = mask.mode
        if mode in _ALPHA_MODES or (mode == "P" and "transparency" in mask.info):
            a = np.asarray(mask.convert("RGBA"))
        elif mode in ("1", "L", "I", "F") or mode.startswith("I;16"):
            a = np.asarray(mask)
        else:  # palette without transparency, RGB, CMYK, …: what the mask looks like
            a = np.asarray(mask.convert("RGB"))
    elif isinstance(mask, np.ndarray):
        a = mask
        if not (a.ndim == 2 or (a.ndim == 3 and 1 <= a.shape[2] <= 4)) or 0 in a.shape[:2]:
            raise InpaintInputError(
                f"mask array has shape {a.shape}: expected H×W or H×W×C (C ≤ 4, alpha last for 2 and 4)"
            )
    else:
        raise InpaintInputError(f"mask must be a PIL image or a numpy array, got {type(mask).__name__}")
    if a.ndim == 2:
        return a != 0
    if a.shape[2] in (2, 4):
        return (a[..., :-1] != 0).any(axis=2) & (a[..., -1] != 0)
    return (a != 0).any(axis=2)


def _fill(pic: Picture, hole: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Compose in integer space: generated values (H×W×3 float in [0, 255]) in the hole, the input
    elsewhere."""
    c, dtype = pic.pixels.shape[2], pic.pixels.dtype
    top = 65535.0 if dtype == np.uint16 else 255.0
    colour = generated if c >= 3 else (generated @ np.asarray(_LUMA, dtype=generated.dtype))[..., None]
    colour = np.clip(np.rint(colour * (top / 255.0)), 0, top)
    if c in (2, 4):  # filled pixels are opaque
        colour = np.concatenate([colour, np.full(colour.shape[:2] + (1,), top, colour.dtype)], axis=2)
    return np.where(hole[..., None], colour.astype(dtype), pic.pixels)


# ---------------------------------------------------------------------------------------------- network
def _generator(model: Any) -> Any:
    gen = getattr(model, "generator", None)  # an InpaintingModule: use its generator
    return gen if gen is not None and hasattr(gen, "forward") and hasattr(model, "training_step") else model


def pad_multiple(model: Any, coarse_scale: float = 1.0) -> int:
    """Height and width are padded to a multiple of this: the generator's ``size_multiple`` and, when the
    coarse network runs at ``coarse_scale``, whatever makes that size an exact multiple of its own (4)."""
    m = int(getattr(_generator(model), "size_multiple", 1))
    k = COARSE_MULTIPLE / coarse_scale
    if coarse_scale != 1.0 and abs(k - round(k)) < 1e-9:
        m = math.lcm(m, round(k))
    return m


def least_size(model: Any, coarse_scale: float = 1.0) -> int:
    """The smallest height/width the network runs at: with mirror-padded convs (DeepFill v1's paper padding,
    ``padding="reflect"``) the 1/4-scale maps must be wider than the largest dilation (16), in the coarse
    network at ``coarse_scale`` too; other paddings have no minimum."""
    gen = _generator(model)
    if getattr(gen, "padding", None) != "reflect":
        return 1
    from inpaintlab.models.coarse_to_fine import COARSE_BOTTLENECK, HALLUCINATION

    dilation = max(spec[4] for spec in COARSE_BOTTLENECK + HALLUCINATION)
    return math.ceil(4 * (dilation + 1) / coarse_scale)


def _pad(x, ph: int, pw: int):
    import torch.nn.functional as F

    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _out_act(gen: Any, x):
    import torch

    act = getattr(gen, "out_act", "tanh")
    if act == "tanh":
        return torch.tanh(x)
    if act == "clip":
        return x.clamp(-1.0, 1.0)
    return x


def coarse_to_fine(gen: Any, masked, mask, coarse_scale: float = 1.0) -> dict:
    """``CoarseToFineGenerator.forward`` with the coarse network at ``coarse_scale`` of the input size.

    CR-Fill Sec. 5.1 ("High-resolution inpainting", ``coarse_scale=0.5``): the coarse network sees an
    area-averaged copy of the masked image (a small pixel is a hole if any pixel under it is) and its output
    is interpolated back bilinearly before the refinement network. ``coarse_scale=1`` is the generator's own
    forward. Inputs: B×C×H×W masked image and B×1×H×W mask (1 = hole), H and W multiples of
    ``pad_multiple(gen, coarse_scale)``; returns ``{"output", "coarse"}`` (coarse at full size)."""
    import torch
    import torch.nn.functional as F

    if not 0.0 < coarse_scale <= 1.0:
        raise ConfigError(f"coarse_scale must be in (0, 1], got {coarse_scale}")
    if coarse_scale == 1.0:
        return gen(masked, mask)
    if not (hasattr(gen, "coarse") and hasattr(gen, "refine")):
        raise ConfigError(
            f"{type(gen).__name__} has no coarse/refine networks: a reduced coarse scale needs a "
            "coarse-to-fine "
            "generator (deepfill_v1, deepfill_v2, crfill)"
        )
    h, w = masked.shape[-2:]
    hs = max(COARSE_MULTIPLE, round(h * coarse_scale / COARSE_MULTIPLE) * COARSE_MULTIPLE)
    ws = max(COARSE_MULTIPLE, round(w * coarse_scale / COARSE_MULTIPLE) * COARSE_MULTIPLE)
    mask = mask.to(masked.dtype)
    small_mask = (F.interpolate(mask, size=(hs, ws), mode="area") > 0).to(masked.dtype)
    small = F.interpolate(masked, size=(hs, ws), mode="area") * (1.0 - small_mask)
    ones = torch.ones_like(small_mask)
    coarse_small = _out_act(gen, gen.coarse(torch.cat([small, ones, small_mask], dim=1)))
    coarse = F.interpolate(coarse_small, size=(h, w), mode="bilinear", align_corners=False)
    pasted = coarse * mask + masked * (1.0 - mask)
    if getattr(gen, "refine_with_mask", False):
        pasted = torch.cat([pasted, torch.ones_like(mask), mask], dim=1)
    raw, _ = gen.refine(pasted, mask)
    return {"output": _out_act(gen, raw), "coarse": coarse}


def generate(model: Any, image, mask, coarse_scale: float = 1.0):
    """Raw generator output (B×3×H×W in [-1, 1], before compositing) for any H×W: the masked image and the
    mask are mirror-padded together to ``pad_multiple`` (and at least ``least_size``), the output cropped
    back. ``image`` B×3×H×W in [-1, 1], ``mask`` B×1×H×W (1 = hole); runs without autograd on the model's
    device."""
    import torch

    gen = _generator(model)
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
    param = next(gen.parameters(), None)
    device = param.device if param is not None else image.device
    h, w = image.shape[-2:]
    m, least = pad_multiple(gen, coarse_scale), least_size(gen, coarse_scale)
    ph, pw = (max(n, least) + (-max(n, least) % m) - n for n in (h, w))
    was_training = gen.training
    gen.eval()
    try:
        with torch.inference_mode():
            mask = mask.to(device=device, dtype=torch.float32)
            masked = image.to(device=device, dtype=torch.float32) * (1.0 - mask)
            out = coarse_to_fine(gen, _pad(masked, ph, pw), _pad(mask, ph, pw), coarse_scale)["output"]
            out = out[..., :h, :w].clone()
    finally:
        gen.train(was_training)
    return out


def inpaint(
    model: Any, image: Any, mask: Any, *, coarse_scale: float = 1.0, keep_layout: bool = True
) -> np.ndarray:
    """Fill the holes of ``image`` (PIL image or uint8/uint16 array) where ``mask`` is non-zero; known pixels
    are returned bit for bit. ``model``: a generator (``pretrained.load``) or an ``InpaintingModule``.

    Returns an array in the input's layout (H×W grey, H×W×2 grey + alpha, H×W×3 RGB, H×W×4 RGBA; uint8, or
    uint16 for 16-bit input; palette → RGB(A)), or 8-bit H×W×3 RGB with ``keep_layout=False``.
    ``coarse_scale=0.5`` is CR-Fill's high-resolution mode."""
    pic = read_picture(image, keep_layout)
    hole = read_mask(mask)
    check_sizes(pic.size, hole.shape[::-1])
    out = fill(model, pic, hole, coarse_scale)
    return out[..., 0] if pic.squeeze else out


def check_sizes(
    image_size: tuple[int, int],
    mask_size: tuple[int, int],
    image_name: str = "image",
    mask_name: str = "mask",
    hint: str = "",
) -> None:
    if tuple(image_size) != tuple(mask_size):
        raise InpaintInputError(
            f"mask {mask_name} is {mask_size[0]}×{mask_size[1]} but image {image_name} is "
            f"{image_size[0]}×{image_size[1]} (width×height); masks are not resized — give a mask of "
            f"the image's size{hint}"
        )


def fill(model: Any, pic: Picture, hole: np.ndarray, coarse_scale: float = 1.0) -> np.ndarray:
    """H×W×C pixels of ``pic`` with the ``hole`` (H×W bool) filled by ``model``."""
    import torch

    if not hole.any():
        return pic.pixels.copy()
    x = torch.from_numpy(pic.rgb).permute(2, 0, 1)[None].float().div_(127.5).sub_(1.0)  # as data.transforms
    m = torch.from_numpy(hole)[None, None].float()
    out = generate(model, x, m, coarse_scale)[0]
    generated = out.float().add(1.0).mul(127.5).permute(1, 2, 0).cpu().numpy()
    return _fill(pic, hole, generated)


# ---------------------------------------------------------------------------------------------- weights
def find_run_config(ckpt: Path) -> Path | None:
    """The config.yaml of the training run that wrote ``ckpt`` (<run>/checkpoints/x.ckpt), if any."""
    for parent in (ckpt.parent, ckpt.parent.parent):
        if (parent / "config.yaml").is_file():
            return parent / "config.yaml"
    return None


def run_config_args(config: Path, model: str) -> dict[str, Any]:
    """Constructor arguments of the run's ``model.generator`` node, for ``VARIANTS[model](**args)``."""
    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.to_container(OmegaConf.load(config), resolve=True)
    except Exception as e:  # noqa: BLE001 - any parse/resolve problem means "unusable", said in one line
        raise InpaintInputError(f"cannot read the run config {config}: {e} (pass --no-run-config to skip it)") from e
    node = (cfg.get("model") or {}).get("generator") if isinstance(cfg, dict) else None
    if not isinstance(node, dict) or "_target_" not in node:
        raise InpaintInputError(
            f"{config} has no model.generator node with a _target_ (pass --no-run-config to skip it)"
        )
    target = str(node["_target_"])
    module, _, name = target.rpartition(".")
    if module != "inpaintlab.models.coarse_to_fine" or name not in (*MODELS, "CoarseToFineGenerator"):
        raise InpaintInputError(
            f"the checkpoint's run trained {target}, which inpaintlab-inpaint does not run "
            f"(it runs {', '.join(MODELS)}); see {config}"
        )
    if name in MODELS and name != model:
        raise InpaintInputError(
            f"the checkpoint's run trained {name} (see {config}); run with --model {name}"
        )
    return {k: v for k, v in node.items() if not k.startswith("_") and k not in _TRAINING_ONLY_ARGS}


def parse_model_args(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` (value as YAML, dotted keys nest) → constructor overrides."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--model-arg expects KEY=VALUE (e.g. cnum=48), got {item!r}")
        try:
            parsed = yaml.safe_load(value) if value else None
        except yaml.YAMLError as e:
            raise ConfigError(f"--model-arg {item!r}: value is not valid YAML ({e})") from None
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--model-arg {item!r} conflicts with an earlier value of {p!r}")
        node[leaf] = parsed
    return out


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_model(
    model: str,
    weights: str | Path,
    device: str = "cpu",
    trusted: bool = False,
    model_args: Mapping[str, Any] | None = None,
    use_run_config: bool = True,
) -> Any:
    """The ``model`` generator with ``weights`` loaded, in eval mode on ``device``; user errors in one
    line."""
    from inpaintlab import pretrained

    weights = Path(weights)
    if not weights.is_file():
        raise InpaintInputError(f"no weights file at {weights}")
    args: dict[str, Any] = {}
    config = find_run_config(weights) if use_run_config and weights.suffix == ".ckpt" else None
    if config is not None:
        args = run_config_args(config, model)
    args = _merge(args, model_args or {})
    _sniff_weights(weights)
    try:
        return pretrained.load(model, weights, device=device, trusted=trusted, **args)
    except Exception as e:  # noqa: BLE001 - whatever a foreign file or a bad --model-arg raises: one line
        msg = " ".join(str(e).split()) or type(e).__name__
        if not isinstance(e, (ValueError, TypeError, FileNotFoundError)):
            msg = f"{type(e).__name__}: {msg}"
        if "trusted=True" in msg:
            msg = msg.replace("pass trusted=True", "pass --trust-checkpoint")
            msg += " (un-pickling can run arbitrary code)"
        raise InpaintInputError(f"cannot load {weights} as {model}: {msg}") from None


def _sniff_weights(path: Path) -> None:
    """Reject files that are neither torch.save output (a zip archive, or the legacy pickle stream) nor .npz,
    before torch.load reports them as "Python objects a safe load refuses"."""
    import zipfile

    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError as e:
        raise InpaintInputError(f"cannot read weights {path}: {e}") from None
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):  # pickle protocol ≥ 2 starts with PROTO 0x80
        raise InpaintInputError(
            f"{path} is not a weights file: expected a torch.save checkpoint (.pth/.pt/.ckpt) or an .npz of "
            "TF variables"
        )


def pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return name


# ---------------------------------------------------------------------------------------------- files
def _image_files(folder: Path) -> list[Path]:
    from inpaintlab.data.transforms import IMAGE_EXTENSIONS

    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _by_stem(files: list[Path], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in files:
        if p.stem in out:
            raise InpaintInputError(
                f"two {what} files share the stem {p.stem!r}: {out[p.stem].name}, {p.name}"
            )
        out[p.stem] = p
    return out


def pair_files(image: Path, mask: Path, out: Path) -> list[tuple[Path, Path, Path]]:
    """(image, mask, output) triples: one for files, or one per stem for folders (error on unpaired files)."""
    for p, what in ((image, "--image"), (mask, "--mask")):
        if not p.exists():
            raise InpaintInputError(f"{what} {p} does not exist")
    if image.is_dir() != mask.is_dir():
        raise InpaintInputError(f"--image {image} and --mask {mask} must both be files or both be folders")
    if not image.is_dir():
        if out.is_dir():
            raise InpaintInputError(
                f"--out {out} is a folder: give the output file name (e.g. {out / (image.stem + '.png')})"
            )
        return [(image, mask, out)]
    if out.exists() and not out.is_dir():
        raise InpaintInputError(f"--out {out} is a file: folder mode writes into a folder")
    if out.exists() and any(out.samefile(d) for d in (image, mask)):
        raise InpaintInputError(f"--out {out} is an input folder: write the results to another folder")
    images, masks = _by_stem(_image_files(image), "image"), _by_stem(_image_files(mask), "mask")
    if not images:
        raise InpaintInputError(f"no image files in {image}")
    lonely_images = sorted(set(images) - set(masks))
    lonely_masks = sorted(set(masks) - set(images))
    if lonely_images or lonely_masks:
        parts = []
        if lonely_images:
            parts.append(
                f"images without a mask in {mask}: {', '.join(images[s].name for s in lonely_images)}"
            )
        if lonely_masks:
            parts.append(
                f"masks without an image in {image}: {', '.join(masks[s].name for s in lonely_masks)}"
            )
        raise InpaintInputError("unpaired files (pairs share a file stem) — " + "; ".join(parts))
    return [(images[s], masks[s], out / f"{s}.png") for s in sorted(images)]


def _open(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except FileNotFoundError:
        raise InpaintInputError(f"{what} {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise InpaintInputError(f"cannot read {what} {path}: {e}") from None


def _load(path: Path, what: str):
    img = _open(path, what)
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise InpaintInputError(f"cannot decode {what} {path}: {e}") from None
    return img


def _exif_hint(img: Any) -> str:
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the hint
        return ""
    if orientation in (5, 6, 7, 8):
        return " (the image has an EXIF rotation tag: the mask may have been drawn on the rotated view)"
    return ""


def _save_format(out: Path) -> str:
    from PIL import Image

    ext = out.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise InpaintInputError(f"--out {out}: cannot write {ext or 'files without an extension'}; use .png")
    return fmt


def check_jobs(jobs: list[tuple[Path, Path, Path]], overwrite: bool, keep_layout: bool) -> list[str]:
    """Everything that can be checked before the model loads; returns warnings."""
    warnings: list[str] = []
    existing = []
    inputs = [p.resolve() for job in jobs for p in job[:2]]
    for image, mask, out in jobs:
        if out.resolve() in inputs:
            raise InpaintInputError(f"--out {out} is an input file; inputs are never overwritten")
        if out.exists():
            existing.append(out)
        fmt = _save_format(out)
        im, mk = _open(image, "image"), _open(mask, "mask")
        with im, mk:
            check_sizes(im.size, mk.size, str(image), str(mask), _exif_hint(im))
            if (
                keep_layout
                and fmt == "JPEG"
                and (im.mode in _ALPHA_MODES or im.mode.startswith("I") or "transparency" in im.info)
            ):
                raise InpaintInputError(
                    f"--out {out}: JPEG cannot store the {im.mode} image's alpha or 16 bits; "
                    "write .png or pass --rgb"
                )
            if mk.format == "JPEG":
                warnings.append(
                    f"mask {mask} is a JPEG: compression noise makes near-black pixels non-zero, i.e. holes; "
                    "save masks as PNG"
                )
        if out.suffix.lower() in _LOSSY:
            warnings.append(
                f"{out} is a lossy format: its known pixels will not equal the input exactly; use .png"
            )
    if existing and not overwrite:
        names = ", ".join(str(p) for p in existing[:5]) + (" …" if len(existing) > 5 else "")
        raise InpaintInputError(
            f"{len(existing)} output file(s) exist ({names}); pass --overwrite to replace them"
        )
    return warnings


def write_image(pixels: np.ndarray, out: Path, icc_profile: bytes | None = None) -> None:
    """Write an H×W×C uint8/uint16 array atomically (temporary file in the same folder, then rename)."""
    from PIL import Image

    fmt = _save_format(out)
    arr = pixels[..., 0] if pixels.shape[2] == 1 else pixels
    if arr.dtype == np.uint16 and arr.ndim != 2:
        raise InpaintInputError(
            f"cannot write {out}: 16-bit colour images are not supported by PIL; use --rgb"
        )
    img = Image.fromarray(np.ascontiguousarray(arr))
    kwargs: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if icc_profile and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = icc_profile
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, format=fmt, **kwargs)
        os.replace(tmp, out)
    except OSError as e:
        raise InpaintInputError(f"cannot write {out}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="inpaintlab-inpaint",
        description="Fill the holes of images with DeepFill v1/v2 or CR-Fill weights (released or trained). "
        "Known pixels are kept bit for bit; any image size; masks: non-zero = hole, same size as the image. "
        "Give --image/--mask/--out as files, or as folders (pairs matched by file stem, results "
        "<out>/<stem>.png).",
    )
    ap.add_argument("--model", required=True, choices=MODELS, help="generator architecture")
    ap.add_argument(
        "--weights",
        required=True,
        type=Path,
        help="released weights (.pth/.pt/.npz) or one of our Lightning checkpoints (.ckpt)",
    )
    ap.add_argument("--image", required=True, type=Path, help="image file, or folder of images")
    ap.add_argument(
        "--mask", required=True, type=Path, help="mask file (non-zero = hole), or folder of masks"
    )
    ap.add_argument("--out", required=True, type=Path, help="output file, or output folder in folder mode")
    ap.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto (cuda if available)"
    )
    ap.add_argument(
        "--highres",
        action="store_true",
        help="CR-Fill's high-resolution mode: the coarse network at half size (= --coarse-scale 0.5)",
    )
    ap.add_argument(
        "--coarse-scale",
        type=float,
        default=None,
        metavar="S",
        help="run the coarse network at S × the input size, 0 < S ≤ 1 (default 1)",
    )
    ap.add_argument(
        "--rgb",
        action="store_true",
        help="write 8-bit RGB (alpha composited over white) instead of the input's layout "
        "(grey, 16-bit, alpha kept)",
    )
    ap.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow un-pickling Python objects in --weights (only for files you trust: it can run code)",
    )
    ap.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generator constructor argument (YAML value, dotted keys nest), e.g. cnum=48 or "
        "attention_kwargs.official_compat=true; repeatable",
    )
    ap.add_argument(
        "--no-run-config",
        action="store_true",
        help="ignore the training run's config.yaml beside a .ckpt (its generator arguments)",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace existing output files")
    ap.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    return ap.parse_args(argv)


def _coarse_scale(args: argparse.Namespace) -> float:
    scale = args.coarse_scale
    if args.highres:
        if scale is not None and scale != 0.5:
            raise ConfigError(f"--highres means --coarse-scale 0.5; got --coarse-scale {scale} as well")
        scale = 0.5
    scale = 1.0 if scale is None else float(scale)
    if not (0.0 < scale <= 1.0) or not math.isfinite(scale):
        raise ConfigError(f"--coarse-scale must be in (0, 1], got {scale}")
    return scale


def run(args: argparse.Namespace) -> int:
    scale = _coarse_scale(args)
    model_args = parse_model_args(args.model_arg)
    device = pick_device(args.device)
    jobs = pair_files(args.image, args.mask, args.out)
    for w in check_jobs(jobs, args.overwrite, keep_layout=not args.rgb):
        print(f"inpaintlab-inpaint: warning: {w}", file=sys.stderr)
    say = (lambda *_: None) if args.quiet else print

    t0 = time.perf_counter()
    gen = load_model(
        args.model, args.weights, device, args.trust_checkpoint, model_args, not args.no_run_config
    )
    say(
        f"{args.model}: {args.weights} on {device} ({time.perf_counter() - t0:.1f} s)"
        + (f", coarse network at {scale:g}× size" if scale != 1.0 else "")
    )
    import torch

    for image_path, mask_path, out_path in jobs:
        t = time.perf_counter()
        img = _load(image_path, "image")
        mk = _load(mask_path, "mask")
        pic = read_picture(img, keep_layout=not args.rgb)
        try:
            hole = read_mask(mk)
        except InpaintInputError as e:
            raise InpaintInputError(f"mask {mask_path}: {e}") from None
        check_sizes(pic.size, hole.shape[::-1], str(image_path), str(mask_path), _exif_hint(img))
        if not hole.any():
            print(
                f"inpaintlab-inpaint: warning: mask {mask_path} has no hole pixels (non-zero = hole); "
                "the output equals the input",
                file=sys.stderr,
            )
        try:
            out = fill(gen, pic, hole, scale)
        except torch.OutOfMemoryError:
            raise InpaintInputError(
                f"out of memory on {device} for {image_path} ({pic.size[0]}×{pic.size[1]}): try --highres, "
                "--device cpu or a smaller image"
            ) from None
        icc = img.info.get("icc_profile") if pic.colour_kept and not args.rgb else None
        write_image(out, out_path, icc)
        say(
            f"{image_path} → {out_path}  {pic.size[0]}×{pic.size[1]}, hole {hole.mean():.1%}, "
            f"{time.perf_counter() - t:.2f} s"
        )
        img.close()
        mk.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of("inpaintlab-inpaint", run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""``Inpainter``: fill holes with any trained model of the package — the one object behind ``inpaintlab-inpaint``,
``inpaintlab-eval`` and the Python API.

    from inpaintlab import Inpainter
    painter = Inpainter.from_checkpoint("outputs/.../checkpoints/last.ckpt")       # any experiment's checkpoint
    painter = Inpainter.from_pretrained("crfill/places2")                         # downloaded once, cached
    painter = Inpainter.from_pretrained("crfill", "crfill.pth", coarse_scale=0.5)  # a weights file you have
    out = painter.fill(Image.open("photo.jpg"), Image.open("hole.png"))           # uint8/uint16 array
    composite = painter.fill_tensor(image, mask)                                   # [-1, 1] tensors, any size

The generator's adapter (``inference.adapters``) knows its input convention, size multiple or native size and
the method's extra steps; its ``options`` are the keyword arguments here and ``--option key=value`` on the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from inpaintlab.conventions import from_uint8, to_pixel_values
from inpaintlab.inference.adapters import Adapter, adapter_for
from inpaintlab.inference.loading import LoadedModel, load_model
from inpaintlab.inference.memory import available_bytes
from inpaintlab.inference.pictures import Picture, as_displayed, check_sizes, compose, read_mask, read_picture
from inpaintlab.inference.sizing import (
    FillPlan,
    check_batch,
    composite_any_size,
    composite_planned,
    fill_any_size,
    plan_fill,
)


def unwrap(model: Any) -> Any:
    """An ``InpaintingModule``'s generator; anything else as it is."""
    gen = getattr(model, "generator", None)
    return gen if gen is not None and hasattr(gen, "forward") and hasattr(model, "training_step") else model


class Inpainter:
    """A generator (and, for methods that need it, its critic) with its adapter, ready to fill pictures."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module | None = None,
        *,
        device: str | torch.device | None = None,
        name: str = "",
        **options: Any,
    ) -> None:
        if discriminator is None and hasattr(generator, "training_step"):
            discriminator = getattr(generator, "discriminator", None)
        generator = unwrap(generator)
        if device is not None:
            generator = generator.to(device)
            discriminator = discriminator.to(device) if discriminator is not None else None
        self.generator, self.discriminator, self.name = generator, discriminator, name or type(generator).__name__
        self.adapter: Adapter = adapter_for(generator, discriminator, **options)

    # ------------------------------------------------------------------ construction
    @classmethod
    def _from_loaded(cls, loaded: LoadedModel, options: Mapping[str, Any]) -> Inpainter:
        return cls(loaded.generator, loaded.discriminator, name=loaded.name, **{**loaded.options, **options})

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device = "cpu",
        *,
        model: str | None = None,
        trusted: bool = False,
        model_args: Mapping[str, Any] | None = None,
        use_run_config: bool = True,
        **options: Any,
    ) -> Inpainter:
        """Any checkpoint ``inpaintlab-train`` wrote (the model config stored inside it rebuilds the
        architecture), or released weights when ``model`` names them. ``options``: the adapter's options
        (stored inference options of the run are the defaults)."""
        return cls._from_loaded(load_model(model, path, str(device), trusted, model_args, use_run_config), options)

    @classmethod
    def from_pretrained(
        cls,
        name: str,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        *,
        trusted: bool = False,
        model_args: Mapping[str, Any] | None = None,
        quiet: bool = False,
        **options: Any,
    ) -> Inpainter:
        """Released weights by name. A registered release (``inpaintlab.inference.registry``:
        ``"crfill/places2"``, ``inpaintlab-weights list``) without ``path`` is downloaded once into torch's hub
        cache (checked, unpacked) and run with its options; with ``path``, that file is read as the release's
        method. A method name (``inpaintlab.pretrained.names()``: deepfill_v1, deepfill_v2, crfill, …) needs the
        ``path``; our own checkpoints load too."""
        from inpaintlab.inference import registry

        if registry.is_release(name):
            rel = registry.release(name)
            weights = registry.fetch(name, quiet=quiet) if path is None else path
            loaded = load_model(rel.method, weights, str(device), trusted, model_args, True)
            loaded.name = name
            return cls._from_loaded(loaded, {**rel.options, **options})
        if path is None:
            raise registry.WeightsError(f"{name!r} is not a released-weights name ({', '.join(registry.releases())}"
                                        "); a method name needs the weights file: from_pretrained(name, path)")
        return cls._from_loaded(load_model(name, path, str(device), trusted, model_args, True), options)

    # ------------------------------------------------------------------ filling
    @property
    def device(self) -> torch.device:
        param = next(self.generator.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @contextmanager
    def _evaluating(self) -> Iterator[None]:
        """The networks in eval mode, without autograd (not inference_mode: per-image optimisation — Yeh —
        re-enables autograd inside); their modes are restored after."""
        nets = [n for n in (self.generator, self.discriminator) if n is not None]
        modes = [n.training for n in nets]
        for n in nets:
            n.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for n, mode in zip(nets, modes):
                n.train(mode)

    def _run(self, fn, image: Tensor, mask: Tensor) -> Tensor:
        check_batch(image, mask)
        with self._evaluating():
            mask = mask.to(device=self.device, dtype=torch.float32)
            image = image.to(device=self.device, dtype=torch.float32)
            return fn(self.adapter, image, mask)

    def plan(
        self, hole: np.ndarray, budget: int | None = None, *, tile: int | str = "auto", max_side: int | None = None,
        picture_bytes_per_pixel: float = 16.0,
    ) -> FillPlan:
        """How a picture with this H×W ``hole`` map is filled within ``budget`` bytes (default: the memory the
        model's device has available now, ``inference.memory``): whole, in tiles or at a reduced size
        (``inference.sizing.plan_fill``); a one-line ``ConfigError`` when it cannot be. Runs the network once on
        a small probe to measure its bytes per pixel."""
        budget = available_bytes(self.device) if budget is None else int(budget)
        with self._evaluating():
            return plan_fill(self.adapter, hole, budget, tile=tile, max_side=max_side, device=self.device,
                             picture_bytes_per_pixel=picture_bytes_per_pixel)

    def generate(self, image: Tensor, mask: Tensor) -> Tensor:
        """The raw fill (before compositing) of B×C×H×W ``image`` in [-1, 1] with B×1×H×W ``mask`` (1 = hole),
        any H×W."""
        return self._run(fill_any_size, image, mask)

    def fill_tensor(self, image: Tensor, mask: Tensor) -> Tensor:
        """The composite in [-1, 1]: generated pixels (post-processed where the method does) in the hole, every
        known pixel exactly as given. Any H×W; runs without autograd on the model's device."""
        return self._run(composite_any_size, image, mask)

    def fill_picture(
        self, pic: Picture, hole: np.ndarray, plan: FillPlan | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """H×W×C pixels of ``pic`` with the ``hole`` (H×W bool) filled, composed in integer space; ``plan``
        (``Inpainter.plan``) for large pictures, ``progress(done, total)`` told after each tile."""
        if not hole.any():
            return pic.pixels.copy()
        x = from_uint8(torch.from_numpy(pic.rgb).permute(2, 0, 1)[None].to(self.device))  # one float copy
        m = torch.from_numpy(hole)[None, None].to(self.device, torch.float32)
        out = self._run(lambda a, i, k: composite_planned(a, i, k, plan, progress), x, m)[0]
        del x, m
        generated = to_pixel_values(out).permute(1, 2, 0).cpu().numpy()
        del out
        return compose(pic, hole, generated)

    def fill(self, image: Any, mask: Any, *, keep_layout: bool = True) -> np.ndarray:
        """Fill the holes of ``image`` (PIL image or uint8/uint16 array) where ``mask`` marks them (the one mask
        rule, ``data.masks.reading``: half way to full scale, 0/1 masks, the alpha when it alone varies); known pixels
        are returned bit for bit, in the input's layout (H×W grey, H×W×2, H×W×3, H×W×4; uint8, or uint16 for
        16-bit input; palette → RGB(A)), or 8-bit H×W×3 RGB with ``keep_layout=False``. PIL images are taken as
        displayed: their EXIF orientation is applied (the caller's image is not changed)."""
        pic = read_picture(as_displayed(image), keep_layout)
        hole = read_mask(as_displayed(mask))
        check_sizes(pic.size, hole.shape[::-1])
        out = self.fill_picture(pic, hole)
        return out[..., 0] if pic.squeeze else out

    def __repr__(self) -> str:
        return f"Inpainter({self.name}, {type(self.adapter).__name__}, options={self.adapter.settings})"

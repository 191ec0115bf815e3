"""How the one inference interface runs each family of generators: a small adapter per family.

The ``Inpainter`` (``inpaintlab.inference``) owns everything common — picture and mask I/O, size handling
(pad to ``size_multiple`` for fully convolutional nets, resize–fill–paste for nets with a ``native_size``),
compositing (known pixels bit-exact) — and asks the generator's adapter only to *fill* a batch at the network's
working size and, optionally, to *post-process* the composite (GLCIC's blending) or to search per image (Yeh).

A family registers its adapter next to its model::

    @register_adapter(MyGenerator)
    class MyAdapter(Adapter):
        options = {"steps": (1500, "latent-search iterations")}
        def fill(self, image, mask): ...

Generators without a registered adapter use ``Adapter``: ``generator(image·(1−mask), mask)`` → ``"output"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from inpaintlab.conventions import composite
from inpaintlab.errors import ConfigError

_REGISTRY: dict[type, type[Adapter]] = {}


class Adapter:
    """Runs one generator at its working size. Images are B×C×H×W in [-1, 1], masks B×1×H×W with 1 = hole.

    ``size_multiple`` / ``native_size`` come from the generator's attributes of those names unless a subclass
    overrides them. ``options`` maps each per-method knob to ``(default, help)``; the CLI (``--option k=v``),
    the web app and ``Inpainter(..., **options)`` expose them by these names.
    """

    options: ClassVar[Mapping[str, tuple[Any, str]]] = {}
    needs_discriminator: ClassVar[bool] = False  # Yeh's prior loss reads the critic

    def __init__(self, generator: nn.Module, discriminator: nn.Module | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ConfigError(f"unknown inference option(s) {unknown} for {type(generator).__name__}; known: {known}")
        if self.needs_discriminator and discriminator is None:
            raise ConfigError(f"{type(self).__name__} needs the trained discriminator: load a checkpoint that has one")
        self.generator = generator
        self.discriminator = discriminator
        self.settings = {k: options.get(k, default) for k, (default, _) in self.options.items()}
        # True while the caller keeps only the hole pixels of ``fill`` (see ``compositing``)
        self.composited = False

    @contextmanager
    def compositing(self) -> Iterator[Adapter]:
        """Inside: ``fill``'s output is used only inside the hole, so a family may skip work whose result can
        reach no hole pixel (DeepFill's contextual attention restricted to the hole's receptive field)."""
        before, self.composited = self.composited, True
        try:
            yield self
        finally:
            self.composited = before

    @property
    def size_multiple(self) -> int:
        return int(getattr(self.generator, "size_multiple", 1))

    @property
    def native_size(self) -> tuple[int, int] | None:
        size = getattr(self.generator, "native_size", None)
        if size is None:
            return None
        return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def min_size(self) -> int:
        """Smallest height/width the network runs at (inputs are mirror-padded up to it); 1 = no minimum."""
        return int(getattr(self.generator, "min_size", 1))

    @property
    def channels(self) -> int:
        """Image channels the generator works on: its ``image_channels``, ``channels`` or ``in_channels`` attribute."""
        for name in ("image_channels", "channels", "in_channels"):
            if hasattr(self.generator, name):
                return int(getattr(self.generator, name))
        return 3

    @property
    def fill_is_forward(self) -> bool:
        """Whether ``fill`` equals the training module's ``generator_forward(...)["output"]`` (evaluation then
        reuses that output instead of running the generator twice). True only for the plain ``fill``."""
        return type(self).fill is Adapter.fill

    def fill(self, image: Tensor, mask: Tensor) -> Tensor:
        """The generator's full-size output for ``image`` (hole content ignored) — before compositing."""
        out = self.generator(image * (1.0 - mask), mask)
        return out["output"] if isinstance(out, Mapping) else out

    def postprocess(self, image: Tensor, mask: Tensor, composite: Tensor) -> Tensor:
        """Method-specific step on the composite (identity here; GLCIC blends). Known pixels are re-imposed after."""
        return composite


def register_adapter(generator_cls: type) -> Any:
    """Class decorator: ``generator_cls`` (and its subclasses) run through the decorated adapter."""

    def deco(adapter_cls: type[Adapter]) -> type[Adapter]:
        _REGISTRY[generator_cls] = adapter_cls
        return adapter_cls

    return deco


def adapter_class(generator: nn.Module) -> type[Adapter]:
    """The adapter registered for the generator's class or its nearest base class; ``Adapter`` otherwise."""
    for cls in type(generator).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls]
    return Adapter


def adapter_for(generator: nn.Module, discriminator: nn.Module | None = None, **options: Any) -> Adapter:
    return adapter_class(generator)(generator, discriminator, **options)


@torch.no_grad()
def fill_composite(adapter: Adapter, image: Tensor, mask: Tensor,
                   fill: Callable[[Adapter, Tensor, Tensor], Tensor] | None = None) -> Tensor:
    """fill → composite → postprocess → composite: the filled image with every known pixel as given. ``fill``:
    the raw fill (default ``adapter.fill`` at the adapter's own size; ``inference.sizing.fill_planned``)."""
    with adapter.compositing():
        filled = adapter.fill(image, mask) if fill is None else fill(adapter, image, mask)
    out = adapter.postprocess(image, mask, _composite(filled, image, mask))
    return _composite(out, image, mask)


def _composite(out: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """``conventions.composite``; without autograd formed in place in ``out`` (exact for a binary mask: known
    pixels are the image's, hole pixels the fill's), so that a large picture holds one output rather than three."""
    autograd = torch.is_grad_enabled() and (out.requires_grad or image.requires_grad)
    shared = any(out.untyped_storage().data_ptr() == t.untyped_storage().data_ptr() for t in (image, mask))
    if autograd or shared or not out.is_contiguous() or out.shape != image.shape or out.dtype != image.dtype:
        return composite(out, image, mask)  # a view or an alias of the inputs is never written over
    return out.mul_(mask).addcmul_(image, 1.0 - mask)

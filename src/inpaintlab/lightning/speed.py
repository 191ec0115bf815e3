"""``model.channels_last`` and ``model.compile``, applied in place to a training module's networks
(``InpaintingModule.configure_model``; docs/performance.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


def _to_channels_last(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: 4-D tensor inputs in NHWC memory format, whoever calls the net."""
    return tuple(a.contiguous(memory_format=torch.channels_last) if isinstance(a, Tensor) and a.dim() == 4 else a
                 for a in args)


def apply_speed_options(nets: Mapping[str, nn.Module], channels_last: bool = False,
                        compile_options: Mapping[str, Any] | None = None, eager: Mapping[str, str] | None = None) -> None:
    """NHWC weights and inputs (``channels_last``) and ``torch.compile`` in place (``compile_options``: its keyword
    arguments; None: eager) for every net by name; ``eager`` names the nets that are not compiled, with why. State-dict
    keys stay the same. Each net is converted and compiled once, however often this is called (fit, then test)."""
    eager = eager or {}
    for name, m in nets.items():
        if channels_last and not getattr(m, "_inpaintlab_channels_last", False):
            m.to(memory_format=torch.channels_last)
            m.register_forward_pre_hook(_to_channels_last)
            m._inpaintlab_channels_last = True
        if compile_options is None or getattr(m, "_inpaintlab_compile_done", False):
            continue
        if name in eager:
            log.info("model.compile: the %s stays eager (%s)", name, eager[name])
        else:
            m.compile(**compile_options)
        m._inpaintlab_compile_done = True

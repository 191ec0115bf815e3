"""LightningModules: one base InpaintingModule, papers subclass it with small hooks.

The modules load on first use (PEP 562): ``inpaintlab.lightning.phases`` — the phase schedule that configs and
the comparison's step resolver need — imports without Lightning (~4 s of imports)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inpaintlab.conventions import composite  # re-exported: the one composite
from inpaintlab.lightning.phases import Phase, PhaseSchedule

if TYPE_CHECKING:
    from inpaintlab.lightning.btgmi_guided_module import GuidedBTGMIModule
    from inpaintlab.lightning.btgmi_module import BTGMIModule
    from inpaintlab.lightning.crfill_module import CRFillModule
    from inpaintlab.lightning.glcic_module import GLCICModule
    from inpaintlab.lightning.inpainting_module import InpaintingModule
    from inpaintlab.lightning.latent_prior_module import LatentPriorModule

_MODULES = {
    "GuidedBTGMIModule": "btgmi_guided_module", "BTGMIModule": "btgmi_module", "CRFillModule": "crfill_module",
    "GLCICModule": "glcic_module", "InpaintingModule": "inpainting_module", "LatentPriorModule": "latent_prior_module",
}

__all__ = [
    "BTGMIModule", "CRFillModule", "GLCICModule", "GuidedBTGMIModule", "InpaintingModule", "LatentPriorModule", "Phase",
    "PhaseSchedule", "composite",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

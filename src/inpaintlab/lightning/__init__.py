"""LightningModules: one base InpaintingModule, papers subclass it with small hooks."""

from inpaintlab.lightning.btgmi_module import BTGMIModule
from inpaintlab.lightning.crfill_module import CRFillModule
from inpaintlab.lightning.inpainting_module import InpaintingModule, composite
from inpaintlab.lightning.phases import Phase, PhaseSchedule

__all__ = ["BTGMIModule", "CRFillModule", "InpaintingModule", "Phase", "PhaseSchedule", "composite"]

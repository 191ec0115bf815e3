"""LightningModules: one base InpaintingModule, papers subclass it with small hooks."""

from inpaintlab.conventions import composite  # re-exported: the one composite
from inpaintlab.lightning.btgmi_guided_module import GuidedBTGMIModule
from inpaintlab.lightning.btgmi_module import BTGMIModule
from inpaintlab.lightning.crfill_module import CRFillModule
from inpaintlab.lightning.glcic_module import GLCICModule
from inpaintlab.lightning.inpainting_module import InpaintingModule
from inpaintlab.lightning.latent_prior_module import LatentPriorModule
from inpaintlab.lightning.phases import Phase, PhaseSchedule

__all__ = [
    "BTGMIModule", "CRFillModule", "GLCICModule", "GuidedBTGMIModule", "InpaintingModule", "LatentPriorModule", "Phase", "PhaseSchedule",
    "composite",
]

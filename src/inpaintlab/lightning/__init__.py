"""LightningModules: one base InpaintingModule, papers subclass it with small hooks."""

from inpaintlab.lightning.inpainting_module import InpaintingModule, composite

__all__ = ["InpaintingModule", "composite"]

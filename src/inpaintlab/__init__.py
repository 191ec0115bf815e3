"""inpaintlab: deep image-inpainting papers reproduced as Lightning modules configured by Hydra."""

__version__ = "0.1.0"

"""inpaintlab: deep image-inpainting papers reproduced as Lightning modules configured by Hydra."""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Inpainter":  # imported lazily: `import inpaintlab` stays light for the CLIs and Hydra
        from inpaintlab.inference import Inpainter

        return Inpainter
    raise AttributeError(f"module 'inpaintlab' has no attribute {name!r}")


__all__ = ["Inpainter"]

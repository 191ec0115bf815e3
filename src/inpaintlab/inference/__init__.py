"""Inference for every model of the package: one interface (``Inpainter``), a small adapter per generator family.

``adapters`` (the contract methods plug into), ``pictures`` (picture/mask I/O), ``files`` (folder pairing),
``sizing`` (pad-to-multiple or resize–fill–paste, channel conversion), ``loading`` (checkpoints and released
weights), ``coarse_to_fine`` (DeepFill/CR-Fill's adapter and high-resolution mode), ``guided`` (BTGMI's guided
inpainting, Sec. 4.4), ``inpainter``.
"""

from inpaintlab.inference import coarse_to_fine as _coarse_to_fine  # noqa: F401 - registers its adapter
from inpaintlab.inference import guided as _guided  # noqa: F401 - registers BTGMI's guided adapter
from inpaintlab.inference.adapters import Adapter, adapter_class, adapter_for, fill_composite, register_adapter
from inpaintlab.inference.inpainter import Inpainter

__all__ = ["Adapter", "Inpainter", "adapter_class", "adapter_for", "fill_composite", "register_adapter"]

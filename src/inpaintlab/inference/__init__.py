"""Inference for every model of the package: one interface, a small adapter per generator family."""

from inpaintlab.inference.adapters import Adapter, adapter_class, adapter_for, fill_composite, register_adapter

__all__ = ["Adapter", "adapter_class", "adapter_for", "fill_composite", "register_adapter"]

"""Load released or our own generator weights: ``inpaintlab.pretrained.load("deepfill_v2", "weights.pth")``.

Accepted files (``torch.load``-able, or ``.npz`` of TF variables):
- an official state dict, plain or under a ``"state_dict"``, ``"generator"``, ``"G"`` or ``"netG"`` key: the
  PyTorch conversion of the TF DeepFill weights (``conv1.conv.weight`` …), CR-Fill's ``baseg.conv1.weight`` …
  (its auxiliary-branch keys are ignored), or TF variable names ``inpaint_net/conv1/kernel`` …;
- one of our Lightning checkpoints: ``state_dict`` with the generator's keys under ``generator.``;
- a bare state dict of our own ``CoarseToFineGenerator``.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from inpaintlab.models.coarse_to_fine import VARIANTS, CoarseToFineGenerator

NAMES = tuple(VARIANTS)
_WRAPPER_KEYS = ("state_dict", "generator", "G", "netG", "model")


def _read(path: Path, trusted: bool) -> Any:
    if path.suffix == ".npz":
        import numpy as np

        with np.load(path) as data:
            return {k: torch.from_numpy(data[k]) for k in data.files}
    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and head[:1] != b"\x80":  # neither torch's zip format nor a legacy pickle
        raise ValueError(f"{path} is not a PyTorch weights file (.pth/.pt/.ckpt) or a .npz of TF variables")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" not in str(err) and "Unsupported global" not in str(err):
            raise ValueError(f"{path} is corrupt or not a PyTorch weights file ({err})") from err
        if not trusted:
            raise ValueError(
                f"{path} holds Python objects beyond tensors (e.g. a Lightning checkpoint's "
                "hyper-parameters), which a safe load refuses; pass trusted=True if you trust this file"
            ) from err
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path} is corrupt or truncated: {err}") from err


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(hasattr(v, "shape") for v in obj.values())


def extract_state_dict(obj: Any) -> tuple[dict[str, Tensor], bool]:
    """(state dict, is it in our own naming) from a loaded checkpoint object."""
    if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                return extract_state_dict(obj[key])
        raise ValueError(
            "checkpoint is a dict without a state dict: expected tensors or one of the keys "
            f"{list(_WRAPPER_KEYS)}, found keys {list(obj)[:8]}"
        )
    if not _is_tensor_dict(obj):
        raise ValueError(f"checkpoint does not hold a state dict (got {type(obj).__name__})")
    sd = dict(obj)
    if any(k.startswith("generator.") for k in sd):  # our Lightning module: keep the generator's entries
        return {k[len("generator.") :]: v for k, v in sd.items() if k.startswith("generator.")}, True
    ours = any(k.startswith(("coarse.", "refine.")) for k in sd)
    return sd, ours


def _load_ours(gen: CoarseToFineGenerator, sd: Mapping[str, Tensor], name: str) -> None:
    own = gen.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        raise ValueError(
            f"checkpoint does not fit the {name!r} generator: "
            + (f"missing keys {missing[:5]}{' …' if len(missing) > 5 else ''}; " if missing else "")
            + (f"unexpected keys {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}" if unexpected else "")
        )
    for k, v in sd.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(
                f"shape mismatch for {k!r}: checkpoint {tuple(v.shape)}, "
                f"{name!r} generator {tuple(own[k].shape)}"
            )
    gen.load_state_dict(sd)


def load(
    name: str, path: str | Path, device: str | torch.device = "cpu", trusted: bool = False, **overrides: Any
) -> CoarseToFineGenerator:
    """The ``name`` generator ("deepfill_v1", "deepfill_v2", "crfill") with ``path``'s weights, in eval mode.

    ``overrides`` go to the variant's constructor (e.g. ``attention_kwargs={"official_compat": True}``).
    ``trusted=True`` allows un-pickling non-tensor objects (needed for Lightning checkpoints that store
    hyper-parameters); only use it on files you trust.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown pretrained model {name!r}; expected one of {', '.join(NAMES)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    sd, ours = extract_state_dict(_read(path, trusted))
    gen = VARIANTS[name](**overrides)
    if ours:
        _load_ours(gen, sd, name)
    else:
        gen.load_official_state_dict(sd, strict=True)
    return gen.to(device).eval()

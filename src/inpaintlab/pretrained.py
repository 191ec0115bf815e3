"""Load released or our own generator weights: ``inpaintlab.pretrained.load("deepfill_v2", "weights.pth")``.

Accepted files (``torch.load``-able, or ``.npz`` of TF variables):
- an official state dict, plain or under a ``"state_dict"``, ``"generator"``, ``"G"`` or ``"netG"`` key: the
  PyTorch conversion of the TF DeepFill weights (``conv1.conv.weight`` …), CR-Fill's ``baseg.conv1.weight`` …
  (its auxiliary-branch keys are ignored), or TF variable names ``inpaint_net/conv1/kernel`` …;
- one of our Lightning checkpoints: ``state_dict`` with the generator's keys under ``generator.``;
- a bare state dict of our own ``CoarseToFineGenerator``.

Our checkpoints carry the resolved model config (``checkpoint["inpaintlab"]["model_config"]``): the generator
is rebuilt from it (padding, attention, widths as trained), not from the variant's factory defaults.
Other families add released weights by name with ``@register("name")`` (``Inpainter.from_pretrained``).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from inpaintlab.models.coarse_to_fine import VARIANTS

_WRAPPER_KEYS = ("state_dict", "generator", "G", "netG", "model")
# constructor arguments of a run's generator that only add training-time outputs
TRAINING_ONLY_ARGS = ("return_flow", "return_features")

# name → loader(path, device=..., trusted=..., **constructor overrides) -> generator in eval mode
LOADERS: dict[str, Any] = {}


def register(name: str) -> Any:
    """Decorator: ``@register("pconv") def load_pconv(path, device="cpu", trusted=False, **overrides)``."""

    def deco(fn: Any) -> Any:
        LOADERS[name] = fn
        return fn

    return deco


def _discover() -> None:
    """Import every ``inpaintlab.models`` module, so families that ``register`` a name next to their model are
    known (and their inference adapters registered)."""
    import importlib
    import pkgutil

    import inpaintlab.models

    for info in pkgutil.iter_modules(inpaintlab.models.__path__):
        importlib.import_module(f"inpaintlab.models.{info.name}")


def names() -> tuple[str, ...]:
    """Every released-weights name (``load(name, path)``)."""
    _discover()
    return tuple(LOADERS)


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


def stored_model_config(obj: Any) -> dict[str, Any] | None:
    """The resolved ``cfg.model`` our training stored in a checkpoint, if any."""
    if not isinstance(obj, Mapping):
        return None
    state = obj.get("inpaintlab")
    config = state.get("model_config") if isinstance(state, Mapping) else None
    return dict(config) if isinstance(config, Mapping) else None


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def target_name(node: Mapping[str, Any]) -> str:
    return str(node.get("_target_", "")).rpartition(".")[2]


def model_name(node: Mapping[str, Any]) -> str:
    """The released-weights name a stored generator config is (``deepfill_v1``/``deepfill_v2`` for the
    coarse-to-fine class by its convolution, ``crfill``…), else its class name."""
    name = target_name(node)
    if name == "CoarseToFineGenerator":  # CR-Fill is the gated net without contextual attention
        conv, attention = str(node.get("conv_type")), node.get("attention", True)
        if conv == "gated":
            return "deepfill_v2" if attention else "crfill"
        return "deepfill_v1" if conv == "vanilla" else name
    return name


def _targets(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        return [str(v) for k, v in node.items() if k == "_target_"] + [t for v in node.values() for t in _targets(v)]
    if isinstance(node, (list, tuple)):
        return [t for v in node for t in _targets(v)]
    return []


def build_network(
    node: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, trusted: bool = False
) -> torch.nn.Module:
    """Instantiate a generator/discriminator config node (``_target_`` + arguments) without its training-only
    outputs; ``overrides`` replace constructor arguments (dotted dicts nest). A config read from a file may
    only name ``inpaintlab.`` callables unless ``trusted`` (a ``_target_`` is code that runs)."""
    from hydra.utils import instantiate

    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ValueError(f"the model config holds no network node with a _target_ (got {node!r})")
    foreign = [t for t in _targets(node) if not t.startswith("inpaintlab.")]
    if foreign and not trusted:
        raise ValueError(
            f"the checkpoint's model config names {foreign[0]}, outside inpaintlab; pass trusted=True if you trust "
            "this file"
        )
    args = {k: v for k, v in node.items() if k not in TRAINING_ONLY_ARGS}
    args = _merge(args, overrides or {})
    try:
        return instantiate(args, _convert_="all")
    except Exception as err:  # noqa: BLE001 - hydra wraps the constructor's error; report it in one line
        cause = err.__cause__ or err
        raise ValueError(f"cannot build {node['_target_']}: {' '.join(str(cause).split())}") from None


def split_state_dict(sd: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}


def load_network(net: torch.nn.Module, sd: Mapping[str, Tensor], what: str) -> None:
    """``net.load_state_dict(sd)`` with missing/unexpected keys and shape mismatches in one line."""
    own = net.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        raise ValueError(
            f"checkpoint does not fit the {what}: "
            + (f"missing keys {missing[:5]}{' …' if len(missing) > 5 else ''}; " if missing else "")
            + (f"unexpected keys {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}" if unexpected else "")
        )
    for k, v in sd.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"shape mismatch for {k!r}: checkpoint {tuple(v.shape)}, {what} {tuple(own[k].shape)}")
    net.load_state_dict(sd)


def read(path: str | Path, trusted: bool = False) -> Any:
    """The loaded object of a weights file (safe load unless ``trusted``); ValueError in one line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    return _read(path, trusted)


def load(
    name: str, path: str | Path, device: str | torch.device = "cpu", trusted: bool = False, **overrides: Any
) -> torch.nn.Module:
    """The ``name`` generator with ``path``'s weights, in eval mode. Registered names: "deepfill_v1",
    "deepfill_v2", "crfill" and whatever other families ``register``."""
    if name not in LOADERS:
        _discover()
    if name not in LOADERS:
        raise ValueError(f"unknown pretrained model {name!r}; expected one of {', '.join(LOADERS)}")
    return LOADERS[name](path, device=device, trusted=trusted, **overrides)


def _load_coarse_to_fine(
    name: str, path: str | Path, device: str | torch.device = "cpu", trusted: bool = False, **overrides: Any
) -> torch.nn.Module:
    """The ``name`` generator ("deepfill_v1", "deepfill_v2", "crfill") with ``path``'s weights, in eval mode.

    ``overrides`` go to the variant's constructor (e.g. ``attention_kwargs={"official_compat": True}``).
    ``trusted=True`` allows un-pickling non-tensor objects (needed for Lightning checkpoints that store
    hyper-parameters); only use it on files you trust.
    """
    obj = read(path, trusted)
    sd, ours = extract_state_dict(obj)
    config = stored_model_config(obj)
    if config is not None and ours:  # one of our checkpoints: the architecture it was trained with
        node = config.get("generator") or {}
        trained = model_name(node)
        if trained != name:
            raise ValueError(f"the checkpoint was trained as {trained}, not {name}")
        gen = build_network(node, overrides, trusted)
        load_network(gen, sd, f"{name!r} generator")
        return gen.to(device).eval()
    gen = VARIANTS[name](**overrides)
    if ours:
        load_network(gen, sd, f"{name!r} generator")
    else:
        gen.load_official_state_dict(sd, strict=True)
    return gen.to(device).eval()


for _name in VARIANTS:
    register(_name)(lambda path, _n=_name, **kw: _load_coarse_to_fine(_n, path, **kw))
NAMES = tuple(VARIANTS)

"""Model loading for inference: any of our checkpoints (the model config stored inside it), released weights by
name, with every user error in one line.

* Our checkpoints carry the resolved model config (``checkpoint["inpaintlab"]["model_config"]``, written by
  ``inpaintlab-train``): the generator (and the critic, for methods whose inference reads it) is rebuilt from it,
  so a ``.ckpt`` copied away from its run directory loads with the right architecture and needs no ``--model``.
  Older checkpoints fall back to the run's ``config.yaml`` beside them (``use_run_config``).
* Released weights (``--model NAME``): whatever ``inpaintlab.pretrained.load(NAME, path)`` reads.
* Files are read *safely* (``torch.load(weights_only=True)``: tensors, numbers, strings, containers only);
  ``trusted`` allows full un-pickling for files you trust. A stored config may only name ``inpaintlab.``
  classes unless ``trusted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from inpaintlab.conventions import find_run_config, parse_key_values
from inpaintlab.errors import ConfigError
from inpaintlab.inference.pictures import InpaintInputError


@dataclass
class LoadedModel:
    generator: nn.Module
    discriminator: nn.Module | None = None
    options: dict[str, Any] = field(default_factory=dict)  # inference options stored with the checkpoint
    name: str = ""


# ---------------------------------------------------------------------------------------------- weights
def run_model_config(config: Path) -> dict[str, Any]:
    """The resolved ``model`` node of a run's config.yaml."""
    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.to_container(OmegaConf.load(config), resolve=True)
    except Exception as e:  # noqa: BLE001 - any parse/resolve problem means "unusable", said in one line
        raise InpaintInputError(f"cannot read the run config {config}: {e} (pass --no-run-config to skip it)") from e
    node = (cfg.get("model") or {}).get("generator") if isinstance(cfg, dict) else None
    if not isinstance(node, dict) or "_target_" not in node:
        raise InpaintInputError(
            f"{config} has no model.generator node with a _target_ (pass --no-run-config to skip it)"
        )
    return cfg["model"]


def parse_model_args(items: Sequence[str]) -> dict[str, Any]:
    """``--model-arg key=value`` (value as YAML, dotted keys nest) → constructor overrides."""
    return parse_key_values(items, "--model-arg", "cnum=48", nested=True)


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    if not isinstance(e, (ValueError, TypeError, FileNotFoundError)):
        msg = f"{type(e).__name__}: {msg}"
    if "trusted=True" in msg:
        msg = msg.replace("pass trusted=True", "pass --trust-checkpoint")
        msg += " (un-pickling can run arbitrary code)"
    return msg


def _build_from_config(
    config: Mapping[str, Any], sd: Mapping[str, Any], model_args: Mapping[str, Any], trusted: bool
) -> tuple[nn.Module, nn.Module | None]:
    from inpaintlab import pretrained
    from inpaintlab.inference.adapters import adapter_class

    gen = pretrained.build_network(config.get("generator") or {}, model_args, trusted)
    pretrained.load_network(gen, pretrained.split_state_dict(sd, "generator."), f"{type(gen).__name__} generator")
    disc = None
    if adapter_class(gen).needs_discriminator:
        node = config.get("discriminator")
        if not node:
            raise ValueError(f"{type(gen).__name__}'s inference needs the critic, but the model config has none")
        disc = pretrained.build_network(node, None, trusted)
        pretrained.load_network(disc, pretrained.split_state_dict(sd, "discriminator."), "discriminator")
    return gen.eval(), (disc.eval() if disc is not None else None)


def _check_name(model: str | None, config: Mapping[str, Any], source: str) -> str:
    """The trained generator's name (principle 3 of docs/reliability.md: the stored model config is the
    authority); a ``--model`` that names another model is refused with both names."""
    from inpaintlab import pretrained

    node = config.get("generator") or {}
    trained, cls = pretrained.model_name(node), pretrained.target_name(node)
    if model and model not in (trained, cls):
        raise InpaintInputError(f"--model {model} contradicts the model stored with the checkpoint: it was trained "
                                f"as {trained} (see {source}); drop --model (our checkpoints carry their model) "
                                f"or pass {model} weights")
    return trained


def load_model(
    model: str | None,
    weights: str | Path,
    device: str = "cpu",
    trusted: bool = False,
    model_args: Mapping[str, Any] | None = None,
    use_run_config: bool = True,
) -> LoadedModel:
    """The generator (and critic where the method's inference needs it) of ``weights``, in eval mode on
    ``device``. ``model``: a released-weights name (``pretrained.names()``); not needed for our checkpoints.
    User errors in one line."""
    from inpaintlab import pretrained

    weights = Path(weights)
    if not weights.is_file():
        raise InpaintInputError(f"no weights file at {weights}")
    _sniff_weights(weights)
    what = f"{weights} as {model}" if model else str(weights)
    run_config = find_run_config(weights) if use_run_config and weights.suffix == ".ckpt" else None
    run_model = run_model_config(run_config) if run_config is not None else None
    if run_model is not None:
        _check_name(model, run_model, str(run_config))
    try:
        obj = pretrained.read(weights, trusted)
    except Exception as e:  # noqa: BLE001 - whatever a foreign file raises: one line
        raise InpaintInputError(f"cannot load {what}: {_one_line(e)}") from None
    config, source = pretrained.stored_model_config(obj), "the checkpoint"
    if config is None and run_model is not None:
        config, source = run_model, str(run_config)
    state = obj.get("inpaintlab") if isinstance(obj, Mapping) else None
    options = dict((state or {}).get("inference_options") or {}) if isinstance(state, Mapping) else {}
    if config is not None:
        trained = _check_name(model, config, source)
        try:
            sd = obj.get("state_dict") if isinstance(obj, Mapping) else None
            if not isinstance(sd, Mapping) or not any(str(k).startswith("generator.") for k in sd):
                raise ValueError("it holds no Lightning state dict with generator.* keys")
            gen, disc = _build_from_config(config, sd, model_args or {}, trusted)
        except Exception as e:  # noqa: BLE001 - a foreign file or a bad --model-arg: one line
            raise InpaintInputError(f"cannot load {what} with the model config of {source}: {_one_line(e)}") from None
        return LoadedModel(gen.to(device), disc.to(device) if disc is not None else None, options,
                           model or trained or type(gen).__name__)
    if not model:
        raise InpaintInputError(
            f"{weights} holds no model config (released weights, or a checkpoint written before configs were "
            f"stored): name the architecture with --model ({', '.join(pretrained.names())})"
        )
    try:
        gen = pretrained.load(model, weights, device=device, trusted=trusted, **(model_args or {}))
    except Exception as e:  # noqa: BLE001 - whatever a foreign file or a bad --model-arg raises: one line
        raise InpaintInputError(f"cannot load {what}: {_one_line(e)}") from None
    return LoadedModel(gen, None, options, model)


def _sniff_weights(path: Path) -> None:
    """Reject files that are neither torch.save output (a zip archive, or the legacy pickle stream) nor .npz,
    before torch.load reports them as "Python objects a safe load refuses"."""
    import zipfile

    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError as e:
        raise InpaintInputError(f"cannot read weights {path}: {e}") from None
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):  # pickle protocol ≥ 2 starts with PROTO 0x80
        raise InpaintInputError(
            f"{path} is not a weights file: expected a torch.save checkpoint (.pth/.pt/.ckpt) or an .npz of "
            "TF variables"
        )


def pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return name



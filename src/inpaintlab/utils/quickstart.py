"""``quickstart=my_photos``: any experiment on any folder of photos (``conf/quickstart/my_photos.yaml``).

The config sets the data (a ``PhotoFolder`` split with a fixed seed, batches of the whole folder when it is
smaller than the paper's batch); this module adapts what a config cannot, before anything is built, and says each
change in the log:

* masks that are a download — NVIDIA's irregular masks (``IrregularFileMask``), CR-Fill's object shapes
  (``ObjectShapeMask``), frozen mask folders — are replaced, in training and in the evaluation suites, by the
  free-form strokes of DeepFill v2 (``conf/mask/free_form.yaml``) when their files are not on this machine; the
  masks a paper generates stay the paper's;
* fixed-size generators (the gradient-attention MNIST autoencoder at 28², the Context Encoder at 128², Yeh's
  DCGAN prior) get photos of their size and channels;
* ImageNet backbones of the losses keep their weights from torchvision's cache (one line names the file when it
  is missing) unless ``quickstart.random_backbones=true``;
* BTGMI's guided experiment is refused: its composites need COCO's instance annotations.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from inpaintlab.errors import ConfigError

log = logging.getLogger("inpaintlab.quickstart")

FILE_MASKS = ("IrregularFileMask", "ObjectShapeMask")
STAND_IN = Path(__file__).resolve().parents[1] / "conf" / "mask" / "free_form.yaml"


def _is_download(node: Any) -> bool:
    """A mask node or frozen-folder string whose files are not on this machine."""
    if isinstance(node, str):
        return not Path(os.path.expanduser(node)).exists()
    if isinstance(node, DictConfig) and str(node.get("_target_", "")).rpartition(".")[2] in FILE_MASKS:
        return not Path(os.path.expanduser(str(node.get("source")))).exists()
    return False


def _stand_in() -> DictConfig:
    return OmegaConf.load(STAND_IN)


def _replace_downloads(node: DictConfig, where: str) -> list[str]:
    """Replace the file-based generators inside a combinator's ``generators`` (MixtureMask, UnionMask, nested);
    returns their paths."""
    replaced = []
    children = node.get("generators") if isinstance(node, DictConfig) else None
    if isinstance(children, DictConfig):
        for name in list(children.keys()):
            child = children[name]
            if _is_download(child):
                children[name] = _stand_in()
                replaced.append(f"{where}.generators.{name}")
            elif isinstance(child, DictConfig):
                replaced += _replace_downloads(child, f"{where}.generators.{name}")
    return replaced


def apply_quickstart(cfg: DictConfig) -> None:
    """Adapt ``cfg`` (composed with ``quickstart=my_photos``) to a folder of photos; a no-op without it."""
    if cfg.get("quickstart") is None or cfg.quickstart.get("applied"):
        return
    if "Guided" in str(OmegaConf.select(cfg, "model._target_", default="")):
        raise ConfigError("quickstart=my_photos cannot train BTGMI's guided model: its composites need COCO's "
                          "instance annotations (data=coco_guided); train experiment=btgmi_places2 on your photos")
    changed: list[str] = []
    with open_dict(cfg):
        mask = cfg.get("mask")
        if _is_download(mask):
            cfg.mask = _stand_in()
            changed.append("mask")
        elif isinstance(mask, DictConfig):
            changed += _replace_downloads(mask, "mask")
        suites = OmegaConf.select(cfg, "data.eval_masks", default=None)
        if isinstance(suites, str) and _is_download(suites):
            cfg.data.eval_masks = None  # one suite of the (stand-in) training masks
            changed.append("data.eval_masks")
        elif isinstance(suites, DictConfig):
            dropped = [k for k in suites if suites[k] is not None and _is_download(suites[k])]
            for k in suites:
                if k not in dropped and isinstance(suites[k], DictConfig):
                    changed += _replace_downloads(suites[k], f"data.eval_masks.{k}")
            for k in dropped:
                suites[k] = None
            if dropped:
                suites["free_form"] = _stand_in()
                changed += [f"data.eval_masks.{k}" for k in dropped]
        gen = OmegaConf.select(cfg, "model.generator", default=None)
        if isinstance(gen, DictConfig):
            size = gen.get("image_size") if "native_size" not in gen else gen.get("native_size")
            channels = gen.get("image_channels", gen.get("channels"))
            if isinstance(size, int) and OmegaConf.select(cfg, "data.dataset.image_size") != size:
                cfg.data.dataset.image_size = size
                log.info("quickstart: data.dataset.image_size=%d (the generator's fixed size)", size)
            if channels in (1, 3):
                cfg.data.dataset.channels = int(channels)
        if cfg.quickstart.get("random_backbones"):
            for path in _pretrained_keys(cfg.get("model"), "model"):
                OmegaConf.update(cfg, path, False)
                log.warning("quickstart: %s=false (random backbone weights, as quickstart.random_backbones asks)", path)
        cfg.quickstart.applied = True
    if changed:
        log.warning("quickstart: %s read masks from files that are not on this machine; DeepFill v2's free-form "
                    "strokes (conf/mask/free_form.yaml) stand in for them", ", ".join(changed))


def _pretrained_keys(node: Any, where: str) -> list[str]:
    """The ``pretrained`` keys under ``node`` that are set (not interpolated from another one)."""
    out = []
    if isinstance(node, DictConfig):
        for key in node:
            if key == "pretrained" and not OmegaConf.is_interpolation(node, key) and node[key] is not None:
                out.append(f"{where}.{key}")
            elif isinstance(node[key], DictConfig):
                out += _pretrained_keys(node[key], f"{where}.{key}")
    return out

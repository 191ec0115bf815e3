"""ImageNet backbones for feature losses (VGG-16 for PConv's perceptual/style terms, AlexNet for LPIPS).

Weights come from torchvision's weight cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch``),
where torchvision puts them on first use; offline and absent, one clear line names the file and where to put
it. ``pretrained=False`` builds the architecture with random weights (the tests do, and say so).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from inpaintlab.errors import ConfigError

_WEIGHTS = {"vgg16": "VGG16_Weights", "alexnet": "AlexNet_Weights"}


def _cached(weights) -> tuple[Path, str]:
    """(path in torchvision's cache, download URL) of a torchvision ``Weights`` entry."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url), weights.url


def weights_file(name: str) -> tuple[Path, str]:
    """(path in torchvision's cache, download URL) of ``name``'s ImageNet weights."""
    import torchvision.models as tvm

    if name not in _WEIGHTS:
        raise ConfigError(f"unknown backbone {name!r}; expected one of {', '.join(_WEIGHTS)}")
    return _cached(getattr(tvm, _WEIGHTS[name]).IMAGENET1K_V1)


def torchvision_backbone(name: str, pretrained: bool = True) -> nn.Module:
    """torchvision's ``name`` with ImageNet weights from the cache (or random weights), frozen, in eval mode."""
    import torchvision.models as tvm

    model = getattr(tvm, name)(weights=None)
    if pretrained:
        path, url = weights_file(name)
        if not path.is_file():
            try:  # online machines fetch it the usual way
                torch.hub.download_url_to_file(url, str(path), progress=False)
            except Exception as err:  # noqa: BLE001 - any network failure means "not available here"
                raise ConfigError(
                    f"{name} ImageNet weights not found at {path} and could not be downloaded ({type(err).__name__}); "
                    f"copy {os.path.basename(url)} from {url} there (or set TORCH_HOME)"
                ) from None
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.requires_grad_(False)
    return model.eval()


def maskrcnn_weights_file() -> Path:
    """Where torchvision's cache keeps ``maskrcnn_resnet50_fpn``'s COCO weights (``MaskRCNN_ResNet50_FPN_Weights.COCO_V1``)."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    return _cached(MaskRCNN_ResNet50_FPN_Weights.COCO_V1)[0]


def maskrcnn(pretrained: bool = True) -> nn.Module:
    """torchvision's Mask R-CNN (ResNet-50 FPN, COCO) for BTGMI's guided inpainting (003 Sec. 4.4 segments the
    user's box with a Mask R-CNN [51]), weights from torchvision's cache only — never downloaded here (the file is
    170 MB; a missing file is one line naming it). Frozen, eval mode. ``pretrained=False``: random weights."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    path = maskrcnn_weights_file()
    if pretrained and not path.is_file():
        raise ConfigError(
            f"Mask R-CNN weights not found at {path}: put {path.name} (torchvision's "
            f"MaskRCNN_ResNet50_FPN_Weights.COCO_V1) there (or set TORCH_HOME), or pass --object-mask"
        )
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    if pretrained:
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # noqa: BLE001 - a truncated or foreign file: one line
            raise ConfigError(f"cannot load Mask R-CNN weights {path}: {type(err).__name__}: {err}") from None
    model.requires_grad_(False)
    return model.eval()

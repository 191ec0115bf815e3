"""Backbone weights: random when asked, one clear error when the cached file is absent and offline."""

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.utils.backbones import torchvision_backbone, weights_file


def test_random_backbone_is_frozen_eval():
    net = torchvision_backbone("alexnet", pretrained=False)
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def _empty_cache(monkeypatch, tmp_path, download) -> None:
    """torchvision's weight cache in an empty ``tmp_path``; downloads go to ``download``."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)


def test_missing_weights_one_line(monkeypatch, tmp_path):
    def offline(*a, **k):
        raise OSError("network unreachable")

    _empty_cache(monkeypatch, tmp_path, offline)
    with pytest.raises(ConfigError) as err:
        torchvision_backbone("vgg16")
    msg = str(err.value)
    assert "\n" not in msg and "vgg16-397923af.pth" in msg and str(tmp_path) in msg
    assert weights_file("vgg16")[0].parent == tmp_path / "hub" / "checkpoints"


def test_cached_weights_load(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path, _ = weights_file("alexnet")
    path.parent.mkdir(parents=True)
    ref = torchvision_backbone("alexnet", pretrained=False)
    torch.save(ref.state_dict(), path)
    net = torchvision_backbone("alexnet")
    assert torch.equal(net.features[0].weight, ref.features[0].weight)


def test_maskrcnn_never_downloads_and_names_the_missing_file(monkeypatch, tmp_path):
    from inpaintlab.utils.backbones import maskrcnn, maskrcnn_weights_file

    def no_download(*a, **k):
        raise AssertionError("Mask R-CNN weights must never be downloaded")

    _empty_cache(monkeypatch, tmp_path, no_download)
    with pytest.raises(ConfigError) as err:
        maskrcnn()
    msg = str(err.value)
    assert "\n" not in msg and "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in msg and str(tmp_path) in msg
    assert maskrcnn_weights_file().parent == tmp_path / "hub" / "checkpoints"

import argparse

import numpy as np
import pytest
import torch

from helpers import reference_fixture
from inpaintlab import pretrained
from inpaintlab.models.coarse_to_fine import crfill, deepfill_v1

_fixture_path = reference_fixture


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sb = b.state_dict()
    return all(torch.equal(v, sb[k]) for k, v in a.state_dict().items())


def test_load_crfill_release_naming_reproduces_fixture():
    path = _fixture_path("crfill_generator.pt")  # {"state_dict": baseg.* + auxiliary keys, tensors, "opt"}
    gen = pretrained.load("crfill", path)
    assert not gen.training
    ref = torch.load(path)
    with torch.no_grad():
        out = gen(ref["masked_image"], ref["mask"])
    assert (out["output"] - ref["eval_stage2"]).abs().max() < 1e-4


def test_load_deepfill_v2_conversion_naming(tmp_path):
    ref = torch.load(_fixture_path("deepfill_v2_generator.pt"))
    path = tmp_path / "places2.pth"
    torch.save({"G": ref["state_dict"]}, path)  # the nipponjo release wraps the weights in "G"
    gen = pretrained.load("deepfill_v2", path, attention_kwargs={"official_compat": True})
    assert torch.equal(gen.coarse.encoder[0].conv.weight, ref["state_dict"]["conv1.conv.weight"])
    assert torch.equal(
        gen.refine.decoder[0].conv.conv.bias, ref["state_dict"]["allconv13_upsample.conv.conv.bias"]
    )


def test_lightning_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    ours = crfill(cnum=8)
    ckpt = {
        "epoch": 3,
        "global_step": 10,
        "state_dict": {
            **{f"generator.{k}": v for k, v in ours.state_dict().items()},
            "discriminator.net.0.bias": torch.zeros(4),
        },
        "hyper_parameters": {"lr": 1e-4},
    }
    path = tmp_path / "last.ckpt"
    torch.save(ckpt, path)
    loaded = pretrained.load("crfill", path, cnum=8)
    assert _same_weights(ours, loaded) and not loaded.training
    # a bare state dict in our naming loads too
    torch.save(ours.state_dict(), tmp_path / "bare.pt")
    assert _same_weights(ours, pretrained.load("crfill", tmp_path / "bare.pt", cnum=8))


def test_tf_variable_npz(tmp_path):
    torch.manual_seed(0)
    src = deepfill_v1(cnum=8)
    np.savez(tmp_path / "v1.npz", **{k: v.numpy() for k, v in src.official_state_dict("tf").items()})
    assert _same_weights(src, pretrained.load("deepfill_v1", tmp_path / "v1.npz", cnum=8))


def test_untrusted_pickle_is_refused_unless_trusted(tmp_path):
    ours = crfill(cnum=8)
    path = tmp_path / "with_objects.ckpt"
    torch.save(
        {
            "state_dict": {f"generator.{k}": v for k, v in ours.state_dict().items()},
            "hparams": argparse.Namespace(cnum=8),
        },
        path,
    )
    with pytest.raises(ValueError, match="trusted=True"):
        pretrained.load("crfill", path, cnum=8)
    assert _same_weights(ours, pretrained.load("crfill", path, trusted=True, cnum=8))


def test_clear_errors(tmp_path):
    with pytest.raises(
        ValueError, match="unknown pretrained model 'deepfill_v3'.*deepfill_v1, deepfill_v2, crfill"
    ):
        pretrained.load("deepfill_v3", tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint file at .*missing.pt"):
        pretrained.load("crfill", tmp_path / "missing.pt")
    sd = crfill(cnum=8).state_dict()
    del sd["coarse.encoder.0.conv.weight"]
    torch.save({"state_dict": {f"generator.{k}": v for k, v in sd.items()}}, tmp_path / "partial.ckpt")
    with pytest.raises(ValueError, match="missing keys \\['coarse.encoder.0.conv.weight'\\]"):
        pretrained.load("crfill", tmp_path / "partial.ckpt", cnum=8)
    torch.save(crfill(cnum=8).state_dict(), tmp_path / "small.pt")
    with pytest.raises(ValueError, match="shape mismatch for 'coarse.encoder.0.conv.weight'"):
        pretrained.load("crfill", tmp_path / "small.pt")  # cnum 48 model, cnum 8 weights
    torch.save({"weights": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="without a state dict"):
        pretrained.load("crfill", tmp_path / "odd.pt")
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="unexpected keys \\['foo.weight'\\]"):
        pretrained.load("crfill", tmp_path / "foreign.pt", cnum=8)

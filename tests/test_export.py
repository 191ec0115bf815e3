"""``inpaintlab-export``: every generator family as ONNX (run by onnxruntime) and TorchScript (torch.jit.load)
against ``Inpainter.fill_tensor`` on the same input, max |Δ| ≤ 1e-4; what cannot be exported is refused in one
line. Tiny widths and sizes keep each export to a few seconds."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.export import GraphContextualAttention, export, main, probe
from inpaintlab.inference import Inpainter
from inpaintlab.nn.contextual_attention import ContextualAttention

# family → (generator config node with small widths, export size H, W, inference options)
FAMILIES = {
    "deepfill_v1": ({"_target_": "inpaintlab.models.coarse_to_fine.deepfill_v1", "cnum": 4}, (32, 48), {}),
    "deepfill_v2": ({"_target_": "inpaintlab.models.coarse_to_fine.deepfill_v2", "cnum": 8}, (32, 40), {}),
    "crfill": ({"_target_": "inpaintlab.models.coarse_to_fine.crfill", "cnum": 8}, (28, 36), {}),
    "glcic": ({"_target_": "inpaintlab.models.glcic.GLCICCompletionNetwork", "cnum": 4,
               "fill_value": [0.1, -0.2, 0.3]}, (30, 34), {}),  # a trained net carries its measured fill
    "pconv": ({"_target_": "inpaintlab.models.pconv_unet.PConvUNet", "levels": 3, "base_channels": 4,
               "max_channels": 8}, (24, 40), {}),
    "context_encoder": ({"_target_": "inpaintlab.models.context_encoder.ContextEncoderGenerator", "image_size": 32,
                         "nef": 4, "ngf": 4, "bottleneck_units": 16}, (40, 36), {}),
    "ga_fc": ({"_target_": "inpaintlab.models.gradient_attention.FullyConnectedAutoencoder", "image_size": 8,
               "hidden": [8, 4, 8]}, (12, 10), {}),
    "ga_dilated": ({"_target_": "inpaintlab.models.gradient_attention.DilatedFCN", "width": 0.125}, (20, 24), {}),
    "btgmi": ({"_target_": "inpaintlab.models.btgmi.BTGMIGenerator", "channels": [4, 8, 8], "num_blocks": 2,
               "max_extra_blocks": 0}, (24, 32), {}),
    "btgmi_guided": ({"_target_": "inpaintlab.models.btgmi.GuidedBTGMIGenerator", "channels": [4, 8, 8],
                      "num_blocks": 2, "max_extra_blocks": 0}, (16, 24), {}),
}

NATIVE = {"context_encoder": 32, "ga_fc": 8}  # fixed-size nets: the graph resizes to this size and back


def _checkpoint(tmp_path, node):
    """One of our checkpoints (model config stored inside) for a randomly initialised generator."""
    from inpaintlab.pretrained import build_network

    torch.manual_seed(0)
    gen = build_network(node)
    for m in gen.modules():  # non-trivial BatchNorm statistics: eval mode must be what is exported
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {f"generator.{k}": v for k, v in gen.state_dict().items()},
                "inpaintlab": {"model_config": {"generator": node}}}, path)
    return path


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_exported_graph_matches_fill_tensor(family, fmt, tmp_path, capsys):
    node, (h, w), options = FAMILIES[family]
    ckpt = _checkpoint(tmp_path, node)
    native = NATIVE.get(family)
    if fmt == "onnx" and native:  # resizing to the native size has no ONNX form: refused, the native size works
        assert main(["--weights", str(ckpt), "--format", fmt, "--size", str(h), str(w)]) == 1
        assert f"works at {native}×{native}: its graph at other sizes resizes" in capsys.readouterr().err
        h = w = native
    out = tmp_path / f"g.{fmt}"
    assert main(["--weights", str(ckpt), "--format", fmt, "--size", str(h), str(w), "--batch", "2",
                 "--out", str(out)]) == 0, \
        capsys.readouterr().err
    painter = Inpainter.from_checkpoint(ckpt, postprocess=False) if family == "glcic" else \
        Inpainter.from_checkpoint(ckpt, **({"outside": "mean"} if family == "context_encoder" else options))
    image, mask = probe(painter, 2, (h, w), seed=7)  # a batch of 2 and masks the trace never saw
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["image", "mask"]
        got = torch.from_numpy(session.run(None, {"image": image.numpy(), "mask": mask.numpy()})[0])
    else:
        got = torch.jit.load(str(out))(image, mask)  # autograd on: the frozen module runs as well
    want = painter.fill_tensor(image, mask)
    assert got.shape == want.shape and float((got - want).abs().max()) <= 1e-4
    assert torch.equal(got[mask.expand_as(got) == 0], image[mask.expand_as(image) == 0])  # known pixels as given


@pytest.mark.parametrize("fuse, compat", [(True, False), (False, False), (True, True)])
def test_graph_attention_equals_the_layer(fuse, compat):
    """The dense form computes what the eager layer's index selection does (DeepFill v1 Sec. 3.2)."""
    torch.manual_seed(0)
    layer = ContextualAttention(fuse=fuse, official_compat=compat).eval()
    dense = ContextualAttention(fuse=fuse, official_compat=compat).eval()
    dense.__class__ = GraphContextualAttention
    fg, bg = torch.randn(2, 6, 12, 16), torch.randn(2, 6, 12, 16)
    mask = torch.zeros(2, 1, 48, 64)
    mask[0, :, 8:30, 10:40] = 1
    mask[1, :, 20:48, 30:64] = 1  # another hole per sample (official_compat reads the first one's)
    with torch.no_grad():
        assert torch.allclose(dense(fg, bg, mask), layer(fg, bg, mask), atol=1e-5)


def test_dynamic_graph_is_checked_at_another_size(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, FAMILIES["crfill"][0])
    out = tmp_path / "d.onnx"
    assert main(["--weights", str(ckpt), "--format", "onnx", "--size", "28", "36", "--dynamic", "--out", str(out)]) == 0
    import onnxruntime as ort

    painter = Inpainter.from_checkpoint(ckpt)
    image, mask = probe(painter, 3, (44, 52), seed=3)
    got = ort.InferenceSession(str(out)).run(None, {"image": image.numpy(), "mask": mask.numpy()})[0]
    assert float((torch.from_numpy(got) - painter.fill_tensor(image, mask)).abs().max()) <= 1e-4


def test_latent_search_and_bad_requests_are_refused_in_one_line(tmp_path):
    from inpaintlab.models.dcgan import DCGANDiscriminator, DCGANGenerator

    yeh = Inpainter(DCGANGenerator(image_size=16, width=4, z_dim=8), DCGANDiscriminator(image_size=16, width=4))
    with pytest.raises(ConfigError, match=r"cannot be exported: its inference is a per-image search \(Yeh"):
        export(yeh, tmp_path / "y.onnx", "onnx", (16, 16))
    crf = Inpainter(Inpainter.from_checkpoint(_checkpoint(tmp_path, FAMILIES["crfill"][0])).generator)
    with pytest.raises(ConfigError, match="--format must be one of onnx, torchscript"):
        export(crf, tmp_path / "c.x", "tflite", (16, 16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]  # nothing written

"""The adapter contract through the Inpainter, the CLI and evaluation: native-size nets, channel conversion,
per-method options (``--option``), post-processing in val/test."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from inpaintlab.errors import ConfigError
from inpaintlab.inference import Adapter, Inpainter, register_adapter
from inpaintlab.inference.sizing import fill_any_size


class TinyFixed(nn.Module):
    """A 1-channel net with a fixed 8×8 input that outputs its ``value`` option's constant."""

    native_size = 8
    image_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen: list[tuple] = []

    def forward(self, masked, mask):
        self.seen.append((tuple(masked.shape), tuple(mask.shape)))
        return {"output": torch.zeros_like(masked) + self.w}


@register_adapter(TinyFixed)
class TinyAdapter(Adapter):
    options = {"value": (0.0, "constant fill"), "blend": ("none", "post-processing")}

    def fill(self, image, mask):
        return torch.full_like(image, float(self.settings["value"]))

    def postprocess(self, image, mask, composite):
        return composite * 0 + 1.0 if self.settings["blend"] == "white" else composite


def _picture(h=37, w=53):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    hole = np.zeros((h, w), bool)
    hole[5:20, 10:30] = True
    return img, hole


def test_native_size_net_fills_any_size_and_keeps_known_pixels():
    gen = TinyFixed()
    img, hole = _picture()
    out = Inpainter(gen, value=0.5).fill(img, hole)
    assert out.shape == img.shape and np.array_equal(out[~hole], img[~hole])
    assert (out[hole] == round(1.5 * 127.5)).all()  # the grey fill in every colour channel
    # the net saw its native size, one grey channel
    x = torch.rand(1, 3, 37, 53) * 2 - 1
    m = torch.from_numpy(hole)[None, None].float()
    calls = []
    adapter = TinyAdapter(gen)
    adapter.fill = lambda image, mask: calls.append((image.shape, mask.shape)) or torch.zeros_like(image)
    assert fill_any_size(adapter, x, m).shape == (1, 3, 37, 53)
    assert calls == [((1, 1, 8, 8), (1, 1, 8, 8))]


def test_options_and_postprocess_and_unknown_options():
    img, hole = _picture()
    out = Inpainter(TinyFixed(), value=-1.0, blend="white").fill(img, hole)
    assert (out[hole] == 255).all() and np.array_equal(out[~hole], img[~hole])  # postprocess in the hole only
    with pytest.raises(ConfigError, match=r"unknown inference option\(s\) \['steps'\].*known: value, blend"):
        Inpainter(TinyFixed(), steps=3)


def test_cli_option_flags_map_to_adapter_options(tmp_path, capsys):
    from inpaintlab.inpaint import main

    gen = TinyFixed()
    ckpt = {
        "state_dict": {f"generator.{k}": v for k, v in gen.state_dict().items()},
        "inpaintlab": {"model_config": {"generator": {"_target_": f"{__name__}.TinyFixed"}},
                       "inference_options": {"value": 1.0}},
    }
    torch.save(ckpt, tmp_path / "tiny.ckpt")
    img, hole = _picture()
    Image.fromarray(img).save(tmp_path / "i.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "m.png")
    io = ["--weights", tmp_path / "tiny.ckpt", "--image", tmp_path / "i.png", "--mask", tmp_path / "m.png"]
    # a stored config may name only inpaintlab classes unless the file is trusted
    assert main([str(a) for a in [*io, "--out", tmp_path / "o.png"]]) == 1
    assert "outside inpaintlab" in capsys.readouterr().err
    io.append("--trust-checkpoint")
    assert main([str(a) for a in [*io, "--out", tmp_path / "stored.png", "--quiet"]]) == 0  # stored option
    assert (np.asarray(Image.open(tmp_path / "stored.png"))[hole] == 255).all()
    assert main([str(a) for a in [*io, "--out", tmp_path / "o.png", "--option", "value=-1", "--quiet"]]) == 0
    assert (np.asarray(Image.open(tmp_path / "o.png"))[hole] == 0).all()
    assert main([str(a) for a in [*io, "--out", tmp_path / "x.png", "--steps", "5"]]) == 1
    assert "unknown inference option(s) ['steps']" in capsys.readouterr().err
    assert main([str(a) for a in [*io, "--out", tmp_path / "y.png", "--highres"]]) == 1
    assert "unknown inference option(s) ['coarse_scale']" in capsys.readouterr().err


def test_evaluation_runs_the_adapters_extra_step():
    """val/test composites come from the module's inference_adapter (with inference_options); the losses still
    see the generator's raw output."""
    from inpaintlab.lightning import InpaintingModule
    from inpaintlab.losses import L1Loss

    module = InpaintingModule(generator=TinyFixed(), losses={"l1": L1Loss()},
                              optimizer_g=functools.partial(torch.optim.Adam, lr=1e-3))
    image, mask = torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8)
    mask[..., 2:5, 2:5] = 1
    module.inference_options = {"value": 0.25}
    out = module._eval_step({"image": image, "mask": mask}, "val")
    assert torch.equal(out["output"], torch.zeros_like(image))  # raw generator output
    assert torch.allclose(out["composite"], 0.25 * mask)  # the adapter's fill in the hole
    module.inference_options = {"value": 0.25, "blend": "white"}  # the cached adapter follows the options
    assert torch.allclose(module._eval_step({"image": image, "mask": mask}, "val")["composite"], mask)

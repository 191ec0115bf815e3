"""Issue 18: at inference, contextual attention only where the composite needs it — same composite."""

from __future__ import annotations

import pytest
import torch

from helpers import reference_fixture
from inpaintlab.models.coarse_to_fine import crfill, deepfill_v1, deepfill_v2


def _masks(h: int, w: int) -> dict[str, torch.Tensor]:
    """The issue's mask kinds, 1×1×h×w, 1 = hole."""
    box = torch.zeros(1, 1, h, w)
    box[..., h // 3 : h // 3 + h // 5, w // 3 : w // 3 + w // 4] = 1
    strokes = torch.zeros(1, 1, h, w)
    ys = torch.arange(h).view(-1, 1).float()
    xs = torch.arange(w).view(1, -1).float()
    for y0, x0, slope in ((0.35, 0.3, 0.6), (0.55, 0.45, -0.8)):  # two thick line segments
        line = (ys - y0 * h - slope * (xs - x0 * w)).abs() < 3
        seg = (xs >= x0 * w) & (xs < x0 * w + w // 4)
        strokes[0, 0][line & seg] = 1
    border = torch.zeros(1, 1, h, w)
    border[..., : h // 6, w // 2 : w // 2 + w // 5] = 1
    two = torch.zeros(1, 1, h, w)
    two[..., 8:24, 8:24] = 1
    two[..., h - 28 : h - 12, w - 28 : w - 12] = 1
    return {"box": box, "strokes": strokes, "border": border, "two_holes": two, "everything": torch.ones(1, 1, h, w)}


def _composites(gen, image, mask):
    masked = image * (1 - mask)
    with torch.no_grad():
        full = gen(masked, mask)["output"]
        part = gen(masked, mask, composited=True)["output"]
    stats = gen.refine.attention.last_stats
    return full * mask + masked, part * mask + masked, stats


def _check(gen, image, masks):
    windowed = 0
    for name, mask in masks.items():
        full, part, stats = _composites(gen, image, mask.expand(image.shape[0], -1, -1, -1))
        assert (full - part).abs().max() <= 1e-5, name
        windowed += stats["positions"] < stats["positions_full"]
    # a batch of different masks: each sample its own window, one tensor
    batch = torch.cat([masks["box"], masks["strokes"], masks["two_holes"]])
    full, part, _ = _composites(gen, image[:1].expand(3, -1, -1, -1), batch)
    assert (full - part).abs().max() <= 1e-5
    return windowed


@pytest.mark.parametrize("factory", [deepfill_v1, deepfill_v2])
def test_random_weights_same_composite(factory):
    torch.manual_seed(0)
    gen = factory(cnum=8).eval()
    image = torch.rand(1, 3, 192, 160) * 2 - 1
    assert _check(gen, image, _masks(192, 160)) >= 2  # box and strokes ran on a window


def test_fixture_weights_same_composite():
    ref = torch.load(reference_fixture("deepfill_v2_generator.pt"))
    gen = deepfill_v2(attention_kwargs={"official_compat": True, "fuse": True}).eval()
    assert gen.load_official_state_dict(ref["state_dict"]) == {}
    image = ref["image"][..., 32:224, 48:208]  # 192×160 of the photo keeps the test to seconds
    masks = {k: v for k, v in _masks(192, 160).items() if k in ("box", "strokes", "border", "two_holes")}
    masks["fixture"] = ref["mask"][..., 32:224, 48:208]
    windowed = 0
    for name, mask in masks.items():
        full, part, stats = _composites(gen, image, mask)
        assert (full - part).abs().max() <= 1e-5, name
        windowed += stats["positions"] < stats["positions_full"]
    assert windowed >= 2


def test_reach_is_computed_from_the_layers_and_tight():
    """pmconv9/10, allconv11/12 (+1 each at 1/4), allconv13 up (+1 at 1/2, ×½ up), allconv14 (+1),
    allconv15 up, allconv16, allconv17 (+1 each at full res): walking back 1,2,3→⌈3/2⌉=2,3,4→2,3,4,5,6."""
    gen = deepfill_v2(cnum=8).eval()
    assert gen.refine.attention_reach() == (6, 4)
    wide = deepfill_v2(cnum=8)
    wide.refine.bottleneck[0].conv.dilation = (3, 3)  # a 3×3 dilation-3 conv reaches 3, not 1
    assert wide.refine.attention_reach() == (8, 4)
    # garbage outside the region never reaches a hole pixel; shrinking the region by one lets it through
    image = torch.rand(1, 3, 128, 128) * 2 - 1
    mask = torch.zeros(1, 1, 128, 128)
    mask[..., 50:70, 60:84] = 1
    region = gen.refine.attention_region(mask)
    shrunk = -torch.nn.functional.max_pool2d(-region.float(), 3, 1, 1) > 0

    def run(keep):
        def hook(_mod, _inp, out):
            noise = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)) * 100
            return torch.where(keep, out, noise)

        h = gen.refine.attention.register_forward_hook(hook)
        try:
            with torch.no_grad():
                return gen(image * (1 - mask), mask)["output"] * mask
        finally:
            h.remove()

    with torch.no_grad():
        ref = gen(image * (1 - mask), mask)["output"] * mask
    assert torch.equal(run(region), ref)
    assert (run(shrunk) - ref).abs().max() > 1e-6  # random init damps it, but it is there (~1e-4)


def test_only_composited_eval_calls_are_restricted():
    torch.manual_seed(0)
    gen = deepfill_v2(cnum=8)
    image = torch.rand(1, 3, 256, 256) * 2 - 1
    mask = _masks(256, 256)["box"]
    ca = gen.refine.attention
    assert gen.attention_region(mask) is None  # training mode
    assert gen.eval().attention_region(mask, composited=False) is None
    assert gen.attention_region(mask).shape == (1, 1, 64, 64)
    with torch.no_grad():
        gen.train()(image, mask, composited=True)  # training: full
        assert ca.last_stats["positions"] == ca.last_stats["positions_full"]
        gen.eval()(image, mask)  # plain call: full
        assert ca.last_stats["positions"] == ca.last_stats["positions_full"]
        gen(image, mask, composited=True)
        assert ca.last_stats["positions"] < ca.last_stats["positions_full"]
        off = deepfill_v2(cnum=8, restrict_attention=False).eval()
        off(image, mask, composited=True)
        assert off.refine.attention.last_stats["positions"] == off.refine.attention.last_stats["positions_full"]
        crfill(cnum=8).eval()(image, mask, composited=True)  # no attention: the flag is a no-op


@pytest.mark.parametrize("coarse_scale", [1.0, 0.5])
def test_inference_path_restricts_and_keeps_the_composite(coarse_scale):
    """The one inference path (Inpainter.fill_tensor) runs the restricted attention and returns the same
    composite as with the restriction switched off, at an odd size (mirror padding) and in high-res mode."""
    from inpaintlab.inference import Inpainter

    torch.manual_seed(0)
    gen = deepfill_v2(cnum=8).eval()
    image = torch.rand(1, 3, 150, 170) * 2 - 1
    mask = torch.zeros(1, 1, 150, 170)
    mask[..., 40:80, 60:100] = 1
    painter = Inpainter(gen, coarse_scale=coarse_scale)
    part = painter.fill_tensor(image, mask)
    stats = gen.refine.attention.last_stats
    assert stats["positions"] < stats["positions_full"]  # the window ran
    gen.restrict_attention = False
    full = painter.fill_tensor(image, mask)
    assert gen.refine.attention.last_stats["positions"] == gen.refine.attention.last_stats["positions_full"]
    assert (full - part).abs().max() <= 1e-5
    assert torch.equal(part * (1 - mask), image * (1 - mask))

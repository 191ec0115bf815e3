"""BTGMI generator (003 Sec. 3.1, 3.3) and MSPAL critic (Sec. 3.2): shapes, growth bit-identity, exact Q maps."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.errors import ConfigError
from inpaintlab.inference.adapters import adapter_for, fill_composite
from inpaintlab.models.btgmi import CONV_TYPES, BTGMIGenerator, MultiScalePatchDiscriminator


def _gen(**kw) -> BTGMIGenerator:
    torch.manual_seed(0)
    g = BTGMIGenerator(channels=(4, 8, 8), num_blocks=2, max_extra_blocks=3, **kw)
    for m in g.modules():  # non-trivial BatchNorm statistics and affine parameters, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return g


def _batch(b=2, size=32):
    g = torch.Generator().manual_seed(1)
    image = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    mask = torch.zeros(b, 1, size, size)
    mask[0, :, 4:14, 6:20] = 1
    mask[1, :, 16:30, 2:12] = 1
    mask[1, :, 3:9, 20:28] = 1
    return image, mask


@pytest.mark.parametrize("conv_type", CONV_TYPES)
def test_shapes_and_range(conv_type):
    g = _gen(conv_type=conv_type)
    image, mask = _batch()
    out = g(image * (1 - mask), mask)["output"]
    assert out.shape == image.shape and out.abs().max() <= 1
    assert g.size_multiple == 8 and g.image_channels == 3
    dil = g.blocks[0].branch[0].dilation
    assert dil == ((2, 2) if "dilated" in conv_type else (1, 1))
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in g.down) == ("interpolated" in conv_type)


def test_bad_conv_type():
    with pytest.raises(ConfigError, match="conv_type"):
        BTGMIGenerator(conv_type="gated")
    with pytest.raises(ConfigError, match="max_extra_blocks=3"):
        BTGMIGenerator(channels=(4, 8, 8)).set_growth(4)


@pytest.mark.parametrize("train_mode", [False, True])
def test_growth_is_bit_identical(train_mode):
    """Sec. 3.3: with the skip path at weight 1 and the new block at 0 the grown net IS the trained one."""
    g = _gen().train(train_mode)
    image, mask = _batch()
    x = image * (1 - mask)
    for blocks in range(3):  # head → +1 → +2 → +3, each earlier block fully in (α = 1)
        g.set_growth(blocks, fade=1.0)
        with torch.no_grad():
            before = g(x, mask)["output"]
            g.set_growth(blocks + 1, fade=0.0)
            after = g(x, mask)["output"]
        assert torch.equal(before, after), blocks
        g.set_growth(blocks + 1, fade=0.5)
        with torch.no_grad():
            assert not torch.equal(after, g(x, mask)["output"])


def test_zero_block_init_starts_every_grown_block_as_the_identity():
    """block_init=zero: γ = β = 0 in each grown block's last BatchNorm, so at full weight (α = 1) the grown net is
    still the head, in train and eval mode; γ alone gets a gradient at first. The head and every other
    parameter are PyTorch's default (the same draws as block_init=default)."""
    torch.manual_seed(0)
    zero = BTGMIGenerator(channels=(4, 8, 8), num_blocks=2, max_extra_blocks=2, block_init="zero")
    torch.manual_seed(0)
    default = BTGMIGenerator(channels=(4, 8, 8), num_blocks=2, max_extra_blocks=2, block_init="default")
    last = {f"extra_blocks.{i}.branch.4.weight" for i in range(2)}
    assert all(torch.equal(v, default.state_dict()[k]) for k, v in zero.state_dict().items() if k not in last)
    assert all(float(zero.state_dict()[k].abs().max()) == 0.0 for k in last)
    image, mask = _batch()
    x = image * (1 - mask)
    for train_mode in (True, False):
        zero.train(train_mode)
        zero.set_growth(0)
        with torch.no_grad():
            head = zero(x, mask)["output"]
        zero.set_growth(2, fade=1.0)
        with torch.no_grad():
            assert torch.equal(zero(x, mask)["output"], head)
        default.train(train_mode).set_growth(2, fade=1.0)
        with torch.no_grad():
            assert not torch.equal(default(x, mask)["output"], head)
    zero.train().set_growth(1, fade=1.0)
    zero(x, mask)["output"].sum().backward()
    branch = zero.extra_blocks[0].branch
    assert branch[4].weight.grad.abs().sum() > 0 and branch[0].weight.grad.abs().sum() == 0
    with pytest.raises(ConfigError, match="block_init"):
        BTGMIGenerator(block_init="xavier")


def test_inactive_blocks_get_no_gradient():
    g = _gen()
    g.set_growth(1, fade=0.3)
    image, mask = _batch()
    g(image * (1 - mask), mask)["output"].sum().backward()
    assert all(p.grad is not None for p in g.extra_blocks[0].parameters())
    assert all(p.grad is None for b in g.extra_blocks[1:] for p in b.parameters())


def test_grown_checkpoint_loads_without_its_history():
    g = _gen()
    g.set_growth(2, fade=0.25)
    fresh = BTGMIGenerator(channels=(4, 8, 8), num_blocks=2, max_extra_blocks=3).eval()
    fresh.load_state_dict(g.state_dict())
    assert int(fresh.active_blocks) == 2 and float(fresh.fade) == 0.25
    image, mask = _batch()
    g.eval()
    with torch.no_grad():
        assert torch.equal(g(image, mask)["output"], fresh(image, mask)["output"])


def test_grown_generator_through_the_default_adapter():
    g = _gen().eval()
    g.set_growth(3, fade=1.0)
    image, mask = _batch(size=40)  # not a multiple of 8: the Inpainter pads; the adapter sees the padded size
    adapter = adapter_for(g)
    assert adapter.size_multiple == 8 and adapter.channels == 3
    image, mask = image[..., :40, :40], mask[..., :40, :40]
    out = fill_composite(adapter, image, mask)
    assert out.shape == image.shape
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    assert not torch.equal(out, image)


def _changed_patches(d: MultiScalePatchDiscriminator, image: torch.Tensor, mask: torch.Tensor) -> dict:
    """Patches whose logit moves when only hole pixels change: the exact receptive-field dependence."""
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(3), dtype=image.dtype)
    with torch.no_grad():
        a = d(image, mask)
        b = d(image + noise * mask, mask)
    return {k: (a[k] != b[k]).to(a[k].dtype) for k in a}


@pytest.mark.parametrize("size", [40, 96])
def test_label_maps_are_exactly_the_receptive_field(size):
    """Q (Eq. 4) from max-pooling the mask through the chain = the patches a hole pixel can influence."""
    torch.manual_seed(0)
    d = MultiScalePatchDiscriminator(ndf=4, norm="none").double()
    image, mask = _batch(size=size)
    image, mask = image.double(), mask.double()
    mask[0] = 0
    mask[0, :, 0, size - 1] = 1  # a single corner pixel
    q = d.label_maps(mask)
    changed = _changed_patches(d, image, mask)
    for k in q:
        assert q[k].shape == changed[k].shape
        assert torch.equal(q[k].double(), changed[k]), k
        assert q[k][1].sum() > 0 and q[k][0].sum() > 0
    if size == 96:  # the full-scale critic's 70-px receptive field leaves far patches of the corner hole real
        assert q["d1"][0].sum() < q["d1"][0].numel() / 2


def test_discriminator_shapes_and_condition():
    d = MultiScalePatchDiscriminator(ndf=4)
    image, mask = _batch(size=64)
    out = d(image, mask)
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(11, 11), (7, 7), (5, 5)]
    assert d.critics[0].net[0].in_channels == 7  # image, corrupted image, mask
    # s built inside: the same corrupted input for any x with the same known pixels
    with torch.no_grad():
        s = torch.cat([image * (1 - mask), mask], 1)
        first = d.critics[0].net[0]
        seen = []
        hook = first.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
        d(image, mask)
        hook.remove()
    assert torch.equal(seen[0], torch.cat([image, s], 1))
    # an explicit condition (Sec. 4.4's guided s): C planes, one clear line when it does not fit
    guided = MultiScalePatchDiscriminator(ndf=4, condition_channels=5)
    assert guided.critics[0].net[0].in_channels == 8
    cond = torch.rand(2, 5, 64, 64)
    assert guided(image, mask, cond)["d1"].shape == out["d1"].shape
    with pytest.raises(ConfigError, match="without a condition"):
        guided(image, mask)
    with pytest.raises(ConfigError, match="condition_channels=5"):
        d(image, mask, cond)
    with pytest.raises(ConfigError, match="5 condition planes, got 4"):
        guided(image, mask, cond[:, :4])

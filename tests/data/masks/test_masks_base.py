"""The mask-generator contract shared by every family: shape, dtype, {0,1}, seeding, per-batch, rejection, errors."""

from __future__ import annotations

import math

import pytest
import torch

from inpaintlab.data.masks import (
    CenterSquareMask,
    DeepFillBoxMask,
    FreeFormMask,
    MaskGenerator,
    MixtureMask,
    RandomBoxMask,
    RandomWalkStrokeMask,
    UnionMask,
    hole_ratio,
    lama_preset,
    seeded_generator,
)
from inpaintlab.errors import ConfigError


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


GENERATORS = {
    "center": lambda: CenterSquareMask(16),
    "box": lambda: RandomBoxMask(count=(1, 3), size=(8, 24)),
    "deepfill_v1_box": lambda: DeepFillBoxMask(height=32, width=32, max_delta=8),
    "free_form": lambda: FreeFormMask(),
    "random_walk": lambda: RandomWalkStrokeMask(num_strokes=(1, 4), length=(5, 30), width=(2, 8)),
    "lama_thin": lambda: lama_preset("thin"),
    "lama_thick": lambda: lama_preset("thick"),
    "union": lambda: UnionMask([FreeFormMask(), RandomBoxMask(size=(8, 16))]),
    "mixture": lambda: MixtureMask({"a": CenterSquareMask(8), "b": FreeFormMask()}, {"a": 1, "b": 2}),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_contract_shape_dtype_binary_and_seeding(name):
    gen = GENERATORS[name]()
    a = gen(5, 96, 128, g(3))
    assert a.shape == (5, 1, 96, 128) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, gen(5, 96, 128, g(3))), "same seed must give the same masks"
    assert not torch.equal(a, gen(5, 96, 128, g(4))) or name == "center", "another seed must give other masks"
    assert gen(0, 96, 128, g(3)).shape == (0, 1, 96, 128)
    torch.manual_seed(11)
    b = gen(2, 96, 128)
    torch.manual_seed(11)
    assert torch.equal(b, gen(2, 96, 128)), "generator=None must follow torch's global RNG"


def test_per_batch_repeats_one_mask_and_per_sample_differs():
    per_batch = FreeFormMask(per_batch=True)(6, 64, 64, g(1))
    assert all(torch.equal(per_batch[0], m) for m in per_batch)
    per_sample = FreeFormMask()(6, 64, 64, g(1))
    assert not all(torch.equal(per_sample[0], m) for m in per_sample)


def test_max_and_min_hole_ratio_redraw_until_in_range():
    gen = RandomBoxMask(count=(1, 4), size=(4, 40), max_hole_ratio=0.2, min_hole_ratio=0.02)
    r = hole_ratio(gen(200, 64, 64, g(0)))
    assert float(r.max()) <= 0.2 and float(r.min()) >= 0.02
    # without the bounds the same parameters do leave the range, so the redraw did work
    r0 = hole_ratio(RandomBoxMask(count=(1, 4), size=(4, 40))(200, 64, 64, g(0)))
    assert float(r0.max()) > 0.2 and float(r0.min()) < 0.02


def test_impossible_ratio_range_fails_clearly():
    gen = CenterSquareMask(32, max_hole_ratio=0.1, max_tries=3)
    with pytest.raises(RuntimeError, match="hole ratio outside"):
        gen(2, 64, 64, g(0))


def test_union_is_the_pixelwise_max_of_its_parts_drawn_in_order():
    a, b = FreeFormMask(), RandomBoxMask(size=(8, 16))
    u = UnionMask({"strokes": a, "box": b})(4, 64, 64, g(7))
    gg = g(7)
    expected = torch.maximum(a(4, 64, 64, gg), b(4, 64, 64, gg))
    assert torch.equal(u, expected)


def test_mixture_follows_its_probabilities():
    small, big = CenterSquareMask(8), CenterSquareMask(16)
    gen = MixtureMask([small, big], probs=[0.25, 0.75])
    r = hole_ratio(gen(4000, 32, 32, g(0)))
    frac_small = float((r == 64 / 1024).float().mean())
    assert abs(frac_small - 0.25) < 0.03  # binomial s.d. 0.007
    assert set(r.tolist()) == {64 / 1024, 256 / 1024}
    one_kind = MixtureMask([small, big], probs=[0.5, 0.5], per_batch=True)(16, 32, 32, g(1))
    assert len({float(x) for x in hole_ratio(one_kind)}) == 1


def test_mixture_and_union_reject_bad_configs():
    with pytest.raises(ConfigError, match="probabilities"):
        MixtureMask([CenterSquareMask(8)], probs=[1, 2])
    with pytest.raises(ConfigError, match="must match generator names"):
        MixtureMask({"a": CenterSquareMask(8)}, probs={"b": 1})
    with pytest.raises(ConfigError, match=">= 0"):
        MixtureMask([CenterSquareMask(8), CenterSquareMask(4)], probs=[1, -1])
    with pytest.raises(TypeError, match="not a MaskGenerator"):
        UnionMask([CenterSquareMask(8), "box"])
    with pytest.raises(ConfigError, match="at least one"):
        UnionMask([])


def test_call_argument_errors_are_clear():
    gen = CenterSquareMask(8)
    with pytest.raises(ConfigError, match="n must be >= 0"):
        gen(-1, 32, 32)
    with pytest.raises(ConfigError, match="height and width"):
        gen(1, 0, 32)
    with pytest.raises(TypeError, match="height must be an int"):
        gen(1, 32.5, 32)
    with pytest.raises(TypeError, match="torch.Generator"):
        gen(1, 32, 32, generator=0)
    with pytest.raises(ConfigError, match="max_hole_ratio"):
        CenterSquareMask(8, max_hole_ratio=1.5)


def test_base_class_needs_generate():
    with pytest.raises(NotImplementedError):
        MaskGenerator()(1, 8, 8)


def test_seeded_generator_matches_the_datamodule_seed_formula():
    from inpaintlab.data.datamodule import frozen_seed

    for seed, i in [(0, 0), (2024, 7), (2025, 123456)]:
        assert seeded_generator(seed, i).initial_seed() == frozen_seed(seed, i)
    a = torch.rand(3, generator=seeded_generator(5, 1))
    assert torch.equal(a, torch.rand(3, generator=seeded_generator(5, 1)))
    assert not torch.equal(a, torch.rand(3, generator=seeded_generator(5, 2)))
    with pytest.raises(ConfigError):
        seeded_generator(-1, 0)


def test_hole_ratio_checks_shape():
    assert torch.allclose(hole_ratio(torch.ones(2, 1, 4, 4)), torch.ones(2))
    with pytest.raises(ValueError, match="n×1×H×W"):
        hole_ratio(torch.ones(2, 3, 4, 4))


def test_repr_names_parameters():
    text = repr(UnionMask([FreeFormMask(), DeepFillBoxMask()], per_batch=True))
    assert "FreeFormMask(num_strokes=[1, 3]" in text and "per_batch=True" in text
    assert math.isclose(FreeFormMask().mean_angle, 2 * math.pi / 5)


def test_mixture_switches_type_per_batch_with_a_mask_per_sample():
    """CR-Fill Sec. 5: one hole type per mini-batch, every sample its own mask of that type."""
    from inpaintlab.data.masks import MixtureMask, RandomBoxMask

    square = RandomBoxMask(count=(1, 1), size_ratio=(0.25, 0.5), square=True)
    full = RandomBoxMask(count=(1, 1), size_ratio=(1.0, 1.0), square=True)  # always the whole image
    mix = MixtureMask({"square": square, "full": full}, choose="batch")
    kinds = []
    for seed in range(12):
        m = mix(6, 32, 32, torch.Generator().manual_seed(seed))
        whole = m.flatten(1).mean(1) == 1.0
        assert whole.all() or not whole.any()  # one type for the whole batch
        if not whole.any():
            assert len({tuple(x.flatten().tolist()) for x in m}) > 1  # separate masks per sample
        kinds.append(bool(whole.all()))
    assert 0 < sum(kinds) < len(kinds)  # both types occur across batches
    again = mix(6, 32, 32, torch.Generator().manual_seed(3))
    assert torch.equal(again, mix(6, 32, 32, torch.Generator().manual_seed(3)))  # seeded
    with pytest.raises(ConfigError, match="choose"):
        MixtureMask({"square": square}, choose="epoch")
    one = MixtureMask({"square": square, "full": full}, choose="batch", per_batch=True)(4, 32, 32, torch.Generator().manual_seed(0))
    assert all(torch.equal(one[0], x) for x in one)  # the option: one mask repeated over the batch

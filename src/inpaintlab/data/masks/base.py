"""Mask-generator interface, seeding helpers and the combinators (union, mixture) shared by every family."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from inpaintlab.errors import ConfigError

__all__ = [
    "MaskGenerator",
    "MixtureMask",
    "UnionMask",
    "check_mask_tensor",
    "hole_ratio",
    "seeded_generator",
]


def seeded_generator(seed: int, index: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` for mask ``index`` of the frozen set with seed ``seed``.

    Same seed formula as the DataModule's evaluation masks (``inpaintlab.data.datamodule.frozen_seed``), so a
    set written by ``inpaintlab-make-masks --seed S`` holds exactly the masks drawn on the fly with seed S.
    """
    if int(seed) < 0 or int(index) < 0:
        raise ConfigError(f"seeded_generator needs seed >= 0 and index >= 0, got seed={seed}, index={index}")
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(index)) % (2**63 - 1))


def hole_ratio(masks: Tensor) -> Tensor:
    """Fraction of hole pixels of each mask of an n×1×H×W batch (1 = hole): a length-n tensor."""
    check_mask_tensor(masks)
    return masks.flatten(1).float().mean(1)


def check_mask_tensor(masks: Tensor, name: str = "masks") -> None:
    """Raise a clear error unless ``masks`` is an n×1×H×W tensor."""
    if not isinstance(masks, Tensor) or masks.dim() != 4 or masks.shape[1] != 1:
        shape = tuple(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__
        raise ConfigError(f"{name} must be an n×1×H×W tensor (1 = hole), got {shape}")


def _uniform(n: int | tuple[int, ...], lo: float, hi: float, g: torch.Generator | None) -> Tensor:
    shape = (n,) if isinstance(n, int) else n
    return lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)


def _randint(n: int | tuple[int, ...], lo: int, hi: int, g: torch.Generator | None) -> Tensor:
    """Integers in [lo, hi] (both inclusive, unlike torch.randint)."""
    shape = (n,) if isinstance(n, int) else n
    if hi < lo:
        raise ConfigError(f"empty integer range [{lo}, {hi}]")
    return torch.randint(int(lo), int(hi) + 1, shape, generator=g)


def _pair(value, name: str, cast=int) -> tuple:
    """Accept ``v`` or ``(lo, hi)`` (lists from YAML too) and return an ordered pair."""
    if isinstance(value, (int, float)):
        lo = hi = value
    else:
        try:
            lo, hi = value
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number or a [min, max] pair, got {value!r}") from None
    lo, hi = cast(lo), cast(hi)
    if hi < lo:
        raise ConfigError(f"{name} must be [min, max] with min <= max, got [{lo}, {hi}]")
    return lo, hi


class MaskGenerator:
    """Base class of every hole generator (free-form: DeepFill v2 Sec. 3.2; LaMa Sec. 3; CR-Fill Sec. 5).

    ``gen(n, height, width, generator)`` returns an n×1×H×W float tensor of {0, 1}, 1 = hole, on the CPU.
    The result is a function of the generator's state alone (``None`` uses torch's global RNG, which the
    DataLoader seeds per worker). Subclasses implement ``_generate``.

    ``per_batch=True`` draws one mask and repeats it for all n samples (DeepFill v1, CR-Fill train that way).
    ``max_hole_ratio`` redraws masks whose hole ratio exceeds it (LaMa's ``max_tamper_area`` = 0.5), at most
    ``max_tries`` rounds; ``min_hole_ratio`` likewise redraws masks with too small a hole.
    """

    def __init__(
        self,
        per_batch: bool = False,
        max_hole_ratio: float | None = None,
        min_hole_ratio: float | None = None,
        max_tries: int = 100,
    ) -> None:
        for name, v in (("max_hole_ratio", max_hole_ratio), ("min_hole_ratio", min_hole_ratio)):
            if v is not None and not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"{type(self).__name__}: {name} must lie in [0, 1], got {v}")
        if max_hole_ratio is not None and min_hole_ratio is not None and min_hole_ratio > max_hole_ratio:
            raise ConfigError(
                f"{type(self).__name__}: min_hole_ratio {min_hole_ratio} > max_hole_ratio {max_hole_ratio}"
            )
        self.per_batch = bool(per_batch)
        self.max_hole_ratio = None if max_hole_ratio is None else float(max_hole_ratio)
        self.min_hole_ratio = None if min_hole_ratio is None else float(min_hole_ratio)
        self.max_tries = int(max_tries)

    # -- interface ----------------------------------------------------------------------------------
    def _generate(self, n: int, height: int, width: int, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def __call__(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> Tensor:
        n, height, width = self._check_call(n, height, width, generator)
        k = 1 if self.per_batch and n > 0 else n
        masks = self._generate_filtered(k, height, width, generator)
        if masks.shape != (k, 1, height, width):
            raise RuntimeError(
                f"{type(self).__name__} produced shape {tuple(masks.shape)}, expected {(k, 1, height, width)}"
            )
        masks = masks.to(torch.float32)
        return masks.expand(n, 1, height, width).clone() if k != n else masks

    def _generate_filtered(self, n: int, height: int, width: int, g: torch.Generator | None) -> Tensor:
        masks = self._generate(n, height, width, g)
        if self.max_hole_ratio is None and self.min_hole_ratio is None or n == 0:
            return masks
        for _ in range(self.max_tries):
            bad = self._out_of_range(masks)
            if not bool(bad.any()):
                return masks
            idx = bad.nonzero().flatten()
            masks[idx] = self._generate(int(idx.numel()), height, width, g).to(masks.dtype)
        bad = self._out_of_range(masks)
        if bool(bad.any()):
            raise RuntimeError(
                f"{type(self).__name__}: after {self.max_tries} redraws {int(bad.sum())} of {n} masks still have a "
                f"hole ratio outside [{self.min_hole_ratio}, {self.max_hole_ratio}] at {height}×{width}; "
                "widen the range or change the generator's parameters"
            )
        return masks

    def _out_of_range(self, masks: Tensor) -> Tensor:
        r = masks.flatten(1).float().mean(1)
        bad = torch.zeros_like(r, dtype=torch.bool)
        if self.max_hole_ratio is not None:
            bad |= r > self.max_hole_ratio
        if self.min_hole_ratio is not None:
            bad |= r < self.min_hole_ratio
        return bad

    def _check_call(self, n, height, width, generator):
        name = type(self).__name__
        for label, v in (("n", n), ("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) and not (
                isinstance(v, Tensor) and v.numel() == 1
            ):
                raise TypeError(f"{name}: {label} must be an int, got {type(v).__name__} {v!r}")
        n, height, width = int(n), int(height), int(width)
        if n < 0:
            raise ConfigError(f"{name}: n must be >= 0, got {n}")
        if height < 1 or width < 1:
            raise ConfigError(f"{name}: height and width must be >= 1 pixel, got {height}×{width}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"{name}: generator must be a torch.Generator or None, got {type(generator).__name__}")
        if generator is not None and generator.device.type != "cpu":
            raise ConfigError(f"{name}: masks are drawn on the CPU; pass a CPU torch.Generator, got {generator.device}")
        return n, height, width

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        opts = []
        if self.per_batch:
            opts.append("per_batch=True")
        if self.max_hole_ratio is not None:
            opts.append(f"max_hole_ratio={self.max_hole_ratio}")
        if self.min_hole_ratio is not None:
            opts.append(f"min_hole_ratio={self.min_hole_ratio}")
        body = ", ".join([s for s in (self.extra_repr(), *opts) if s])
        return f"{type(self).__name__}({body})"


def _as_named(generators, owner: str) -> tuple[list[str], list[MaskGenerator]]:
    if isinstance(generators, Mapping):
        names, gens = [str(k) for k in generators], list(generators.values())
    elif isinstance(generators, Sequence) and not isinstance(generators, (str, bytes)):
        gens = list(generators)
        names = [str(i) for i in range(len(gens))]
    else:
        raise TypeError(f"{owner}: generators must be a list or a dict name -> MaskGenerator, got {type(generators)}")
    if not gens:
        raise ConfigError(f"{owner}: needs at least one generator")
    for name, gen in zip(names, gens):
        if not isinstance(gen, MaskGenerator):
            raise TypeError(f"{owner}: generator {name!r} is a {type(gen).__name__}, not a MaskGenerator")
    return names, gens


class UnionMask(MaskGenerator):
    """Union of several generators' holes (DeepFill v2 official code: strokes ∪ v1 box; CR-Fill Sec. 5: strokes ∪ shape).

    Each component draws from the same generator in list order, so the union is reproducible.
    """

    def __init__(self, generators, **kwargs) -> None:
        super().__init__(**kwargs)
        self.names, self.generators = _as_named(generators, "UnionMask")

    def _generate(self, n, height, width, g):
        out = self.generators[0](n, height, width, g)
        for gen in self.generators[1:]:
            torch.maximum(out, gen(n, height, width, g), out=out)  # in place: no new n×H×W buffer
        return out

    def extra_repr(self) -> str:
        return "[" + ", ".join(f"{k}={v!r}" for k, v in zip(self.names, self.generators)) + "]"


class MixtureMask(MaskGenerator):
    """Each mask comes from one generator picked with the given probabilities (CR-Fill Sec. 5; LaMa Sec. 3).

    ``probs`` need not sum to 1 (they are normalised, as LaMa does). ``choose="sample"``: a type per mask;
    ``choose="batch"``: one type per call (= per training batch, the DataModule draws a batch's masks in one
    call) and a separate mask of that type for each sample — CR-Fill Sec. 5, the hole type "randomly switched
    at every mini-batch". ``per_batch=True`` instead repeats one mask over the whole batch.
    """

    def __init__(self, generators, probs: Sequence[float] | Mapping[str, float] | None = None,
                 choose: str = "sample", **kwargs) -> None:
        super().__init__(**kwargs)
        if choose not in ("sample", "batch"):
            raise ConfigError(f"MixtureMask: choose must be 'sample' or 'batch', got {choose!r}")
        self.choose = choose
        self.names, self.generators = _as_named(generators, "MixtureMask")
        if probs is None:
            p = [1.0] * len(self.generators)
        elif isinstance(probs, Mapping):
            missing = set(self.names) ^ {str(k) for k in probs}
            if missing:
                raise ConfigError(f"MixtureMask: probs keys {sorted(probs)} must match generator names {self.names}")
            p = [float(probs[k]) for k in self.names]
        else:
            p = [float(x) for x in probs]
        if len(p) != len(self.generators):
            raise ConfigError(f"MixtureMask: {len(p)} probabilities for {len(self.generators)} generators")
        if any(x < 0 for x in p) or sum(p) <= 0:
            raise ConfigError(f"MixtureMask: probabilities must be >= 0 with a positive sum, got {p}")
        self.probs = torch.tensor(p, dtype=torch.float64) / sum(p)

    def _generate(self, n, height, width, g):
        draws = 1 if self.choose == "batch" else n
        choice = torch.multinomial(self.probs, draws, replacement=True, generator=g) if n else torch.zeros(0, dtype=torch.long)
        choice = choice.expand(n) if n and draws == 1 else choice
        out = None
        for k, gen in enumerate(self.generators):
            idx = (choice == k).nonzero().flatten()
            if idx.numel() == n:
                return gen(n, height, width, g)
            if idx.numel():
                if out is None:
                    out = torch.empty(n, 1, height, width)
                out[idx] = gen(int(idx.numel()), height, width, g)
        return out if out is not None else torch.zeros(n, 1, height, width)

    def extra_repr(self) -> str:
        parts = [f"{k}: {p:.3g}·{v!r}" for k, p, v in zip(self.names, self.probs.tolist(), self.generators)]
        return "[" + ", ".join(parts) + "]"

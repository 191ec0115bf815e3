"""The loss-term interface shared by every paper."""

from __future__ import annotations

from torch import Tensor, nn


class LossTerm(nn.Module):
    """A named, weighted term of the generator objective: ``weight · f(pred, target, mask)``.

    ``source`` names the generator output the term reads ("output" for the final image, "coarse" for a
    first stage), so one class serves every stage of a multi-stage generator. ``forward`` returns the
    unweighted value; the module multiplies by ``weight`` and logs both.
    """

    def __init__(self, weight: float = 1.0, source: str = "output") -> None:
        super().__init__()
        self.weight = float(weight)
        self.source = source

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward(pred, target, mask)")

    def components(self, pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Unweighted diagnostic parts of the term, logged beside it (none by default)."""
        return {}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, source={self.source!r}"

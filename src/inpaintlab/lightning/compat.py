"""The two places where inpaintlab reaches into Lightning's internals, and nowhere else.

Both are private attributes of Lightning 2.x with no public equivalent; ``tests/lightning/test_compat.py`` fails
naming the attribute when a Lightning release changes them, and ``pyproject.toml`` caps ``lightning`` below the
first release that test has not passed on.

* :func:`uncounted_step`: papers count generator iterations, Lightning's ``global_step`` counts every optimizer
  step of manual optimisation. A critic step runs with the ``LightningOptimizer``'s step hooks
  (``_on_before_step`` / ``_on_after_step``, which advance the step counter) silenced.
* :func:`batches_that_stepped`: how many batches have logged so far (``fit_loop.epoch_loop._batches_that_stepped``,
  the counter Lightning's ``log_every_n_steps`` reads), so diagnostics are computed only on logged steps.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

STEP_HOOKS = ("_on_before_step", "_on_after_step")  # LightningOptimizer attributes that count a step


@contextmanager
def uncounted_step(optimizer: Any, active: bool = True):
    """Step ``optimizer`` (a ``LightningOptimizer``) inside this block without advancing ``trainer.global_step``.
    A plain ``torch.optim.Optimizer`` (no step hooks) and ``active=False`` step as usual."""
    from lightning.pytorch.core.optimizer import LightningOptimizer

    saved = {name: getattr(optimizer, name, None) for name in STEP_HOOKS}
    silence = active and isinstance(optimizer, LightningOptimizer)
    if silence and any(hook is None for hook in saved.values()):
        raise RuntimeError(_changed(f"LightningOptimizer.{'/'.join(STEP_HOOKS)}"))
    if silence:
        for name in STEP_HOOKS:
            setattr(optimizer, name, _no_op)
    try:
        yield optimizer
    finally:
        if silence:
            for name, hook in saved.items():
                setattr(optimizer, name, hook)


def _no_op() -> None:
    return None


def batches_that_stepped(trainer: Any) -> int:
    """Batches of this fit that have stepped (and logged), as Lightning's logger connector counts them."""
    try:
        return int(trainer.fit_loop.epoch_loop._batches_that_stepped)
    except AttributeError:
        raise RuntimeError(_changed("trainer.fit_loop.epoch_loop._batches_that_stepped")) from None


def _changed(what: str) -> str:
    import lightning

    return (f"lightning {lightning.__version__} has no {what}, which inpaintlab.lightning.compat relies on: "
            "install the lightning version pyproject.toml allows")

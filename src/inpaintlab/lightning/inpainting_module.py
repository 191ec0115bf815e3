"""One LightningModule for every paper: generator, optional discriminator, named loss terms, G/D schedule."""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

import lightning as L
from inpaintlab.conventions import composite
from inpaintlab.errors import ConfigError
from inpaintlab.lightning.compat import batches_that_stepped, uncounted_step
from inpaintlab.lightning.phases import DEFAULT_PHASE, Phase, PhaseSchedule
from inpaintlab.lightning.speed import apply_speed_options
from inpaintlab.losses.adversarial import AdversarialLoss
from inpaintlab.losses.base import LossTerm

log = logging.getLogger(__name__)

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


@contextmanager
def _bn_stats_kept(module: nn.Module, active: bool):
    """Forward in train mode without moving BatchNorm statistics: a frozen generator stays bit-identical."""
    if not active:
        yield
        return
    saved = {k: v.clone() for k, v in module.state_dict().items() if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    try:
        yield
    finally:
        module.load_state_dict(saved, strict=False)


class InpaintingModule(L.LightningModule):
    """Trains a generator on named, weighted loss terms, with an optional adversarial critic.

    Manual optimisation: every batch makes one discriminator step (when a discriminator and an adversarial
    loss are configured); every ``n_critic``-th batch also makes one generator step (WGAN-GP Alg. 1 with
    n_critic; n_critic=1 alternates D and G on each batch as DeepFill v2 does). ``trainer.global_step``
    counts generator steps. Subclasses change the procedure through small hooks instead of copying the constructor,
    ``training_step`` or ``configure_optimizers``: ``forward_batch`` / ``generator_forward`` (what the generator
    reads), ``generator_loss`` / ``discriminator_loss`` (extra terms on top of ``super()``),
    ``adversarial_weight`` and ``adversarial_sources`` (which outputs the critic judges, with what weight),
    ``discriminator_inputs`` (what the critic is called with, for real and fake images),
    ``generator_parameters`` / ``discriminator_parameters`` (training-only networks trained alongside),
    ``enter_phase`` (a phase's switches) and ``eval_outputs`` (what validation and test log and score). The
    adversarial objective receives the mask and the critic (``AdversarialLoss.generator_loss(logits, mask=…,
    discriminator=…)``), so a hole-aware loss derives its own labels. ``phases`` (a :class:`~inpaintlab.lightning.phases.PhaseSchedule`) switches generator
    steps, critic steps, the adversarial term, learning rates and frozen BatchNorm over time (GLCIC, BTGMI,
    PConv fine-tuning); a critic-only phase counts its critic steps in ``global_step``.
    """

    def __init__(
        self,
        generator: nn.Module,
        losses: Mapping[str, LossTerm],
        optimizer_g: OptimizerFactory,
        discriminator: nn.Module | None = None,
        adversarial: AdversarialLoss | None = None,
        optimizer_d: OptimizerFactory | None = None,
        scheduler_g: SchedulerFactory | None = None,
        scheduler_d: SchedulerFactory | None = None,
        n_critic: int = 1,
        fake_input: str = "composite",
        phases: PhaseSchedule | None = None,
        compile: bool | Mapping[str, Any] = False,
        channels_last: bool = False,
        generator_batch: str = "last_critic",
        nonfinite: str = "stop",
        max_skipped: int = 100,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        if not losses and adversarial is None:  # an unconditional prior (Yeh's DCGAN) has only the GAN loss
            raise ConfigError("model.losses is empty: configure at least one reconstruction term")
        if (discriminator is None) != (adversarial is None):
            raise ConfigError(
                "model.discriminator and model.adversarial go together: set both (a GAN) or neither "
                f"(got discriminator={type(discriminator).__name__}, adversarial={type(adversarial).__name__})"
            )
        if discriminator is not None and optimizer_d is None:
            raise ConfigError("model.optimizer_d is required when a discriminator is configured")
        if n_critic < 1:
            raise ConfigError(f"model.n_critic must be >= 1, got {n_critic}")
        if fake_input not in ("composite", "output"):
            raise ConfigError(f"model.fake_input must be 'composite' or 'output', got {fake_input!r}")
        if generator_batch not in ("last_critic", "fresh"):
            raise ConfigError(f"model.generator_batch must be 'last_critic' or 'fresh', got {generator_batch!r}")
        if nonfinite not in ("stop", "skip", "off"):
            raise ConfigError(f"model.nonfinite must be 'stop', 'skip' or 'off', got {nonfinite!r}")
        # a NaN/inf loss: "stop" the run naming the term and step, "skip" the optimiser step (counted; the run
        # stops after max_skipped of them), or "off" (no check: no host sync per step)
        self.nonfinite, self.max_skipped = nonfinite, int(max_skipped)
        self.skipped_steps = 0  # saved in checkpoints
        # "fresh": WGAN-GP Alg. 1 — n_critic batches for the critic, then a batch of its own for the generator;
        # "last_critic": the generator steps on the n_critic-th critic batch (one batch serves both)
        self.generator_batch = generator_batch
        self.gan_batches = 0  # batches of GAN phases seen; saved, so the fresh-batch cycle survives resume
        self.generator = generator
        self.discriminator = discriminator
        self.losses = nn.ModuleDict(dict(losses or {}))
        self.adversarial = adversarial
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.scheduler_g, self.scheduler_d = scheduler_g, scheduler_d
        self.n_critic = int(n_critic)
        self.fake_input = fake_input
        self.d_steps = 0  # discriminator steps taken; saved in checkpoints so n_critic phase survives resume
        if phases is not None and not isinstance(phases, PhaseSchedule):
            phases = PhaseSchedule(phases)
        self.phases = phases
        self._phase_index: int | None = None  # the phase whose settings are applied
        # the inference adapter's options used in val/test (set by inpaintlab-train / inpaintlab-eval from the
        # config; saved and restored by callbacks.run_record.RunRecord)
        self.inference_options: dict[str, Any] = {}
        # speed options (configure_model): torch.compile kwargs (True = defaults) and the NHWC memory format
        self.compile_options = dict(compile) if isinstance(compile, Mapping) else ({} if compile else None)
        self.channels_last = bool(channels_last)

    # ---------------------------------------------------------------- phases
    @property
    def phase(self) -> Phase:
        """The phase of the current global step (one default phase without a schedule)."""
        return DEFAULT_PHASE if self.phases is None else self.phases.at(self.global_step)[1]

    @property
    def phase_step(self) -> int:
        """Steps already taken in the current phase."""
        return self.global_step if self.phases is None else self.phases.at(self.global_step)[2]

    def enter_phase(self, index: int, phase: Phase) -> None:
        """Applies a phase's learning rates at its start (and on resume); subclasses add their own switches."""
        opt_g, opt_d = self._opts()
        for opt, lr in ((opt_g, phase.lr_g), (opt_d, phase.lr_d)):
            if opt is not None and lr is not None:
                for group in opt.optimizer.param_groups if hasattr(opt, "optimizer") else opt.param_groups:
                    group["lr"] = float(lr)
        frozen = self._frozen_bn(phase)
        for m in self.generator.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                for p in m.parameters(recurse=False):
                    p.requires_grad_(m not in frozen)
        log.info("phase %d/%d: %s", index + 1, len(self.phases or [phase]), phase.name)

    def _frozen_bn(self, phase: Phase) -> set[nn.Module]:
        """BatchNorm layers under the phase's ``freeze_bn`` prefixes of the generator (PConv Sec. 4.2)."""
        found: set[nn.Module] = set()
        for name, m in self.generator.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and any(
                name == p or name.startswith(p + ".") or p == "" for p in phase.freeze_bn
            ):
                found.add(m)
        return found

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.phases is not None:
            index, phase, _ = self.phases.at(self.global_step)
            if index != self._phase_index:
                self._phase_index = index
                self.enter_phase(index, phase)
            # Lightning sets train() after every validation: frozen BatchNorm goes back to eval each batch
            for m in self._frozen_bn(phase):
                m.eval()

    def on_fit_start(self) -> None:
        total = self.phases.total_steps if self.phases is not None else None
        max_steps = self.trainer.max_steps if self._trainer is not None else -1
        if total is not None and max_steps is not None and 0 < max_steps < total:
            log.warning("trainer.max_steps=%d ends before the phase schedule (%s, %d steps)", max_steps, self.phases, total)

    # ---------------------------------------------------------------- speed options
    def configure_model(self) -> None:
        """``model.channels_last``: NHWC weights and batches; ``model.compile``: ``torch.compile`` of the generator
        and critics in place (state-dict keys unchanged). A critic whose loss takes a double backward (WGAN-GP's
        penalty) stays eager: compiled graphs do not support it."""
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        double_backward = self.adversarial is not None and type(self.adversarial).penalty is not AdversarialLoss.penalty
        eager = {"discriminator": f"{type(self.adversarial).__name__}'s double backward"} if double_backward else {}
        apply_speed_options({k: m for k, m in nets.items() if m is not None}, self.channels_last,
                            self.compile_options, eager)

    # ---------------------------------------------------------------- forward and hooks
    @property
    def has_gan(self) -> bool:
        return self.discriminator is not None

    def forward(self, image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Inpaint: returns the generator's outputs plus "composite" (known pixels kept exactly)."""
        out = dict(self.generator_forward(image, mask))
        out["composite"] = composite(out["output"], image, mask)
        return out

    def generator_forward(self, image: Tensor, mask: Tensor) -> Mapping[str, Tensor]:
        """Runs the generator on the masked image (docs/design.md: the network never sees hole pixels)."""
        out = self.generator(image * (1.0 - mask), mask)
        return out if isinstance(out, Mapping) else {"output": out}

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """The generator's outputs for a batch (training and evaluation): ``generator_forward(image, mask)``;
        methods whose input is more than the masked image (BTGMI's guided composites) read their batch keys."""
        return self.generator_forward(batch["image"], batch["mask"])

    # generator outputs the critic judges, each composited into the hole as ``fake_input`` says (BTGMI Sec. 4.4's
    # guided model adds "harmonized"); with several, the generator sums their terms and the critic averages them
    adversarial_sources: tuple[str, ...] = ("output",)

    def fake_for_discriminator(self, out: Mapping[str, Tensor], image: Tensor, mask: Tensor,
                               source: str = "output") -> Tensor:
        return composite(out[source], image, mask) if self.fake_input == "composite" else out[source]

    def discriminator_inputs(self, batch: Mapping[str, Tensor], x: Tensor, real: bool = False) -> tuple[Tensor, ...]:
        """The critic's arguments for judging ``x`` — the batch's real image (``real``) or a fake of it: ``(x,
        mask)``. GLCIC gives real images their own mask M_d (Alg. 1); guided BTGMI adds the generator's input s
        (Eq. 1)."""
        return x, batch["mask"]

    def _log_components(self) -> bool:
        """Diagnostic parts of the loss are computed only on steps whose logs reach the loggers."""
        trainer = self._trainer
        if trainer is None or not self.training:
            return True
        stepped = batches_that_stepped(trainer)
        return (stepped + 1) % max(1, trainer.log_every_n_steps) == 0 or stepped == 0

    def adversarial_weight(self) -> float:
        """Generator-side adversarial weight at the current step (constant here; annealed by BTGMI)."""
        return self.adversarial.weight if self.adversarial is not None else 0.0

    def generator_loss(self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted sum of the named terms; returns the total and every term (unweighted) by name."""
        image, mask = batch["image"], batch["mask"]
        total = image.new_zeros(())
        logs: dict[str, Tensor] = {}
        for name, term in self.losses.items():
            if term.source not in out:
                raise ConfigError(
                    f"loss term {name!r} reads generator output {term.source!r}, but the generator returns "
                    f"{sorted(out)}"
                )
            value = term(out[term.source], image, mask)
            logs[f"loss/{name}"] = value.detach()
            if self._log_components():
                logs.update(term.components(out[term.source], image, mask))
            if term.weight:
                total = total + term.weight * value
        weight = self.adversarial_weight()
        if self.has_gan and self.phase.adversarial and weight > 0:
            terms = []
            for source in self.adversarial_sources:
                fake = self.fake_for_discriminator(out, image, mask, source)
                terms.append(self.adversarial.generator_loss(self.discriminator(*self.discriminator_inputs(batch, fake)),
                                                             mask=mask, discriminator=self.discriminator))
                if len(self.adversarial_sources) > 1:
                    logs[f"loss/adv_g_{source}"] = terms[-1].detach()
            adv = functools.reduce(operator.add, terms)
            logs["loss/adv_g"] = adv.detach()
            total = total + weight * adv
        logs["loss/total"] = total.detach()
        return total, logs

    def discriminator_loss(
        self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The critic's objective (real images against each source's fake, averaged) plus its penalty."""
        image, mask = batch["image"], batch["mask"]
        real_logits = self.discriminator(*self.discriminator_inputs(batch, image, real=True))
        losses, penalties = [], []
        for source in self.adversarial_sources:
            fake = self.fake_for_discriminator(out, image, mask, source).detach()
            fake_logits = self.discriminator(*self.discriminator_inputs(batch, fake))
            losses.append(self.adversarial.discriminator_loss(real_logits, fake_logits, mask=mask,
                                                              discriminator=self.discriminator))
            penalties.append(self.adversarial.penalty(self.discriminator, image, fake, mask))
        n = len(self.adversarial_sources)
        d_loss = functools.reduce(operator.add, losses) / n
        penalty = functools.reduce(operator.add, penalties) / n
        return d_loss + penalty, {"loss/adv_d": d_loss.detach(), "loss/penalty": penalty.detach()}

    # ---------------------------------------------------------------- training
    def _opts(self):
        opts = self.optimizers()
        return (opts[0], opts[1]) if isinstance(opts, list) else (opts, None)

    def _scheds(self):
        s = self.lr_schedulers()
        if s is None:
            return None, None
        s = s if isinstance(s, list) else [s]
        names = [n for n, f in (("g", self.scheduler_g), ("d", self.scheduler_d)) if f is not None]
        found = dict(zip(names, s))
        return found.get("g"), found.get("d")

    def _finite_or_skip(self, total: Tensor, logs: Mapping[str, Tensor], side: str) -> bool:
        """Principle 6 of docs/reliability.md: False when this step must be skipped (``nonfinite=skip``); raises
        ``NonFiniteLossError`` naming the first non-finite term and the step (``nonfinite=stop``)."""
        if self.nonfinite == "off" or bool(torch.isfinite(total.detach()).all()):
            return True
        from inpaintlab.errors import NonFiniteLossError

        bad = next((k for k, v in logs.items() if k.startswith("loss/") and k != "loss/total"
                    and not bool(torch.isfinite(v).all())), "loss/total")
        value = float(logs[bad].float().mean()) if bad in logs else float(total.float().mean())
        where = f"{side} loss term {bad.removeprefix('loss/')!r} is {value} at step {self.global_step}"
        if self.nonfinite == "skip" and self.skipped_steps < self.max_skipped:
            self.skipped_steps += 1
            log.warning("%s: step skipped (%d skipped so far, model.max_skipped=%d)", where, self.skipped_steps,
                        self.max_skipped)
            return False
        hint = (f" ({self.skipped_steps} steps skipped already, model.max_skipped={self.max_skipped})"
                if self.nonfinite == "skip" else " (model.nonfinite=skip skips such steps instead)")
        raise NonFiniteLossError(f"{where}: stopping; lower the learning rate or check the data{hint}")

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self._opts()
        sched_g, sched_d = self._scheds()
        logs: dict[str, Tensor] = {}
        phase = self.phase
        g_step = phase.generator
        out: Mapping[str, Tensor] | None = None
        d_step = self.has_gan and phase.discriminator
        if d_step and phase.generator and self.generator_batch == "fresh":
            position = self.gan_batches % (self.n_critic + 1)  # WGAN-GP Alg. 1: critic batches, then G's own
            d_step, g_step = position < self.n_critic, position == self.n_critic
            self.gan_batches += 1
        elif d_step and phase.generator:
            g_step = (self.d_steps + 1) % self.n_critic == 0
        if d_step:
            # the generator's graph is only needed when it steps on this batch
            with torch.set_grad_enabled(g_step), _bn_stats_kept(self.generator, not phase.generator):
                out = self.forward_batch(batch)
            self.toggle_optimizer(opt_d)
            d_total, d_logs = self.discriminator_loss(batch, out)
            opt_d.zero_grad(set_to_none=True)
            if self._finite_or_skip(d_total, d_logs, "discriminator"):
                self.manual_backward(d_total)
                with uncounted_step(opt_d, active=phase.generator):  # a critic-only phase counts critic steps
                    opt_d.step()
                if sched_d is not None:
                    sched_d.step()
                self.d_steps += 1
            self.untoggle_optimizer(opt_d)
            logs.update(d_logs)
        if g_step:
            if out is None:
                out = self.forward_batch(batch)
            if self.has_gan:  # no critic gradients during the generator's backward
                self.toggle_optimizer(opt_g)
            total, g_logs = self.generator_loss(batch, out)
            opt_g.zero_grad(set_to_none=True)
            if self._finite_or_skip(total, g_logs, "generator"):
                self.manual_backward(total)
                opt_g.step()
                if sched_g is not None:
                    sched_g.step()
            if self.has_gan:
                self.untoggle_optimizer(opt_g)
            logs.update(g_logs)
        self.log_dict({f"train/{k}": v for k, v in logs.items()}, on_step=True, on_epoch=False, prog_bar=False)
        if "loss/total" in logs:
            self.log("train/loss", logs["loss/total"], on_step=True, prog_bar=True)

    # ---------------------------------------------------------------- inference and evaluation
    @property
    def inference_adapter(self) -> Any:
        """The generator's inference adapter (``inpaintlab.inference``) with ``inference_options``, built lazily:
        validation and test score what ``inpaintlab-inpaint`` and ``Inpainter`` produce (GLCIC's blending,
        Yeh's latent search, CR-Fill's coarse scale)."""
        from inpaintlab.inference.adapters import adapter_class

        options = dict(self.inference_options or {})
        key = (id(self.generator), id(self.discriminator), repr(sorted(options.items())))
        cached = self.__dict__.get("_inference_adapter_cache")
        if cached is None or cached[0] != key:
            cls = adapter_class(self.generator)
            adapter = cls(self.generator, self.discriminator if cls.needs_discriminator else None, **options)
            self.__dict__["_inference_adapter_cache"] = cached = (key, adapter)
        return cached[1]

    def inference_composite(self, image: Tensor, mask: Tensor, out: Mapping[str, Tensor] | None = None) -> Tensor:
        """The composite the inference path gives; reuses ``out["output"]`` when the adapter's fill is the
        plain forward (no second generator pass)."""
        from inpaintlab.inference.adapters import Adapter, fill_composite

        adapter = self.inference_adapter
        if out is None or not adapter.fill_is_forward:
            return fill_composite(adapter, image, mask)
        result = composite(out["output"], image, mask)
        if type(adapter).postprocess is not Adapter.postprocess:  # a method's own step (GLCIC's blending)
            result = composite(adapter.postprocess(image, mask, result), image, mask)
        return result

    def _eval_step(self, batch: Mapping[str, Tensor], stage: str, dataloader_idx: int = 0) -> dict[str, Tensor]:
        """Logs ``eval_outputs``' scalars as ``<stage>/[<suite>/]<name>`` and returns its images to the callbacks."""
        from inpaintlab.data.datamodule import suite_prefix

        results = self.eval_outputs(batch, stage)
        prefix = suite_prefix(self._trainer, stage, dataloader_idx)  # "test/" or "test/<suite>/"
        for name, value in results.items():
            if value.dim() == 0:
                self.log(f"{prefix}{name}", value, on_step=False, on_epoch=True, sync_dist=True,
                         batch_size=batch["image"].shape[0], add_dataloader_idx=False)
        return {name: value for name, value in results.items() if value.dim() > 0}

    def eval_outputs(self, batch: Mapping[str, Tensor], stage: str) -> dict[str, Tensor]:
        """The one evaluation hook: what validation and test (``stage`` "val" / "test") log and score. Scalars are
        logged under their name ("loss": the reconstruction terms on the generator's raw outputs); images go to
        the callbacks — the raw "output" and the inference path's "composite", whose variants
        "composite_<name>" the metrics callback scores too."""
        image, mask = batch["image"], batch["mask"]
        out = self.forward_batch(batch)
        return {"loss": self.reconstruction_loss(batch, out), "output": out["output"],
                "composite": self.inference_composite(image, mask, out)}

    def reconstruction_loss(self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]) -> Tensor:
        """Evaluation loss: the weighted named terms without the critic (its value depends on the critic's
        state, not the output)."""
        image, mask = batch["image"], batch["mask"]
        total = image.new_zeros(())
        for term in self.losses.values():
            if term.source in out and term.weight:
                total = total + term.weight * term(out[term.source], image, mask)
        return total.detach()

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        return self._eval_step(batch, "val", dataloader_idx)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        return self._eval_step(batch, "test", dataloader_idx)

    def predict_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        return self(batch["image"], batch["mask"])

    # ---------------------------------------------------------------- optimisers and checkpoints
    def generator_parameters(self) -> list[nn.Parameter]:
        """What the generator's optimiser trains; subclasses add their training-only networks (CR-Fill's
        auxiliary network)."""
        return list(self.generator.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """What the critic's optimiser trains; subclasses add their extra critics (CR-Fill's auxiliary one)."""
        return [] if self.discriminator is None else list(self.discriminator.parameters())

    def configure_optimizers(self):
        opt_g = self.optimizer_g(params=self.generator_parameters())
        optimizers, schedulers = [opt_g], []
        if self.scheduler_g is not None:
            schedulers.append({"scheduler": self.scheduler_g(optimizer=opt_g), "interval": "step"})
        if self.has_gan:
            opt_d = self.optimizer_d(params=self.discriminator_parameters())
            optimizers.append(opt_d)
            if self.scheduler_d is not None:
                schedulers.append({"scheduler": self.scheduler_d(optimizer=opt_d), "interval": "step"})
        return optimizers, schedulers

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The module's own training state (critic steps, the fresh-batch cycle, skipped steps, the phase's name);
        what the run records besides (model config, RNG, wandb id) is ``callbacks.run_record.RunRecord``'s."""
        state = checkpoint.setdefault("inpaintlab", {})
        state["d_steps"] = self.d_steps
        state["gan_batches"] = self.gan_batches
        state["skipped_steps"] = self.skipped_steps
        if self.phases is not None:
            state["phase"] = self.phases.at(self.global_step)[1].name

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("inpaintlab", {})
        self.d_steps = int(state.get("d_steps", 0))
        self.gan_batches = int(state.get("gan_batches", 0))
        self.skipped_steps = int(state.get("skipped_steps", 0))

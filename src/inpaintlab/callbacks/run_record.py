"""What a checkpoint records about its run besides the weights and the module's own training state."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

import lightning as L


def rng_states() -> dict[str, Any]:
    """torch (CPU, CUDA), numpy and Python RNG states as tensors and plain numbers (safe ``weights_only`` loads)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def set_rng_states(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"]))


class RunRecord(L.Callback):
    """Writes into every checkpoint (``checkpoint["inpaintlab"]``) what the run needs later:

    * ``model_config``: the resolved model config, so a ``.ckpt`` copied away from its run folder rebuilds the
      architecture (``Inpainter.from_checkpoint``, ``inpaintlab-eval``); ``data``: the dataset's target, image
      size and channels;
    * ``inference_options``: the module's, used by validation, test and inference; restored into a module that
      has none when a checkpoint is loaded (``inpaintlab-eval`` of a copied checkpoint);
    * ``wandb_run_id``: the wandb run the checkpoint logged to (``inpaintlab-train`` resumes that run);
    * ``rng``: the torch/numpy/Python RNG states, restored at the first training batch after a resume, so a
      resumed run continues exactly (docs/reliability.md, principle 5).

    ``inpaintlab-train`` and ``inpaintlab-eval`` add it to every run. The module's own counters (critic steps,
    skipped steps, the phase) are the module's (``InpaintingModule.on_save_checkpoint``).
    """

    def __init__(self, model_config: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None) -> None:
        self.model_config = dict(model_config) if model_config is not None else None
        self.data = dict(data or {})
        self._pending_rng: Mapping[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.setdefault("inpaintlab", {})
        state["rng"] = rng_states()
        if self.model_config is not None:
            state["model_config"] = self.model_config
        if self.data:
            state["data"] = self.data
        options = getattr(pl_module, "inference_options", None)
        if options:
            state["inference_options"] = dict(options)
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                run_id = getattr(getattr(logger, "experiment", None), "id", None)
                if run_id:
                    state["wandb_run_id"] = run_id

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("inpaintlab") or {}
        if state.get("rng") is not None and trainer.state.fn == "fit":
            self._pending_rng = state["rng"]
        if hasattr(pl_module, "inference_options") and not pl_module.inference_options and state.get("inference_options"):
            pl_module.inference_options = dict(state["inference_options"])  # the run's options, unless set

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._pending_rng is not None:  # first batch after a resume: the RNG exactly as at the checkpoint
            set_rng_states(self._pending_rng)
            self._pending_rng = None

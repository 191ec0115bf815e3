"""Image grids (masked input, mask, output, composite, target) to the run directory and to wandb."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor
from torchvision.utils import make_grid, save_image

import lightning as L
from inpaintlab.callbacks.metrics import to_unit

log = logging.getLogger(__name__)


def inpainting_grid(image: Tensor, mask: Tensor, output: Tensor, composite: Tensor, n: int = 8) -> Tensor:
    """One row per sample: masked input (hole grey), mask, raw output, composite, target; [0,1], 3×H×W."""
    n = min(n, image.shape[0])
    image, mask, output, composite = (t[:n].detach().float().cpu() for t in (image, mask, output, composite))
    c = image.shape[1]
    masked = image * (1 - mask)  # hole pixels become 0, i.e. mid-grey in [0, 1]
    tiles = [to_unit(masked), mask.expand(-1, c, -1, -1), to_unit(output), to_unit(composite), to_unit(image)]
    rows = torch.stack(tiles, 1).flatten(0, 1)
    if c == 1:
        rows = rows.expand(-1, 3, -1, -1)
    return make_grid(rows, nrow=len(tiles), padding=2, pad_value=1.0)


class ImageGrid(L.Callback):
    """Saves a grid of the first validation batch each validation epoch, and logs it to wandb if present."""

    def __init__(self, n_samples: int = 8, dirname: str = "images") -> None:
        self.n_samples, self.dirname = n_samples, dirname
        self._batch: dict[str, Tensor] | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and dataloader_idx == 0 and isinstance(outputs, Mapping) and not trainer.sanity_checking:
            self._batch = {"image": batch["image"], "mask": batch["mask"], **outputs}

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._batch is None or not trainer.is_global_zero:
            return
        b, self._batch = self._batch, None
        grid = inpainting_grid(b["image"], b["mask"], b["output"], b["composite"], self.n_samples)
        out_dir = Path(trainer.default_root_dir) / self.dirname
        out_dir.mkdir(parents=True, exist_ok=True)
        save_image(grid, out_dir / f"val_step{trainer.global_step:07d}.png")
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                logger.log_image("val/samples", [grid], step=trainer.global_step,
                                 caption=["masked | mask | output | composite | target"])

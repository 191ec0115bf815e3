"""The hole's fill value from the training set (GLCIC Sec. 3.1; 004 §2: "filling the hole pixels with the mean of
the pixels of the training set")."""

from __future__ import annotations

import logging

import lightning as L
from inpaintlab.data.statistics import mean_pixel
from inpaintlab.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["TrainingSetMeanFill"]


class TrainingSetMeanFill(L.Callback):
    """Before fitting, sets the generator's ``fill_value`` to the mean pixel of ``images`` training images (drawn
    with ``seed``) when the generator asks for it (``fill_from_data``: ``fill_value: dataset``); one log line says
    the value. The generator keeps it as a buffer, so checkpoints carry it: a resumed run, evaluation and
    ``inpaintlab-inpaint`` use the stored value. A configured ``fill_value`` (a list) is left alone."""

    def __init__(self, images: int = 1000, seed: int = 0, batch_size: int = 50) -> None:
        if int(images) < 1:
            raise ConfigError(f"callbacks.fill_value.images must be >= 1, got {images}")
        self.images, self.seed, self.batch_size = int(images), int(seed), int(batch_size)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        generator = getattr(pl_module, "generator", None)
        if stage != "fit" or not getattr(generator, "fill_from_data", False):
            return
        dm = trainer.datamodule
        if dm is None or getattr(dm, "train_set", None) is None:
            raise ConfigError("fill_value: dataset needs the run's training split (an InpaintingDataModule)")
        train = dm.train_set
        images = getattr(train, "images", train)  # MaskedImages wraps the image dataset
        mean = mean_pixel(images, self.images, self.seed, self.batch_size, getattr(dm, "num_workers", 0))
        if mean.numel() != generator.fill_value.numel():
            raise ConfigError(f"fill_value: the training images have {mean.numel()} channels, the generator "
                              f"{generator.fill_value.numel()}")
        generator.fill_value.copy_(mean.to(generator.fill_value))
        log.info("hole fill value = the training set's mean pixel over %d images: (%s) in [-1, 1], stored in the "
                 "checkpoint", min(self.images, len(images)), ", ".join(f"{v:.4f}" for v in mean.tolist()))

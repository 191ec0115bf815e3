"""GLCIC Sec. 3.1's hole fill: the training set's mean pixel, measured before fitting and kept in the generator."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from inpaintlab.callbacks.fill_value import TrainingSetMeanFill
from inpaintlab.data.statistics import mean_pixel
from inpaintlab.models.glcic import GLCICCompletionNetwork


class _Constant(torch.utils.data.Dataset):
    """Image i is constant (i, −i/10, 0.5) per channel, 4×6 pixels."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return {"image": torch.tensor([i / 10, -i / 20, 0.5]).view(3, 1, 1).expand(3, 4, 6).clone()}


def test_mean_pixel_is_the_per_channel_mean_of_the_drawn_images_and_leaves_the_rng_alone():
    torch.manual_seed(7)
    before = torch.get_rng_state()
    torch.testing.assert_close(mean_pixel(_Constant(), count=100), torch.tensor([0.45, -0.225, 0.5]))
    assert torch.equal(torch.get_rng_state(), before)
    few = mean_pixel(_Constant(), count=3, seed=1)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(1))[:3]
    torch.testing.assert_close(few, torch.stack([order / 10, -order / 20, torch.full((3,), 0.5)]).mean(1).float())
    assert torch.equal(few, mean_pixel(_Constant(), count=3, seed=1))


def test_callback_sets_a_dataset_fill_and_leaves_a_configured_one(caplog):
    dm = SimpleNamespace(train_set=SimpleNamespace(images=_Constant()), num_workers=0)
    trainer = SimpleNamespace(datamodule=dm)
    measured = SimpleNamespace(generator=GLCICCompletionNetwork(cnum=4))
    with caplog.at_level("INFO", logger="inpaintlab.callbacks.fill_value"):
        TrainingSetMeanFill(images=10).setup(trainer, measured, "fit")
    torch.testing.assert_close(measured.generator.fill_value, torch.tensor([0.45, -0.225, 0.5]))
    assert any("mean pixel over 10 images: (0.4500, -0.2250, 0.5000)" in r.getMessage() for r in caplog.records)
    configured = SimpleNamespace(generator=GLCICCompletionNetwork(cnum=4, fill_value=[0.0, 0.1, 0.2]))
    TrainingSetMeanFill().setup(trainer, configured, "fit")
    torch.testing.assert_close(configured.generator.fill_value, torch.tensor([0.0, 0.1, 0.2]))
    other = SimpleNamespace(generator=nn.Identity())
    TrainingSetMeanFill().setup(trainer, other, "fit")  # generators without a data fill are left alone


def test_every_glcic_experiment_measures_its_own_training_set(tmp_path):
    from hydra.core.global_hydra import GlobalHydra

    from helpers import compose_config

    for experiment in ("glcic_places2", "glcic_celeba", "glcic_imagenet"):
        cfg = compose_config([f"experiment={experiment}"], tmp_path)
        GlobalHydra.instance().clear()
        assert cfg.model.generator.fill_value == "dataset"
        assert cfg.callbacks.fill_value._target_.endswith("TrainingSetMeanFill")
    with pytest.raises(Exception, match="images must be >= 1"):
        TrainingSetMeanFill(images=0)

"""GeneratorEMA: the averaging hand-checked on a tiny net; evaluation, checkpoints and resume use the right weights."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import lightning as L
from inpaintlab.callbacks import GeneratorEMA
from inpaintlab.errors import ConfigError
from inpaintlab.lightning import InpaintingModule
from inpaintlab.losses.reconstruction import L1Loss


class _Gen(nn.Module):
    """output = w·x + b, with a BatchNorm whose statistics must be copied (not averaged)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x, mask):
        return self.bn(self.conv(x))


def test_update_is_the_exponential_moving_average_by_hand():
    gen = _Gen()
    ema = GeneratorEMA(decay=0.75)
    with torch.no_grad():
        gen.conv.weight.fill_(1.0)
        ema.shadow = {k: v.clone() for k, v in gen.state_dict().items()}
        gen.conv.weight.fill_(3.0)
        gen.bn.running_mean.fill_(7.0)
    ema.update(gen)
    assert ema.shadow["conv.weight"].item() == pytest.approx(0.75 * 1 + 0.25 * 3)  # 1.5
    assert ema.shadow["bn.running_mean"].item() == 7.0  # buffers copied
    with torch.no_grad():
        gen.conv.weight.fill_(5.0)
    ema.update(gen)
    assert ema.shadow["conv.weight"].item() == pytest.approx(0.75 * 1.5 + 0.25 * 5)  # 2.375
    assert ema.shadow["bn.num_batches_tracked"].dtype == torch.long


def test_bad_decay_is_one_clear_error():
    with pytest.raises(ConfigError, match="ema_decay"):
        GeneratorEMA(decay=1.5)


def _loader(n: int = 6) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(2, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1
    return DataLoader([{"image": torch.rand(2, 1, 4, 4, generator=g), "mask": mask} for _ in range(n)], batch_size=None)


def _module() -> InpaintingModule:
    torch.manual_seed(0)
    return InpaintingModule(generator=_Gen(), losses={"l1": L1Loss()},
                            optimizer_g=functools.partial(torch.optim.SGD, lr=0.1))


class _Recorder(L.Callback):
    """Online weight after every training step; the weight the validation loop saw."""

    def __init__(self) -> None:
        self.online, self.validated = [], []

    def on_train_batch_end(self, trainer, pl_module, *args):
        self.online.append(pl_module.generator.conv.weight.item())

    def on_validation_batch_start(self, trainer, pl_module, *args):
        self.validated.append(pl_module.generator.conv.weight.item())


def _trainer(tmp_path, steps, callbacks, **kw):
    return L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, default_root_dir=tmp_path, val_check_interval=steps,
                     limit_val_batches=1, num_sanity_val_steps=0, callbacks=callbacks, **kw)


def test_fit_validates_and_saves_the_average_and_resumes_online(tmp_path):
    decay = 0.5
    module, ema, rec = _module(), GeneratorEMA(decay), _Recorder()
    start = module.generator.conv.weight.item()
    ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = _trainer(tmp_path, 3, [ema, rec, ckpt_cb])
    trainer.fit(module, _loader(), _loader(1))
    expected = start
    for w in rec.online:
        expected = decay * expected + (1 - decay) * w
    assert rec.validated == [pytest.approx(expected)]  # validation ran on the average
    assert module.generator.conv.weight.item() == pytest.approx(rec.online[-1])  # training weights restored
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert ckpt["state_dict"]["generator.conv.weight"].item() == pytest.approx(expected)  # the saved generator
    state = ckpt["callbacks"]["GeneratorEMA"]
    assert state["online"]["conv.weight"].item() == pytest.approx(rec.online[-1])
    assert ckpt["inpaintlab"]["ema_decay"] == decay

    # resume: training continues from the online weights, the average from the saved average
    module2, ema2, rec2 = _module(), GeneratorEMA(decay), _Recorder()

    class _AtStart(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, *args):
            self.first = getattr(self, "first", pl_module.generator.conv.weight.item())

    at_start = _AtStart()
    trainer2 = _trainer(tmp_path / "r", 4, [ema2, rec2, at_start])
    trainer2.fit(module2, _loader(), _loader(1), ckpt_path=tmp_path / "last.ckpt")
    assert at_start.first == pytest.approx(rec.online[-1])
    assert rec2.validated == [pytest.approx(decay * expected + (1 - decay) * rec2.online[-1])]

    # testing the checkpoint uses its (averaged) generator as saved, without swapping anything in
    trainer3 = _trainer(tmp_path / "t", 1, [GeneratorEMA(decay), rec3 := _Recorder()])
    rec3.on_test_batch_start = rec3.on_validation_batch_start
    trainer3.test(_module(), _loader(1), ckpt_path=tmp_path / "last.ckpt", weights_only=False)
    assert rec3.validated == [pytest.approx(expected)]


def test_off_by_default_changes_nothing(tmp_path):
    module, rec = _module(), _Recorder()
    _trainer(tmp_path, 2, [GeneratorEMA(None), rec], enable_checkpointing=False).fit(module, _loader(), _loader(1))
    assert rec.validated == [pytest.approx(rec.online[-1])]


def test_ema_decay_config_switch(tmp_path):
    from hydra.core.global_hydra import GlobalHydra

    from helpers import compose_config
    from inpaintlab.utils.runtime import instantiate_nodes

    try:
        for overrides, decay in (([], None), (["ema_decay=0.999"], 0.999)):
            cfg = compose_config(["experiment=ga_mnist", *overrides], tmp_path)
            emas = [c for c in instantiate_nodes(cfg.callbacks, "callbacks") if isinstance(c, GeneratorEMA)]
            assert len(emas) == 1 and emas[0].decay == decay
            GlobalHydra.instance().clear()
    finally:
        GlobalHydra.instance().clear()

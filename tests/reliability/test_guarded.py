"""Principle 2: a user error is one stderr line, printed once, exit status 1; HYDRA_FULL_ERROR=1 re-raises."""

import pytest
from omegaconf import OmegaConf

from inpaintlab.errors import ConfigError
from inpaintlab.utils.runtime import guarded


def _missing():
    cfg = OmegaConf.create({"ckpt_path": "???"})
    return cfg.ckpt_path


@pytest.mark.parametrize(
    "fn, needle",
    [
        (lambda: (_ for _ in ()).throw(ConfigError("data.batch_size must be a positive int,\n got abc")), "batch_size"),
        (_missing, "ckpt_path"),
    ],
)
def test_one_line_once(fn, needle, capsys, monkeypatch):
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as e:
        guarded(fn)()
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and err[0].startswith("inpaintlab: error:")


def test_full_error_reraises(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):
        guarded(lambda: (_ for _ in ()).throw(ConfigError("x")))()

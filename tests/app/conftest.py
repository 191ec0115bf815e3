"""The web app's fixtures: a ga_mnist checkpoint trained two CPU steps (as tests/test_inference.py builds them)
and the ``Model`` the server keeps for it."""

from __future__ import annotations

import pytest

from test_inference import _trained


@pytest.fixture(scope="session")
def app_checkpoint(tmp_path_factory):
    """A ga_mnist checkpoint (2 CPU steps) copied alone into an empty folder."""
    return _trained("ga_mnist", tmp_path_factory)[1]


@pytest.fixture(scope="session")
def app_model(app_checkpoint):
    from inpaintlab.app.server import Model
    from inpaintlab.inference import Inpainter

    return Model("0", Inpainter.from_checkpoint(app_checkpoint), app_checkpoint)

"""Helpers of the web app's tests (imported by name: a conftest.py here would shadow tests/conftest.py).

``trained_checkpoint``: a ga_mnist checkpoint trained two CPU steps, as the inference tests build them
(``helpers.trained_checkpoint``: one training per session); ``make_photo``: a photo whose hole region is magenta —
a colour the grey ga_mnist fill never lands on, so every hole pixel must change.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

MAGENTA = (255, 0, 255)


def trained_checkpoint(tmp_path_factory) -> Path:
    """A ga_mnist checkpoint (2 CPU steps) copied alone into an empty folder (trained once per session)."""
    import helpers

    return helpers.trained_checkpoint("ga_mnist", tmp_path_factory)[0]


def make_photo(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """A noisy RGB gradient with a magenta block in the middle third (where the tests paint the hole)."""
    import helpers

    img = helpers.gradient_photo(width, height, seed)
    img[height // 3: 2 * height // 3, width // 3: 2 * width // 3] = MAGENTA
    return img


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(array)
    (img.convert(mode) if mode else img).save(buf, format="PNG")
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))

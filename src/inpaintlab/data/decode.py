"""Opening picture files safely: one decompression-bomb check and one sentence for every tool that reads images
(``inpaintlab-inpaint``, ``-guide``, ``-make-guided``, the web app, the datasets and the mask files).

The limit is PIL's own (``2 × PIL.Image.MAX_IMAGE_PIXELS``, 179 megapixels by default), checked on the file's
header before anything is decoded: a 100 KB PNG that declares 60000² pixels is refused at once instead of asking
for gigabytes. Pictures between PIL's warning and error limits open without PIL's warning; the inpainting tools
then check the memory a fill needs (``inference.sizing``).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from inpaintlab.errors import InpaintlabError

__all__ = ["ImageTooLargeError", "decode_limit", "open_image_file", "too_large", "too_large_reason"]


class ImageTooLargeError(InpaintlabError):
    """A picture declares more pixels than any inpaintlab tool decodes (a decompression bomb)."""


def decode_limit() -> int | None:
    """Most pixels a picture may declare (PIL's error threshold); None when PIL's check is switched off."""
    from PIL import Image

    return None if Image.MAX_IMAGE_PIXELS is None else 2 * int(Image.MAX_IMAGE_PIXELS)


def too_large(what: str, pixels: int | None = None) -> ImageTooLargeError:
    """The one sentence: ``{what} is too large to decode safely: …``."""
    limit = decode_limit()
    declared = f"it declares {pixels / 1e6:,.0f} megapixels" if pixels else "it declares too many pixels"
    bound = f", more than the {limit / 1e6:,.0f} that inpaintlab decodes" if limit else ""
    return ImageTooLargeError(f"{what} is too large to decode safely: {declared}{bound} (a decompression bomb?)")


def too_large_reason(err: BaseException, what: str) -> str | None:
    """The sentence for PIL's ``DecompressionBombError`` (raised by any ``Image.open``), else None."""
    from PIL import Image

    if isinstance(err, ImageTooLargeError):
        return str(err)
    if not isinstance(err, Image.DecompressionBombError):
        return None
    found = re.search(r"\((\d+) pixels\)", str(err))
    return str(too_large(what, int(found.group(1)) if found else None))


def open_image_file(source: Any, what: str):
    """``PIL.Image.open(source)`` (a path or a binary file object; nothing decoded yet), refusing a picture over
    ``decode_limit()`` with ``too_large``'s sentence. Other errors are PIL's."""
    from PIL import Image

    try:
        with warnings.catch_warnings():  # our refusal replaces PIL's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(source)
    except Image.DecompressionBombError as e:
        raise ImageTooLargeError(too_large_reason(e, what)) from None

"""COCO-layout object data (``train2017/``, ``val2017/``, ``annotations/instances_{split}.json``) read with pycocotools.

:class:`CocoGuided` serves BTGMI's (003 Sec. 4.4) guided inpainting / harmonization composites: for image I it
picks one of its objects, another image I_g of the split, and builds the composite in the worker
(:func:`inpaintlab.data.guided.synthesize_guided`). Objects are the instance annotations with polygon or RLE
(compressed or not) segmentations, decoded by ``pycocotools.mask``; ``min_area`` (COCO's ``area``, pixels of
the original image) and ``max_box_fraction`` (the object's bounding box over the image area) keep usable ones;
crowd regions are not objects unless ``include_crowd``. Images without a usable object are left out of the index
(they still serve as guides); how many is logged and kept in ``num_without_objects``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from inpaintlab.data.guided import synthesize_guided
from inpaintlab.data.images import UnreadableImagesError, UnreadableTracker
from inpaintlab.data.transforms import _hw, load_image, to_tensor
from inpaintlab.errors import ConfigError, DatasetNotFoundError

__all__ = ["CocoGuided", "decode_segmentation", "write_annotations"]

log = logging.getLogger(__name__)


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """H×W uint8 mask of a COCO segmentation: polygons (list of [x, y, …]), uncompressed RLE (``counts`` a list)
    or compressed RLE (``counts`` a string), via ``pycocotools.mask``."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):  # polygons
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict):
        rle = dict(segmentation)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    else:
        raise ConfigError(f"unknown COCO segmentation format {type(segmentation).__name__}")
    return np.ascontiguousarray(mask_utils.decode(rle))


class CocoGuided(UnreadableTracker, Dataset):
    """003 Sec. 4.4 composites from a COCO-layout split; ``item = {"image": I, "composite", "mask" (I_b's region,
    1 = regenerate), "foreground" (I_o's pixels), "box" (x, y, w, h), "path"}`` at ``image_size``.

    Geometry: I is resized (shorter side to the crop size, bilinear; its object mask nearest) and cropped to
    ``image_size`` — at random among crops that contain the object's box (training), or centred on it
    (evaluation) — and flipped at random when ``flip`` (training); I_g is resized and cropped at random. Every
    draw comes from one ``torch.Generator`` seeded from torch's RNG, which the DataModule seeds per training batch
    from its sample tokens (epoch·n + index: reproducible on resume, another composite each epoch) and per index
    for validation and test (the same composites every run).
    ``margin``: the box's margin around the object, per side, as a fraction of its size (drawn in [low, high]).
    """

    name = "CocoGuided"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train2017",
        image_size: int | Sequence[int] = 256,
        min_area: float = 1024.0,
        max_box_fraction: float = 0.5,
        include_crowd: bool = False,
        margin: Sequence[float] = (0.1, 0.5),
        flip: bool = True,
        colour_transfer: bool = True,
        train: bool | None = None,
        limit: int | None = None,
        max_consecutive_failures: int = 50,
    ) -> None:
        self.root = Path(os.path.expandvars(os.path.expanduser(str(root))))
        self.split = split
        self.size = _hw(image_size, "CocoGuided image_size")
        self.train = split.startswith("train") if train is None else bool(train)
        self.margin = (float(margin[0]), float(margin[1]))
        self.flip = bool(flip) and self.train
        self.colour_transfer = bool(colour_transfer)
        if not 0 < float(max_box_fraction) <= 1:
            raise ConfigError(f"CocoGuided max_box_fraction must lie in (0, 1], got {max_box_fraction}")
        folder, ann_file = self.root / split, self.root / "annotations" / f"instances_{split}.json"
        if not folder.is_dir() or not ann_file.is_file():
            raise DatasetNotFoundError(
                f"COCO split {split!r} not found: expected {folder}/ (images) and {ann_file} (instances) under "
                f"data.root={self.root} (COCO 2017 from https://cocodataset.org, or set COCO_ROOT)"
            )
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
            coco = COCO(str(ann_file))
        self.images: list[dict[str, Any]] = []  # every image of the split (guides), sorted by id
        self.objects: list[list[dict[str, Any]]] = []  # usable objects per image
        for img_id in sorted(coco.imgs):
            info = coco.imgs[img_id]
            path = folder / info["file_name"]
            anns = coco.imgToAnns.get(img_id, [])
            area = float(info["height"]) * float(info["width"])
            usable = [
                {"segmentation": a["segmentation"], "height": int(info["height"]), "width": int(info["width"])}
                for a in anns
                if (include_crowd or not a.get("iscrowd", 0)) and float(a.get("area", 0)) >= float(min_area)
                and float(a["bbox"][2]) * float(a["bbox"][3]) <= float(max_box_fraction) * area
            ]
            self.images.append({"path": str(path), "usable": len(usable)})
            self.objects.append(usable)
        self.index = [i for i, objs in enumerate(self.objects) if objs]
        self.num_without_objects = len(self.images) - len(self.index)
        if limit is not None:
            self.index = self.index[: int(limit)]
        log.info("COCO %s: %d images with a usable object; %d images without one skipped (min_area=%g, "
                 "max_box_fraction=%g)", split, len(self.index), self.num_without_objects, min_area, max_box_fraction)
        self.max_consecutive_failures = int(max_consecutive_failures)
        # shared memory: DataLoader workers mark bad files in the same bitmap (as ImageFiles)
        self._track_unreadable(len(self.images))
        if not self.index:
            raise DatasetNotFoundError(
                f"COCO split {split!r} at {self.root}: none of its {len(self.images)} images has an object with "
                f"area >= {min_area} and box <= {max_box_fraction} of the image"
            )

    def __len__(self) -> int:
        return len(self.index)

    # ------------------------------------------------------------------ geometry
    def _resize(self, img: Image.Image, mask: np.ndarray | None) -> tuple[Tensor, Tensor | None]:
        """Shorter side to the crop's (cover), bilinear for the image, nearest for the mask."""
        th, tw = self.size
        scale = max(th / img.height, tw / img.width)
        nh, nw = max(th, round(img.height * scale)), max(tw, round(img.width * scale))
        x = to_tensor(img.resize((nw, nh), Image.BILINEAR))
        m = None
        if mask is not None:
            m = torch.from_numpy(mask)[None, None].float()
            m = F.interpolate(m, size=(nh, nw), mode="nearest")[0]
        return x, m

    def _crop_origin(self, extent: int, size: int, lo: int, hi: int, g: torch.Generator) -> int:
        """Crop start in [0, extent − size] containing [lo, hi) when possible (random in training, centred else)."""
        first, last = max(0, hi - size), min(lo, extent - size)
        if first > last:  # the object is larger than the crop: centre on it
            return int(min(max(0, (lo + hi) // 2 - size // 2), extent - size))
        if self.train:
            return int(torch.randint(first, last + 1, (), generator=g))
        return (first + last) // 2

    def _load_with_object(self, i: int, g: torch.Generator) -> tuple[Tensor, Tensor, str]:
        info, objs = self.images[i], self.objects[i]
        obj = objs[int(torch.randint(len(objs), (), generator=g))]
        img = load_image(info["path"])
        if (img.height, img.width) != (obj["height"], obj["width"]):
            raise ConfigError(f"{info['path']} is {img.width}×{img.height} but its annotation says "
                              f"{obj['width']}×{obj['height']}")
        x, m = self._resize(img, decode_segmentation(obj["segmentation"], obj["height"], obj["width"]))
        th, tw = self.size
        rows, cols = (m[0] > 0).any(1).nonzero().flatten(), (m[0] > 0).any(0).nonzero().flatten()
        if rows.numel() == 0:  # an object too thin to survive the resize: keep the centre crop's view empty-safe
            rows = cols = torch.tensor([0])
        oy = self._crop_origin(x.shape[1], th, int(rows[0]), int(rows[-1]) + 1, g)
        ox = self._crop_origin(x.shape[2], tw, int(cols[0]), int(cols[-1]) + 1, g)
        x, m = x[:, oy:oy + th, ox:ox + tw], m[:, oy:oy + th, ox:ox + tw]
        if self.flip and bool(torch.rand((), generator=g) < 0.5):
            x, m = x.flip(-1), m.flip(-1)
        return x.contiguous(), m.contiguous(), info["path"]

    def _load_guide(self, i: int, g: torch.Generator) -> Tensor:
        x, _ = self._resize(load_image(self.images[i]["path"]), None)
        th, tw = self.size
        oy = int(torch.randint(x.shape[1] - th + 1, (), generator=g))
        ox = int(torch.randint(x.shape[2] - tw + 1, (), generator=g))
        return x[:, oy:oy + th, ox:ox + tw].contiguous()

    # ------------------------------------------------------------------ bad files
    def _guide(self, i: int, g: torch.Generator) -> tuple[Tensor, int]:
        """A random other image of the split (any other, when the split has one), resized and cropped."""
        others = len(self.images) - 1
        for _ in range(self.max_consecutive_failures + 1):
            j = int(torch.randint(others, (), generator=g)) if others > 0 else 0
            j = j + 1 if others > 0 and j >= i else j
            if self._bad[j]:
                continue
            try:
                return self._load_guide(j, g), j
            except Exception as e:  # noqa: BLE001 - a bad guide file must not stop training
                self._mark_unreadable(j, self.images[j]["path"], e)
        raise UnreadableImagesError(f"CocoGuided: no readable guide image found in {self.max_consecutive_failures} "
                                    f"draws ({self.num_skipped} of {len(self.images)} images skipped)")

    # ------------------------------------------------------------------ samples
    def __getitem__(self, index: int) -> dict[str, Any]:
        """Sample ``index``; an unreadable image (or one whose size contradicts its annotation) is skipped, warned
        about once and counted (``num_skipped``): the next index is used, as ``ImageFiles`` does."""
        n = len(self.index)
        if not -n <= index < n:
            raise IndexError(f"CocoGuided: index {index} out of range for {n} images")
        # one generator per sample, seeded from torch's RNG (seeded per token / index by the DataModule)
        g = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ())))
        for step in range(min(n, self.max_consecutive_failures + 1)):
            i = self.index[(index + step) % n]
            if self._bad[i]:
                continue
            try:
                image, obj, path = self._load_with_object(i, g)
            except Exception as e:  # noqa: BLE001 - one bad file must not stop training
                self._mark_unreadable(i, self.images[i]["path"], e)
                continue
            if not bool((obj > 0).any()):  # the crop lost the object (only for objects thinner than a pixel)
                obj = torch.zeros_like(obj)
                obj[:, self.size[0] // 2, self.size[1] // 2] = 1
            guide, j = self._guide(i, g)
            sample = synthesize_guided(image, obj, guide, g, self.margin, self.colour_transfer)
            return {"image": image, **sample, "path": path, "guide_path": self.images[j]["path"]}
        raise UnreadableImagesError(
            f"CocoGuided: {self.max_consecutive_failures} unreadable images in a row after index {index}; "
            f"{self.num_skipped} of {len(self.images)} images skipped so far"
        )


def write_annotations(path: str | os.PathLike, images: list[dict[str, Any]], annotations: list[dict[str, Any]],
                      categories: list[dict[str, Any]] | None = None) -> None:
    """A minimal ``instances_*.json`` (images, annotations, categories) as COCO writes it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": categories or [{"id": 1, "name": "object", "supercategory": "object"}],
    }))

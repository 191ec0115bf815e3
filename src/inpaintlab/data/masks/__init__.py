"""Hole generators: every one seeded, each returns an n×1×H×W float tensor of {0, 1} with 1 = hole.

Families: boxes (``CenterSquareMask``, ``RandomBoxMask``, ``DeepFillBoxMask``), free-form strokes
(``FreeFormMask`` of DeepFill v2, ``RandomWalkStrokeMask`` of LaMa / CR-Fill, ``lama_preset``), masks from
files (``IrregularFileMask``, ``ObjectShapeMask``), Yeh et al.'s random pixels, half image and random
pattern (``RandomPixelMask``, ``HalfImageMask``, ``RandomPatternMask``), Context Encoder's random regions (PASCAL VOC
shapes ``VOCShapeMask``; the released noise pattern ``ContextEncoderRegionMask``) and the combinators ``UnionMask``
and ``MixtureMask``.
"""

from inpaintlab.data.masks.base import (
    MaskGenerator,
    MixtureMask,
    UnionMask,
    check_mask_tensor,
    hole_ratio,
    seeded_generator,
)
from inpaintlab.data.masks.box import CenterSquareMask, DeepFillBoxMask, RandomBoxMask, boxes_to_masks
from inpaintlab.data.masks.files import IrregularFileMask, ObjectShapeMask, list_mask_files, read_mask
from inpaintlab.data.masks.region import ContextEncoderRegionMask, VOCShapeMask
from inpaintlab.data.masks.strokes import FreeFormMask, RandomWalkStrokeMask, draw_polyline, lama_preset
from inpaintlab.data.masks.yeh import HalfImageMask, RandomPatternMask, RandomPixelMask

__all__ = [
    "CenterSquareMask",
    "ContextEncoderRegionMask",
    "DeepFillBoxMask",
    "FreeFormMask",
    "HalfImageMask",
    "IrregularFileMask",
    "MaskGenerator",
    "MixtureMask",
    "ObjectShapeMask",
    "RandomBoxMask",
    "RandomPatternMask",
    "RandomPixelMask",
    "RandomWalkStrokeMask",
    "UnionMask",
    "VOCShapeMask",
    "boxes_to_masks",
    "check_mask_tensor",
    "draw_polyline",
    "hole_ratio",
    "lama_preset",
    "list_mask_files",
    "read_mask",
    "seeded_generator",
]

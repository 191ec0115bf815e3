"""Losses: each a small module with the paper's equation in its docstring."""

from inpaintlab.losses.adversarial import AdversarialLoss, HingeGANLoss, NonSaturatingGANLoss, WGANGPLoss
from inpaintlab.losses.base import LossTerm
from inpaintlab.losses.gradient_attention import GradientAttentionLoss, gradient_l1_map, image_gradient
from inpaintlab.losses.patch_adversarial import HoleAwarePatchGANLoss
from inpaintlab.losses.perceptual import (
    PConvL1Loss,
    TotalVariationLoss,
    VGG16Features,
    VGGPerceptualLoss,
    VGGStyleLoss,
    gram_matrix,
)
from inpaintlab.losses.reconstruction import L1Loss, MaskedL1Loss, MaskedL2Loss

__all__ = [
    "AdversarialLoss",
    "GradientAttentionLoss",
    "HingeGANLoss",
    "HoleAwarePatchGANLoss",
    "L1Loss",
    "LossTerm",
    "MaskedL1Loss",
    "MaskedL2Loss",
    "NonSaturatingGANLoss",
    "PConvL1Loss",
    "TotalVariationLoss",
    "VGG16Features",
    "VGGPerceptualLoss",
    "VGGStyleLoss",
    "WGANGPLoss",
    "gradient_l1_map",
    "gram_matrix",
    "image_gradient",
]

"""CR-Fill's contextual reconstruction (CR) loss (Zeng et al., "Image Inpainting with Contextual
Reconstruction Loss", Sec. 4, Eq. 4–7).

Training only, nothing is added to the generator:

1. the similarity s_ij of 4×4 patches (stride 2) of the generator's 1/4-resolution refine-stage features
   (Eq. 4) becomes softmax weights over the allowed known patches j (Eq. 5): :func:`patch_similarity`;
2. an auxiliary encoder-decoder (:class:`~inpaintlab.models.crfill_aux.CRFillAuxNet`) encodes the
   composited output G(U)∘M + U, replaces every feature patch (16×16, stride 8 at image resolution) by
   the weighted sum of known patches and decodes the auxiliary image A(U) (Eq. 5–6);
3. L_CR = L(A(U)) (Eq. 7) with L the inpainting loss of Eq. 3: β·‖A − X‖₁ plus the generator side of an
   adversarial loss from the auxiliary image's own discriminator. The total enters Eq. 2 as λ·L_CR.

Paper values are the defaults; the official code (zengxianyu/crfill ``TwostagendGenerator``,
``ReduceContextAttentionP1/P2``, ``ArrangeModel``) differs in three places, each exposed as an option:

==================  ====================================  =============================================
option              paper (default)                       official code
==================  ====================================  =============================================
``normalization``   ``"cosine"``: Eq. 4, both patches      ``"feature_map"`` (``norm_type=1``, released
                    L2-normalised                          models): background map divided per channel
                                                           by its norm over the whole map, foreground raw;
                                                           ``"patch_channel"`` (``norm_type=2``)
``disallowed``      ``"exclude"``: Eq. 5 sums over known   ``"zero_score"``: disallowed scores are set to
                    patches only                           0 and still enter the softmax
``l1_weight`` β     1.5 (Sec. 3)                           1 (``lambda_l1``; also the paper's
                                                           DeepFillv2-CA+CR setting)
==================  ====================================  =============================================

λ = 0.5 (``weight``) and α = 10 (``softmax_scale``) agree. The allowed-patch rule is the official one
(:func:`allowed_patches`); Eq. 5's "known region" V is its fully-known case.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.conventions import check_mask, composite
from inpaintlab.losses.adversarial import AdversarialLoss, HingeGANLoss
from inpaintlab.models.crfill_aux import CRFillAuxNet, paste_patches
from inpaintlab.nn.precision import fp32

NORMALIZATIONS = ("cosine", "feature_map", "patch_channel")
DISALLOWED_MODES = ("exclude", "zero_score")
ALLOWED_RULES = ("relative", "absolute")
_EPS = 1e-8  # inside the square root, as the official code


def _check_mask(mask: Tensor, batch: int) -> None:
    check_mask(mask)
    if mask.shape[0] != batch:
        raise ValueError(f"mask has batch {mask.shape[0]} but the features/images have batch {batch}")


def feature_scale(features: Tensor, mask: Tensor) -> int:
    """Integer factor r between the image (mask) and the feature map, the same in both directions."""
    if features.dim() != 4:
        raise ValueError(f"features must be B×C×h×w, got shape {tuple(features.shape)}")
    _check_mask(mask, features.shape[0])
    (h, w), (H, W) = features.shape[-2:], mask.shape[-2:]
    if H % h or W % w or H // h != W // w:
        raise ValueError(
            f"mask {H}×{W} must be an integer multiple (same in both directions) of the feature map {h}×{w}"
        )
    return H // h


def known_fraction(mask: Tensor, patch_size: int, stride: int) -> Tensor:
    """Fraction of known pixels (mask 0) in each patch_size×patch_size, stride-``stride`` patch: B×L.

    Patch order is F.unfold's (row-major over patch positions).
    """
    _check_mask(mask, mask.shape[0])
    return 1.0 - F.avg_pool2d(mask, kernel_size=patch_size, stride=stride).flatten(1)


def allowed_patches(known: Tensor, threshold: float = 0.5, rule: str = "relative") -> Tensor:
    """Which background patch j may fill foreground patch i: B×L_fg×L_bg bool (official crfill rule).

    ``known`` is B×L, the known fraction of each patch (:func:`known_fraction`); every patch is both a
    foreground and a background patch. ``rule="relative"`` (official default): j is allowed if it is fully
    known, or if it is more known than i while i is more than ``threshold`` known. ``rule="absolute"``
    (official ``--use_th``): j is allowed if it is more than ``threshold`` known.
    """
    if known.dim() != 2:
        raise ValueError(f"known must be B×L (known fraction per patch), got shape {tuple(known.shape)}")
    if rule not in ALLOWED_RULES:
        raise ValueError(f"rule must be one of {ALLOWED_RULES}, got {rule!r}")
    fg, bg = known[:, :, None], known[:, None, :]
    if rule == "absolute":
        return (bg > threshold).expand(-1, known.shape[1], -1)
    return (bg >= 1.0) | ((bg > fg) & (fg > threshold))


def patch_similarity(
    features: Tensor,
    mask: Tensor,
    patch_size: int = 4,
    stride: int = 2,
    softmax_scale: float = 10.0,
    threshold: float = 0.5,
    normalization: str = "cosine",
    disallowed: str = "exclude",
    rule: str = "relative",
) -> Tensor:
    """Eq. 4–5: softmax_j(α·s_ij) over allowed background patches j, as a B×L_fg×L_bg tensor (rows sum to 1).

    ``features`` B×C×h×w are the similarity encoder's output (the generator's 1/4-resolution features);
    ``mask`` B×1×H×W (1 = hole) at image resolution, H = r·h. Patches are ``patch_size``×``patch_size`` at
    ``stride`` on the features, i.e. (r·patch_size)² at stride r·stride in the image; their known fractions
    decide :func:`allowed_patches`. A row with no allowed patch (no fully known patch anywhere) gets zero
    weights with ``disallowed="exclude"``. Batched with bmm, one similarity matrix per sample.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if disallowed not in DISALLOWED_MODES:
        raise ValueError(f"disallowed must be one of {DISALLOWED_MODES}, got {disallowed!r}")
    r = feature_scale(features, mask)
    b, c, h, w = features.shape
    if h < patch_size or w < patch_size or (h - patch_size) % stride or (w - patch_size) % stride:
        raise ValueError(
            f"feature map {h}×{w} must be tiled exactly by {patch_size}×{patch_size} patches at stride {stride} "
            f"(for CR-Fill's 1/4-resolution features: image height and width divisible by 8, at least 16)"
        )
    fg = F.unfold(features, patch_size, stride=stride)  # B×(C·p²)×L
    if normalization == "cosine":
        fg = fg / torch.sqrt(fg.pow(2).sum(1, keepdim=True) + _EPS)
        bg = fg
    elif normalization == "feature_map":
        # official norm_type=1 ("my bug" in its help text): per-channel norm over the whole map
        normed = features / torch.sqrt(features.pow(2).sum((2, 3), keepdim=True) + _EPS)
        bg = F.unfold(normed, patch_size, stride=stride)
    else:  # patch_channel, official norm_type=2: per-patch, per-channel norm
        bg = fg.view(b, c, patch_size * patch_size, -1)
        bg = (bg / torch.sqrt(bg.pow(2).sum(2, keepdim=True) + _EPS)).view_as(fg)
    scores = fp32(torch.bmm(fg.transpose(1, 2), bg))  # B×L_fg×L_bg; the softmax in fp32 under mixed precision
    allowed = allowed_patches(known_fraction(mask, r * patch_size, r * stride), threshold, rule)
    if allowed.shape[1:] != scores.shape[1:]:  # pragma: no cover - guarded by the tiling check above
        raise RuntimeError(
            f"patch counts differ: mask {tuple(allowed.shape)} vs features {tuple(scores.shape)}"
        )
    if disallowed == "zero_score":
        return torch.softmax(softmax_scale * scores * allowed, dim=2)
    logits = (softmax_scale * scores).masked_fill(~allowed, torch.finfo(scores.dtype).min)
    # multiplying by ``allowed`` zeroes rows that have no allowed patch (softmax made them uniform)
    return torch.softmax(logits, dim=2) * allowed


def pieced_image(weights: Tensor, image: Tensor, patch_size: int = 16, stride: int = 8) -> Tensor:
    """Fig. 9 / Table 3: each patch replaced by its most similar allowed patch (argmax), overlaps averaged.

    ``weights`` B×L×L from :func:`patch_similarity`; ``image`` B×C×H×W; patch geometry at image resolution.
    """
    hard = F.one_hot(weights.argmax(2), weights.shape[2]).to(image.dtype)
    return paste_patches(hard, image, patch_size, stride, average=True)


class ContextualReconstructionLoss(nn.Module):
    """CR loss λ·L_CR with L_CR = L(A(U)) = β·‖A(U) − X‖₁ + adv_G(D_aux(A(U)∘M + U))  (CR-Fill Eq. 2, 3, 7).

    Owns the training-only auxiliary network (``aux_net``, optimised with the generator) and the auxiliary
    image's own discriminator (``discriminator``, optimised with the other discriminators; None drops the
    adversarial term). ``adversarial`` supplies both hinge sides (its ``weight`` multiplies the generator
    side); β is ``l1_weight`` and λ is ``weight``. The remaining arguments go to :func:`patch_similarity`.

    A training step calls ``forward(features, output, image, mask)`` in the generator step and adds
    ``result["loss"]``; the discriminator step calls ``discriminator_loss(result["aux"], image, mask)``.
    """

    def __init__(
        self,
        aux_net: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        adversarial: AdversarialLoss | None = None,
        weight: float = 0.5,
        l1_weight: float = 1.5,
        softmax_scale: float = 10.0,
        patch_size: int = 4,
        stride: int = 2,
        threshold: float = 0.5,
        normalization: str = "cosine",
        disallowed: str = "exclude",
        rule: str = "relative",
    ) -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if disallowed not in DISALLOWED_MODES:
            raise ValueError(f"disallowed must be one of {DISALLOWED_MODES}, got {disallowed!r}")
        if rule not in ALLOWED_RULES:
            raise ValueError(f"rule must be one of {ALLOWED_RULES}, got {rule!r}")
        self.aux_net = aux_net if aux_net is not None else CRFillAuxNet()
        self.discriminator = discriminator
        self.adversarial = adversarial if adversarial is not None else HingeGANLoss()
        self.weight = float(weight)
        self.l1_weight = float(l1_weight)
        self.similarity_kwargs = {
            "patch_size": int(patch_size),
            "stride": int(stride),
            "softmax_scale": float(softmax_scale),
            "threshold": float(threshold),
            "normalization": normalization,
            "disallowed": disallowed,
            "rule": rule,
        }

    def similarity(self, features: Tensor, mask: Tensor) -> Tensor:
        """Softmax similarity weights B×L×L (Eq. 4–5) with this loss's settings."""
        return patch_similarity(features, mask, **self.similarity_kwargs)

    def auxiliary_image(
        self, features: Tensor, output: Tensor, image: Tensor, mask: Tensor
    ) -> dict[str, Tensor]:
        """A(U) (Eq. 6) from the generator features and output; also the weights and the composites."""
        _check_mask(mask, output.shape[0])
        if output.shape != image.shape:
            raise ValueError(
                f"output {tuple(output.shape)} and image {tuple(image.shape)} must have the same shape"
            )
        if output.shape[-2:] != mask.shape[-2:]:
            raise ValueError(f"mask {tuple(mask.shape)} and output {tuple(output.shape)} differ in H×W")
        completed = composite(output, image, mask)
        weights = self.similarity(features, mask)
        aux = self.aux_net(completed, weights)
        return {"aux": aux, "aux_composite": composite(aux, image, mask), "composite": completed, "weights": weights}

    def forward(self, features: Tensor, output: Tensor, image: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Generator-side CR loss.

        Args: ``features`` the generator's 1/4-resolution similarity features (B×C×H/4×W/4), ``output`` its
        final image before compositing, ``image`` the ground truth X, ``mask`` B×1×H×W (1 = hole).
        Returns a dict: ``loss`` = λ·(β·l1 + w_adv·adv) to add to the generator objective; the unweighted
        terms ``l1`` and ``adv`` (zero without a discriminator) for logging; ``aux`` A(U), ``aux_composite``
        A(U)∘M + U, ``composite`` and ``weights`` (B×L×L) for the discriminator step and for images.
        """
        out = self.auxiliary_image(features, output, image, mask)
        l1 = (out["aux"] - image).abs().mean()
        if self.discriminator is not None:
            adv = self.adversarial.generator_loss(self.discriminator(out["aux_composite"], mask), mask=mask,
                                                  discriminator=self.discriminator)
        else:
            adv = l1.new_zeros(())
        inner = self.l1_weight * l1 + self.adversarial.weight * adv
        return {"loss": self.weight * inner, "l1": l1, "adv": adv, **out}

    def discriminator_loss(self, aux: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        """The auxiliary discriminator's loss (official ``D_Fake_aux + D_real_aux``): real X vs A(U)∘M + U.

        ``aux`` is detached here, so the generator step's graph can be reused.
        """
        if self.discriminator is None:
            raise RuntimeError("ContextualReconstructionLoss has no discriminator: construct it with one")
        fake = composite(aux.detach(), image, mask)
        b = image.shape[0]
        # one call on [real; fake], as the official code (one spectral-norm power iteration per D step)
        logits = self.discriminator(torch.cat([image, fake]), torch.cat([mask, mask]))
        if isinstance(logits, Tensor):
            real_logits, fake_logits = logits[:b], logits[b:]
        else:
            real_logits = {k: v[:b] for k, v in logits.items()}
            fake_logits = {k: v[b:] for k, v in logits.items()}
        loss = self.adversarial.discriminator_loss(real_logits, fake_logits, mask=mask, discriminator=self.discriminator)
        return loss + self.adversarial.penalty(self.discriminator, image, fake, mask)

    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the generator's optimiser (the auxiliary network's)."""
        return list(self.aux_net.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the discriminators' optimiser (the auxiliary discriminator's)."""
        return [] if self.discriminator is None else list(self.discriminator.parameters())

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.similarity_kwargs.items())
        return f"weight={self.weight}, l1_weight={self.l1_weight}, {opts}"

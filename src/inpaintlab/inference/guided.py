"""BTGMI's interactive guided inpainting (003 Sec. 4.4, Fig. 11) behind the one inference interface.

The guided generator (:class:`~inpaintlab.models.btgmi.GuidedBTGMIGenerator`) takes the composite — the user's
box of the guide image pasted into the input — with two planes [box, object foreground] and returns an
inpainting and a harmonization image. :func:`guided_result` combines them as the paper does ("the final result
combines the outputs of harmonization and inpainting"): the harmonized object inside the foreground, the
inpainted background in the rest of the box, the input unchanged outside the box. The training module's
evaluation and ``inpaintlab-guide`` both call it.

Through ``Inpainter`` (plain inpainting, no guide) the adapter's ``fill`` runs the inpainting output with the
hole zeroed and an empty foreground plane.
"""

from __future__ import annotations

import torch
from torch import Tensor

from inpaintlab.inference.adapters import Adapter, register_adapter
from inpaintlab.inference.sizing import mirror_pad
from inpaintlab.models.btgmi import GuidedBTGMIGenerator

__all__ = ["GuidedAdapter", "box_foreground", "guided_result"]


def guided_result(output: Tensor, harmonized: Tensor, composite: Tensor, box: Tensor, foreground: Tensor) -> Tensor:
    """Sec. 4.4 / Fig. 11: ``harmonized`` where ``foreground``, ``output`` (inpainting) in the rest of ``box``,
    ``composite`` (the input) outside ``box``. Masks B×1×H×W in {0, 1}; the foreground is taken inside the box."""
    fg = foreground * box
    inside = harmonized * fg + output * (1.0 - fg)
    return inside * box + composite * (1.0 - box)


@register_adapter(GuidedBTGMIGenerator)
class GuidedAdapter(Adapter):
    """Adapter of the two-output guided generator: ``outputs`` runs it at any size (mirror padding to the
    generator's multiple of 8), ``guide`` gives the combined image, ``fill`` plain inpainting."""

    def outputs(self, composite: Tensor, box: Tensor, foreground: Tensor) -> dict[str, Tensor]:
        """{"output", "harmonized"} of the generator for B×C×H×W ``composite`` and B×1×H×W ``box`` / ``foreground``."""
        h, w = composite.shape[-2:]
        m, least = max(1, self.size_multiple), max(1, self.min_size)
        ph, pw = (max(n, least) + (-max(n, least) % m) - n for n in (h, w))
        planes = torch.cat([box, foreground * box], 1).to(composite.dtype)
        out = self.generator(mirror_pad(composite, ph, pw), mirror_pad(planes, ph, pw))
        return {k: v[..., :h, :w] for k, v in out.items()}

    @torch.no_grad()
    def guide(self, composite: Tensor, box: Tensor, foreground: Tensor) -> Tensor:
        """The final guided-inpainting image (:func:`guided_result`); pixels outside ``box`` are ``composite``'s."""
        out = self.outputs(composite, box, foreground)
        return guided_result(out["output"], out["harmonized"], composite, box, foreground)

    def fill(self, image: Tensor, mask: Tensor) -> Tensor:
        """Plain inpainting (no guide): the hole zeroed, no foreground."""
        out = self.generator(image * (1.0 - mask), torch.cat([mask, torch.zeros_like(mask)], 1))
        return out["output"]


@torch.no_grad()
def box_foreground(detector: torch.nn.Module, crop: Tensor, threshold: float = 0.5) -> Tensor:
    """Sec. 4.4: the object's foreground in the user's box, class-agnostic ("only considers the foreground/background
    classification"): torchvision Mask R-CNN on the box crop (3×h×w RGB in [0, 1]), the highest-scoring instance
    whatever its class, its soft mask > ``threshold``. Returns h×w bool."""
    from inpaintlab.inference.pictures import InpaintInputError

    det = detector([crop])[0]
    if det["scores"].numel() == 0:
        raise InpaintInputError("Mask R-CNN found no object inside the box: pass its foreground with --object-mask")
    best = int(det["scores"].argmax())
    mask = det["masks"][best, 0] > threshold
    if not bool(mask.any()):
        raise InpaintInputError("Mask R-CNN's best instance in the box has an empty mask: pass --object-mask")
    return mask

"""Image-quality metrics on the composited output in [0, 1]: whole image and inside the hole."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import MeanAbsoluteError, Metric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

import lightning as L
from inpaintlab.errors import ConfigError
from inpaintlab.losses.gradient_attention import gradient_l1_map


def to_unit(image: Tensor) -> Tensor:
    """[-1, 1] → [0, 1] (docs/design.md: metrics are computed on [0, 1] images)."""
    return ((image + 1.0) * 0.5).clamp(0.0, 1.0)


class _PerImageHoleMetric(Metric):
    """Mean over images of a per-image statistic taken over hole pixels (images without a hole are skipped)."""

    full_state_update = False
    higher_is_better: bool | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @staticmethod
    def per_image(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, pred: Tensor, target: Tensor, mask: Tensor) -> None:
        mask = mask.expand_as(pred)
        area = mask.flatten(1).sum(1)
        values = self.per_image(pred, target, mask)
        keep = area > 0
        self.total += values[keep].double().sum()
        self.count += keep.sum()

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp_min(1)).float()


class HoleL1(_PerImageHoleMetric):
    """Mean absolute error over the hole pixels (and channels) of each image."""

    higher_is_better = False

    @staticmethod
    def per_image(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        return ((pred - target).abs() * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)


class HolePSNR(_PerImageHoleMetric):
    """PSNR (data range 1) of the hole pixels of each image: 10·log10(1 / MSE over the hole)."""

    higher_is_better = True

    @staticmethod
    def per_image(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        mse = ((pred - target).pow(2) * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)
        return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


class HoleGradientL1(_PerImageHoleMetric):
    """The gradient-attention paper's grad_l1 (Sec. 3) averaged over the hole pixels of each image."""

    higher_is_better = False

    @staticmethod
    def per_image(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        g = gradient_l1_map(pred, target)
        return (g * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)


def inpainting_metrics(ssim_kernel: int = 11, ssim_sigma: float = 1.5) -> MetricCollection:
    """PSNR, SSIM (11×11 Gaussian, σ=1.5) and L1 over the whole image; L1, PSNR and grad_l1 in the hole."""
    return MetricCollection(
        {
            "psnr": PeakSignalNoiseRatio(data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3)),
            "ssim": StructuralSimilarityIndexMeasure(data_range=1.0, kernel_size=ssim_kernel, sigma=ssim_sigma),
            "l1": MeanAbsoluteError(),
            "psnr_hole": HolePSNR(),
            "l1_hole": HoleL1(),
            "grad_l1_hole": HoleGradientL1(),
        },
        compute_groups=False,
    )


HOLE_METRICS = ("psnr_hole", "l1_hole", "grad_l1_hole")


class SummedError(Metric):
    """Mean over images of Σ_pixels,channels |pred − target|^p on [0, 1] images (BTGMI Table 3: "ℓ1 and ℓ2 errors
    … computed with pixel values normalized between [0, 1] and … summed up using all pixels of the image")."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, power: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.power = int(power)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor) -> None:
        self.total += (pred - target).abs().pow(self.power).double().flatten(1).sum(1).sum()
        self.count += pred.shape[0]

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp_min(1)).float()


# optional columns a paper's experiment adds to the report (callbacks.metrics.extra_metrics)
EXTRA_METRICS = {"l1_sum": lambda: SummedError(1), "l2_sum": lambda: SummedError(2)}


class HoleAreaBinnedMetrics(Metric):
    """PSNR, SSIM, L1 and in-hole L1 / PSNR averaged per hole-area bin (0–10 %, 10–20 %, …), as papers report
    results on NVIDIA's irregular-mask test set. Bins are (lo, hi] of the hole fraction of each image."""

    full_state_update = False
    names = ("psnr", "ssim", "l1", "l1_hole", "psnr_hole")

    def __init__(self, edges=tuple(i / 10 for i in range(11)), ssim_kernel: int = 11, ssim_sigma: float = 1.5,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from inpaintlab.data.mask_sets import bin_labels

        self.edges = [float(e) for e in edges]
        self.labels = bin_labels(self.edges)
        self.ssim_kernel, self.ssim_sigma = ssim_kernel, ssim_sigma
        n = len(self.labels)
        self.add_state("sums", default=torch.zeros(n, len(self.names), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("counts", default=torch.zeros(n, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor, mask: Tensor) -> None:
        from torchmetrics.functional.image import structural_similarity_index_measure

        hole = mask.expand_as(pred)
        ratio = mask.flatten(1).mean(1)
        mse = (pred - target).pow(2).flatten(1).mean(1)
        values = torch.stack(
            [
                10.0 * torch.log10(1.0 / mse.clamp_min(1e-10)),
                structural_similarity_index_measure(pred, target, data_range=1.0, kernel_size=self.ssim_kernel,
                                                    sigma=self.ssim_sigma, reduction="none"),
                (pred - target).abs().flatten(1).mean(1),
                HoleL1.per_image(pred, target, hole),
                HolePSNR.per_image(pred, target, hole),
            ],
            1,
        ).double()
        edges = torch.tensor(self.edges[1:-1], device=ratio.device, dtype=ratio.dtype)
        index = torch.bucketize(ratio, edges, right=False)  # (lo, hi]: a ratio equal to an edge joins the lower bin
        keep = ratio > 0
        self.sums.index_add_(0, index[keep], values[keep])
        self.counts += torch.bincount(index[keep], minlength=len(self.labels))

    def compute(self) -> dict[str, Tensor]:
        out = {}
        for b, label in enumerate(self.labels):
            if self.counts[b] > 0:
                for k, name in enumerate(self.names):
                    out[f"bins/{label}/{name}"] = (self.sums[b, k] / self.counts[b]).float()
                out[f"bins/{label}/count"] = self.counts[b].float()
        return out


class InpaintingMetrics(L.Callback):
    """Logs ``{val,test}/{psnr,ssim,l1,psnr_hole,l1_hole,grad_l1_hole}`` on the composited output, and at test
    time ``test/bins/<hole-area bin>/{psnr,ssim,l1,l1_hole,psnr_hole,count}``. With several evaluation mask
    suites (``data.eval_masks``) every name gets the suite: ``test/<suite>/psnr``, ``test/<suite>/bins/…``.

    The step functions return {"composite": …}; the metrics see it and the target mapped to [0, 1]. A variant
    ``"composite_<name>"`` (GLCIC's post-processed ``composite_post``) is scored too, as ``{stage}/<name>/…``. States
    are summed across DDP processes by torchmetrics before ``compute``.
    """

    def __init__(self, ssim_kernel: int = 11, ssim_sigma: float = 1.5, hole_area_bins: bool = True,
                 extra_metrics: Sequence[str] = ()) -> None:
        self.ssim_kernel, self.ssim_sigma = ssim_kernel, ssim_sigma
        self.hole_area_bins = hole_area_bins
        unknown = sorted(set(extra_metrics) - set(EXTRA_METRICS))
        if unknown:
            raise ConfigError(f"callbacks.metrics.extra_metrics: unknown {unknown}; known: {sorted(EXTRA_METRICS)}")
        self.extra_metrics = tuple(extra_metrics)
        self.metrics: dict[str, MetricCollection] = {}  # by name prefix: "val/", "test/", "test/square/", …

    def _get(self, prefix: str, device: torch.device) -> MetricCollection:
        if prefix not in self.metrics:
            self.metrics[prefix] = inpainting_metrics(self.ssim_kernel, self.ssim_sigma)
            if self.hole_area_bins and prefix.startswith("test/"):  # per-bin numbers are a test-time report
                self.metrics[prefix].add_metrics({"bins": HoleAreaBinnedMetrics(ssim_kernel=self.ssim_kernel,
                                                                                 ssim_sigma=self.ssim_sigma)})
            if self.extra_metrics:  # extra columns (e.g. BTGMI's Table 3 sums), val and test
                self.metrics[prefix].add_metrics({name: EXTRA_METRICS[name]() for name in self.extra_metrics})
        return self.metrics[prefix].to(device)

    def _update(self, stage: str, trainer, pl_module: L.LightningModule, outputs: Any, batch: Mapping[str, Tensor],
                dataloader_idx: int = 0) -> None:
        from inpaintlab.data.datamodule import suite_prefix

        if not isinstance(outputs, Mapping) or "composite" not in outputs:
            return
        # contiguous: under model.channels_last the tensors are NHWC, and torchmetrics flattens with view()
        target, mask = to_unit(batch["image"].float()).contiguous(), batch["mask"].float().contiguous()
        base = suite_prefix(trainer, stage, dataloader_idx)
        # "composite" and any variant "composite_<name>" (e.g. GLCIC's raw, un-post-processed "composite_raw")
        for key in [k for k in outputs if k == "composite" or k.startswith("composite_")]:
            pred = to_unit(outputs[key].float()).contiguous()
            prefix = base if key == "composite" else f"{base}{key[len('composite_'):]}/"
            for name, metric in self._get(prefix, pl_module.device).items():
                if name in HOLE_METRICS or name == "bins":
                    metric.update(pred, target, mask)
                else:
                    metric.update(pred, target)

    def _log(self, stage: str, pl_module: L.LightningModule) -> None:
        for prefix in [p for p in self.metrics if p.startswith(f"{stage}/")]:
            values = {}
            for name, metric in self.metrics[prefix].items():
                value = metric.compute()
                values.update(value if isinstance(value, dict) else {name: value})
            self.metrics[prefix].reset()
            del self.metrics[prefix]
            for name, value in values.items():
                pl_module.log(f"{prefix}{name}", value.float(), sync_dist=False, add_dataloader_idx=False)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._update("val", trainer, pl_module, outputs, batch, dataloader_idx)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._log("val", pl_module)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._update("test", trainer, pl_module, outputs, batch, dataloader_idx)

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._log("test", pl_module)

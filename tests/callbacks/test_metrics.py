"""Every metric against scikit-image on the same images."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintlab.callbacks.metrics import inpainting_metrics
from inpaintlab.losses.gradient_attention import gradient_l1_map


def _images(seed=0, n=4, c=3, h=48, w=40):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, c, h, w, generator=g)
    pred = (target + 0.1 * torch.randn(n, c, h, w, generator=g)).clamp(0, 1)
    mask = torch.zeros(n, 1, h, w)
    for i in range(n):
        mask[i, :, 5 + i : 25 + i, 8 : 20 + 2 * i] = 1
    return pred, target, mask


@pytest.mark.parametrize("channels", [1, 3])
def test_metrics_agree_with_skimage(channels):
    pred, target, mask = _images(c=channels)
    metrics = inpainting_metrics()
    # update in two batches: the accumulation must give the same numbers as one pass
    for sl in (slice(0, 3), slice(3, 4)):
        for name, m in metrics.items():
            args = (pred[sl], target[sl], mask[sl]) if name.endswith("_hole") else (pred[sl], target[sl])
            m.update(*args)
    ours = {k: v.item() for k, v in metrics.compute().items()}

    p, t, mk = pred.numpy(), target.numpy(), mask.numpy().astype(bool)
    psnr, ssim, l1_hole, psnr_hole, grad_hole = [], [], [], [], []
    g = gradient_l1_map(pred, target).numpy()
    for i in range(p.shape[0]):
        psnr.append(peak_signal_noise_ratio(t[i], p[i], data_range=1.0))
        ssim.append(
            structural_similarity(t[i], p[i], data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False)
        )
        hole = np.broadcast_to(mk[i], t[i].shape)
        psnr_hole.append(peak_signal_noise_ratio(t[i][hole], p[i][hole], data_range=1.0))
        l1_hole.append(np.abs(t[i][hole] - p[i][hole]).mean())
        grad_hole.append(g[i][hole].mean())
    assert ours["psnr"] == pytest.approx(np.mean(psnr), abs=1e-3)
    assert ours["ssim"] == pytest.approx(np.mean(ssim), abs=2e-3)
    assert ours["l1"] == pytest.approx(np.abs(t - p).mean(), abs=1e-5)
    assert ours["psnr_hole"] == pytest.approx(np.mean(psnr_hole), abs=1e-3)
    assert ours["l1_hole"] == pytest.approx(np.mean(l1_hole), abs=1e-5)
    assert ours["grad_l1_hole"] == pytest.approx(np.mean(grad_hole), abs=1e-5)


def test_images_without_hole_are_skipped_by_hole_metrics():
    pred, target, mask = _images(n=2)
    mask[1] = 0
    m = inpainting_metrics()["l1_hole"]
    m.update(pred, target, mask)
    hole = mask[0].expand_as(pred[0]).bool()
    assert m.compute().item() == pytest.approx((pred[0][hole] - target[0][hole]).abs().mean().item(), rel=1e-5)


def test_hole_area_bins_against_skimage():
    from inpaintlab.callbacks.metrics import HoleAreaBinnedMetrics

    pred, target, _ = _images(n=4, h=20, w=20)
    mask = torch.zeros(4, 1, 20, 20)
    mask[0, :, :2, :10] = 1  # 20/400 = 5 %  → 0-10%
    mask[1, :, :4, :10] = 1  # 40/400 = 10 % → 0-10% (bins are (lo, hi])
    mask[2, :, :6, :10] = 1  # 15 %          → 10-20%
    mask[3, :, :10, :20] = 1  # 50 %         → 40-50%
    m = HoleAreaBinnedMetrics(ssim_kernel=7)
    m.update(pred[:2], target[:2], mask[:2])
    m.update(pred[2:], target[2:], mask[2:])
    out = {k: v.item() for k, v in m.compute().items()}
    assert out["bins/0-10%/count"] == 2 and out["bins/10-20%/count"] == 1 and out["bins/40-50%/count"] == 1
    assert not any(k.startswith("bins/20-30%") for k in out)
    p, t = pred.numpy(), target.numpy()
    psnr = [peak_signal_noise_ratio(t[i], p[i], data_range=1.0) for i in range(4)]
    ssim = [structural_similarity(t[i], p[i], data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, win_size=7) for i in range(4)]
    assert out["bins/0-10%/psnr"] == pytest.approx((psnr[0] + psnr[1]) / 2, abs=1e-3)
    assert out["bins/40-50%/ssim"] == pytest.approx(ssim[3], abs=2e-3)
    hole = mask[3].expand_as(pred[3]).bool().numpy()
    assert out["bins/40-50%/l1_hole"] == pytest.approx(np.abs(t[3][hole] - p[3][hole]).mean(), abs=1e-5)

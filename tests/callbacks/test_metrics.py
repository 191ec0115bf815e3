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

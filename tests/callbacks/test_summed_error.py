"""BTGMI Table 3's extra report columns: ℓ1 / ℓ2 errors of [0, 1] images summed over all pixels (003 Sec. 4.2)."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.callbacks.metrics import InpaintingMetrics, SummedError
from inpaintlab.errors import ConfigError


def test_sums_over_pixels_mean_over_images():
    pred = torch.zeros(2, 3, 4, 4)
    target = torch.zeros(2, 3, 4, 4)
    target[0, :, :2, :2] = 0.5  # 12 elements off by 0.5
    target[1, 0, 0, 0] = 1.0  # one element off by 1
    l1, l2 = SummedError(1), SummedError(2)
    l1.update(pred, target)
    l2.update(pred, target)
    assert float(l1.compute()) == pytest.approx((12 * 0.5 + 1.0) / 2)
    assert float(l2.compute()) == pytest.approx((12 * 0.25 + 1.0) / 2)


def test_extra_columns_option():
    cb = InpaintingMetrics(extra_metrics=["l1_sum", "l2_sum"])
    assert {"l1_sum", "l2_sum"} <= set(cb._get("test", torch.device("cpu")).keys())
    assert "l1_sum" not in InpaintingMetrics()._get("test", torch.device("cpu")).keys()
    with pytest.raises(ConfigError, match="l3_sum"):
        InpaintingMetrics(extra_metrics=["l3_sum"])

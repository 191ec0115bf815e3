"""The package's conventions (``inpaintlab.conventions``), each tested directly with hand-computed values."""

from __future__ import annotations

import pytest
import torch

from inpaintlab.conventions import (
    CONFIG_DIR,
    centred_crop,
    check_mask,
    composite,
    find_run_config,
    from_uint8,
    hole_boxes,
    parse_key_values,
    to_pixel_values,
    to_uint8,
)
from inpaintlab.errors import ConfigError


def test_composite_keeps_known_pixels_and_routes_gradients_to_the_hole():
    image = torch.tensor([[[[0.25, -0.5], [1.0, -1.0]]]])
    output = torch.tensor([[[[0.9, 0.1], [-0.3, 0.7]]]], requires_grad=True)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    out = composite(output, image, mask)
    assert torch.equal(out, torch.tensor([[[[0.9, -0.5], [1.0, 0.7]]]]))  # exactly the hole's output, the known image
    out.sum().backward()
    assert output.grad.tolist() == mask.tolist()  # nothing flows through the known pixels
    soft = composite(torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.25))
    assert float(soft) == 0.25  # a soft mask blends


def test_uint8_round_trip_and_rounding():
    levels = torch.arange(256, dtype=torch.uint8)
    x = from_uint8(levels)
    assert x.dtype == torch.float32 and float(x[0]) == -1.0 and float(x[255]) == 1.0
    assert torch.equal(to_uint8(x), levels)  # every 8-bit level survives the round trip
    assert to_uint8(torch.tensor([-3.0, 2.0, 0.0])).tolist() == [0, 255, 128]  # clipped; 127.5 rounds to even
    assert to_uint8(torch.tensor([1 / 127.5 - 1 + 0.49 / 127.5])).tolist() == [1]
    assert to_pixel_values(torch.tensor([-1.0, 0.0, 1.5])).tolist() == [0.0, 127.5, 318.75]  # neither rounded nor clipped


def test_check_mask_says_what_is_expected():
    image = torch.zeros(2, 3, 8, 8)
    check_mask(torch.zeros(2, 1, 8, 8), image)
    check_mask(torch.zeros(5, 1, 4, 6))
    with pytest.raises(ValueError, match=r"^crit: expected a B×1×H×W mask \(1 = hole\), got \(2, 3, 8, 8\)$"):
        check_mask(torch.zeros(2, 3, 8, 8), who="crit")
    with pytest.raises(ValueError, match=r"matching the image \(2, 3, 8, 8\), got \(2, 1, 8, 9\)"):
        check_mask(torch.zeros(2, 1, 8, 9), image)
    with pytest.raises(ValueError, match="matching the image"):
        check_mask(torch.zeros(1, 1, 8, 8), image)
    with pytest.raises(ConfigError, match="got ndarray"):
        import numpy as np

        check_mask(np.zeros((2, 1, 8, 8)), error=ConfigError)


def test_hole_boxes_threshold():
    mask = torch.zeros(1, 1, 6, 6)
    mask[0, 0, 1, 1] = 0.4
    mask[0, 0, 3:5, 2:4] = 1.0
    assert hole_boxes(mask).tolist() == [[1, 1, 4, 3]]
    assert hole_boxes(mask, threshold=0.5).tolist() == [[3, 2, 2, 2]]
    with pytest.raises(ValueError, match="B×1×H×W"):
        hole_boxes(torch.zeros(1, 6, 6))


def test_hole_boxes_numbers():
    mask = torch.zeros(3, 1, 20, 30)
    mask[0, :, 2:5, 7:12] = 1
    mask[1, :, 10, 0] = 1
    mask[1, :, 15, 29] = 1
    assert hole_boxes(mask).tolist() == [
        [2, 7, 3, 5],
        [10, 0, 6, 30],
        [0, 0, 20, 30],
    ]  # no hole: whole image


def test_centred_crop_centred_clamped_and_batch_shared():
    image = torch.arange(2 * 1 * 10 * 12, dtype=torch.float32).view(2, 1, 10, 12)
    boxes = torch.tensor([[3, 4, 2, 2], [8, 10, 2, 2]])  # second one near the corner: shifted inside
    crops, tl = centred_crop(image, 4, boxes)
    assert tl.tolist() == [[2, 3], [6, 8]]
    for i, (t, left) in enumerate(tl.tolist()):
        assert torch.equal(crops[i], image[i, :, t : t + 4, left : left + 4])
    shared, tl = centred_crop(image, (4, 6), (3, 4, 2, 2))
    assert shared.shape == (2, 1, 4, 6) and tl.tolist() == [[2, 2], [2, 2]]
    x = image.clone().requires_grad_(True)
    centred_crop(x, 4, boxes)[0].sum().backward()  # gradient (for WGAN-GP) lands on the window only
    assert x.grad.sum() == 2 * 16 and x.grad[0, 0, 2:6, 3:7].eq(1).all()
    with pytest.raises(ValueError, match="does not fit"):
        centred_crop(image, 11, boxes)
    with pytest.raises(ValueError, match="top, left, height, width"):
        centred_crop(image, 4, torch.zeros(3, 4))


def test_find_run_config(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt = run / "checkpoints" / "last.ckpt"
    assert find_run_config(ckpt) is None
    (run / "config.yaml").write_text("model: {}\n")
    assert find_run_config(ckpt) == run / "config.yaml"  # <run>/checkpoints/x.ckpt
    (run / "checkpoints" / "config.yaml").write_text("model: {}\n")
    assert find_run_config(ckpt) == run / "checkpoints" / "config.yaml"  # the nearer one wins


def test_parse_key_values():
    assert parse_key_values(["steps=1500", "blend=false", "name=a=b", "size=[1, 2]", "empty="], "--option",
                            "steps=1500") == {"steps": 1500, "blend": False, "name": "a=b", "size": [1, 2], "empty": None}
    assert parse_key_values(["refine.cnum=48", "refine.attn=true", "cnum=8"], "--model-arg", "cnum=48", nested=True) == {
        "refine": {"cnum": 48, "attn": True}, "cnum": 8}
    assert parse_key_values(["a.b=1"], "--option", "x=1") == {"a.b": 1}  # flat: dots are part of the key
    with pytest.raises(ConfigError, match=r"^--option expects KEY=VALUE \(e.g. steps=1500\), got 'steps'$"):
        parse_key_values(["steps"], "--option", "steps=1500")
    with pytest.raises(ConfigError, match="expects KEY=VALUE"):
        parse_key_values(["=3"], "--option", "steps=1500")
    with pytest.raises(ConfigError, match="value is not valid YAML"):
        parse_key_values(["x=[1, 2"], "--option", "x=1")
    with pytest.raises(ConfigError, match="conflicts with an earlier value of 'a'"):
        parse_key_values(["a=1", "a.b=2"], "--model-arg", "a=1", nested=True)


def test_config_dir_holds_the_entry_points_configs():
    assert all((CONFIG_DIR / f"{name}.yaml").is_file() for name in ("train", "eval", "comparison"))

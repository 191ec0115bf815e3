"""``inpaintlab-guide`` (BTGMI Sec. 4.4): box pasted, guided model run, outside-box pixels bit-exact, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintlab.guide import main
from inpaintlab.inference.guided import box_foreground
from inpaintlab.inference.pictures import InpaintInputError
from inpaintlab.models.btgmi import GuidedBTGMIGenerator

GEN = {"_target_": "inpaintlab.models.btgmi.GuidedBTGMIGenerator", "channels": [4, 8, 8], "num_blocks": 1,
       "max_extra_blocks": 1}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two generated pictures (input 70×60, guide 50×40), a guide-sized object mask and a tiny guided checkpoint
    in the layout inpaintlab-train writes (model config stored inside)."""
    root = tmp_path_factory.mktemp("guide")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 70, 3), dtype=np.uint8)
    guide = np.full((40, 50, 3), (30, 120, 200), np.uint8)
    guide[12:28, 15:35] = (220, 40, 40)  # the object
    obj = np.zeros((40, 50), np.uint8)
    obj[12:28, 15:35] = 255
    Image.fromarray(image).save(root / "image.png")
    Image.fromarray(guide).save(root / "guide.jpg", quality=95)
    Image.fromarray(obj).save(root / "object.png")
    torch.manual_seed(0)
    gen = GuidedBTGMIGenerator(**{k: v for k, v in GEN.items() if k != "_target_"})
    state = {f"generator.{k}": v for k, v in gen.state_dict().items()}
    torch.save({"state_dict": state, "inpaintlab": {"model_config": {
        "_target_": "inpaintlab.lightning.GuidedBTGMIModule", "generator": GEN}}}, root / "guided.ckpt")
    return root


def test_guide_cli_pastes_runs_and_keeps_outside_bit_exact(files, tmp_path):
    out = tmp_path / "out.png"
    argv = ["--weights", str(files / "guided.ckpt"), "--image", str(files / "image.png"), "--guide",
            str(files / "guide.jpg"), "--box", "10,8,30,24", "--at", "33,20", "--out", str(out), "--object-mask",
            str(files / "object.png")]
    assert main(argv) == 0
    result, image = np.asarray(Image.open(out)), np.asarray(Image.open(files / "image.png"))
    assert result.shape == image.shape
    box = np.zeros(image.shape[:2], bool)
    box[20:44, 33:63] = True
    assert np.array_equal(result[~box], image[~box])  # every pixel outside the box, bit for bit
    assert (result[box] != image[box]).any()
    # a box-sized object mask gives the same picture; so does the console entry point
    crop = np.asarray(Image.open(files / "object.png"))[8:32, 10:40]
    Image.fromarray(crop).save(tmp_path / "crop.png")
    argv2 = [*argv[:-3], str(tmp_path / "out2.png"), "--object-mask", str(tmp_path / "crop.png")]
    assert main(argv2) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out2.png")), result)


def test_scale_resizes_the_pasted_box(files, tmp_path, monkeypatch):
    """--scale (Sec. 4.4's "resize and paste"): the 30×24 box at 1.5 is pasted as 45×36 — the composite the model
    gets holds the guide's box resized (PIL bicubic), box and foreground planes follow; pixels outside it are the
    input's bit for bit."""
    from PIL import Image as PILImage

    from inpaintlab.inference.guided import GuidedAdapter

    seen = {}
    real_guide = GuidedAdapter.guide

    def spy(self, composite, box, foreground):
        seen.update(composite=composite.clone(), box=box.clone(), foreground=foreground.clone())
        return real_guide(self, composite, box, foreground)

    monkeypatch.setattr(GuidedAdapter, "guide", spy)
    out = tmp_path / "out.png"
    argv = ["--weights", str(files / "guided.ckpt"), "--image", str(files / "image.png"), "--guide",
            str(files / "guide.jpg"), "--box", "10,8,30,24", "--at", "20,15", "--scale", "1.5", "--out", str(out),
            "--object-mask", str(files / "object.png")]
    assert main(argv) == 0
    result, image = np.asarray(Image.open(out)), np.asarray(Image.open(files / "image.png"))
    box = np.zeros(image.shape[:2], bool)
    box[15:51, 20:65] = True  # 36 rows × 45 columns at (20, 15)
    assert np.array_equal(seen["box"][0, 0].numpy() > 0, box)
    assert np.array_equal(result[~box], image[~box]) and (result[box] != image[box]).any()
    guide_box = np.asarray(Image.open(files / "guide.jpg"))[8:32, 10:40]
    want = np.asarray(PILImage.fromarray(guide_box).resize((45, 36), PILImage.BICUBIC))
    pasted = seen["composite"][0].add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy()[15:51, 20:65]
    assert np.array_equal(pasted, want)
    obj = np.asarray(Image.open(files / "object.png"))[8:32, 10:40] > 0  # object rows 4–19, columns 5–24 of the box
    fg = seen["foreground"][0, 0].numpy()[15:51, 20:65] > 0
    assert np.array_equal(fg, np.asarray(PILImage.fromarray(obj.astype(np.uint8) * 255).resize((45, 36), 0)) > 127)


@pytest.mark.parametrize("scale, expected", [
    ("0", "expected a positive number"),
    ("-2", "expected a positive number"),
    ("big", "expected a positive number"),
    ("nan", "expected a positive number"),
    ("inf", "expected a positive number"),
    ("0.01", "shrinks the 30×24 box to 0×0 pixels"),
    ("3", "--box 30×24 scaled by 3 (90×72) is larger than the input image (70×60)"),
    ("2", "puts the 60×48 box outside the input image"),
])
def test_bad_scales_are_one_line(files, tmp_path, capsys, scale, expected):
    argv = ["--weights", str(files / "guided.ckpt"), "--image", str(files / "image.png"), "--guide",
            str(files / "guide.jpg"), "--box", "10,8,30,24", "--at", "33,20", f"--scale={scale}", "--out",
            str(tmp_path / "o.png"), "--object-mask", str(files / "object.png")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and err.startswith("inpaintlab-guide: error:"), err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("box, at, expected", [
    ("10,8,0,24", "0,0", "is empty"),
    ("40,8,30,24", "0,0", "outside the guide image"),
    ("-1,8,30,24", "0,0", "outside the guide image"),
    ("0,0,50,40", "30,30", "outside the input image"),
    ("1,2,3", "0,0", "expected 4 integers"),
    ("10,8,30,24", "a,b", "expected 2 integers"),
])
def test_bad_boxes_are_one_line(files, tmp_path, capsys, box, at, expected):
    argv = ["--weights", str(files / "guided.ckpt"), "--image", str(files / "image.png"), "--guide",
            str(files / "guide.jpg"), f"--box={box}", f"--at={at}", "--out", str(tmp_path / "o.png"), "--object-mask",
            str(files / "object.png")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and err.startswith("inpaintlab-guide: error:")
    assert not (tmp_path / "o.png").exists()


def test_box_larger_than_input(files, tmp_path, capsys):
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    argv = ["--weights", str(files / "guided.ckpt"), "--image", str(small), "--guide", str(files / "guide.jpg"),
            "--box", "0,0,30,24", "--at", "0,0", "--out", str(tmp_path / "o.png"), "--object-mask",
            str(files / "object.png")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "larger than the input image (20×20)" in err


def test_missing_maskrcnn_weights_is_one_line(files, tmp_path, capsys, monkeypatch):
    """Without --object-mask and without Mask R-CNN's weights in torchvision's cache: one line naming the file."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    argv = ["--weights", str(files / "guided.ckpt"), "--image", str(files / "image.png"), "--guide",
            str(files / "guide.jpg"), "--box", "10,8,30,24", "--at", "33,20", "--out", str(tmp_path / "o.png")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in err and str(tmp_path / "torch_home") in err
    assert not (tmp_path / "o.png").exists()


def test_not_a_guided_checkpoint(files, tmp_path, capsys):
    from inpaintlab.models.btgmi import BTGMIGenerator

    plain = {"_target_": "inpaintlab.models.btgmi.BTGMIGenerator", "channels": [4, 8, 8], "num_blocks": 1}
    gen = BTGMIGenerator(channels=[4, 8, 8], num_blocks=1)
    torch.save({"state_dict": {f"generator.{k}": v for k, v in gen.state_dict().items()},
                "inpaintlab": {"model_config": {"generator": plain}}}, tmp_path / "plain.ckpt")
    argv = ["--weights", str(tmp_path / "plain.ckpt"), "--image", str(files / "image.png"), "--guide",
            str(files / "guide.jpg"), "--box", "10,8,30,24", "--at", "33,20", "--out", str(tmp_path / "o.png"),
            "--object-mask", str(files / "object.png")]
    assert main(argv) == 1
    assert "not a guided model" in capsys.readouterr().err


class _Detector(torch.nn.Module):
    def __init__(self, scores, masks):
        super().__init__()
        self.out = {"scores": torch.tensor(scores), "masks": masks,
                    "labels": torch.arange(len(scores)), "boxes": torch.zeros(len(scores), 4)}

    def forward(self, images):
        return [self.out]


def test_box_foreground_takes_the_highest_scoring_instance_whatever_its_class():
    masks = torch.zeros(3, 1, 8, 8)
    masks[0, 0, :2] = 0.9
    masks[1, 0, 4:] = 0.8
    masks[2, 0, :, :1] = 0.4
    fg = box_foreground(_Detector([0.3, 0.95, 0.5], masks), torch.rand(3, 8, 8))
    assert fg.dtype == torch.bool and fg[4:].all() and not fg[:4].any()
    with pytest.raises(InpaintInputError, match="no object"):
        box_foreground(_Detector([], torch.zeros(0, 1, 8, 8)), torch.rand(3, 8, 8))


def test_trained_experiment_checkpoint_guides(tmp_path, tmp_path_factory):
    """experiment=btgmi_guided_coco trained a few steps on a tiny COCO layout; its checkpoint drives inpaintlab-guide."""
    from hydra.core.global_hydra import GlobalHydra

    from helpers import CPU_CLAMP, compose_config
    from inpaintlab.data.synthetic import make_coco_objects
    from inpaintlab.train import train

    root = make_coco_objects(tmp_path_factory.mktemp("coco_guide"))
    GlobalHydra.instance().clear()
    try:
        cfg = compose_config(["experiment=btgmi_guided_coco", f"data.root={root}", "logger=csv", "data.batch_size=4",
                              "data.eval_batch_size=4", *CPU_CLAMP, "trainer.max_steps=2", "data.val_size=2",
                              "data.dataset.image_size=32", "data.dataset.min_area=50", "btgmi.head_steps=1",
                              "btgmi.block_steps=1", "model.generator.channels=[8,16,16]",
                              "model.discriminator.ndf=8", "model.losses.ppl.pretrained=false",
                              "model.losses.ppl.crop_size=32"], tmp_path / "run")
        metrics = train(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert {"test/l1_hole", "test/paste/l1_hole", "test/inpainted/l1_hole"} <= set(metrics)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "i.png")
    Image.fromarray(rng.integers(0, 256, (36, 30, 3), dtype=np.uint8)).save(tmp_path / "g.png")
    mask = np.zeros((12, 10), np.uint8)
    mask[3:9, 2:8] = 1
    Image.fromarray(mask * 255).save(tmp_path / "m.png")
    assert main(["--weights", str(ckpt), "--image", str(tmp_path / "i.png"), "--guide", str(tmp_path / "g.png"),
                 "--box", "5,6,10,12", "--at", "30,20", "--out", str(tmp_path / "o.png"),
                 "--object-mask", str(tmp_path / "m.png")]) == 0
    out, image = np.asarray(Image.open(tmp_path / "o.png")), np.asarray(Image.open(tmp_path / "i.png"))
    box = np.zeros((40, 48), bool)
    box[20:32, 30:40] = True
    assert np.array_equal(out[~box], image[~box])

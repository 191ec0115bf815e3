"""Tiny image datasets in each real on-disk layout (CelebA, Places2 standard/high-res, ImageNet, any folder).

Every builder writes smooth random JPEGs (so decoding and resizing are exercised on real files), one
grayscale JPEG and one corrupt (truncated) JPEG, and returns the dataset root. ``LAYOUT_BUILDERS`` maps the
dataset class name a config's ``data.dataset._target_`` ends with to its builder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def smooth_image(rng: np.random.Generator, width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A smooth random picture: bilinearly upsampled noise (JPEG-friendly, with real structure to crop)."""
    small = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(small, "RGB").resize((width, height), Image.BILINEAR)
    return img.convert(mode) if mode != "RGB" else img


def write_corrupt_jpeg(path: Path, rng: np.random.Generator, width: int = 64, height: int = 64) -> None:
    """A JPEG cut off after its first 200 bytes: the header parses, decoding fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    smooth_image(rng, width, height).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[:200])


def _save(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=90) if path.suffix.lower() in (".jpg", ".jpeg") else img.save(path)


def make_celeba(root: Path, n_train: int = 8, n_val: int = 3, n_test: int = 3, seed: int = 0) -> Path:
    """<root>/img_align_celeba/000001.jpg … (178×218) + list_eval_partition.txt; image 000002 is grayscale and
    000003 is truncated (both in the training split)."""
    rng = np.random.default_rng(seed)
    img_dir = root / "img_align_celeba"
    lines = []
    total = n_train + n_val + n_test
    for i in range(1, total + 1):
        name = f"{i:06d}.jpg"
        split = 0 if i <= n_train else (1 if i <= n_train + n_val else 2)
        lines.append(f"{name} {split}")
        if i == 3:
            write_corrupt_jpeg(img_dir / name, rng, 178, 218)
        else:
            _save(smooth_image(rng, 178, 218, "L" if i == 2 else "RGB"), img_dir / name)
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def make_places2(root: Path, layout: str = "standard", n_train: int = 8, n_val: int = 3, n_test: int = 2,
                 seed: int = 0, size: tuple[int, int] | None = None) -> Path:
    """Places365-Standard: data_256/a/airfield/…, val_256/Places365_val_….jpg, test_256/… and the three list files
    (``layout="highres"``: data_large/, val_large/, test_large/ with 341×256 images, or ``size`` (w, h)). One
    training image is grayscale, one truncated."""
    rng = np.random.default_rng(seed)
    dirs = {"standard": ("data_256", "val_256", "test_256"), "highres": ("data_large", "val_large", "test_large")}[layout]
    size = size or ((256, 256) if layout == "standard" else (341, 256))
    cats = ["a/airfield", "b/bedroom", "c/coast"]
    train_lines = []
    for i in range(n_train):
        rel = f"/{cats[i % 3]}/{i + 1:08d}.jpg"
        train_lines.append(f"{rel} {i % 3}")
        path = root / dirs[0] / rel.lstrip("/")
        if i == 2:
            write_corrupt_jpeg(path, rng, *size)
        else:
            _save(smooth_image(rng, *size, "L" if i == 1 else "RGB"), path)
    val_lines = []
    for i in range(n_val):
        name = f"Places365_val_{i + 1:08d}.jpg"
        val_lines.append(f"{name} {i % 3}")
        _save(smooth_image(rng, *size), root / dirs[1] / name)
    test_lines = []
    for i in range(n_test):
        name = f"Places365_test_{i + 1:08d}.jpg"
        test_lines.append(name)
        _save(smooth_image(rng, *size), root / dirs[2] / name)
    (root / "places365_train_standard.txt").write_text("\n".join(train_lines) + "\n")
    (root / "places365_val.txt").write_text("\n".join(val_lines) + "\n")
    (root / "places365_test.txt").write_text("\n".join(test_lines) + "\n")
    return root


def make_places2_highres(root: Path, **kwargs) -> Path:
    return make_places2(root, layout="highres", **kwargs)


def make_imagenet(root: Path, val_by_class: bool = False, n_per_class: int = 3, seed: int = 0) -> Path:
    """ILSVRC-2012: train/<wnid>/<wnid>_<k>.JPEG for two classes, val/ flat (or by class) with 3 images, test/ with
    2; one training image grayscale, one truncated."""
    rng = np.random.default_rng(seed)
    wnids = ["n01440764", "n01443537"]
    k = 0
    for w in wnids:
        for j in range(n_per_class):
            path = root / "train" / w / f"{w}_{j + 1}.JPEG"
            if k == 2:
                write_corrupt_jpeg(path, rng, 300, 250)
            else:
                _save(smooth_image(rng, 300, 250, "L" if k == 1 else "RGB"), path)
            k += 1
    for i in range(3):
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        sub = root / "val" / wnids[i % 2] if val_by_class else root / "val"
        _save(smooth_image(rng, 250, 300), sub / name)
    for i in range(2):  # the unlabelled test images (BTGMI Table 3's centre holes)
        _save(smooth_image(rng, 280, 260), root / "test" / f"ILSVRC2012_test_{i + 1:08d}.JPEG")
    return root


def make_folder(root: Path, seed: int = 0) -> Path:
    """Any folder: nested sub-folders with JPEG, PNG (RGBA, palette, 16-bit grey), a tiny image (for min_side),
    a grayscale JPEG and a truncated JPEG, plus a non-image file that must be ignored."""
    rng = np.random.default_rng(seed)
    for i in range(6):
        _save(smooth_image(rng, 96, 80), root / "set_a" / f"img_{i}.jpg")
    _save(smooth_image(rng, 90, 90, "L"), root / "set_a" / "gray.jpg")
    _save(smooth_image(rng, 72, 72, "RGBA"), root / "set_b" / "rgba.png")
    _save(smooth_image(rng, 72, 72).quantize(16), root / "set_b" / "palette.png")
    g16 = (np.asarray(smooth_image(rng, 70, 70, "L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(g16).save(root / "set_b" / "gray16.png")  # uint16 → mode I;16
    _save(smooth_image(rng, 20, 30), root / "set_b" / "tiny.jpg")
    write_corrupt_jpeg(root / "set_b" / "broken.jpg", rng, 80, 80)
    (root / "set_b" / "notes.txt").write_text("not an image")
    return root


def make_coco(root: Path, seed: int = 0) -> Path:
    """COCO 2017 images: train2017/ and val2017/ of JPEGs named by 12-digit image id (annotations unused)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train2017", 8), ("val2017", 4)):
        for i in range(n):
            _save(smooth_image(rng, 96 + 8 * (i % 3), 80), root / split / f"{i + 1:012d}.jpg")
    return root


def make_coco_objects(root: Path, seed: int = 0, n_train: int = 10, n_val: int = 4) -> Path:
    """COCO 2017 with instance annotations: train2017/, val2017/ (PNG, lossless, so object colours are exact) and
    annotations/instances_{train,val}2017.json as pycocotools reads them. Each image holds one coloured ellipse
    object on a smooth background; objects alternate polygon, compressed RLE and uncompressed RLE segmentations.
    In each split the last image has no annotation and the one before it only a tiny (area 4) object: neither
    has a usable object."""
    from pycocotools import mask as mask_utils

    from inpaintlab.data.coco import write_annotations

    rng = np.random.default_rng(seed)
    ann_id = 1
    for split, n in (("train2017", n_train), ("val2017", n_val)):
        images, anns = [], []
        for i in range(n):
            w, h = 96 + 8 * (i % 3), 80
            bg = np.asarray(smooth_image(rng, w, h), dtype=np.uint8).copy()
            img_id = 1000 * (split == "val2017") + i + 1
            name = f"{img_id:012d}.png"
            images.append({"id": img_id, "file_name": name, "width": w, "height": h})
            yy, xx = np.mgrid[0:h, 0:w]
            if i == n - 1:  # no annotation at all
                _save(Image.fromarray(bg), root / split / name)
                continue
            if i == n - 2:  # only a 2×2 object: below any sensible min_area
                bg[10:12, 10:12] = (255, 0, 0)
                anns.append({"id": ann_id, "image_id": img_id, "category_id": 1, "iscrowd": 0, "area": 4.0,
                             "bbox": [10.0, 10.0, 2.0, 2.0], "segmentation": [[10, 10, 12, 10, 12, 12, 10, 12]]})
                ann_id += 1
                _save(Image.fromarray(bg), root / split / name)
                continue
            cy, cx = int(rng.integers(25, h - 25)), int(rng.integers(25, w - 25))
            ry, rx = int(rng.integers(10, 18)), int(rng.integers(10, 20))
            obj = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            colour = rng.integers(30, 225, 3)
            shade = (1.0 + 0.25 * (xx - cx) / rx)[..., None]  # a gradient, so the object's std is not zero
            bg[obj] = np.clip(colour[None, :] * shade[obj], 0, 255).astype(np.uint8)
            _save(Image.fromarray(bg), root / split / name)
            ys, xs = np.nonzero(obj)
            bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
            kind = i % 3
            if kind == 0:  # polygon around the ellipse
                t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
                poly = np.stack([cx + 0.5 + rx * np.cos(t), cy + 0.5 + ry * np.sin(t)], 1).ravel().round(2).tolist()
                segmentation = [poly]
            else:
                rle = mask_utils.encode(np.asfortranarray(obj.astype(np.uint8)))
                if kind == 1:  # compressed RLE (counts a string)
                    segmentation = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
                else:  # uncompressed RLE (counts a list of run lengths, column-major)
                    flat = obj.astype(np.uint8).ravel(order="F")
                    runs, value, count = [], 0, 0
                    for v in flat:
                        if v == value:
                            count += 1
                        else:
                            runs.append(count)
                            value, count = v, 1
                    runs.append(count)
                    segmentation = {"size": [h, w], "counts": runs}
            anns.append({"id": ann_id, "image_id": img_id, "category_id": 1, "iscrowd": 0,
                         "area": float(obj.sum()), "bbox": bbox, "segmentation": segmentation})
            ann_id += 1
        write_annotations(root / "annotations" / f"instances_{split}.json", images, anns)
    return root


def voc_palette() -> list[int]:
    """PASCAL VOC's colour map (index bits spread over R, G, B): 256 distinct colours, so PIL keeps every index."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def save_voc_png(indices: np.ndarray, path: Path) -> None:
    """An H×W uint8 array of instance indices as a VOC palette PNG."""
    img = Image.fromarray(indices.astype(np.uint8), "P")
    img.putpalette(voc_palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def make_voc(root: Path, n: int = 4, seed: int = 0) -> Path:
    """PASCAL VOC 2012 segmentation shapes: <root>/SegmentationObject/2007_00000k.png, 96×128 palette PNGs with
    two object instances each (an ellipse, index 1, and a rectangle, index 2, both framed by the void index 255)
    plus a 3-pixel speck (index 3), and ImageSets/Segmentation/{train,val,trainval}.txt."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:128]
    names = []
    for k in range(n):
        cy, cx, ry, rx = rng.integers(30, 60), rng.integers(30, 60), rng.integers(10, 25), rng.integers(10, 25)
        arr = np.zeros((96, 128), np.uint8)
        ellipse = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        ring = (((yy - cy) / (ry + 2)) ** 2 + ((xx - cx) / (rx + 2)) ** 2 <= 1) & ~ellipse
        arr[ring], arr[ellipse] = 255, 1
        arr[60:88, 80:120] = 255
        arr[62:86, 82:118] = 2
        arr[5, 5:8] = 3
        name = f"2007_{k:06d}"
        save_voc_png(arr, root / "SegmentationObject" / f"{name}.png")
        names.append(name)
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    half = n // 2
    for split, part in (("train", names[:half]), ("val", names[half:]), ("trainval", names)):
        (sets / f"{split}.txt").write_text("\n".join(part) + "\n")
    return root


LAYOUT_BUILDERS = {
    "CelebA": make_celeba,
    "Places2": make_places2,
    "ImageNet": make_imagenet,
    "ImageFolder": make_folder,
    "CocoGuided": make_coco_objects,
}

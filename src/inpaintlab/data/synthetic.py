"""Tiny generated datasets in each real on-disk layout, at any resolution (native by default for the rehearsal).

Used by the tests (small images, plus a grayscale and a truncated file in the training split: ``faults=True``)
and by ``inpaintlab-rehearse`` (every dataset at the resolution it is distributed at, ``NATIVE``, clean files).
Every image is smooth random noise (bilinearly upsampled 4×4 noise), JPEG-friendly and with structure to crop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "NATIVE",
    "make_celeba",
    "make_celeba_hq",
    "make_coco",
    "make_coco_objects",
    "make_folder",
    "make_idx_dataset",
    "make_imagenet",
    "make_irregular_masks",
    "make_object_shapes",
    "make_paris_streetview",
    "make_places2",
    "make_places2_highres",
    "make_voc",
    "save_voc_png",
    "smooth_image",
    "voc_palette",
    "write_corrupt_jpeg",
]

# (width, height) of each dataset's images as distributed: CelebA's aligned faces, CelebA-HQ, the two Places365
# releases (256² and short side 512), ILSVRC-2012's most common size, COCO 2017's most common size, Paris
# StreetView (Doersch et al. 2012, Pathak's release), MNIST's IDX digits; NVIDIA's irregular masks are 512², PASCAL
# VOC 2012's segmentations mostly 500×375.
NATIVE: dict[str, tuple[int, int]] = {
    "celeba": (178, 218),
    "celeba_hq": (1024, 1024),
    "places2": (256, 256),
    "places2_highres": (683, 512),
    "imagenet": (500, 375),
    "coco": (640, 480),
    "paris_streetview": (936, 537),
    "mnist": (28, 28),
    "irregular_masks": (512, 512),
    "voc2012": (500, 375),
}


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


def _image(path: Path, rng: np.random.Generator, size: tuple[int, int], k: int, faults: bool) -> None:
    """Training image number ``k``: with ``faults``, image 1 is grayscale and image 2 truncated."""
    if faults and k == 2:
        write_corrupt_jpeg(path, rng, *size)
    else:
        _save(smooth_image(rng, *size, "L" if faults and k == 1 else "RGB"), path)


def make_celeba(root: Path, n_train: int = 8, n_val: int = 3, n_test: int = 3, seed: int = 0,
                size: tuple[int, int] = NATIVE["celeba"], faults: bool = True) -> Path:
    """<root>/img_align_celeba/000001.jpg … (178×218) + list_eval_partition.txt; with ``faults`` image 000002 is
    grayscale and 000003 truncated (both in the training split)."""
    rng = np.random.default_rng(seed)
    img_dir = root / "img_align_celeba"
    lines = []
    for i in range(1, n_train + n_val + n_test + 1):
        name = f"{i:06d}.jpg"
        split = 0 if i <= n_train else (1 if i <= n_train + n_val else 2)
        lines.append(f"{name} {split}")
        _image(img_dir / name, rng, size, i - 1, faults)
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def make_places2(root: Path, layout: str = "standard", n_train: int = 8, n_val: int = 3, n_test: int = 2,
                 seed: int = 0, size: tuple[int, int] | None = None, faults: bool = True) -> Path:
    """Places365-Standard: data_256/a/airfield/…, val_256/Places365_val_….jpg, test_256/… and the three list files
    (``layout="highres"``: data_large/, val_large/, test_large/; default sizes 256² and 341×256)."""
    rng = np.random.default_rng(seed)
    dirs = {"standard": ("data_256", "val_256", "test_256"), "highres": ("data_large", "val_large", "test_large")}[layout]
    size = size or ((256, 256) if layout == "standard" else (341, 256))
    cats = ["a/airfield", "b/bedroom", "c/coast"]
    train_lines = []
    for i in range(n_train):
        rel = f"/{cats[i % 3]}/{i + 1:08d}.jpg"
        train_lines.append(f"{rel} {i % 3}")
        _image(root / dirs[0] / rel.lstrip("/"), rng, size, i, faults)
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


def make_imagenet(root: Path, val_by_class: bool = False, n_per_class: int = 3, n_val: int = 3, n_test: int = 2,
                  seed: int = 0, size: tuple[int, int] = (300, 250), faults: bool = True) -> Path:
    """ILSVRC-2012: train/<wnid>/<wnid>_<k>.JPEG for two classes, val/ flat (or by class), test/ unlabelled."""
    rng = np.random.default_rng(seed)
    wnids = ["n01440764", "n01443537"]
    k = 0
    for w in wnids:
        for j in range(n_per_class):
            _image(root / "train" / w / f"{w}_{j + 1}.JPEG", rng, size, k, faults)
            k += 1
    for i in range(n_val):
        name = f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        sub = root / "val" / wnids[i % 2] if val_by_class else root / "val"
        _save(smooth_image(rng, *size[::-1]), sub / name)  # portrait and landscape both occur
    for i in range(n_test):  # the unlabelled test images (BTGMI Table 3's centre holes)
        _save(smooth_image(rng, *size), root / "test" / f"ILSVRC2012_test_{i + 1:08d}.JPEG")
    return root


def make_celeba_hq(root: Path, n_train: int = 6, n_test: int = 2, seed: int = 0,
                   size: tuple[int, int] = NATIVE["celeba_hq"]) -> Path:
    """CelebA-HQ (1024²) as a folder with split lists: <root>/images/00000.jpg …, <root>/splits/{train,test}.txt."""
    rng = np.random.default_rng(seed)
    names = [f"images/{i:05d}.jpg" for i in range(n_train + n_test)]
    for name in names:
        _save(smooth_image(rng, *size), root / name)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    (root / "splits" / "train.txt").write_text("\n".join(names[:n_train]) + "\n")
    (root / "splits" / "test.txt").write_text("\n".join(names[n_train:]) + "\n")
    return root


def make_paris_streetview(root: Path, n_train: int = 6, n_test: int = 2, seed: int = 0,
                          size: tuple[int, int] = NATIVE["paris_streetview"]) -> Path:
    """Paris StreetView as Pathak et al. distribute it: paris_train_original/ and paris_eval_gt/."""
    rng = np.random.default_rng(seed)
    for i in range(n_train):
        _save(smooth_image(rng, *size), root / "paris_train_original" / f"{i + 1:05d}.JPG")
    for i in range(n_test):
        _save(smooth_image(rng, *size), root / "paris_eval_gt" / f"{i + 1:03d}_im.png")
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


def _uncompressed_rle(obj: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE: run lengths of the column-major flattening, starting with zeros."""
    flat = obj.astype(np.uint8).ravel(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return runs if flat[0] == 0 else [0, *runs]


def make_coco_objects(root: Path, seed: int = 0, n_train: int = 10, n_val: int = 4,
                      size: tuple[int, int] | None = None, ext: str = ".png", faults: bool = True) -> Path:
    """COCO 2017 with instance annotations: train2017/, val2017/ and annotations/instances_{train,val}2017.json as
    pycocotools reads them. Each image holds one coloured ellipse object on a smooth background; objects alternate
    polygon, compressed RLE and uncompressed RLE segmentations. Default: 96–112×80 PNGs (lossless, so object
    colours are exact); ``size``/``ext`` give e.g. COCO's 640×480 JPEGs. With ``faults``, the last image of each
    split has no annotation and the one before it only a tiny (area 4) object: neither has a usable object."""
    from pycocotools import mask as mask_utils

    from inpaintlab.data.coco import write_annotations

    rng = np.random.default_rng(seed)
    ann_id = 1
    for split, n in (("train2017", n_train), ("val2017", n_val)):
        images, anns = [], []
        for i in range(n):
            w, h = size if size is not None else (96 + 8 * (i % 3), 80)
            bg = np.asarray(smooth_image(rng, w, h), dtype=np.uint8).copy()
            img_id = 1000 * (split == "val2017") + i + 1
            name = f"{img_id:012d}{ext}"
            images.append({"id": img_id, "file_name": name, "width": w, "height": h})
            yy, xx = np.mgrid[0:h, 0:w]
            if faults and i == n - 1:  # no annotation at all
                _save(Image.fromarray(bg), root / split / name)
                continue
            if faults and i == n - 2:  # only a 2×2 object: below any sensible min_area
                bg[10:12, 10:12] = (255, 0, 0)
                anns.append({"id": ann_id, "image_id": img_id, "category_id": 1, "iscrowd": 0, "area": 4.0,
                             "bbox": [10.0, 10.0, 2.0, 2.0], "segmentation": [[10, 10, 12, 10, 12, 12, 10, 12]]})
                ann_id += 1
                _save(Image.fromarray(bg), root / split / name)
                continue
            u = min(w, h) / 80  # object scale relative to the 80-px-high default images
            cy, cx = int(rng.integers(int(25 * u), h - int(25 * u))), int(rng.integers(int(25 * u), w - int(25 * u)))
            ry, rx = int(rng.integers(int(10 * u), int(18 * u))), int(rng.integers(int(10 * u), int(20 * u)))
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
            elif kind == 1:  # compressed RLE (counts a string)
                rle = mask_utils.encode(np.asfortranarray(obj.astype(np.uint8)))
                segmentation = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
            else:  # uncompressed RLE (counts a list of run lengths, column-major)
                segmentation = {"size": [h, w], "counts": _uncompressed_rle(obj)}
            anns.append({"id": ann_id, "image_id": img_id, "category_id": 1, "iscrowd": 0,
                         "area": float(obj.sum()), "bbox": bbox, "segmentation": segmentation})
            ann_id += 1
        write_annotations(root / "annotations" / f"instances_{split}.json", images, anns)
    return root


def make_idx_dataset(root: Path, n_train: int = 96, n_test: int = 48, gz: bool = True, seed: int = 0) -> Path:
    """The four MNIST IDX files with smooth random 28×28 shapes (so gradients are meaningful)."""
    from inpaintlab.data.mnist import write_idx

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:28, 0:28]
    for split, n in (("train", n_train), ("t10k", n_test)):
        cy, cx = rng.uniform(8, 20, (2, n, 1, 1))
        r = rng.uniform(4, 10, (n, 1, 1))
        images = (255 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(root / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(root / f"{split}-labels-idx1-ubyte{suffix}", labels)
    return root


def _blob_mask(rng: np.random.Generator, size: tuple[int, int], ratio: float, border: int = 0) -> np.ndarray:
    """A bool H×W mask of random discs covering at least ``ratio`` of the image (each disc adds at most ~2 %),
    holes ``border`` px away from the image edges."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    inner = np.zeros((h, w), dtype=bool)
    inner[border:h - border, border:w - border] = True
    hole = np.zeros((h, w), dtype=bool)
    while hole.mean() < ratio:
        cy, cx = rng.uniform(border, h - border), rng.uniform(border, w - border)
        r = rng.uniform(0.02, 0.08) * min(h, w)
        hole |= ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & inner
    return hole


def make_irregular_masks(root: Path, bins: tuple[tuple[float, float], ...] = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3),
                         (0.3, 0.4), (0.4, 0.5), (0.5, 0.6)), per_bin: int = 2, seed: int = 0,
                         size: tuple[int, int] = NATIVE["irregular_masks"]) -> Path:
    """NVIDIA's irregular-mask layout (Liu et al. 2018): 512² PNGs, white holes, numbered bin by bin as the test set
    (00000–01999 the first hole-ratio bin, 02000–03999 the second, …); ``per_bin`` masks in each bin."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for b, (lo, hi) in enumerate(bins):
        for j in range(per_bin):
            hole = _blob_mask(rng, size, lo + (hi - lo) * rng.uniform(0.3, 0.7))
            Image.fromarray(hole.astype(np.uint8) * 255).save(root / f"{b * 2000 + j:05d}.png")
    return root


def make_object_shapes(root: Path, n: int = 4, seed: int = 0, size: tuple[int, int] = (256, 256)) -> Path:
    """Object-shaped masks as CR-Fill reads them (a folder of segmentation masks, object = non-zero pixels)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        hole = _blob_mask(rng, size, rng.uniform(0.1, 0.3), border=size[0] // 8)
        Image.fromarray(hole.astype(np.uint8) * 255).save(root / f"object_{i:05d}.png")
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


def make_voc(root: Path, n: int = 4, seed: int = 0, size: tuple[int, int] = (128, 96)) -> Path:
    """PASCAL VOC 2012 segmentation shapes: <root>/SegmentationObject/2007_00000k.png, palette PNGs (default
    128×96; ``NATIVE["voc2012"]`` for VOC's own size) with two object instances each (an ellipse, index 1, and a
    rectangle, index 2, both framed by the void index 255) plus a 3-pixel speck (index 3), and
    ImageSets/Segmentation/{train,val,trainval}.txt."""
    rng = np.random.default_rng(seed)
    w, h = size
    u = h / 96  # shape scale relative to the 96-px-high default
    yy, xx = np.mgrid[0:h, 0:w]
    names = []
    for k in range(n):
        cy, cx = rng.integers(int(30 * u), int(60 * u)), rng.integers(int(30 * u), int(60 * u))
        ry, rx = rng.integers(int(10 * u), int(25 * u)), rng.integers(int(10 * u), int(25 * u))
        arr = np.zeros((h, w), np.uint8)
        ellipse = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        ring = (((yy - cy) / (ry + 2)) ** 2 + ((xx - cx) / (rx + 2)) ** 2 <= 1) & ~ellipse
        arr[ring], arr[ellipse] = 255, 1
        top, left = int(60 * u), w - int(48 * u)
        arr[top:top + int(28 * u), left:left + int(40 * u)] = 255
        arr[top + 2:top + int(28 * u) - 2, left + 2:left + int(40 * u) - 2] = 2
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

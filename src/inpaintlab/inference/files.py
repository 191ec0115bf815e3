"""Which files to fill: one image and mask, or two folders paired by file stem; checked before a model loads.

Results are ``<out>/<stem>.png`` in folder mode; unpaired files are an error listing them. Existing outputs are
kept unless ``overwrite``; an input is never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from inpaintlab.inference.pictures import (
    _ALPHA_MODES,
    _LOSSY,
    InpaintInputError,
    check_sizes,
    exif_hint,
    is_16bit_colour,
    open_image,
    oriented_size,
    save_format,
)


def _image_files(folder: Path) -> list[Path]:
    from inpaintlab.data.transforms import IMAGE_EXTENSIONS

    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _by_stem(files: list[Path], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in files:
        if p.stem in out:
            raise InpaintInputError(
                f"two {what} files share the stem {p.stem!r}: {out[p.stem].name}, {p.name}"
            )
        out[p.stem] = p
    return out


def pair_files(image: Path, mask: Path, out: Path) -> list[tuple[Path, Path, Path]]:
    """(image, mask, output) triples: one for files, or one per stem for folders (error on unpaired files)."""
    for p, what in ((image, "--image"), (mask, "--mask")):
        if not p.exists():
            raise InpaintInputError(f"{what} {p} does not exist")
    if image.is_dir() != mask.is_dir():
        raise InpaintInputError(f"--image {image} and --mask {mask} must both be files or both be folders")
    if not image.is_dir():
        if out.is_dir():
            raise InpaintInputError(
                f"--out {out} is a folder: give the output file name (e.g. {out / (image.stem + '.png')})"
            )
        return [(image, mask, out)]
    if out.exists() and not out.is_dir():
        raise InpaintInputError(f"--out {out} is a file: folder mode writes into a folder")
    if out.exists() and any(out.samefile(d) for d in (image, mask)):
        raise InpaintInputError(f"--out {out} is an input folder: write the results to another folder")
    images, masks = _by_stem(_image_files(image), "image"), _by_stem(_image_files(mask), "mask")
    if not images:
        raise InpaintInputError(f"no image files in {image}")
    lonely_images = sorted(set(images) - set(masks))
    lonely_masks = sorted(set(masks) - set(images))
    if lonely_images or lonely_masks:
        parts = []
        if lonely_images:
            parts.append(
                f"images without a mask in {mask}: {', '.join(images[s].name for s in lonely_images)}"
            )
        if lonely_masks:
            parts.append(
                f"masks without an image in {image}: {', '.join(masks[s].name for s in lonely_masks)}"
            )
        raise InpaintInputError("unpaired files (pairs share a file stem) — " + "; ".join(parts))
    return [(images[s], masks[s], out / f"{s}.png") for s in sorted(images)]



def plan_folder_jobs(jobs: list[tuple[Path, Path, Path]], overwrite: bool, keep_layout: bool
                     ) -> tuple[list[tuple[Path, Path, Path]], list[str], list[str], int]:
    """Folder mode (docs/reliability.md, principle 4): a rerun skips the outputs already written (unless
    ``overwrite``), and a pair that cannot be read is reported and left out instead of stopping the others.
    Returns (jobs to run, warnings, one error line per bad pair, number skipped as already written)."""
    todo, warnings, errors, done = [], [], [], 0
    for job in jobs:
        if job[2].exists() and not overwrite:
            done += 1
            continue
        try:
            warnings += check_jobs([job], overwrite, keep_layout)
        except InpaintInputError as e:
            errors.append(f"{job[0].name}: {e}")
            continue
        todo.append(job)
    return todo, warnings, errors, done


def check_jobs(jobs: list[tuple[Path, Path, Path]], overwrite: bool, keep_layout: bool) -> list[str]:
    """Everything that can be checked before the model loads; returns warnings."""
    warnings: list[str] = []
    existing = []
    inputs = [p.resolve() for job in jobs for p in job[:2]]
    for image, mask, out in jobs:
        if out.resolve() in inputs or out.resolve() in (image.resolve(), mask.resolve()):
            raise InpaintInputError(f"--out {out} is an input file; inputs are never overwritten")
        if out.exists():
            existing.append(out)
        fmt = save_format(out)
        im, mk = open_image(image, "image"), open_image(mask, "mask")
        with im, mk:
            check_sizes(oriented_size(im), oriented_size(mk), str(image), str(mask), exif_hint(im))
            deep = im.mode.startswith("I") or is_16bit_colour(im)
            alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
            if keep_layout and ((fmt == "JPEG" and (alpha or deep)) or (fmt == "WEBP" and deep)):
                raise InpaintInputError(
                    f"--out {out}: {fmt} cannot store the {'16 bits' if deep else 'alpha'} of {image}; "
                    "write .png (or .tif) or pass --rgb"
                )
            if mk.format == "JPEG":
                warnings.append(
                    f"mask {mask} is a JPEG: compression noise blurs its edges (pixels are holes from half way to "
                    "white); save masks as PNG"
                )
        if out.suffix.lower() in _LOSSY:
            warnings.append(
                f"{out} is a lossy format: its known pixels will not equal the input exactly; use .png"
            )
    if existing and not overwrite:
        names = ", ".join(str(p) for p in existing[:5]) + (" …" if len(existing) > 5 else "")
        raise InpaintInputError(
            f"{len(existing)} output file(s) exist ({names}); pass --overwrite to replace them"
        )
    return warnings



"""Free-form brush-stroke holes: DeepFill v2's strokes, LaMa-style random walks (thin/medium/thick), CR-Fill's strokes."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from inpaintlab.data.masks.base import MaskGenerator, MixtureMask, _pair, _randint, _uniform
from inpaintlab.data.masks.box import RandomBoxMask
from inpaintlab.errors import ConfigError

__all__ = ["FreeFormMask", "RandomWalkStrokeMask", "draw_polyline", "lama_preset"]


def draw_polyline(draw: ImageDraw.ImageDraw, points: np.ndarray, width: int, fill: int = 1) -> None:
    """A round-jointed, round-capped brush stroke through ``points`` (k×2 x, y): a wide line plus a disc of
    diameter ``width`` at every vertex, as DeepFill v2's ``brush_stroke_mask`` draws it."""
    pts = [tuple(p) for p in np.asarray(points).tolist()]
    if len(pts) > 1:
        draw.line(pts, fill=fill, width=int(width))
    r = int(width) // 2
    for x, y in pts:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _canvas_to_tensor(canvases: list[Image.Image], height: int, width: int) -> Tensor:
    if not canvases:
        return torch.zeros(0, 1, height, width)
    # canvases hold 0/1 bytes: uint8 → float is ~30× faster than bool → float on the CPU
    arr = np.stack([np.asarray(c) for c in canvases])
    return torch.from_numpy(arr).float()[:, None]


def _random_flips(masks: Tensor, g: torch.Generator | None) -> Tensor:
    n = masks.shape[0]
    fl = torch.rand(n, 2, generator=g) < 0.5
    for dim, col in ((3, 0), (2, 1)):
        idx = fl[:, col].nonzero().flatten()
        if idx.numel():
            masks[idx] = masks[idx].flip(dim)
    return masks


def _walk(x: np.ndarray, y: np.ndarray, steps: np.ndarray, angles: np.ndarray, width: int, height: int) -> Tensor:
    """Vertices of random walks (…×K steps from start points x, y), each clipped to the image and truncated to
    integers before the next step, as the official code does. NumPy: the arrays are tiny and torch's per-op
    overhead would dominate the small batches a DataLoader worker draws."""
    dx, dy = steps * np.cos(angles), steps * np.sin(angles)
    out = np.empty(x.shape + (steps.shape[-1] + 1, 2), dtype=np.int64)
    out[..., 0, 0], out[..., 0, 1] = x, y
    for k in range(steps.shape[-1]):
        x = np.floor(np.minimum(np.maximum(x + dx[..., k], 0), width))  # np.clip is slower on tiny arrays
        y = np.floor(np.minimum(np.maximum(y + dy[..., k], 0), height))
        out[..., k + 1, 0], out[..., k + 1, 1] = x, y
    return torch.from_numpy(out)


class FreeFormMask(MaskGenerator):
    """DeepFill v2 free-form strokes (Sec. 3.2 "free-form mask generation"; official ``brush_stroke_mask``).

    Each of ``num_strokes`` strokes starts at a uniform random pixel and takes ``num_vertices`` steps; step
    angles alternate between 2π − a and a with a ~ U(mean_angle ± up to angle_range); step length
    ~ N(R, R/2) clipped to [0, 2R] with R = ``radius_ratio``·sqrt(H² + W²); vertices are clipped to the image;
    the brush width ~ U(width) is fixed per stroke. Defaults are the official values: 1–3 strokes of 4–11
    steps, mean angle 2π/5, range 2π/15, width 12–40, R = diagonal/8. The official code's random flips are
    no-ops (the flipped image is discarded), so ``random_flip`` is off by default.
    """

    def __init__(
        self,
        num_strokes: int | tuple[int, int] = (1, 3),
        num_vertices: int | tuple[int, int] = (4, 11),
        mean_angle: float = 2 * math.pi / 5,
        angle_range: float = 2 * math.pi / 15,
        width: float | tuple[float, float] = (12, 40),
        radius_ratio: float = 1 / 8,
        random_flip: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.num_strokes = _pair(num_strokes, "FreeFormMask num_strokes")
        self.num_vertices = _pair(num_vertices, "FreeFormMask num_vertices")
        self.width = _pair(width, "FreeFormMask width", float)
        if self.num_strokes[0] < 0 or self.num_vertices[0] < 1 or self.width[0] < 1:
            raise ConfigError(
                "FreeFormMask: need num_strokes >= 0, num_vertices >= 1 and width >= 1 px, got "
                f"{self.num_strokes}, {self.num_vertices}, {self.width}"
            )
        if radius_ratio <= 0 or angle_range < 0:
            raise ConfigError(f"FreeFormMask: radius_ratio must be > 0 and angle_range >= 0, got {radius_ratio}, {angle_range}")
        self.mean_angle, self.angle_range = float(mean_angle), float(angle_range)
        self.radius_ratio = float(radius_ratio)
        self.random_flip = bool(random_flip)

    def sample_strokes(self, n: int, height: int, width: int, g: torch.Generator | None = None):
        """The random polylines: (vertices n×S×(V+1)×2 int, vertex counts n×S, widths n×S, stroke counts n)."""
        S, V = self.num_strokes[1], self.num_vertices[1]
        n_strokes = _randint(n, *self.num_strokes, g)
        n_vert = _randint((n, S), *self.num_vertices, g)
        a_min = self.mean_angle - _uniform((n, S), 0, self.angle_range, g)
        a_max = self.mean_angle + _uniform((n, S), 0, self.angle_range, g)
        angles = a_min[..., None] + (a_max - a_min)[..., None] * torch.rand(n, S, V, generator=g, dtype=torch.float64)
        even = torch.arange(V) % 2 == 0
        angles = torch.where(even, 2 * math.pi - angles, angles)
        R = self.radius_ratio * math.sqrt(height * height + width * width)
        radii = (R + R / 2 * torch.randn(n, S, V, generator=g, dtype=torch.float64)).clamp(0, 2 * R)
        x = torch.randint(0, width, (n, S), generator=g).double()
        y = torch.randint(0, height, (n, S), generator=g).double()
        widths = _uniform((n, S), *self.width, g).floor().long()
        verts = _walk(x.numpy(), y.numpy(), radii.numpy(), angles.numpy(), width, height)
        return verts, n_vert, widths, n_strokes

    def _generate(self, n, height, width, g):
        verts, n_vert, widths, n_strokes = self.sample_strokes(n, height, width, g)
        verts, n_vert, widths, n_strokes = verts.tolist(), n_vert.tolist(), widths.tolist(), n_strokes.tolist()
        canvases = []
        for b in range(n):  # PIL rasterises in C; only the per-stroke calls are Python
            img = Image.new("L", (width, height), 0)
            draw = ImageDraw.Draw(img)
            for s in range(n_strokes[b]):
                pts, w = verts[b][s][: n_vert[b][s] + 1], widths[b][s]
                draw.line([tuple(p) for p in pts], fill=1, width=w)
                r = w // 2
                for x, y in pts:
                    draw.ellipse((x - r, y - r, x + r, y + r), fill=1)
            canvases.append(img)
        masks = _canvas_to_tensor(canvases, height, width)
        return _random_flips(masks, g) if self.random_flip else masks

    def extra_repr(self):
        return (
            f"num_strokes={list(self.num_strokes)}, num_vertices={list(self.num_vertices)}, "
            f"mean_angle={self.mean_angle:.4g}, angle_range={self.angle_range:.4g}, width={list(self.width)}, "
            f"radius_ratio={self.radius_ratio:.4g}"
        )


class RandomWalkStrokeMask(MaskGenerator):
    """Random-walk strokes of straight segments (LaMa Sec. 3 "aggressive" masks, ``make_random_irregular_mask``;
    CR-Fill Sec. 5, official ``stroke_mask``).

    ``num_strokes`` walks start at uniform random pixels; each takes ``num_segments`` segments of length
    ~ U(length) and width ~ U{width} (per segment, round caps like OpenCV's thick lines), with end points
    clipped to the image. Angles: ``integer_angles=True`` is LaMa's 0.01 + randint(max_angle) radians,
    else U(0, max_angle) (CR-Fill: max_angle π); the angle is mirrored to 2π − a on even strokes
    (``alternate="stroke"``, LaMa) or even segments (``"segment"``, CR-Fill). Lengths and widths are pixels;
    with ``relative_to`` they are given for that image side and scale with min(H, W) (CR-Fill: max length
    = side/2, width 0.1–0.4 of it). LaMa computes x with sin and y with cos: ours (x cos, y sin) is its
    mirror image across the diagonal, the same distribution of hole areas.
    """

    def __init__(
        self,
        num_strokes: int | tuple[int, int] = (0, 10),
        num_segments: int | tuple[int, int] = (1, 5),
        length: float | tuple[float, float] = (10, 69),
        width: int | tuple[int, int] = (5, 24),
        max_angle: float = 4,
        integer_angles: bool = True,
        alternate: str = "stroke",
        relative_to: int | None = None,
        random_flip: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.num_strokes = _pair(num_strokes, "RandomWalkStrokeMask num_strokes")
        self.num_segments = _pair(num_segments, "RandomWalkStrokeMask num_segments")
        self.length = _pair(length, "RandomWalkStrokeMask length", float)
        self.width = _pair(width, "RandomWalkStrokeMask width")
        if self.num_strokes[0] < 0 or self.num_segments[0] < 1 or self.width[0] < 1 or self.length[0] < 0:
            raise ConfigError(
                "RandomWalkStrokeMask: need num_strokes >= 0, num_segments >= 1, width >= 1, length >= 0; got "
                f"{self.num_strokes}, {self.num_segments}, {self.width}, {self.length}"
            )
        if alternate not in ("stroke", "segment"):
            raise ConfigError(f"RandomWalkStrokeMask: alternate must be 'stroke' or 'segment', got {alternate!r}")
        if max_angle <= 0 or integer_angles and int(max_angle) < 1:
            raise ConfigError(f"RandomWalkStrokeMask: max_angle must be positive (>= 1 with integer_angles), got {max_angle}")
        if relative_to is not None and int(relative_to) < 1:
            raise ConfigError(f"RandomWalkStrokeMask: relative_to must be a positive image side, got {relative_to}")
        self.max_angle = float(max_angle)
        self.integer_angles = bool(integer_angles)
        self.alternate = alternate
        self.relative_to = None if relative_to is None else int(relative_to)
        self.random_flip = bool(random_flip)

    def sample_segments(self, n: int, height: int, width: int, g: torch.Generator | None = None):
        """The random walks: (points n×S×(K+1)×2 int, segment widths n×S×K, segment counts n×S, stroke counts n)."""
        S, K = self.num_strokes[1], self.num_segments[1]
        scale = 1.0 if self.relative_to is None else min(height, width) / self.relative_to
        n_strokes = _randint(n, *self.num_strokes, g)
        n_seg = _randint((n, S), *self.num_segments, g)
        if self.integer_angles:
            angles = 0.01 + torch.randint(0, int(self.max_angle), (n, S, K), generator=g).double()
        else:
            angles = _uniform((n, S, K), 0, self.max_angle, g)
        idx = torch.arange(S)[:, None] if self.alternate == "stroke" else torch.arange(K)[None, :]
        angles = torch.where(idx % 2 == 0, 2 * math.pi - angles, angles)
        lengths = _uniform((n, S, K), *self.length, g) * scale
        lo, hi = max(1, round(self.width[0] * scale)), max(1, round(self.width[1] * scale))
        widths = _randint((n, S, K), lo, hi, g)
        x = torch.randint(0, width, (n, S), generator=g).double()
        y = torch.randint(0, height, (n, S), generator=g).double()
        pts = _walk(x.numpy(), y.numpy(), lengths.numpy(), angles.numpy(), width, height)
        return pts, widths, n_seg, n_strokes

    def _generate(self, n, height, width, g):
        pts, widths, n_seg, n_strokes = self.sample_segments(n, height, width, g)
        S, K = self.num_strokes[1], self.num_segments[1]
        # a disc at each vertex, as wide as the wider adjacent (drawn) segment: both segments' round caps at once
        drawn = widths * (torch.arange(K) < n_seg[..., None])
        pad = torch.zeros(n, S, 1, dtype=widths.dtype)
        caps = torch.maximum(torch.cat([drawn, pad], 2), torch.cat([pad, drawn], 2)).tolist()
        n_strokes, n_seg = n_strokes.tolist(), n_seg.tolist()
        pts = pts.tolist()
        widths = widths.tolist()
        canvases = []
        for b in range(n):  # PIL rasterises in C; only the per-segment calls are Python
            img = Image.new("L", (width, height), 0)
            draw = ImageDraw.Draw(img)
            for s in range(n_strokes[b]):
                p, w, c, k_n = pts[b][s], widths[b][s], caps[b][s], n_seg[b][s]
                for k in range(k_n):
                    draw.line((p[k][0], p[k][1], p[k + 1][0], p[k + 1][1]), fill=1, width=w[k])
                for k in range(k_n + 1):
                    r = c[k] // 2
                    draw.ellipse((p[k][0] - r, p[k][1] - r, p[k][0] + r, p[k][1] + r), fill=1)
            canvases.append(img)
        masks = _canvas_to_tensor(canvases, height, width)
        return _random_flips(masks, g) if self.random_flip else masks

    def extra_repr(self):
        return (
            f"num_strokes={list(self.num_strokes)}, num_segments={list(self.num_segments)}, "
            f"length={list(self.length)}, width={list(self.width)}, max_angle={self.max_angle:.4g}, "
            f"integer_angles={self.integer_angles}, alternate={self.alternate!r}, relative_to={self.relative_to}"
        )


# LaMa's evaluation presets (configs/data_gen/random_{thin,medium,thick}_{256,512}.yaml): strokes with
# probability 1 and boxes with 0.3 (renormalised: 1/1.3 vs 0.3/1.3), masks over half the image redrawn.
# LaMa's upper bounds are exclusive (np.random.randint): max_len 40 → lengths 10..49, max_width 10 → 5..14.
_LAMA = {
    ("thin", 256): {"strokes": (4, 50), "length": (10, 49), "width": (5, 14), "boxes": None},
    ("medium", 256): {"strokes": (4, 5), "length": (10, 109), "width": (5, 54),
                      "boxes": {"count": (1, 5), "size": (10, 49), "margin": 0}},
    ("thick", 256): {"strokes": (1, 5), "length": (10, 209), "width": (5, 104),
                     "boxes": {"count": (1, 3), "size": (30, 149), "margin": 10}},
    ("thin", 512): {"strokes": (4, 70), "length": (10, 109), "width": (5, 24), "boxes": None},
    ("medium", 512): {"strokes": (4, 10), "length": (10, 209), "width": (5, 104),
                      "boxes": {"count": (1, 5), "size": (30, 149), "margin": 0}},
    ("thick", 512): {"strokes": (1, 5), "length": (10, 459), "width": (5, 254),
                     "boxes": {"count": (1, 4), "size": (30, 299), "margin": 10}},
}


def lama_preset(name: str = "medium", size: int = 256, max_hole_ratio: float | None = 0.5, per_batch: bool = False) -> MaskGenerator:
    """LaMa's thin / medium / thick free-form evaluation masks for 256² or 512² images (LaMa Sec. 4.1)."""
    key = (str(name), int(size))
    if key not in _LAMA:
        raise ConfigError(f"lama_preset: unknown preset {key}; choose name in thin/medium/thick and size 256 or 512")
    p = _LAMA[key]
    strokes = RandomWalkStrokeMask(
        num_strokes=p["strokes"], num_segments=(1, 5), length=p["length"], width=p["width"], max_angle=4,
        integer_angles=True, alternate="stroke",
    )
    if p["boxes"] is None:
        gens, probs = {"strokes": strokes}, {"strokes": 1.0}
    else:
        gens, probs = {"strokes": strokes, "boxes": RandomBoxMask(**p["boxes"])}, {"strokes": 1.0, "boxes": 0.3}
    return MixtureMask(gens, probs, max_hole_ratio=max_hole_ratio, per_batch=per_batch)

"""``inpaintlab-export``: any generator as an ONNX or TorchScript graph for deployment.

    inpaintlab-export --weights last.ckpt --format onnx --size 256 256 --out model.onnx
    inpaintlab-export --pretrained crfill/places2 --format torchscript --size 512 512 --dynamic
    inpaintlab-export --model deepfill_v2 --weights states_tf_places2.pth --format onnx --size 256 256

The graph takes ``image`` (B×3×H×W in [-1, 1], or B×1×H×W for grey models) and ``mask`` (B×1×H×W, 1 = hole)
and returns the composite in [-1, 1]: the same tensor steps as ``Inpainter.fill_tensor`` — masking, the
padding to the network's size multiple or the resize to its native size, the generator, compositing. Steps that
are not tensor operations stay in Python: GLCIC's OpenCV post-processing (the graph gives the composite before
it), and Yeh et al.'s latent search, which is refused (a per-image optimisation is not a feed-forward graph).

Every export is checked before it is written: the saved file is run (onnxruntime / ``torch.jit.load``) on a mask
other than the one it was traced with, and with ``--dynamic`` also at another size and batch, against
``Inpainter.fill_tensor``; a graph that differs by more than ``--tolerance`` (a shape or mask baked in by the
trace) is refused in one line and nothing is written.

DeepFill's contextual attention picks the usable background patches by index (sizes that depend on the mask);
in the graph it is computed densely — every patch scored and pasted, the excluded ones masked as the official
layer does (``GraphContextualAttention``) — which gives the same numbers.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.conventions import composite
from inpaintlab.errors import ConfigError, exit_code_of, one_line_parser
from inpaintlab.inference import registry
from inpaintlab.inference.adapters import Adapter
from inpaintlab.inference.inpainter import Inpainter
from inpaintlab.inference.sizing import fill_any_size
from inpaintlab.nn.contextual_attention import (
    ContextualAttention,
    _diagonal_sum,
    _patches,
    _raw_patches,
    _same_pad,
    tf_nearest_downsample,
)
from inpaintlab.nn.padding import PaddedConv2d, SamePad2d, same_tf_pads

PROG = "inpaintlab-export"
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
# Inference options whose step is not a tensor operation: the graph is what the method gives with this value.
GRAPH_OPTIONS = {
    "postprocess": (False, "GLCIC's post-processing (OpenCV fast marching + Poisson blending) is not in the graph: "
                           "it outputs the composite before it (inpaintlab.imaging.glcic_postprocess in Python)"),
    "outside": ("mean", "the Context Encoder's refusal of holes outside its centre region is not in the graph: "
                        "such pixels keep the mean fill (--option outside=mean)"),
}


class GraphContextualAttention(ContextualAttention):
    """``ContextualAttention`` (DeepFill v1 Sec. 3.2) without data-dependent shapes, for graph export: every
    background patch is scored and pasted and the ones the mask excludes are masked before and after the softmax,
    as the official layer does (``yi * mm``), where the eager layer skips them by index. Same result."""

    def forward(self, foreground: Tensor, background: Tensor, mask: Tensor | None = None,
                region: Tensor | None = None) -> Tensor:
        self._check_inputs(foreground, background, mask)
        B, C, H, W = foreground.shape
        r, k, s = self.rate, self.ksize, self.stride
        fd, bd = tf_nearest_downsample(foreground, r), tf_nearest_downsample(background, r)
        hf, wf = fd.shape[-2:]
        hb, wb = _same_pad(k, s, hf)[2], _same_pad(k, s, wf)[2]
        L, P = hb * wb, hf * wf
        pat = _patches(bd, k, s)  # B×C·k²×L, matching kernels L2-normalised with max(norm, 1e-4)
        kernels = (pat / pat.pow(2).sum(1, keepdim=True).sqrt().clamp_min(1e-4)).transpose(1, 2)
        kp = (k - 1) // 2
        fpad = F.pad(fd, (kp, k - 1 - kp, kp, k - 1 - kp))
        scores = torch.matmul(kernels, F.unfold(fpad, k))  # B×L×P: the per-sample conv as one batched matmul
        usable = self._usable(mask, B, hf, wf)  # B×L raster (the trace is made with a hole: never None there)
        keep = (usable if usable is not None else scores.new_ones(B, L, dtype=torch.bool)).to(scores.dtype)
        order = None
        if self.fuse:  # the fuse twice, the second time in column-major order (patches stay in that order)
            a = (self.fuse_k - 1) // 2
            b = self.fuse_k - 1 - a
            scores = _diagonal_sum(scores, a, b)
            scores = scores.view(B, hb, wb, hf, wf).permute(0, 2, 1, 4, 3).reshape(B, L, P)
            scores = _diagonal_sum(scores, a, b)
            scores = scores.view(B, L, wf, hf).transpose(2, 3).reshape(B, L, P)
            order = torch.arange(L, device=foreground.device).view(hb, wb).t().reshape(-1)
            keep = keep[:, order]
        keep = keep.unsqueeze(2)
        attn = torch.softmax(scores * self.softmax_scale * keep, dim=1) * keep
        raw = _raw_patches(background, 2 * r, r * s, order)  # B×L×C·(2r)², the same patch order
        # the paste (the official layer's stride-r transposed conv with the 2r×2r raw patches as kernels) as an
        # overlap-add of each patch's four r×r quarters: reshapes and pads only, no weights computed at run time
        cols = torch.matmul(raw.transpose(1, 2), attn).view(B, C, 2, r, 2, r, hf, wf)
        out = 0
        for i in (0, 1):
            for j in (0, 1):
                quarter = cols[:, :, i, :, j].permute(0, 1, 4, 2, 5, 3).reshape(B, C, hf * r, wf * r)
                out = out + F.pad(quarter, (j * r, (1 - j) * r, i * r, (1 - i) * r))
        c0 = r // 2  # TF SAME crop of the transposed conv
        return out[:, :, c0 : c0 + H, c0 : c0 + W] / 4.0


def _pad_same_tf(x: Tensor, k: int, s: int, d: int) -> Tensor:
    (top, bottom), (left, right) = same_tf_pads(x.shape[-2], k, s, d), same_tf_pads(x.shape[-1], k, s, d)
    return F.pad(x, (left, right, top, bottom))


class GraphPaddedConv2d(PaddedConv2d):
    """``PaddedConv2d`` whose TF "SAME" zero padding is ``F.pad`` (the same values) instead of the eager path's
    border writes, whose empty slices the ONNX exporter cannot shape."""

    def forward(self, x: Tensor) -> Tensor:
        if self.tf_same:
            x = _pad_same_tf(x, self.kernel_size[0], self.stride[0], self.dilation[0])
        return nn.Conv2d.forward(self, x)


class GraphSamePad2d(SamePad2d):
    """``SamePad2d`` as ``F.pad`` (see ``GraphPaddedConv2d``)."""

    def forward(self, x: Tensor) -> Tensor:
        return _pad_same_tf(x, self.kernel_size, self.stride, self.dilation)


# layers swapped (same state, another forward) in the exported copy of a generator
GRAPH_LAYERS = {ContextualAttention: GraphContextualAttention, PaddedConv2d: GraphPaddedConv2d,
                SamePad2d: GraphSamePad2d}


class CompositeGraph(nn.Module):
    """(image, mask) → composite in [-1, 1]: the adapter's fill at any size and the compositing, tensor ops only."""

    def __init__(self, adapter: Adapter) -> None:
        super().__init__()
        self.adapter = adapter
        self.generator = adapter.generator

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        filled = fill_any_size(self.adapter, image, mask)
        return composite(filled, image, mask)


def graph_painter(painter: Inpainter, say=print) -> Inpainter:
    """The painter as the graph computes it (GRAPH_OPTIONS set where its method has them, each said once);
    ConfigError naming why for a method that is not a feed-forward graph."""
    adapter = painter.adapter
    if adapter.needs_discriminator or hasattr(adapter, "progress"):
        raise ConfigError(f"{painter.name} cannot be exported: its inference is a per-image search (Yeh et al.'s "
                          "latent search: Adam steps on z through the generator and the critic), not a feed-forward "
                          "graph; fill with inpaintlab-inpaint instead")
    options = dict(adapter.settings)
    for key, (value, note) in GRAPH_OPTIONS.items():
        if key in options and options[key] != value:
            options[key] = value
            say(f"{PROG}: note: {note}")
    return Inpainter(painter.generator, painter.discriminator, name=painter.name, **options)


def graph_module(painter: Inpainter) -> CompositeGraph:
    """A CompositeGraph on a copy of the generator with GRAPH_LAYERS swapped in."""
    gen = copy.deepcopy(painter.generator).eval()
    for module in gen.modules():
        if getattr(module, "return_flow", False) and isinstance(module, ContextualAttention):
            raise ConfigError("a generator built with return_flow=true cannot be exported: drop the flow image")
        if type(module) in GRAPH_LAYERS:
            module.__class__ = GRAPH_LAYERS[type(module)]  # same state, a forward without data-dependent shapes
    return CompositeGraph(type(painter.adapter)(gen, None, **painter.adapter.settings)).eval()


def probe(painter: Inpainter, batch: int, size: tuple[int, int], seed: int) -> tuple[Tensor, Tensor]:
    """A random picture in [-1, 1] and a mask of a box and a stroke, both placed by ``seed``, with holes in every
    sample (a traced graph must not see a hole-free mask: shortcuts for it would be baked in)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    image = torch.rand(batch, 3, h, w, generator=g) * 2 - 1  # RGB: grey models convert in the graph
    mask = torch.zeros(batch, 1, h, w)
    for i in range(batch):
        bh, bw = max(1, h // 4), max(1, w // 4)
        y, x = (int(torch.randint(0, n - m + 1, (1,), generator=g)) for n, m in ((h, bh), (w, bw)))
        mask[i, :, y : y + bh, x : x + bw] = 1
        row = int(torch.randint(0, h, (1,), generator=g))
        mask[i, :, row : row + max(1, h // 16), : w // 2] = 1
    return image, mask


def _run_saved(fmt: str, path: Path, image: Tensor, mask: Tensor) -> Tensor:
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {"image": image.numpy(), "mask": mask.numpy()})[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice: the format is still read
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return module(image, mask)


def export(painter: Inpainter, out: str | Path, fmt: str, size: tuple[int, int], *, dynamic: bool = False,
           batch: int = 1, opset: int = 17, tolerance: float = 1e-4, say=print) -> float:
    """Write ``painter`` as a ``fmt`` graph at ``size`` (H, W) to ``out`` after checking the saved file against
    ``painter``'s ``fill_tensor`` (with GRAPH_OPTIONS); the largest |difference| seen. ConfigError, nothing
    written, when the method or the graph cannot be exported."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if min(size) < 1 or batch < 1:
        raise ConfigError(f"--size and --batch must be positive, got size {size} and batch {batch}")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401 - torch.onnx.export writes through it
            import onnxruntime  # noqa: F401 - the check runs the graph
        except ImportError:
            raise ConfigError("ONNX export needs its extra: pip install 'inpaintlab[export]' (onnx, onnxruntime)"
                              ) from None
    painter = graph_painter(painter, say)
    native = painter.adapter.native_size
    if fmt == "onnx" and native is not None and (dynamic or tuple(size) != native):
        raise ConfigError(f"{painter.name} works at {native[0]}×{native[1]}: its graph at other sizes resizes with "
                          "area and antialiased bilinear interpolation, which the ONNX exporter lacks; export "
                          f"--size {native[0]} {native[1]} without --dynamic (resize around it), or --format "
                          "torchscript")
    painter.generator.cpu()
    graph = graph_module(painter)
    example = probe(painter, batch, size, seed=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings: the check below is what tells a good graph
            try:
                _write(graph, example, tmp, fmt, dynamic, opset)
            except ConfigError:
                raise
            except Exception as e:  # noqa: BLE001 - what the exporter cannot handle, in one line
                raise ConfigError(f"{painter.name} cannot be exported to {fmt}: "
                                  f"{' '.join(str(e).split())[:300]}") from None
        checks = [(batch, size, 1)]
        if dynamic:
            m = max(painter.adapter.size_multiple, 1)
            checks.append((batch + 1, (size[0] + 2 * m, size[1] + m), 2))
        worst = 0.0
        for b, (h, w), seed in checks:
            image, mask = probe(painter, b, (h, w), seed)
            try:
                got = _run_saved(fmt, tmp, image, mask)
            except Exception as e:  # noqa: BLE001 - a graph that fails on another input: one line
                raise ConfigError(f"the exported {fmt} graph of {painter.name} fails on a {b}×{h}×{w} input "
                                  f"({' '.join(str(e).split())[:200]}): not written"
                                  + ("; export a fixed --size instead of --dynamic" if dynamic else "")) from None
            diff = float((got - painter.fill_tensor(image, mask)).abs().max())
            if not diff <= tolerance:
                raise ConfigError(f"the exported {fmt} graph of {painter.name} differs from PyTorch by {diff:.3g} "
                                  f"(> {tolerance:g}) on a {b}×{h}×{w} input: not written"
                                  + ("; export a fixed --size instead of --dynamic" if dynamic else ""))
            worst = max(worst, diff)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return worst


def _write(graph: CompositeGraph, example: tuple[Tensor, Tensor], path: Path, fmt: str, dynamic: bool,
           opset: int) -> None:
    if fmt == "onnx":
        axes = {0: "batch", 2: "height", 3: "width"}
        torch.onnx.export(graph, example, str(path), input_names=["image", "mask"], output_names=["composite"],
                          opset_version=opset, dynamo=False,
                          dynamic_axes={"image": axes, "mask": axes, "composite": axes} if dynamic else None)
        return
    # frozen: the weights become constants, so the module runs with autograd on as well as off
    torch.jit.freeze(torch.jit.trace(graph, example, check_trace=False)).save(str(path))


# ---------------------------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = one_line_parser(
        prog=PROG,
        description="Export any generator (a checkpoint of inpaintlab-train, released weights by --model NAME "
        "--weights FILE or --pretrained NAME) as an ONNX or TorchScript graph: inputs image (B×3×H×W in [-1, 1]) "
        "and mask (B×1×H×W, 1 = hole), output the composite in [-1, 1], with the masking, padding or resizing and "
        "compositing of inpaintlab-inpaint inside. Not in the graph: GLCIC's OpenCV post-processing (the graph "
        "gives the composite before it) and Yeh et al.'s latent search (refused). The written file is checked "
        "against PyTorch first (max |difference| <= --tolerance).",
    )
    ap.add_argument("--weights", type=Path, help="a checkpoint (.ckpt) or released weights file (with --model)")
    ap.add_argument("--pretrained", metavar="NAME", help="released weights by name (inpaintlab-weights list)")
    ap.add_argument("--model", help="released weights' architecture for --weights (deepfill_v1, deepfill_v2, crfill…)")
    ap.add_argument("--format", required=True, choices=tuple(FORMATS), help="onnx or torchscript")
    ap.add_argument("--size", required=True, type=int, nargs=2, metavar=("H", "W"), help="input height and width")
    ap.add_argument("--dynamic", action="store_true",
                    help="batch, height and width free in the graph (checked at a second size and batch)")
    ap.add_argument("--batch", type=int, default=1, help="batch size of the traced example (default 1)")
    ap.add_argument("--out", type=Path, help="output file (default: <weights stem or name>_<H>x<W>.onnx / .pt)")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest |difference| to PyTorch accepted")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="the method's inference option (as inpaintlab-inpaint), e.g. coarse_scale=0.5")
    ap.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="generator constructor argument (as inpaintlab-inpaint)")
    ap.add_argument("--trust-checkpoint", action="store_true",
                    help="allow un-pickling Python objects in --weights (only for files you trust)")
    args = ap.parse_args(argv)
    registry.check_source_args(ap, args)
    return args


def run(args: argparse.Namespace) -> int:
    from inpaintlab.inference.loading import parse_model_args
    from inpaintlab.inpaint import parse_options

    options, model_args = parse_options(args.option), parse_model_args(args.model_arg)
    if args.pretrained:
        painter = Inpainter.from_pretrained(args.pretrained, None, "cpu", trusted=args.trust_checkpoint,
                                            model_args=model_args, **options)
        stem = args.pretrained.replace("/", "_")
    else:
        painter = Inpainter.from_checkpoint(args.weights, "cpu", model=args.model, trusted=args.trust_checkpoint,
                                            model_args=model_args, **options)
        stem = args.weights.stem
    h, w = args.size
    out = args.out or Path(f"{stem}_{h}x{w}{FORMATS[args.format]}")
    diff = export(painter, out, args.format, (h, w), dynamic=args.dynamic, batch=args.batch, opset=args.opset,
                  tolerance=args.tolerance)
    print(f"{PROG}: {painter.name} → {out} ({args.format}, {h}×{w}{', dynamic' if args.dynamic else ''}; "
          f"max |Δ| to PyTorch {diff:.2g})")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code_of(PROG, run, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

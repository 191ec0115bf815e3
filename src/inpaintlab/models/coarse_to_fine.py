"""The coarse-to-fine generator shared by DeepFill v1, DeepFill v2 and CR-Fill.

One topology, three papers (docs/design.md: the conv type is a parameter, not three copies):

================  ==========  ====  ==========  =========  =======  ===============
paper             conv_type   cnum  padding     attention  out_act  refine input
================  ==========  ====  ==========  =========  =======  ===============
DeepFill v1       vanilla     32    same_tf     yes        clip     pasted + ones + mask
DeepFill v2       gated       48    same_tf     yes        tanh     pasted image
CR-Fill           gated       48    zeros       no         tanh     pasted image
================  ==========  ====  ==========  =========  =======  ===============

``cnum`` follows the official code: it counts conv *outputs*, so a gated layer's effective width is half of it
(DeepFill v2: 24/48/96). Layer names in the official code (``conv1`` … ``allconv17``) are kept in
``OFFICIAL_LAYERS`` so released weights in TF, nipponjo-PyTorch or CR-Fill naming load via
``load_official_state_dict``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintlab.conventions import check_mask, composite
from inpaintlab.nn.gated_conv import CONV_TYPES, ConvBlock, UpConv, make_conv
from inpaintlab.nn.padding import PADDING_MODES

OUT_ACTS = ("tanh", "clip", "none")

# (official name, width as a multiple of cnum, kernel, stride, dilation); kernel 0 = nearest ×2 + 3×3 conv.
_Spec = tuple[str, float, int, int, int]
COARSE_ENCODER: tuple[_Spec, ...] = (
    ("conv1", 1, 5, 1, 1),
    ("conv2_downsample", 2, 3, 2, 1),
    ("conv3", 2, 3, 1, 1),
    ("conv4_downsample", 4, 3, 2, 1),
    ("conv5", 4, 3, 1, 1),
)
COARSE_BOTTLENECK: tuple[_Spec, ...] = (
    ("conv6", 4, 3, 1, 1),
    ("conv7_atrous", 4, 3, 1, 2),
    ("conv8_atrous", 4, 3, 1, 4),
    ("conv9_atrous", 4, 3, 1, 8),
    ("conv10_atrous", 4, 3, 1, 16),
    ("conv11", 4, 3, 1, 1),
    ("conv12", 4, 3, 1, 1),
)
HALLUCINATION: tuple[_Spec, ...] = (
    ("xconv1", 1, 5, 1, 1),
    ("xconv2_downsample", 1, 3, 2, 1),
    ("xconv3", 2, 3, 1, 1),
    ("xconv4_downsample", 2, 3, 2, 1),
    ("xconv5", 4, 3, 1, 1),
    ("xconv6", 4, 3, 1, 1),
    ("xconv7_atrous", 4, 3, 1, 2),
    ("xconv8_atrous", 4, 3, 1, 4),
    ("xconv9_atrous", 4, 3, 1, 8),
    ("xconv10_atrous", 4, 3, 1, 16),
)
# pmconv6 (the last entry) uses ReLU instead of ELU in every reference implementation.
ATTENTION_ENCODER: tuple[_Spec, ...] = (
    ("pmconv1", 1, 5, 1, 1),
    ("pmconv2_downsample", 1, 3, 2, 1),
    ("pmconv3", 2, 3, 1, 1),
    ("pmconv4_downsample", 4, 3, 2, 1),
    ("pmconv5", 4, 3, 1, 1),
    ("pmconv6", 4, 3, 1, 1),
)
ATTENTION_DECODER: tuple[_Spec, ...] = (("pmconv9", 4, 3, 1, 1), ("pmconv10", 4, 3, 1, 1))
REFINE_BOTTLENECK: tuple[_Spec, ...] = (("allconv11", 4, 3, 1, 1), ("allconv12", 4, 3, 1, 1))


def _decoder_spec(prefix: str) -> tuple[_Spec, ...]:
    return (
        (f"{prefix}13_upsample", 2, 0, 1, 1),
        (f"{prefix}14", 2, 3, 1, 1),
        (f"{prefix}15_upsample", 1, 0, 1, 1),
        (f"{prefix}16", 0.5, 3, 1, 1),
    )


COARSE_DECODER = _decoder_spec("conv")
REFINE_DECODER = _decoder_spec("allconv")

# official layer name -> our module path (the parameters sit under "<path>.conv." / "<path>.conv.conv.")
OFFICIAL_LAYERS: dict[str, str] = {
    **{s[0]: f"coarse.encoder.{i}" for i, s in enumerate(COARSE_ENCODER)},
    **{s[0]: f"coarse.bottleneck.{i}" for i, s in enumerate(COARSE_BOTTLENECK)},
    **{s[0]: f"coarse.decoder.{i}" for i, s in enumerate(COARSE_DECODER)},
    "conv17": "coarse.to_rgb",
    **{s[0]: f"refine.hallucination.{i}" for i, s in enumerate(HALLUCINATION)},
    **{s[0]: f"refine.attention_encoder.{i}" for i, s in enumerate(ATTENTION_ENCODER)},
    **{s[0]: f"refine.attention_decoder.{i}" for i, s in enumerate(ATTENTION_DECODER)},
    **{s[0]: f"refine.bottleneck.{i}" for i, s in enumerate(REFINE_BOTTLENECK)},
    **{s[0]: f"refine.decoder.{i}" for i, s in enumerate(REFINE_DECODER)},
    "allconv17": "refine.to_rgb",
}
_UPSAMPLE_LAYERS = {s[0] for s in COARSE_DECODER + REFINE_DECODER if s[2] == 0}


class _Widths:
    """Official conv width (multiple of cnum) -> effective output channels of our block."""

    def __init__(self, cnum: int, conv_type: str) -> None:
        self.cnum, self.gated = int(cnum), conv_type == "gated"

    def __call__(self, mult: float) -> int:
        width = int(self.cnum * mult)
        return width // 2 if self.gated else width


def _build(
    specs: tuple[_Spec, ...],
    in_channels: int,
    width: _Widths,
    conv_type: str,
    padding: str,
    activation: str | nn.Module | None,
    last_activation: str | nn.Module | None = None,
) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    c = in_channels
    for i, (_, mult, k, stride, dilation) in enumerate(specs):
        act = last_activation if (last_activation is not None and i == len(specs) - 1) else activation
        out = width(mult)
        if k == 0:
            layers.append(UpConv(c, out, conv_type, 3, padding, act))
        else:
            layers.append(make_conv(conv_type, c, out, k, stride, dilation, padding, act))
        c = out
    return nn.Sequential(*layers), c


class CoarseNetwork(nn.Module):
    """DeepFill v1 Sec. 3, Fig. 2 (coarse network): encoder, dilated convs at 1/4 scale, decoder."""

    def __init__(
        self, in_channels: int, out_channels: int, cnum: int, conv_type: str, padding: str, activation: Any
    ) -> None:
        super().__init__()
        w = _Widths(cnum, conv_type)
        self.encoder, c = _build(COARSE_ENCODER, in_channels, w, conv_type, padding, activation)
        self.bottleneck, c = _build(COARSE_BOTTLENECK, c, w, conv_type, padding, activation)
        self.decoder, c = _build(COARSE_DECODER, c, w, conv_type, padding, activation)
        # Output layer is a plain conv in every variant (official gen_conv skips gating for 3 outputs).
        self.to_rgb = ConvBlock(c, out_channels, 3, 1, 1, padding, activation=None)

    def forward(self, x: Tensor) -> Tensor:
        return self.to_rgb(self.decoder(self.bottleneck(self.encoder(x))))


class RefineNetwork(nn.Module):
    """DeepFill v1 Sec. 4.2, Fig. 4 (refinement network): dilated-conv and contextual-attention branches.

    The two branches are concatenated and decoded; CR-Fill Sec. 3 drops the attention layer (pmconv6 feeds
    pmconv9)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        cnum: int,
        conv_type: str,
        padding: str,
        activation: Any,
        attention_activation: Any,
        attention: nn.Module | None,
    ) -> None:
        super().__init__()
        w = _Widths(cnum, conv_type)
        self.hallucination, c_h = _build(HALLUCINATION, in_channels, w, conv_type, padding, activation)
        self.attention_encoder, c_a = _build(
            ATTENTION_ENCODER, in_channels, w, conv_type, padding, activation, attention_activation
        )
        self.attention = attention
        self.attention_decoder, c_a = _build(ATTENTION_DECODER, c_a, w, conv_type, padding, activation)
        self.bottleneck, c = _build(REFINE_BOTTLENECK, c_h + c_a, w, conv_type, padding, activation)
        self.decoder, c = _build(REFINE_DECODER, c, w, conv_type, padding, activation)
        self.to_rgb = ConvBlock(c, out_channels, 3, 1, 1, padding, activation=None)

    def attention_reach(self) -> tuple[int, int]:
        """(radius, factor): an output pixel y depends on attention outputs within ``radius`` (Chebyshev
        distance, at the attention's resolution) of ``y // factor``.

        Walks the layers after the attention layer (pmconv9/10, allconv11/12, the decoder, allconv17) from the
        output back: a conv of kernel k and dilation d widens the reach by its larger padding side,
        ⌈d(k−1)/2⌉; a nearest ×f up-sampling divides it by f, rounded up (pixel y reads input y // f)."""
        radius, factor = 0, 1
        tail = [*self.attention_decoder, *self.bottleneck, *self.decoder, self.to_rgb]
        for block in reversed(tail):
            convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
            if len(convs) != 1:
                raise TypeError(f"attention_reach: expected one conv in {type(block).__name__}")
            conv = convs[0]
            k, d, st = conv.kernel_size[0], conv.dilation[0], conv.stride[0]
            if st != 1 or conv.kernel_size[0] != conv.kernel_size[1] or conv.dilation[0] != conv.dilation[1]:
                raise NotImplementedError("attention_reach handles square stride-1 convs after the attention")
            radius += -(-d * (k - 1) // 2)
            f = int(getattr(block, "scale_factor", 1))  # UpConv: up-sample, then conv (so walked after it)
            radius, factor = -(-radius // f), factor * f
        return radius, factor

    def attention_region(self, mask: Tensor) -> Tensor:
        """B×1×h×w bool at the attention's resolution: the attention outputs some hole pixel (mask ≠ 0)
        depends on — the hole max-pooled to that resolution and dilated by :meth:`attention_reach`."""
        radius, factor = self.attention_reach()
        hole = (mask != 0).to(torch.float32)
        if factor > 1:
            hole = F.max_pool2d(hole, factor, stride=factor, ceil_mode=True)
        if radius > 0:  # a square dilation, as two 1-D max-pools
            hole = F.max_pool2d(hole, (1, 2 * radius + 1), stride=1, padding=(0, radius))
            hole = F.max_pool2d(hole, (2 * radius + 1, 1), stride=1, padding=(radius, 0))
        return hole > 0

    def forward(
        self, x: Tensor, mask: Tensor, region: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``region``: attention outputs needed (see :meth:`attention_region`); None: all."""
        extras: dict[str, Tensor] = {}
        hallu = self.hallucination(x)
        feats = self.attention_encoder(x)
        extras["attention_features"] = feats
        a = feats
        if self.attention is not None:
            a = self.attention(feats, feats, mask) if region is None else self.attention(feats, feats, mask, region)
            if isinstance(a, tuple):
                a, extras["flow"] = a
        a = self.attention_decoder(a)
        y = self.bottleneck(torch.cat([hallu, a], dim=1))
        return self.to_rgb(self.decoder(y)), extras


_ATTENTION_DEFAULTS = dict(ksize=3, stride=1, rate=2, fuse_k=3, softmax_scale=10.0, fuse=True, n_down=2)


class CoarseToFineGenerator(nn.Module):
    """Coarse-to-fine generator: DeepFill v1 Sec. 3 & 4.2 (Figs. 2, 4), v2 Sec. 3.3 (Fig. 3), CR-Fill Sec. 3.

    ``forward(masked_image, mask)`` (mask 1 = hole) appends the ones and mask channels itself and returns
    ``{"output": stage 2, "coarse": stage 1}`` before compositing, plus ``"flow"`` (``return_flow``) and
    ``"attention_features"`` (``return_features``: the 1/4-resolution pmconv6 output that feeds the contextual
    attention layer, or pmconv9 without attention — what CR-Fill's auxiliary branch matches patches on).

    ``forward(..., composited=True)`` (inference that composites; ``restrict_attention`` switches it off) runs
    the attention only where a hole pixel depends on it: the same composite, ``"output"`` valid in the hole.

    Official-code details the papers leave open: DeepFill v1 clips its outputs to [-1, 1] instead of a tanh
    (``out_act="clip"``) and feeds its refine stage the pasted image plus ones and mask
    (``refine_with_mask``), which v2 and CR-Fill drop; official v2 attention fuses scores (``fuse=True``,
    the nipponjo port uses False). CR-Fill's paper gives no padding; its code pads zeros (``"zeros"``).
    """

    def __init__(
        self,
        conv_type: str = "gated",
        cnum: int = 48,
        in_channels: int = 3,
        attention: bool = True,
        padding: str = "same_tf",
        out_act: str = "tanh",
        activation: str | nn.Module | None = "elu",
        attention_activation: str | nn.Module | None = "relu",
        refine_with_mask: bool = False,
        return_flow: bool = False,
        return_features: bool = False,
        attention_kwargs: Mapping[str, Any] | None = None,
        restrict_attention: bool = True,
    ) -> None:
        super().__init__()
        if conv_type not in CONV_TYPES:
            raise ValueError(f"unknown conv_type {conv_type!r}; expected one of {', '.join(CONV_TYPES)}")
        if padding not in PADDING_MODES:
            raise ValueError(f"unknown padding {padding!r}; expected one of {', '.join(PADDING_MODES)}")
        if out_act not in OUT_ACTS:
            raise ValueError(f"unknown out_act {out_act!r}; expected one of {', '.join(OUT_ACTS)}")
        if int(cnum) < 4 or (conv_type == "gated" and int(cnum) % 4):
            raise ValueError(f"cnum must be >= 4 (and a multiple of 4 for gated convs), got {cnum}")
        if return_flow and not attention:
            raise ValueError(
                "return_flow=True needs attention=True (the flow comes from contextual attention)"
            )
        self.conv_type, self.cnum, self.in_channels = conv_type, int(cnum), int(in_channels)
        self.padding, self.out_act = padding, out_act
        self.refine_with_mask = bool(refine_with_mask)
        self.return_flow, self.return_features = bool(return_flow), bool(return_features)
        self.has_attention = bool(attention)
        self.restrict_attention = bool(restrict_attention)

        ca = None
        self.attention_kwargs: dict[str, Any] = {}
        if attention:
            from inpaintlab.nn.contextual_attention import ContextualAttention

            self.attention_kwargs = {**_ATTENTION_DEFAULTS, **dict(attention_kwargs or {})}
            if return_flow:
                self.attention_kwargs["return_flow"] = True
            ca = ContextualAttention(**self.attention_kwargs)
        elif attention_kwargs:
            raise ValueError("attention_kwargs given but attention=False")
        # Features reach the attention layer at 1/4 scale and it matches at a further 1/rate.
        self.size_multiple = 4 * int(self.attention_kwargs.get("rate", 1)) if attention else 4

        extra = 2  # ones channel + mask channel
        self.coarse = CoarseNetwork(
            self.in_channels + extra, self.in_channels, self.cnum, conv_type, padding, activation
        )
        refine_in = self.in_channels + (extra if self.refine_with_mask else 0)
        self.refine = RefineNetwork(
            refine_in, self.in_channels, self.cnum, conv_type, padding, activation, attention_activation, ca
        )

    def attention_region(self, mask: Tensor, composited: bool = True) -> Tensor | None:
        """What ``forward(..., composited=composited)`` hands the refine network as the attention's needed
        region: B×1×H/4×W/4 bool (:meth:`RefineNetwork.attention_region`) when the call is composited, the
        module is in eval mode, ``restrict_attention`` is on and the layer exists (and returns no flow
        image); None (attend everywhere) otherwise. For callers that run ``refine`` themselves."""
        restrict = (
            composited and self.restrict_attention and self.has_attention and not self.training
            and not self.return_flow
        )
        return self.refine.attention_region(mask) if restrict else None

    def _out(self, x: Tensor) -> Tensor:
        if self.out_act == "tanh":
            return torch.tanh(x)
        if self.out_act == "clip":
            return x.clamp(-1.0, 1.0)
        return x

    def _check(self, masked_image: Tensor, mask: Tensor) -> None:
        name = type(self).__name__
        if masked_image.dim() != 4 or masked_image.shape[1] != self.in_channels:
            raise ValueError(
                f"{name} expects a B×{self.in_channels}×H×W masked image, "
                f"got shape {tuple(masked_image.shape)}"
            )
        check_mask(mask, masked_image, who=name)
        h, w = masked_image.shape[2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(
                f"{name} needs height and width divisible by {m} (two stride-2 convs"
                f"{' and the attention layer' if self.has_attention else ''}), got {h}×{w}; "
                "crop or pad the input"
            )

    def forward(
        self,
        masked_image: Tensor,
        mask: Tensor,
        return_features: bool | None = None,
        composited: bool = False,
    ) -> dict[str, Tensor]:
        """``composited=True`` promises that the caller reads ``"output"`` only inside the hole (mask ≠ 0),
        as ``output·mask + image·(1−mask)`` does. Then, in eval mode with ``restrict_attention`` on, the
        contextual attention attends only from the positions some hole pixel depends on
        (:meth:`RefineNetwork.attention_region`): the composite is the same up to float reassociation,
        ``"output"`` outside the hole's receptive field is not. Training and plain calls compute everything.
        """
        self._check(masked_image, mask)
        region = self.attention_region(mask, composited)
        mask = mask.to(masked_image.dtype)
        ones = torch.ones_like(mask)
        coarse = self._out(self.coarse(torch.cat([masked_image, ones, mask], dim=1)))
        pasted = composite(coarse, masked_image, mask)
        refine_in = torch.cat([pasted, ones, mask], dim=1) if self.refine_with_mask else pasted
        raw, extras = self.refine(refine_in, mask, region)
        out = {"output": self._out(raw), "coarse": coarse}
        if "flow" in extras:
            out["flow"] = extras["flow"]
        if self.return_features if return_features is None else return_features:
            out["attention_features"] = extras["attention_features"]
        return out

    # ------------------------------------------------------------------ official weights
    def load_official_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
        """Load weights named as in an official release; returns the entries that are not this generator's.

        Accepted namings: the PyTorch conversion of the TF DeepFill weights (``conv1.conv.weight``,
        ``conv13_upsample.conv.conv.weight``), CR-Fill (``baseg.conv1.weight``,
        ``baseg.conv13_upsample_conv.*``; every key outside ``baseg.`` — the auxiliary branch — is returned
        untouched), plain ``conv1.weight``, and TF variable names (``inpaint_net/conv1/kernel`` in H×W×in×out
        layout, e.g. from ``np.savez`` of a TF checkpoint). With ``strict`` a missing layer or an unknown key
        raises, naming the first offenders; shapes must fit in any case.
        """
        converted, leftover = convert_official_state_dict(state_dict)
        own = self.state_dict()
        unexpected = [k for k in converted if k not in own]
        # only the official layers' weights: buffers of other submodules are not in a release
        missing = [_our_key(s, p) for s in OFFICIAL_LAYERS for p in ("weight", "bias")]
        missing = [k for k in missing if k not in converted]
        if strict and (unexpected or missing or leftover.get("__unparsed__")):
            bad = [*(leftover.get("__unparsed__") or []), *[converted[k][0] for k in unexpected]]
            raise ValueError(
                "official state dict does not fit CoarseToFineGenerator "
                f"(conv_type={self.conv_type}, cnum={self.cnum}): "
                + (f"missing layers {[_our_to_official(k) for k in missing[:5]]}; " if missing else "")
                + (f"unexpected keys {bad[:5]}" if bad else "")
            )
        for key, (orig, value) in converted.items():
            if key in own and tuple(value.shape) != tuple(own[key].shape):
                raise ValueError(
                    f"shape mismatch for {orig!r} (-> {key}): checkpoint {tuple(value.shape)}, "
                    f"model {tuple(own[key].shape)}; check conv_type/cnum/in_channels of the variant"
                )
        self.load_state_dict({k: v for k, (_, v) in converted.items() if k in own}, strict=False)
        leftover.pop("__unparsed__", None)
        return leftover

    def official_state_dict(self, style: str = "deepfill_v2") -> dict[str, Tensor]:
        """Our weights in an official naming: "deepfill_v2" (PyTorch conversion), "crfill" or "tf"."""
        if style not in ("deepfill_v2", "crfill", "tf"):
            raise ValueError(f"unknown style {style!r}; expected 'deepfill_v2', 'crfill' or 'tf'")
        own = self.state_dict()
        out: dict[str, Tensor] = {}
        for stem, path in OFFICIAL_LAYERS.items():
            up = stem in _UPSAMPLE_LAYERS
            for param in ("weight", "bias"):
                v = own[f"{path}.conv.conv.{param}" if up else f"{path}.conv.{param}"]
                if style == "deepfill_v2":
                    out[f"{stem}.conv.conv.{param}" if up else f"{stem}.conv.{param}"] = v
                elif style == "crfill":
                    out[f"baseg.{stem}{'_conv' if up else ''}.{param}"] = v
                else:
                    name = "kernel" if param == "weight" else "bias"
                    v = v.permute(2, 3, 1, 0) if param == "weight" else v
                    out[f"inpaint_net/{stem}/{stem + '_conv/' if up else ''}{name}"] = v
        return out


_STEM = r"(?:conv|xconv|pmconv|allconv)\d+(?:_downsample|_atrous|_upsample)?"
_TORCH_KEY = re.compile(rf"^(?P<stem>{_STEM})(?:_conv)?(?:\.conv)*\.(?P<param>weight|bias)$")
_TF_KEY = re.compile(
    rf"^(?:inpaint_net/)?(?P<stem>{_STEM})/(?:(?P=stem)_conv/)?(?P<param>kernel|bias)(?::0)?$"
)


def _our_key(stem: str, param: str) -> str:
    path = OFFICIAL_LAYERS[stem]
    return f"{path}.conv.conv.{param}" if stem in _UPSAMPLE_LAYERS else f"{path}.conv.{param}"


def _our_to_official(key: str) -> str:
    for stem, path in OFFICIAL_LAYERS.items():
        if key.startswith(path + "."):
            return stem
    return key


def convert_official_state_dict(
    state_dict: Mapping[str, Any],
) -> tuple[dict[str, tuple[str, Tensor]], dict[str, Any]]:
    """Official keys -> {our key: (official key, tensor)}, plus the entries left over (see
    ``CoarseToFineGenerator.load_official_state_dict``); unparseable generator keys are listed under
    ``"__unparsed__"`` in the left-overs."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"expected a state dict (a mapping of names to tensors), got {type(state_dict).__name__}"
        )
    keys = list(state_dict)
    strip = [p for p in ("module.",) if keys and all(k.startswith(p) for k in keys)]
    crfill = any(k.split(".", 1)[0] == "baseg" or k.startswith("module.baseg.") for k in keys)
    converted: dict[str, tuple[str, Tensor]] = {}
    leftover: dict[str, Any] = {}
    unparsed: list[str] = []
    for key in keys:
        value = state_dict[key]
        name = key[len(strip[0]) :] if strip else key
        if crfill:
            if not name.startswith("baseg."):
                leftover[key] = value  # CR-Fill's training-only auxiliary branch (and its unused sconv*)
                continue
            name = name[len("baseg.") :]
        m = _TORCH_KEY.match(name)
        tf = False
        if m is None:
            m = _TF_KEY.match(name)
            tf = m is not None
        if m is None or m.group("stem") not in OFFICIAL_LAYERS:
            unparsed.append(key)
            leftover[key] = value
            continue
        t = torch.as_tensor(value)
        param = m.group("param")
        if tf:
            param = "weight" if param == "kernel" else "bias"
            if param == "weight":
                if t.dim() != 4:
                    raise ValueError(
                        f"TF kernel {key!r} should be 4-D (H×W×in×out), got shape {tuple(t.shape)}"
                    )
                t = t.permute(3, 2, 0, 1).contiguous()
        our = _our_key(m.group("stem"), param)
        if our in converted:
            raise ValueError(f"keys {converted[our][0]!r} and {key!r} both map to {our}")
        converted[our] = (key, t)
    if unparsed:
        leftover["__unparsed__"] = unparsed
    return converted, leftover


def deepfill_v1(**overrides: Any) -> CoarseToFineGenerator:
    """DeepFill v1 (Yu et al. 2018, Sec. 3, code v1.0.0): vanilla convs, cnum 32, TF SAME, clipped."""
    kw: dict[str, Any] = dict(
        conv_type="vanilla", cnum=32, padding="same_tf", out_act="clip", attention=True, refine_with_mask=True
    )
    return CoarseToFineGenerator(**{**kw, **overrides})


def deepfill_v2(**overrides: Any) -> CoarseToFineGenerator:
    """DeepFill v2 (Yu et al. 2019, Sec. 3.3): gated convs, cnum 48, TF SAME, tanh, contextual attention."""
    kw: dict[str, Any] = dict(conv_type="gated", cnum=48, padding="same_tf", out_act="tanh", attention=True)
    return CoarseToFineGenerator(**{**kw, **overrides})


def crfill(**overrides: Any) -> CoarseToFineGenerator:
    """CR-Fill (Zeng et al. 2021, Sec. 3, Fig. 2): DeepFill v2's gated net, zero padding, no attention."""
    kw: dict[str, Any] = dict(conv_type="gated", cnum=48, padding="zeros", out_act="tanh", attention=False)
    return CoarseToFineGenerator(**{**kw, **overrides})


VARIANTS = {"deepfill_v1": deepfill_v1, "deepfill_v2": deepfill_v2, "crfill": crfill}

